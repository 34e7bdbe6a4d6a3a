"""What a run measures: the weekly series, the member table and the run summary.

Both engines hand their raw outputs (weekly series, one row per member ever)
to `summarize`, so a summary metric is defined once, here; tenure survival is
Kaplan-Meier on right-censored tenures (`kaplan_meier`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import pandas as pd

# a table by column name: a pandas DataFrame or a dict of numpy arrays (pandas is imported only when used)
Columns = Any

MEMBER_TYPES = ("giver", "reciprocator", "hunter")
EXIT_REASONS = ("left", "expelled_absence", "expelled_contribution", "exogenous", "dissolved")
ACTIVE = "active"

SERIES_COLUMNS = (
    "week", "meeting", "members", "joins",
    *(f"exits_{reason}" for reason in EXIT_REASONS), "exits",
    "visitors", "applicants", "referrals", "deals", "business", "direct_sales",
    "attendance_rate", "mean_tie", "hunter_share", "fees_collected",
    "cross_club_referrals", "cross_club_business", "sphere_referrals",
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
    "sphere_share", "visitors_per_meeting",
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


def kaplan_meier(tenure_years: ArrayLike, observed_exit: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival of tenure: (times, survival), starting at (0, 1).

    `observed_exit` False marks a censored tenure (still a member, or the club dissolved).
    The same estimator and arithmetic as `scipy.stats.ecdf(...).sf` (the tests check it
    against scipy), in numpy: importing scipy.stats costs half a second, more than the
    whole simulation of a `clubsim run`.
    """
    tenure = np.asarray(tenure_years, float)
    observed = np.asarray(observed_exit, bool)
    if len(tenure) == 0:
        return np.array([0.0]), np.array([1.0])
    if not observed.any():
        return np.array([0.0, tenure.max()]), np.array([1.0, 1.0])
    order = np.argsort(tenure, kind="stable")
    times, died = tenure[order], observed[order].astype(np.int64)
    at_risk = np.arange(times.size, 0, -1)
    boundary = np.diff(times, prepend=-np.inf, append=np.inf) > 0
    first, last = boundary[:-1], boundary[1:]
    unique_times = times[first]
    if observed.all():  # scipy's uncensored branch: the empirical survival function
        survival = 1 - np.cumsum(np.diff(np.flatnonzero(last), prepend=-1)) / times.size
    else:
        n, deaths = at_risk[first], np.diff(np.cumsum(died)[last], prepend=0)
        survival = np.cumprod((n - deaths) / n)
    return np.concatenate([[0.0], unique_times]), np.concatenate([[1.0], survival])


def tenure_survival(tenure_years: ArrayLike, observed_exit: ArrayLike) -> pd.DataFrame:
    """`kaplan_meier` as a frame with columns tenure_years and survival (for figures and notebooks)."""
    import pandas as pd

    times, survival = kaplan_meier(tenure_years, observed_exit)
    return pd.DataFrame({"tenure_years": times, "survival": survival})


def km_median(times: np.ndarray, survival: np.ndarray) -> float | None:
    """The first time the survival curve is at or below one half; None if it never is."""
    below = np.flatnonzero(survival <= 0.5)
    return float(times[below[0]]) if len(below) else None


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


def summarize(series: Columns, members: Columns) -> dict[str, Any]:
    """The run summary (summary.json) from the weekly series and the member table.

    Both are tables by column name: pandas frames, or plain dicts of numpy arrays
    (the Monte Carlo fast path, which skips pandas). `member_type` and `exit_reason`
    hold the names of `MEMBER_TYPES` and `EXIT_REASONS` (or "active").
    """
    def column(table: Columns, name: str) -> np.ndarray:
        return np.asarray(table[name])

    members_weekly = column(series, "members")
    weeks = len(members_weekly)
    member_years = float(members_weekly.sum()) / 52.0
    per_member_year = (lambda total: total / member_years) if member_years > 0 else (lambda total: 0.0)
    exits_by_reason = {reason: int(column(series, f"exits_{reason}").sum()) for reason in EXIT_REASONS}
    non_dissolved_exits = sum(v for k, v in exits_by_reason.items() if k != "dissolved")

    exit_reason, tenure = column(members, "exit_reason"), column(members, "tenure_years")
    member_type, roi = column(members, "member_type"), column(members, "roi").astype(float)
    ended = exit_reason != ACTIVE
    dissolved = exit_reason == "dissolved"
    times, survival = kaplan_meier(tenure, ended & ~dissolved)

    eligible = (column(members, "join_week") <= weeks - 52) & ~(dissolved & (tenure < 1.0))
    retained = ~ended[eligible] | (tenure[eligible] >= 1.0)

    roi_by_type = {}
    for t in MEMBER_TYPES:
        of_type = member_type == t
        roi_by_type[t] = float(roi[of_type].mean()) if of_type.any() else None
    business = float(column(series, "business").sum())
    referrals = float(column(series, "referrals").sum())
    visitors = _settled_meeting_visitors(series)
    summary = {
        "members_final": int(members_weekly[-1]),
        "churn_rate_annual": per_member_year(non_dissolved_exits),
        "retention_first_year": float(retained.mean()) if eligible.any() else None,
        "median_tenure_years": km_median(times, survival),
        "business_per_member_year": per_member_year(business),
        "referrals_per_member_year": per_member_year(referrals),
        "roi_mean": float(roi.mean()) if len(roi) else None,
        "roi_median": float(np.median(roi)) if len(roi) else None,
        "roi_by_type": roi_by_type,
        "share_positive_roi": float((roi > 0).mean()) if len(roi) else None,
        "hunter_share_final": float(column(series, "hunter_share")[-1]),
        "fee_income_total": float(column(series, "fees_collected").sum()),
        # closed (its last members dissolved), or emptied by its members' own exits with no one left to dissolve
        "survived": bool(exits_by_reason["dissolved"] == 0 and members_weekly[-1] > 0),
        # referrals given inside the giver's sector (its contact sphere), of all referrals
        "sphere_share": float(column(series, "sphere_referrals").sum()) / referrals
        if referrals > 0 and "sphere_referrals" in series else None,
        "visitors_per_meeting": float(visitors.mean()) if len(visitors) else None,
        "joins_total": int(column(series, "joins").sum()),
        "exits_by_reason": exits_by_reason,
        "business_total": business,
        "cross_club_business_total": float(column(series, "cross_club_business").sum())
        if "cross_club_business" in series else 0.0,
        "direct_sales_total": float(column(series, "direct_sales").sum()),
        "member_years": member_years,
        "mean_members": float(members_weekly.mean()),
        "weeks": weeks,
    }
    return _clean(summary)


# the series columns a region does not add up: means over its clubs, weighted by their members
_REGION_MEANS = ("attendance_rate", "mean_tie", "hunter_share")


# a summary's dict-valued keys, flattened into columns with these prefixes (replications.parquet, targets)
_FLAT_PREFIX = {"roi_by_type": "roi", "exits_by_reason": "exits"}


def flatten_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A run summary as flat columns: roi_by_type -> roi_giver, ...; exits_by_reason -> exits_left, ...; None -> NaN."""
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        if isinstance(value, Mapping):
            prefix = _FLAT_PREFIX.get(key, key)
            for sub, item in value.items():
                flat[f"{prefix}_{sub}"] = math.nan if item is None else item
        else:
            flat[key] = math.nan if value is None else value
    return flat


def _sum_dtype(dtype: np.dtype) -> np.dtype:
    """The type numpy's sum adds values of `dtype` in (bools and small integers widen to 64 bits)."""
    return np.zeros(0, dtype).sum().dtype


def _settled_meeting_visitors(series: Columns) -> np.ndarray:
    """Visitors at each meeting a club held in the second half of its horizon (once settled, with members)."""
    members_weekly = np.asarray(series["members"])
    weeks = len(members_weekly)
    late = slice(weeks // 2, weeks)
    held = (np.asarray(series["meeting"])[late] > 0) & (members_weekly[late] > 0)
    return np.asarray(series["visitors"])[late][held]


def region_series(clubs: Iterable[Columns]) -> dict[str, np.ndarray]:
    """A region's weekly series from its clubs' (same weeks): counts and money add up; `meeting`
    is 1 when any club met; attendance rate, mean tie and hunters' share are means over the
    clubs weighted by their members that week.

    One pass over the clubs (a streaming region reads each club's series from disk once), adding
    them up in club order, first club first: the same bits as numpy's sum over a stack of them."""
    totals: dict[str, np.ndarray] = {}
    for club in clubs:
        members = np.asarray(club["members"])
        if not totals:
            totals["week"] = np.asarray(club["week"])
        for name in SERIES_COLUMNS[1:]:
            values = np.asarray(club[name])
            if name == "hunter_share":  # the club's hunters, a count: exact, whatever the rounding of its float32 share
                values = np.rint(values * members)
            elif name in _REGION_MEANS:
                values = values * members
            if name not in totals:  # numpy's sum adds small integers as int64
                totals[name] = values.astype(values.dtype if name == "meeting" else _sum_dtype(values.dtype))
            elif name == "meeting":
                np.maximum(totals[name], values, out=totals[name])
            else:
                totals[name] += values
    if not totals:
        raise ValueError("a region has at least one club")
    members = totals["members"]
    region: dict[str, np.ndarray] = {"week": totals["week"]}
    for name in SERIES_COLUMNS[1:]:
        if name in _REGION_MEANS:
            region[name] = np.divide(totals[name], members, out=np.zeros(len(members)), where=members > 0)
        else:
            region[name] = totals[name]
    return region


def region_members(clubs: list[Columns], names: list[str]) -> dict[str, np.ndarray]:
    """A region's member table: its clubs' tables one after another, with the club's name first."""
    region: dict[str, np.ndarray] = {
        "club": np.concatenate([np.full(len(np.asarray(c["member_id"])), name, dtype=object)
                                for c, name in zip(clubs, names, strict=True)])
    }
    for name in MEMBER_COLUMNS:
        region[name] = np.concatenate([np.asarray(club[name]) for club in clubs])
    return region


def summarize_region(club_series: list[Columns], club_members: list[Columns], names: list[str]
                     ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """The region's series, member table and summary; the summary lists every club's own under "clubs",
    and counts the clubs (`clubs_total`) and those that never closed (`clubs_survived`; the region's
    `survived` is whether all of them did)."""
    series, members = region_series(club_series), region_members(club_members, names)
    summary = summarize(series, members)
    summary["clubs"] = []
    visitors, meetings = 0.0, 0
    for name, s, m in zip(names, club_series, club_members, strict=True):
        summary["clubs"].append({"club": name, **summarize(s, m)})
        settled = _settled_meeting_visitors(s)
        visitors, meetings = visitors + float(settled.sum()), meetings + len(settled)
    # per meeting a club held: the region's series adds its clubs' visitors up each week, so its own mean over
    # the weeks any club met would be the clubs' sum (32 a meeting for Calvados's 12 clubs of 2.7)
    summary["visitors_per_meeting"] = visitors / meetings if meetings else None
    summary["clubs_total"] = len(names)
    summary["clubs_survived"] = sum(club["survived"] for club in summary["clubs"])
    return series, members, summary
