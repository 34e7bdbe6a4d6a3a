"""Calibration targets and what they measure: the targets file, and the statistics a target names.

A targets file (scenarios/targets/*.yaml) lists real figures (a summary metric or a statistic of the
weekly series and member table, its value, a tolerance and its source in words) and the free
parameters `clubsim calibrate` may move, with bounds. This module also measures those statistics on
replications run under common random numbers (`replicate`) and estimates them with 95 % CIs
(`estimate`, `paired_difference`), for `sim.experiments.calibration`, `sim.experiments.stylized` and
`sim.experiments.sensitivity`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.errors import InputError, suggest, validation_input_error
from sim.model.scenario import (
    NumbersNotBooleans,
    ScenarioConfig,
    apply_overrides,
    field_annotation,
    read_yaml_mapping,
    validate_config,
)

# a tenure bin is one year of membership; a bin with fewer member-years at risk than this (pooled over
# replications) is too thin to say where the hazard peaks
HAZARD_MIN_EXPOSURE = 20.0
EARLY_YEARS = 2  # "the first two years of tenure"
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20180101
HAZARD_EXITS = "exits_by_tenure_year"
HAZARD_EXPOSURE = "exposure_by_tenure_year"
NON_HUNTER_EXITS = "non_hunter_exits"
NON_HUNTER_YEARS = "non_hunter_member_years"
HAZARD = (HAZARD_EXITS, HAZARD_EXPOSURE)
# ROI of hunters and givers summed, and counted, by tenure: [hunters <= 1 year, givers <= 1 year,
# hunters >= 3 years, givers >= 3 years] (pooled: a chapter holds few hunters)
ROI_BY_TENURE = ("roi_by_tenure_sums", "roi_by_tenure_counts")
SHORT_TENURE, LONG_TENURE = 1.0, 3.0
# statistics also reported among surviving clubs alone: a dead club's zeros would pull a mean away from
# every club that lives (issue 16: "the fit was an average of dead and full chapters")
SURVIVOR_STATISTICS = {
    "members_settled": "mean club size over the second half of the horizon",
    "business_per_member_year": "business per member-year",
    "referrals_per_member_year": "referrals per member-year",
    "referrals_per_chapter_year": "referrals passed in the club per year over the second half of the horizon",
    "sphere_share": "share of referrals given inside the giver's sector",
    "visitors_per_meeting": "visitors per meeting over the second half of the horizon",
}


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Statistic:
    """A quantity measured on replications: per replication (mean and t CI over them), or `pooled`
    over all replications at once (bootstrap CI, resampling replications)."""

    name: str
    description: str
    pooled: bool = False


def _summary_statistics() -> dict[str, Statistic]:
    from sim.experiments.experiment import METRIC_COLUMNS

    return {name: Statistic(name, "run summary metric (see docs/ODD.md section 8)") for name in METRIC_COLUMNS}


_SERIES_STATISTICS = (
    Statistic("members_settled", "mean club size over the second half of the horizon (members)"),
    *(Statistic(f"{name}_survivors", f"{what}, among replications whose club never closed (others: no value)")
      for name, what in SURVIVOR_STATISTICS.items()),
    Statistic("at_capacity", "1 if the club's mean size over the second half of the horizon is within 10 % of "
              "its capacity, else 0"),
    Statistic("referrals_per_chapter_year", SURVIVOR_STATISTICS["referrals_per_chapter_year"]),
    Statistic("business_rate_first_year", "business received per member-year by members whose whole tenure was "
              "under a year (EUR)"),
    Statistic("business_rate_years_3_to_7", "business received per member-year by members whose tenure is 3 to 7 "
              "years (EUR)"),
    Statistic("hunter_share_mean", "hunters' share of the members, averaged over the weeks (0..1)"),
    Statistic("churn_rate_non_hunters", "exits of givers and reciprocators (every reason but dissolution) per "
              "member-year they spent in the club", pooled=True),
    Statistic("roi_median_long_stayers", "median ROI of members whose tenure passed two years"),
    Statistic("roi_median_first_year_leavers",
              "median ROI of members who left by their own decision within their first year"),
    Statistic("roi_stayers_minus_leavers", "roi_median_long_stayers - roi_median_first_year_leavers"),
    Statistic("exit_hazard_peak_year", "year of membership (1 = tenure 0-1 year) in which the exit hazard "
              "(exits per member-year at risk, every exit reason but dissolution) peaks", pooled=True),
    Statistic("exit_hazard_after_first_year", "exits per member-year at risk after the first year of membership "
              "(every exit reason but dissolution)", pooled=True),
    Statistic("exit_hazard_years_2_to_5", "exits per member-year at risk in years 2 to 5 of membership "
              "(tenure 1 to 5 years)", pooled=True),
    Statistic("exit_hazard_from_year_6", "exits per member-year at risk from year 6 of membership on "
              "(tenure 5 years and more)", pooled=True),
    Statistic("hunter_minus_giver_roi_first_year", f"mean ROI of hunters minus givers, among members whose tenure "
              f"is at most {SHORT_TENURE:g} year", pooled=True),
    Statistic("hunter_minus_giver_roi_long_tenure", f"mean ROI of hunters minus givers, among members whose tenure "
              f"is at least {LONG_TENURE:g} years", pooled=True),
    Statistic("exit_hazard_early_to_late", f"peak exit hazard of the first {EARLY_YEARS} years of membership "
              f"over the exit hazard of all later years", pooled=True),
)


def statistics() -> dict[str, Statistic]:
    """Every statistic a target, a fact or a sensitivity analysis may name, by name."""
    return {**_summary_statistics(), **{s.name: s for s in _SERIES_STATISTICS}}


def _median(values: pd.Series) -> float:
    return float(values.median()) if len(values) else math.nan


def measure_run(series: pd.DataFrame, members: pd.DataFrame, summary: Mapping[str, Any],
                capacity: int | None = None) -> dict[str, Any]:
    """One replication's record: its flattened summary, the series statistics, and its exits and
    member-years at risk by year of tenure (for the pooled hazard); `capacity`, the club's, for
    `at_capacity`."""
    from sim.model.metrics import flatten_summary

    record = flatten_summary(summary)
    weeks = len(series)
    record["members_settled"] = float(series["members"].iloc[weeks // 2:].mean())
    record["at_capacity"] = float(capacity is not None and record["members_settled"] >= 0.9 * capacity)
    late_weeks = weeks - weeks // 2
    record["referrals_per_chapter_year"] = float(series["referrals"].iloc[weeks // 2:].sum()) * 52.0 / late_weeks
    for name in SURVIVOR_STATISTICS:
        record[f"{name}_survivors"] = record[name] if summary["survived"] else math.nan
    for name, (low, high) in (("business_rate_first_year", (0.0, 1.0)), ("business_rate_years_3_to_7", (3.0, 7.0))):
        chosen = (members["tenure_years"] >= low) & (members["tenure_years"] <= high) & (members["tenure_years"] > 0)
        years_in = float(members.loc[chosen, "tenure_years"].sum())
        record[name] = float(members.loc[chosen, "business_received"].sum()) / years_in if years_in > 0 else math.nan
    record["hunter_share_mean"] = float(series["hunter_share"].mean())

    tenure = members["tenure_years"].to_numpy(float)
    reason = members["exit_reason"].to_numpy()
    stayers = _median(members.loc[tenure > EARLY_YEARS, "roi"])
    leavers = _median(members.loc[(reason == "left") & (tenure <= 1.0), "roi"])
    record["roi_median_long_stayers"] = stayers
    record["roi_median_first_year_leavers"] = leavers
    record["roi_stayers_minus_leavers"] = stayers - leavers

    kind, roi = members["member_type"].to_numpy(), members["roi"].to_numpy(float)
    bands = (tenure <= SHORT_TENURE, tenure >= LONG_TENURE)
    groups = [(kind == t) & band for band in bands for t in ("hunter", "giver")]
    record[ROI_BY_TENURE[0]] = [float(roi[g].sum()) for g in groups]
    record[ROI_BY_TENURE[1]] = [float(g.sum()) for g in groups]

    years = max(1, math.ceil(weeks / 52))
    observed = (reason != "active") & (reason != "dissolved")
    others = members["member_type"].to_numpy() != "hunter"
    record[NON_HUNTER_EXITS] = float((observed & others).sum())
    record[NON_HUNTER_YEARS] = float(tenure[others].sum())
    start = np.arange(years, dtype=float)
    exposure = np.clip(tenure[None, :] - start[:, None], 0.0, 1.0).sum(axis=1)
    year_of_exit = np.minimum(np.floor(tenure[observed]).astype(int), years - 1)
    exits = np.bincount(year_of_exit, minlength=years).astype(float)
    record[HAZARD_EXITS] = exits.tolist()
    record[HAZARD_EXPOSURE] = exposure.tolist()
    return record


def exit_hazard(records: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Pooled exit hazard by year of membership (exits per member-year at risk) and the exposure."""
    exits = np.sum([r[HAZARD_EXITS] for r in records], axis=0)
    exposure = np.sum([r[HAZARD_EXPOSURE] for r in records], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        hazard = np.where(exposure > 0, exits / np.maximum(exposure, 1e-12), np.nan)
    return hazard, exposure


def _arrays(records: Sequence[Mapping[str, Any]], columns: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two per-replication columns (numbers or lists, e.g. exits and exposure by year) as arrays."""
    return (np.asarray([r[columns[0]] for r in records], float),
            np.asarray([r[columns[1]] for r in records], float))


def _peak_year(exits: np.ndarray, exposure: np.ndarray) -> float:
    usable = exposure >= HAZARD_MIN_EXPOSURE
    if not usable.any():
        return math.nan
    hazard = np.where(usable, exits / np.maximum(exposure, 1e-12), -np.inf)
    return float(np.argmax(hazard) + 1)


def _early_to_late(exits: np.ndarray, exposure: np.ndarray) -> float:
    early_exposure = exposure[:EARLY_YEARS]
    usable = early_exposure >= HAZARD_MIN_EXPOSURE
    late_exposure = exposure[EARLY_YEARS:].sum()
    if not usable.any() or late_exposure < HAZARD_MIN_EXPOSURE:
        return math.nan
    early = np.max(exits[:EARLY_YEARS][usable] / early_exposure[usable])
    late = exits[EARLY_YEARS:].sum() / late_exposure
    return float(early / late) if late > 0 else math.inf


def hazard_between(first: int, last: int | None = None) -> Callable[[np.ndarray, np.ndarray], float]:
    """Pooled exit hazard over tenure years first..last-1 (0 = the first year; last None: to the end)."""
    def hazard(exits: np.ndarray, exposure: np.ndarray) -> float:
        at_risk = exposure[first:last].sum()
        return float(exits[first:last].sum() / at_risk) if at_risk >= HAZARD_MIN_EXPOSURE else math.nan
    return hazard


def _rate(events: np.ndarray, years: np.ndarray) -> float:
    return float(events / years) if years > 0 else math.nan


def _roi_gap(first: int) -> Callable[[np.ndarray, np.ndarray], float]:
    """Hunters' mean ROI minus givers' in one tenure band (first: 0 short, 2 long) of ROI_BY_TENURE."""
    def gap(sums: np.ndarray, counts: np.ndarray) -> float:
        if counts[first] < 1 or counts[first + 1] < 1:
            return math.nan
        return float(sums[first] / counts[first] - sums[first + 1] / counts[first + 1])
    return gap


PooledFn = Callable[[np.ndarray, np.ndarray], float]
# name -> (the two columns summed over replications, what is computed from the sums)
_POOLED: dict[str, tuple[tuple[str, str], PooledFn]] = {
    "exit_hazard_peak_year": (HAZARD, _peak_year),
    "exit_hazard_after_first_year": (HAZARD, hazard_between(1)),
    "exit_hazard_years_2_to_5": (HAZARD, hazard_between(1, 5)),
    "exit_hazard_from_year_6": (HAZARD, hazard_between(5)),
    "exit_hazard_early_to_late": (HAZARD, _early_to_late),
    "churn_rate_non_hunters": ((NON_HUNTER_EXITS, NON_HUNTER_YEARS), _rate),
    "hunter_minus_giver_roi_first_year": (ROI_BY_TENURE, _roi_gap(0)),
    "hunter_minus_giver_roi_long_tenure": (ROI_BY_TENURE, _roi_gap(2)),
}


# --------------------------------------------------------------------------- estimates


@dataclass(frozen=True)
class Estimate:
    """A statistic's estimate over replications: value (the mean, or the pooled value), 95 % CI, n."""

    value: float
    low: float
    high: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        return bool(np.isfinite(self.low) and np.isfinite(self.high) and (self.low > 0 or self.high < 0))


def _t_estimate(x: np.ndarray) -> Estimate:
    from scipy import stats

    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return Estimate(mean, math.nan, math.nan, n)
    half = float(stats.t.ppf(0.975, n - 1)) * float(x.std(ddof=1)) / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n)


def _column(records: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    values = [r.get(name, math.nan) for r in records]
    return np.asarray(pd.to_numeric(pd.Series(values, dtype=object), errors="coerce"), dtype=float)


def _bootstrap(fn: Callable[[np.ndarray], float], n: int) -> tuple[float, float]:
    """95 % percentile interval of fn(indices) over resampled replication indices (fixed seed)."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    values = np.array([fn(rng.integers(0, n, n)) for _ in range(BOOTSTRAP_RESAMPLES)])
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def pooled_estimate(records: Sequence[Mapping[str, Any]], fn: PooledFn, columns: tuple[str, str] = HAZARD) -> Estimate:
    """fn of two columns summed over replications (by default exits and exposure by year of tenure),
    with a bootstrap CI that resamples replications."""
    a, b = _arrays(records, columns)
    value = fn(a.sum(axis=0), b.sum(axis=0))
    low, high = _bootstrap(lambda idx: fn(a[idx].sum(axis=0), b[idx].sum(axis=0)), len(records))
    return Estimate(value, low, high, len(records))


def point_value(records: Sequence[Mapping[str, Any]], name: str) -> float:
    """The statistic's value alone (mean, or pooled value), without a CI."""
    if name in _POOLED:
        columns, fn = _POOLED[name]
        a, b = _arrays(records, columns)
        return fn(a.sum(axis=0), b.sum(axis=0))
    values = _column(records, name)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else math.nan


def check_statistic(name: str, source: str | Path | None, where: str, *, pooled: bool = True) -> Statistic:
    """The statistic called `name`, or an InputError with a did-you-mean."""
    known = statistics()
    if name in known and (pooled or not known[name].pooled):
        return known[name]
    allowed = [n for n, s in known.items() if pooled or not s.pooled]
    if name in known:
        raise InputError(source, where, f"'{name}' is pooled over replications and cannot be used here; "
                                        "use a per-replication statistic")
    message = suggest(name, allowed).replace("unknown key", f"unknown statistic '{name}'")
    raise InputError(source, where, message)


# statistics that are 1 or 0 in each replication: their mean is a proportion, with Wilson's interval
PROPORTIONS = frozenset({"survived", "at_capacity"})


# where the series statistics lie whatever the runs (the registry holds the summary metrics'): a t CI is cut there
_STATISTIC_BOUNDS = {"members_settled": (0.0, math.inf), "referrals_per_chapter_year": (0.0, math.inf),
                     "business_rate_first_year": (0.0, math.inf), "business_rate_years_3_to_7": (0.0, math.inf),
                     "hunter_share_mean": (0.0, 1.0)}


def statistic_bounds(name: str) -> tuple[float, float] | None:
    """Where a statistic lies whatever the runs (`<statistic>_survivors`: its statistic's), or None."""
    from sim.model.metric_registry import SURVIVORS_SUFFIX, bounds

    base = name.removesuffix(SURVIVORS_SUFFIX)
    return _STATISTIC_BOUNDS.get(base) or bounds([base]).get(base)


def estimate(records: Sequence[Mapping[str, Any]], name: str) -> Estimate:
    """The statistic over replications: mean and t CI (Wilson's for a proportion, which never leaves
    [0, 1]: a t interval of 1 chapter at capacity in 200 would start below 0), or for a pooled statistic
    its pooled value and a bootstrap CI that resamples replications. A t CI is cut at the statistic's
    bounds (`statistic_bounds`), as the comparison tables cut theirs."""
    if name in _POOLED:
        columns, fn = _POOLED[name]
        return pooled_estimate(records, fn, columns)
    if name in PROPORTIONS:
        return _wilson_estimate(_column(records, name))
    result = _t_estimate(_column(records, name))
    limits = statistic_bounds(name)
    if limits is None:
        return result
    low, high = (float(bound) for bound in np.clip((result.low, result.high), *limits))  # NaN stays NaN
    return Estimate(result.value, low, high, result.n)


def _wilson_estimate(x: np.ndarray) -> Estimate:
    from scipy import stats

    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    interval = stats.binomtest(int(round(x.sum())), n).proportion_ci(confidence_level=0.95, method="wilson")
    return Estimate(float(x.mean()), float(interval.low), float(interval.high), n)


def paired_difference(
    records: Sequence[Mapping[str, Any]], baseline: Sequence[Mapping[str, Any]], name: str
) -> Estimate:
    """records - baseline for replications with the same seeds: paired t CI, or for a pooled
    statistic a bootstrap that resamples the pairs."""
    if len(records) != len(baseline):
        raise ValueError("paired replications must come in equal numbers")
    if name in _POOLED:
        columns, fn = _POOLED[name]
        ex, ep = _arrays(records, columns)
        bx, bp = _arrays(baseline, columns)
        value = fn(ex.sum(0), ep.sum(0)) - fn(bx.sum(0), bp.sum(0))
        low, high = _bootstrap(
            lambda idx: fn(ex[idx].sum(0), ep[idx].sum(0)) - fn(bx[idx].sum(0), bp[idx].sum(0)), len(records))
        return Estimate(value, low, high, len(records))
    return _t_estimate(_column(records, name) - _column(baseline, name))


# --------------------------------------------------------------------------- replications


@dataclass(frozen=True)
class MeasureTask:
    """One replication to measure: which scenario (label), which replication and seed."""

    label: str
    replication: int
    seed: int
    config: ScenarioConfig
    engine: str = "numba"


def run_measured(task: MeasureTask) -> tuple[str, int, dict[str, Any]]:
    """Run one replication and measure it (top level, so process pools and Dask can call it)."""
    from sim.model.runner import simulate

    result = simulate(task.config, task.seed, task.engine)  # type: ignore[arg-type]
    capacity = None if result.scenario.config.is_region else result.scenario.config.club.capacity
    return task.label, task.replication, measure_run(result.series, result.members, result.summary, capacity)


def replicate(
    configs: Mapping[str, ScenarioConfig],
    runs: int,
    seed: int,
    *,
    first: int = 0,
    engine: str = "numba",
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Replications `first .. first + runs - 1` of every labelled scenario, under common random numbers:
    replication r of every scenario uses the r-th seed of `seed` (`sim.experiments.experiment.replication_seeds`).
    Scenarios that are the same config run once. Returns the records by label, in replication order.
    """
    from sim.experiments.backends import run_tasks
    from sim.experiments.experiment import replication_seeds

    seeds = replication_seeds(seed, first + runs)[first:]
    unique: dict[str, str] = {}  # config JSON -> the label that runs it
    runs_as: dict[str, str] = {}
    for label, config in configs.items():
        key = config.model_dump_json()
        runs_as[label] = unique.setdefault(key, label)
    tasks = [MeasureTask(label, first + r, s, configs[label], engine)
             for r, s in enumerate(seeds) for label in dict.fromkeys(runs_as.values())]
    found: dict[str, dict[int, dict[str, Any]]] = {label: {} for label in unique.values()}

    def collect(result: tuple[str, int, dict[str, Any]]) -> None:
        label, replication, record = result
        found[label][replication] = record

    run_tasks(tasks, run_measured, backend=backend, workers=workers, scheduler=scheduler, on_result=collect,
              progress=progress)
    return {label: [found[runs_as[label]][r] for r in sorted(found[runs_as[label]])] for label in configs}


# --------------------------------------------------------------------------- targets file


class _Spec(NumbersNotBooleans):
    model_config = ConfigDict(extra="forbid")


_PERCENT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*%\s*$")


class TargetSpec(_Spec):
    metric: str = Field(..., description="a summary metric or a series statistic (see sim.experiments.targets)")
    value: float = Field(..., description="the real figure, in the metric's unit")
    tolerance: float | str | None = Field(
        None, description="half-width of the accepted band: a number in the metric's unit, or a percentage "
                          "of the value such as '15%'")
    range: tuple[float, float] | None = Field(
        None, description="the accepted band [low, high] when it is not symmetric (instead of tolerance)")
    weight: float = Field(1.0, gt=0, description="weight of this target in the calibration loss (> 0)")
    source: str = Field(..., min_length=1, description="where the figure comes from, in words: document and year")

    @field_validator("tolerance")
    @classmethod
    def _tolerance(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, str) and not _PERCENT.match(value):
            raise ValueError("a number (in the metric's unit) or a percentage such as '15%'; either > 0")
        percent = _PERCENT.match(value) if isinstance(value, str) else None
        if (isinstance(value, (int, float)) and value <= 0) or (percent is not None and float(percent.group(1)) <= 0):
            raise ValueError("must be > 0: the half-width of the band a simulated value is accepted in (a band of 0 "
                             "accepts nothing)")
        return value

    @model_validator(mode="after")
    def _one_band(self) -> TargetSpec:
        if (self.tolerance is None) == (self.range is None):
            raise ValueError("give either tolerance (e.g. '15%' or 12.5) or range: [low, high]")
        if self.range is not None and not self.range[0] <= self.value <= self.range[1]:
            raise ValueError(f"range [{self.range[0]:g}, {self.range[1]:g}] must contain the value {self.value:g}")
        return self


class BoundsSpec(_Spec):
    low: float = Field(..., description="lowest value the optimiser may try")
    high: float = Field(..., description="highest value the optimiser may try")

    @model_validator(mode="after")
    def _order(self) -> BoundsSpec:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        return self


class OptimiserSpec(_Spec):
    method: Literal["differential_evolution", "nelder_mead"] = Field(
        "differential_evolution",
        description="scipy.optimize.differential_evolution (global, robust to the noise of a finite sample) "
                    "or scipy.optimize.minimize(method='Nelder-Mead') from the scenario's values")
    max_evaluations: int = Field(240, ge=2, le=100_000,
                                 description="at most this many scenario evaluations, each `runs` replications")
    population: int = Field(8, ge=2, le=100,
                            description="differential evolution: population size per free parameter")


class TargetsSpec(_Spec):
    name: str | None = Field(None, description="short name (default: the file's stem)")
    description: str = Field("", description="free text")
    runs: int = Field(60, ge=2, le=100_000, description="replications per evaluation during the search (>= 2)")
    check_runs: int = Field(
        200, ge=2, le=100_000,
        description="replications of the final fit check, on seeds the search never saw (>= 2)")
    seed: int = Field(1, ge=0, description="seed of the replications (common random numbers) (>= 0)")
    targets: list[TargetSpec] = Field(..., min_length=1, description="the figures to reproduce")
    parameters: dict[str, BoundsSpec] = Field(
        default_factory=dict, description="free parameters: dotted scenario key -> {low, high}")
    optimiser: OptimiserSpec = OptimiserSpec()


@dataclass(frozen=True)
class Target:
    """A resolved target: the statistic, its real value, the accepted band, weight and source."""

    metric: str
    value: float
    low: float
    high: float
    weight: float
    source: str
    tolerance_text: str

    def within(self, simulated: float) -> bool:
        return bool(np.isfinite(simulated) and self.low <= simulated <= self.high)

    def error(self, simulated: float) -> float:
        """Distance from the value in units of the band's half-width on that side (|e| <= 1: within)."""
        if not np.isfinite(simulated):
            return 10.0  # a statistic the runs could not measure counts as far off
        side = (self.high - self.value) if simulated >= self.value else (self.value - self.low)
        if side <= 0:
            return 0.0 if simulated == self.value else 10.0
        return (simulated - self.value) / side


@dataclass(frozen=True)
class Targets:
    """A loaded targets file."""

    name: str
    description: str
    source: str
    targets: tuple[Target, ...]
    parameters: dict[str, tuple[float, float]]
    integer_parameters: frozenset[str]
    runs: int
    check_runs: int
    seed: int
    method: str
    max_evaluations: int
    population: int
    spec: dict[str, Any]


def _band(spec: TargetSpec) -> tuple[float, float, str]:
    if spec.range is not None:
        return float(spec.range[0]), float(spec.range[1]), f"{spec.range[0]:g} to {spec.range[1]:g}"
    if isinstance(spec.tolerance, str):
        match = _PERCENT.match(spec.tolerance)
        assert match is not None
        share = float(match.group(1)) / 100
        half = abs(spec.value) * share
        return spec.value - half, spec.value + half, f"± {float(match.group(1)):g} %"
    half = float(spec.tolerance or 0.0)
    return spec.value - half, spec.value + half, f"± {half:g}"


def check_parameter(name: str, source: str | Path | None, where: str) -> bool:
    """Check a dotted scenario key names a number; True if it is an integer. InputError otherwise."""
    try:
        apply_overrides(ScenarioConfig().model_dump(mode="json"), {name: 0}, source or "<targets>")
    except InputError as err:
        raise InputError(source, f"{where}.{err.field}" if err.field else where, err.message) from None
    annotation = field_annotation(name)
    if annotation not in (int, float):
        raise InputError(source, f"{where}.{name}", "not a numeric scenario parameter; only numbers can be "
                                                    "calibrated or varied")
    return annotation is int


def _validate_spec(data: Mapping[str, Any], source: Path) -> TargetsSpec:
    try:
        return TargetsSpec.model_validate(data)
    except ValidationError as err:
        raise validation_input_error(err, source, TargetsSpec, missing="missing") from None


def load_targets(path: str | Path) -> Targets:
    """Load and check a targets file; bad input is one `InputError` naming the file and the field."""
    path = Path(path)
    data = read_yaml_mapping(path, "targets")
    spec = _validate_spec(data, path)
    targets = []
    for i, target in enumerate(spec.targets):
        check_statistic(target.metric, path, f"targets.{i}.metric")
        low, high, text = _band(target)
        targets.append(Target(target.metric, target.value, low, high, target.weight, target.source.strip(), text))
    integers = set()
    for name in spec.parameters:
        if check_parameter(name, path, "parameters"):
            integers.add(name)
    return Targets(
        name=spec.name or path.stem,
        description=spec.description,
        source=str(path),
        targets=tuple(targets),
        parameters={name: (b.low, b.high) for name, b in spec.parameters.items()},
        integer_parameters=frozenset(integers),
        runs=spec.runs,
        check_runs=spec.check_runs,
        seed=spec.seed,
        method=spec.optimiser.method,
        max_evaluations=spec.optimiser.max_evaluations,
        population=spec.optimiser.population,
        spec=spec.model_dump(mode="json"),
    )


def with_parameters(
    config: ScenarioConfig, values: Mapping[str, Any], source: str | Path = "<scenario>"
) -> ScenarioConfig:
    """The scenario with dotted parameters set (and validated)."""
    return validate_config(apply_overrides(config.model_dump(mode="json"), dict(values), source), source)


__all__ = [
    "Estimate",
    "MeasureTask",
    "Statistic",
    "Target",
    "Targets",
    "check_parameter",
    "check_statistic",
    "estimate",
    "exit_hazard",
    "hazard_between",
    "load_targets",
    "measure_run",
    "paired_difference",
    "point_value",
    "pooled_estimate",
    "replicate",
    "run_measured",
    "statistics",
    "with_parameters",
]
