"""What a run measures: the weekly series, the member table and the run summary.

Both engines hand their raw outputs (weekly series, one row per member ever)
to `summarize`, so a summary metric is defined once, here. Kaplan-Meier
tenure survival uses `scipy.stats.ecdf` on right-censored tenures.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

MEMBER_TYPES = ("giver", "reciprocator", "hunter")
EXIT_REASONS = ("left", "expelled_absence", "expelled_contribution", "exogenous", "dissolved")
ACTIVE = "active"

SERIES_COLUMNS = (
    "week", "meeting", "members", "joins",
    *(f"exits_{reason}" for reason in EXIT_REASONS), "exits",
    "visitors", "applicants", "referrals", "deals", "business", "direct_sales",
    "attendance_rate", "mean_tie", "hunter_share", "fees_collected",
)

MEMBER_COLUMNS = (
    "member_id", "member_type", "profession", "sector", "founder", "join_week", "exit_week",
    "exit_reason", "tenure_years", "business_received", "business_given", "referrals_given",
    "referrals_received", "deals_received", "direct_sales", "social_value", "fees_paid",
    "hours", "time_cost", "margin", "hourly_value", "roi",
)

SUMMARY_KEYS = (
    "members_final", "churn_rate_annual", "retention_first_year", "median_tenure_years",
    "business_per_member_year", "referrals_per_member_year", "roi_mean", "roi_median",
    "roi_by_type", "share_positive_roi", "hunter_share_final", "fee_income_total", "survived",
)


def roi(margin, business_received, direct_sales, social_value, fees_paid, time_cost):
    """ROI = (margin x (business received + direct sales) + social value - fees - time) / (fees + time).

    Works on numbers and on columns alike; costs below 1 EUR count as 1 EUR.
    """
    cost = fees_paid + time_cost
    gain = margin * (business_received + direct_sales) + social_value
    return (gain - cost) / np.maximum(cost, 1.0)


def member_roi(members: pd.DataFrame) -> pd.Series:
    """Each member's ROI (`roi`) from the member table."""
    return roi(*(members[column] for column in ROI_INPUTS))


ROI_INPUTS = ("margin", "business_received", "direct_sales", "social_value", "fees_paid", "time_cost")


def tenure_survival(tenure_years: np.ndarray, observed_exit: np.ndarray) -> pd.DataFrame:
    """Kaplan-Meier survival of tenure; `observed_exit` False marks a censored tenure."""
    from scipy import stats

    tenure_years = np.asarray(tenure_years, float)
    observed_exit = np.asarray(observed_exit, bool)
    if len(tenure_years) == 0:
        return pd.DataFrame({"tenure_years": [0.0], "survival": [1.0]})
    if observed_exit.all():
        data: Any = tenure_years
    else:
        data = stats.CensoredData(
            uncensored=tenure_years[observed_exit], right=tenure_years[~observed_exit]
        )
    if not observed_exit.any():
        return pd.DataFrame({"tenure_years": [0.0, tenure_years.max()], "survival": [1.0, 1.0]})
    sf = stats.ecdf(data).sf
    return pd.DataFrame(
        {"tenure_years": np.concatenate([[0.0], sf.quantiles]), "survival": np.concatenate([[1.0], sf.probabilities])}
    )


def km_median(curve: pd.DataFrame) -> float | None:
    below = curve.loc[curve["survival"] <= 0.5, "tenure_years"]
    return float(below.iloc[0]) if len(below) else None


def _clean(value: Any) -> Any:
    """Plain JSON-safe Python values (no numpy scalars, no NaN)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    return value


def summarize(series: pd.DataFrame, members: pd.DataFrame) -> dict[str, Any]:
    """The run summary (summary.json) from the weekly series and the member table."""
    weeks = len(series)
    member_years = float(series["members"].sum()) / 52.0
    per_member_year = (lambda total: total / member_years) if member_years > 0 else (lambda total: 0.0)
    exits_by_reason = {reason: int(series[f"exits_{reason}"].sum()) for reason in EXIT_REASONS}
    non_dissolved_exits = sum(v for k, v in exits_by_reason.items() if k != "dissolved")

    ended = members["exit_reason"] != ACTIVE
    observed = ended & (members["exit_reason"] != "dissolved")
    curve = tenure_survival(members["tenure_years"].to_numpy(), observed.to_numpy())

    eligible = members[(members["join_week"] <= weeks - 52)]
    eligible = eligible[~((eligible["exit_reason"] == "dissolved") & (eligible["tenure_years"] < 1.0))]
    retained = (eligible["exit_reason"] == ACTIVE) | (eligible["tenure_years"] >= 1.0)

    roi = members["roi"]
    roi_by_type = {
        t: (float(roi[members["member_type"] == t].mean()) if (members["member_type"] == t).any() else None)
        for t in MEMBER_TYPES
    }
    last = series.iloc[-1]
    summary = {
        "members_final": int(last["members"]),
        "churn_rate_annual": per_member_year(non_dissolved_exits),
        "retention_first_year": float(retained.mean()) if len(eligible) else None,
        "median_tenure_years": km_median(curve),
        "business_per_member_year": per_member_year(float(series["business"].sum())),
        "referrals_per_member_year": per_member_year(float(series["referrals"].sum())),
        "roi_mean": float(roi.mean()) if len(roi) else None,
        "roi_median": float(roi.median()) if len(roi) else None,
        "roi_by_type": roi_by_type,
        "share_positive_roi": float((roi > 0).mean()) if len(roi) else None,
        "hunter_share_final": float(last["hunter_share"]),
        "fee_income_total": float(series["fees_collected"].sum()),
        "survived": bool(series["exits_dissolved"].sum() == 0),
        "joins_total": int(series["joins"].sum()),
        "exits_by_reason": exits_by_reason,
        "business_total": float(series["business"].sum()),
        "direct_sales_total": float(series["direct_sales"].sum()),
        "member_years": member_years,
        "mean_members": float(series["members"].mean()),
        "weeks": weeks,
    }
    return _clean(summary)
