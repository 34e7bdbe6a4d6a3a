"""Every metric's name, label, unit, bounds and display format, in one place (issue 18, item 2).

The files hold ratios (`summary.json`, `comparison.csv`, `replications.parquet`: churn 0.383 exits per
member-year, ROI 2.66, survival 0-1); the unit of each stored value is `Metric.stored_unit`, written into
replications.parquet's Arrow field metadata (`arrow_metadata`) and into the README's units table
(`units_markdown`). Whatever people read, tables (`clubsim run`, `compare`, `sweep`), figures, the HTML
report, shows the same display unit (`Metric.unit`): a value is stored x `Metric.scale`, so shares, rates,
survival and ROI are percentages everywhere: churn `38.3 % / year`, ROI `266 %`, survived `% of runs`.

Three namespaces: `METRICS` (a run's summary metrics, as flattened in replications.parquet and the
statistics tables: `roi_giver`, `exits_left`; `<metric>_survivors` rows derive from their metric),
`SERIES` (timeseries.csv's weekly columns) and `REPLICATION_SERIES` (replications.parquet's per-run
lists), and `QUANTITIES` for what only the figures draw (a member's ROI, tenure survival).

Formatting lives here too (`format_estimate`, `format_value`, `header`), so that the model layer, the
report and the validation modules need not import the command line. Nothing heavy is imported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sim.model.metrics import EXIT_REASONS, MEMBER_TYPES, SERIES_COLUMNS, SUMMARY_KEYS

PERCENT = "%"
NONE = "—"
SIGNIFICANT_DIGITS = 3
SURVIVORS_SUFFIX = "_survivors"
_INF = math.inf


@dataclass(frozen=True)
class Metric:
    """A quantity as stored and as shown.

    `label` names it (`churn`), `unit` is its display unit (`% / year`), `stored_unit` what the number in
    the files means (`exits per member-year`); shown = stored x `scale`. `bounds` (stored units) is where
    a mean lies whatever the runs (a CI is cut there). `decimals` and `sign` format one value (a run
    summary); estimates with a CI get 3 significant digits (`format_estimate`). `show_unit` False: the
    label already says it (`members at end`), headers leave the unit out. `kind`: count, number, money,
    share, rate, roi, flag, years, weeks or index."""

    name: str
    label: str
    unit: str
    stored_unit: str
    kind: str = "number"
    scale: float = 1.0
    bounds: tuple[float, float] | None = None
    decimals: int = 1
    sign: bool = False
    show_unit: bool = True
    description: str = ""

    @property
    def percent(self) -> bool:
        return self.scale == 100.0

    @property
    def header(self) -> str:
        """`label (unit)`, e.g. `churn (% / year)`; the label alone when it names its unit."""
        return f"{self.label} ({self.unit})" if self.show_unit and self.unit else self.label

    def shown(self, value: float) -> float:
        return float(value) * self.scale


def _m(name: str, label: str, unit: str, stored_unit: str, kind: str = "number", **more: Any) -> Metric:
    if kind in ("share", "rate", "roi", "flag") and "scale" not in more:
        more["scale"] = 100.0
    bounds = {"count": (0.0, _INF), "money": (0.0, _INF), "years": (0.0, _INF), "weeks": (0.0, _INF),
              "share": (0.0, 1.0), "flag": (0.0, 1.0), "rate": (0.0, _INF), "roi": (-1.0, _INF),
              "number": (0.0, _INF), "index": (0.0, 1.0)}
    more.setdefault("bounds", bounds.get(kind))
    more.setdefault("decimals", {"count": 0, "money": 0, "years": 2, "weeks": 0}.get(kind, 1))
    return Metric(name, label, unit, stored_unit, kind, **more)


_SHARE = "share (0-1; 1 = 100 %)"
_ROI_STORED = "ratio: net gain per EUR of fees and time (-1 = all lost; 1 = 100 %)"
EXIT_LABELS = {
    "left": "left (renewal)",
    "expelled_absence": "expelled: absences",
    "expelled_contribution": "expelled: no referrals",
    "exogenous": "exogenous",
    "dissolved": "club closed",
}
_TYPE_PLURAL = {"giver": "givers", "reciprocator": "reciprocators", "hunter": "hunters"}

_METRICS: list[Metric] = [
    # SUMMARY_KEYS, in order
    _m("members_final", "members at end", "members", "members", "count", show_unit=False),
    _m("churn_rate_annual", "churn", "% / year", "exits per member-year (ratio; a closure's exits excluded)",
       "rate"),
    _m("retention_first_year", "1st-year retention", PERCENT, _SHARE + " of the members who joined at least a "
       "year before the end", "share"),
    _m("median_tenure_years", "median tenure", "years",
       "years (Kaplan-Meier median; empty when more than half never leave)", "years"),
    _m("business_per_member_year", "business / member-year", "EUR", "EUR per member-year", "money"),
    _m("referrals_per_member_year", "referrals / member-year", "referrals / member-year",
       "referrals per member-year", "number", show_unit=False),
    _m("roi_mean", "ROI, mean", PERCENT, _ROI_STORED, "roi", sign=True),
    _m("roi_median", "ROI, median", PERCENT, _ROI_STORED, "roi", sign=True),
    _m("roi_by_type", "ROI, mean by member type", PERCENT, _ROI_STORED + "; by type: roi_giver, ...", "roi",
       sign=True),
    _m("share_positive_roi", "members with ROI > 0", PERCENT, _SHARE, "share"),
    _m("hunter_share_final", "hunter share at end", PERCENT, _SHARE, "share"),
    _m("fee_income_total", "fee income", "EUR", "EUR over the run", "money"),
    _m("survived", "survived", "% of runs", "yes/no (true: the club never closed); a mean over runs is the "
       "share of runs (0-1)", "flag"),
    _m("sphere_share", "referrals in the sphere", PERCENT, _SHARE + " of referrals given inside the giver's "
       "sector", "share"),
    _m("visitors_per_meeting", "visitors / meeting", "visitors / meeting", "visitors per meeting held, second "
       "half of the run", "number", show_unit=False),
    # expanded dicts
    *(_m(f"roi_{t}", f"ROI, {_TYPE_PLURAL[t]}", PERCENT, _ROI_STORED + f"; mean over the {_TYPE_PLURAL[t]}",
         "roi", sign=True) for t in MEMBER_TYPES),
    _m("exits_by_reason", "exits", "members", "members over the run; by reason: exits_left, ...", "count",
       show_unit=False),
    *(_m(f"exits_{r}", f"exits: {EXIT_LABELS[r]}", "members", "members over the run", "count", show_unit=False)
      for r in EXIT_REASONS),
    # the other summary keys
    _m("joins_total", "joins, total (incl. founders)", "members", "members over the run", "count",
       show_unit=False),
    _m("business_total", "business, total", "EUR", "EUR over the run", "money"),
    _m("cross_club_business_total", "business from other clubs, total", "EUR", "EUR over the run", "money"),
    _m("direct_sales_total", "hunters' direct sales, total", "EUR", "EUR over the run", "money"),
    _m("member_years", "member-years", "member-years", "member-years (members summed over weeks / 52)",
       "number", show_unit=False),
    _m("mean_members", "members, mean", "members", "members (mean over the weeks)", "number", show_unit=False),
    _m("weeks", "weeks simulated", "weeks", "weeks", "weeks", show_unit=False),
    _m("clubs_total", "clubs", "clubs", "clubs in the region", "count", show_unit=False),
    _m("clubs_survived", "clubs that survived", "clubs", "clubs that never closed", "count", show_unit=False),
]
METRICS: dict[str, Metric] = {m.name: m for m in _METRICS}

_PER_WEEK = "per week"
SERIES: dict[str, Metric] = {m.name: m for m in [
    _m("week", "week", "weeks", "weeks since the start (0 = the first week)", "weeks", show_unit=False),
    _m("meeting", "meeting held", "0/1", "1 if the club met that week, else 0", "count", show_unit=False),
    _m("members", "members", "members", "members at the week's end", "count", show_unit=False),
    _m("joins", "joins", "members / week", "members who joined that week (week 0: the founders)", "count"),
    *(_m(f"exits_{r}", f"exits: {EXIT_LABELS[r]}", "members / week", "members who left that week", "count")
      for r in EXIT_REASONS),
    _m("exits", "exits", "members / week", "members who left that week, every reason", "count"),
    _m("visitors", "visitors", "visitors / week", "visitors at that week's meeting", "count"),
    _m("applicants", "applicants", "applicants / week", "visitors who applied that week", "count"),
    _m("referrals", "referrals", "referrals / week", "referrals passed that week", "count"),
    _m("deals", "deals", "deals / week", "referrals closed as deals that week", "count"),
    _m("business", "referral business", "EUR / week", "EUR of referral business closed that week", "money"),
    _m("direct_sales", "hunters' direct sales", "EUR / week", "EUR that hunters sold members directly that "
       "week", "money"),
    _m("attendance_rate", "attendance", PERCENT, _SHARE + " of the members present at the week's meeting",
       "share"),
    _m("mean_tie", "mean tie strength", "0-1", "tie strength (0-1), mean over pairs of members", "index",
       decimals=3),
    _m("hunter_share", "hunter share", PERCENT, _SHARE + " of the members who are hunters", "share"),
    _m("fees_collected", "fees collected", "EUR / week", "EUR of fees collected that week", "money"),
    _m("cross_club_referrals", "referrals from other clubs", "referrals / week", "referrals crossing clubs "
       "that week (regions)", "count"),
    _m("cross_club_business", "business from other clubs", "EUR / week", "EUR crossing clubs that week "
       "(regions)", "money"),
    _m("sphere_referrals", "referrals in the sphere", "referrals / week", "referrals given inside the giver's "
       "sector that week", "count"),
]}

# replications.parquet's per-run lists (compare keeps them; sweeps do not by default)
REPLICATION_SERIES: dict[str, Metric] = {m.name: m for m in [
    _m("members_weekly", "members", "members", "members at each week's end (one list per run)", "count",
       show_unit=False),
    _m("tenure_years", "tenure", "years", "years each member ever stayed (one list per run)", "years"),
    _m("tenure_observed", "exit observed", "yes/no", "true when the member left (false: still a member, or "
       "the club closed)", "count", bounds=None, show_unit=False),
    _m("tenure_type", "member type", "code", "0 giver, 1 reciprocator, 2 hunter", "count", bounds=None,
       show_unit=False),
]}

# what only the figures draw
QUANTITIES: dict[str, Metric] = {m.name: m for m in [
    _m("roi", "ROI", PERCENT, _ROI_STORED, "roi", sign=True),
    _m("tenure_survival", "members still in the club", PERCENT, _SHARE + " (Kaplan-Meier)", "share"),
    _m("tenure", "tenure", "years", "years", "years"),
    _m("time", "time", "years", "years since the start", "years"),
]}

_NAMESPACES = {"metric": METRICS, "series": SERIES, "replication_series": REPLICATION_SERIES,
               "quantity": QUANTITIES}


def survivors_base(name: str) -> str | None:
    """`business_per_member_year` for `business_per_member_year_survivors` (a statistics table's row over
    the replications whose club survived); None for any other name."""
    base = name.removesuffix(SURVIVORS_SUFFIX)
    return base if base != name and base in METRICS else None


def metric(name: str, namespace: str = "metric") -> Metric:
    """The registry's entry for `name` (`<metric>_survivors`: its metric's, labelled `..., survivors`).
    An unknown name gets a plain entry (its name in words, no unit, no bounds)."""
    table = _NAMESPACES[namespace]
    if name in table:
        return table[name]
    if namespace == "metric" and (base := survivors_base(name)) is not None:
        entry = METRICS[base]
        return replace(entry, name=name, label=f"{entry.label}, survivors",
                       stored_unit=f"{entry.stored_unit}; over the runs whose club survived")
    return Metric(name, name.replace("_", " "), "", "", "number", bounds=None, show_unit=False)


def is_known(name: str, namespace: str = "metric") -> bool:
    return name in _NAMESPACES[namespace] or (namespace == "metric" and survivors_base(name) is not None)


def header(name: str, namespace: str = "metric") -> str:
    """A column header or axis label with the display unit: `business / member-year (EUR)`, `ROI, mean (%)`,
    `members at end, survivors`, `business / member-year (EUR), survivors`."""
    if namespace == "metric" and (base := survivors_base(name)) is not None:
        return f"{header(base)}, survivors"
    return metric(name, namespace).header


def is_percent_metric(name: str) -> bool:
    """Whether a metric is shown x 100, as a percentage (shares, rates, survival, ROI)."""
    return metric(name).percent


def bounds(names: Iterable[str] | None = None) -> dict[str, tuple[float, float]]:
    """Each metric's bounds (stored units): where its mean lies whatever the runs."""
    chosen = METRICS if names is None else {n: metric(n) for n in names}
    return {name: entry.bounds for name, entry in chosen.items() if entry.bounds is not None}


# --------------------------------------------------------------------------- numbers as text


def finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _places(values: list[float]) -> int:
    """Decimal places (negative: round to tens, hundreds...) for SIGNIFICANT_DIGITS of the largest value."""
    top = max((abs(v) for v in values if v != 0), default=0.0)
    return SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(top)) if top else 0


def number_text(value: float, places: int, sign: bool = False, grouping: bool = True) -> str:
    """`value` rounded to `places` decimals (negative: tens, hundreds...), e.g. `64,200`, `+0.66`."""
    rounded = round(value, places) + 0.0  # + 0.0: no "-0"
    return f"{rounded:{'+' if sign and rounded else ''}{',' if grouping else ''}.{max(places, 0)}f}"


@dataclass(frozen=True)
class Estimate:
    """A mean (or difference) and its 95 % CI in display units, rounded as shown: `places` decimals."""

    mean: float
    low: float | None
    high: float | None
    places: int
    sign: bool = False

    def texts(self, grouping: bool = True) -> tuple[str, str | None]:
        """(value, CI) as text: `64,200`, `[61,900; 66,500]` (the CI None when there is none)."""
        value = number_text(self.mean, self.places, self.sign, grouping)
        if self.low is None or self.high is None:
            return value, None
        low = number_text(self.low, self.places, self.sign, grouping)
        return value, f"[{low}; {number_text(self.high, self.places, self.sign, grouping)}]"

    def numbers(self) -> tuple[float | int, float | int | None, float | int | None]:
        """The numbers as shown (rounded; ints when no decimals), for csv, markdown and json."""
        def shown(v: float | None) -> float | int | None:
            if v is None:
                return None
            rounded = round(v, self.places) + 0.0
            return int(rounded) if self.places <= 0 else rounded
        return shown(self.mean), shown(self.low), shown(self.high)


def estimate(mean: Any, low: Any = None, high: Any = None, *, percent: bool = False, sign: bool = False,
             scale: float | None = None) -> Estimate | None:
    """A mean and its CI rounded as the tables show it (3 significant digits, more if the CI is narrower
    than that); None if the mean is not a number. `percent`/`scale` multiply the stored values."""
    if not finite(mean):
        return None
    factor = scale if scale is not None else (100.0 if percent else 1.0)
    m = float(mean) * factor
    ci = [float(v) * factor for v in (low, high)] if finite(low) and finite(high) else []
    if ci and ci[1] - ci[0] <= 1e-9 * max(1.0, abs(m)):  # no sampling error (every run survived, a constant
        ci = []                                              # difference up to rounding): the value alone
    places = _places([m, *ci])
    if ci and ci[1] > ci[0]:  # and at least one significant digit of the CI's half-width
        places = min(max(places, -math.floor(math.log10((ci[1] - ci[0]) / 2))), max(places, 0) + 3)
    return Estimate(m, *(ci or (None, None)), places=places, sign=sign)


def format_estimate(mean: Any, low: Any = None, high: Any = None, *, percent: bool = False, sign: bool = False,
                    sep: str = " ") -> str:
    """A mean (or difference) and its 95 % CI, e.g. `64,200 [61,900; 66,500]` (3 significant digits,
    more if the CI is narrower than that); `percent` shows proportions x 100, `sign` a leading +/-,
    `sep` goes between the value and its CI (a newline in narrow tables)."""
    found = estimate(mean, low, high, percent=percent, sign=sign)
    if found is None:
        return NONE
    value, ci = found.texts()
    return value if ci is None else f"{value}{sep}{ci}"


def metric_estimate(name: str, mean: Any, low: Any = None, high: Any = None, *, sign: bool = False
                    ) -> Estimate | None:
    """`estimate` in the metric's display unit."""
    return estimate(mean, low, high, sign=sign, scale=metric(name).scale)


def format_metric_estimate(name: str, mean: Any, low: Any = None, high: Any = None, *, sign: bool = False,
                           sep: str = " ") -> str:
    """`format_estimate` in the metric's display unit (percent for shares, rates, survival and ROI)."""
    return format_estimate(mean, low, high, percent=is_percent_metric(name), sign=sign, sep=sep)


def _plain(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def value_number(name: str, value: Any, namespace: str = "metric") -> tuple[str, str]:
    """One value (a run summary's) as (number, unit) in display units: ('38.3', '% / year'),
    ('+266.0', '%'), ('64,213', 'EUR'), ('yes', ''); ('—', '') for None."""
    if value is None:
        return NONE, ""
    if isinstance(value, bool):
        return ("yes" if value else "no"), ""
    if not isinstance(value, (int, float)) or (namespace == "metric" and not is_known(name)):
        return _plain(value), ""
    entry = metric(name, namespace)
    if entry.kind in ("count", "weeks") and isinstance(value, int):
        text = f"{value:,}"
    else:
        text = f"{entry.shown(value):{'+' if entry.sign else ''},.{entry.decimals}f}"
    return text, (entry.unit if entry.show_unit else "")


def format_value(name: str, value: Any, namespace: str = "metric") -> str:
    """One value as shown to people, with its unit: `38.3 % / year`, `+266.0 %`, `64,213 EUR`,
    `1.65 years`, `yes`, `—` for None."""
    text, unit = value_number(name, value, namespace)
    return f"{text} {unit}" if unit else text


# --------------------------------------------------------------------------- files and figures


def arrow_metadata(name: str) -> dict[str, str] | None:
    """An Arrow field's metadata for a column of replications.parquet: label, unit (of the stored value),
    display unit and scale; None for a column the registry does not know (ids, swept parameters)."""
    for namespace in ("metric", "replication_series"):
        if is_known(name, namespace):
            entry = metric(name, namespace)
            return {"label": entry.label, "unit": entry.stored_unit, "display_unit": entry.unit,
                    "display_scale": f"{entry.scale:g}"}
    return None


def with_arrow_metadata(schema: Any) -> Any:
    """`schema` (a pyarrow Schema) with `arrow_metadata` on every field the registry knows."""
    import pyarrow as pa

    fields = []
    for field in schema:
        meta = arrow_metadata(field.name)
        fields.append(field.with_metadata(meta) if meta is not None else field.remove_metadata())
    return pa.schema(fields, metadata=schema.metadata)


# --------------------------------------------------------------------------- documentation


def units_rows() -> list[tuple[str, str, str, str]]:
    """(column, label, stored unit, shown as) for every metric and series column, as the README lists them."""
    rows = []
    for namespace, where in (("metric", ""), ("replication_series", ""), ("series", "timeseries.csv: ")):
        for name, entry in _NAMESPACES[namespace].items():
            if name in ("roi_by_type", "exits_by_reason"):
                continue
            shown = entry.unit + (f" (x {entry.scale:g})" if entry.scale != 1.0 else "")
            rows.append((f"{where}`{name}`", entry.label, entry.stored_unit, shown))
    return rows


def units_markdown() -> str:
    """The README's units table (a test checks that the README holds it as written here)."""
    lines = ["| column | label | stored as (files) | shown as (tables, figures, report) |", "|---|---|---|---|"]
    lines += [f"| {column} | {label} | {stored} | {shown} |" for column, label, stored, shown in units_rows()]
    lines.append("| `<metric>_survivors` | `<label>, survivors` | as its metric, over the runs whose club "
                 "survived | as its metric |")
    return "\n".join(lines)


def registry_gaps(keys: Iterable[str] = SUMMARY_KEYS, series: Iterable[str] = SERIES_COLUMNS) -> list[str]:
    """Summary keys and series columns with no registry entry (a test keeps this empty)."""
    return [*(k for k in keys if k not in METRICS), *(c for c in series if c not in SERIES)]


def labels(names: Iterable[str], namespace: str = "metric") -> Mapping[str, str]:
    return {name: header(name, namespace) for name in names}


__all__ = [
    "METRICS", "NONE", "QUANTITIES", "REPLICATION_SERIES", "SERIES", "Estimate", "Metric", "arrow_metadata",
    "bounds", "estimate", "format_estimate", "format_metric_estimate", "format_value", "header",
    "is_percent_metric", "metric", "metric_estimate", "units_markdown", "value_number",
    "with_arrow_metadata",
]
