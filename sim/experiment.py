"""Monte Carlo experiments: replications under common random numbers, policy comparisons and sweeps.

An experiment file (experiments/*.yaml) names a base scenario, policies (dotted overrides of it),
metrics, a number of runs and a seed; `compare` replicates every policy with the same seeds and
tabulates means, 95 % CIs and paired differences against the baseline; `sweep` does the same over
a grid or Latin hypercube of scenario parameters. A replication is a pure function of (scenario,
seed), so results do not depend on the backend, the number of workers or interruptions (`resume`).
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sim.errors import BackendError, InputError, OutputError, validation_input_error
from sim.metric_registry import bounds as metric_bounds
from sim.metric_registry import with_arrow_metadata
from sim.metrics import EXIT_REASONS, MEMBER_TYPES, SUMMARY_KEYS, summarize
from sim.outputs import (
    MANIFEST,
    OUT_OPTION,
    PART_NAME,
    PARTS,
    STATUS_COMPLETE,
    OutputFolder,
    bytes_checksum,
    file_checksum,
    listed_files,
    plain_name,
    provenance,
    verify_files,
    write_bytes,
)
from sim.scenario import (
    ScenarioConfig,
    apply_overrides,
    field_annotation,
    first_non_finite,
    load_config,
    read_yaml_mapping,
    validate_config,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from matplotlib.figure import Figure

# --------------------------------------------------------------------------- result columns

ID_COLUMNS = ("point", "policy", "replication", "seed")
SERIES_COLUMNS = ("members_weekly", "tenure_years", "tenure_observed", "tenure_type")
# summary keys in summarize()'s order; dict-valued ones are flattened with these prefixes
_SUMMARY_ORDER = (*SUMMARY_KEYS, "joins_total", "exits_by_reason", "business_total", "direct_sales_total",
                  "member_years", "mean_members", "weeks")
_FLAT_PREFIX = {"roi_by_type": "roi", "exits_by_reason": "exits"}
_EXPANDED = {"roi_by_type": tuple(f"roi_{t}" for t in MEMBER_TYPES),
             "exits_by_reason": tuple(f"exits_{r}" for r in EXIT_REASONS)}
METRIC_COLUMNS: tuple[str, ...] = tuple(
    column for key in _SUMMARY_ORDER for column in _EXPANDED.get(key, (key,))
)
_INT_METRICS = {"members_final", "joins_total", "weeks", *_EXPANDED["exits_by_reason"]}
_BOOL_METRICS = {"survived"}
# where a metric's mean lies whatever the runs (`sim.metric_registry`, each metric's `bounds`): counts,
# durations and money are never negative, shares stay within [0, 1], and an ROI is never below -1 (gains
# are >= 0: `sim.metrics.roi`). A t-interval on a skewed metric near a bound can cross it (members at the end
# when most clubs closed: 0.09 [-0.09; 0.27]); `metric_ci` cuts it at the bound, which keeps its coverage,
# since the true mean lies inside anyway.
METRIC_BOUNDS: dict[str, tuple[float, float]] = metric_bounds(METRIC_COLUMNS)
DEFAULT_METRICS = ("business_per_member_year", "churn_rate_annual", "roi_mean", "members_final", "survived")
# A club that closed ends with no members, business or referrals, which drags these means toward 0; the
# tables also give them over the surviving replications only, as `<metric>_survivors` rows.
SURVIVOR_METRICS = ("members_final", "mean_members", "business_per_member_year", "referrals_per_member_year",
                    "sphere_share", "visitors_per_meeting")
SURVIVORS_SUFFIX = "_survivors"

TABLE_COLUMNS = ("policy", "metric", "n", "mean", "sd", "ci_low", "ci_high", "diff", "diff_ci_low",
                 "diff_ci_high", "diff_p", "significant", "unpaired_ci_low", "unpaired_ci_high",
                 "crn_variance_ratio")
CRN_COLUMN = "crn_variance_ratio"  # comparisons only: sweep.csv keeps its columns
# Law (2015, section 9.4.1): to estimate with relative error gamma, stop when the CI's half-width is at most
# gamma / (1 + gamma) of |mean|, after at least this many replications
PRECISION_MIN_RUNS = 10
PRECISION_ON = ("mean", "difference")
_DIFF_COLUMNS = TABLE_COLUMNS[7:]

REPLICATIONS_FILE = "replications.parquet"
COMPARISON_FILE = "comparison.csv"
SWEEP_FILE = "sweep.csv"
FLOAT_FORMAT = "%.10g"
PART_ROWS = 50
PART_SECONDS = 2.0
# An experiment's cells (sweep points x policies) are each resolved and validated before anything runs
# (about a millisecond each), and every one is replicated `runs` times.
MAX_CELLS = 10_000
ROW_BYTES = 16_000  # one replication's result row while the experiment runs and is assembled, without series


# --------------------------------------------------------------------------- schema


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParameterSpec(_Spec):
    values: list[Any] | None = Field(None, description="grid: the values to try, in order")
    low: float | None = Field(None, description="lower end of a range (grid with steps, or lhs)")
    high: float | None = Field(None, description="upper end of a range (grid with steps, or lhs)")
    steps: int | None = Field(
        None, ge=2, le=10_000, description="grid over low..high: evenly spaced values, ends included (>= 2)"
    )


class SweepSpec(_Spec):
    design: Literal["grid", "lhs"] = Field(
        "grid", description="grid: every combination of values; lhs: Latin hypercube over low..high"
    )
    samples: int | None = Field(None, ge=1, le=100_000, description="lhs: number of points (>= 1)")
    parameters: dict[str, ParameterSpec] = Field(
        ..., min_length=1, description="dotted scenario key -> {values: [...]} or {low: ..., high: ...[, steps: ...]}"
    )


class UncertaintiesSpec(_Spec):
    samples: int = Field(..., ge=1, le=100_000, description="points of the Latin hypercube over the ranges (>= 1)")
    parameters: dict[str, ParameterSpec] = Field(
        ..., min_length=1, description="dotted scenario key -> {low: ..., high: ...}: a range the club does not control"
    )


class ExperimentSpec(_Spec):
    name: str | None = Field(
        None, description="short name, used for the default output folder (default: the file's stem)"
    )
    description: str = Field("", description="free text")
    scenario: str = Field(..., description="the base scenario file, relative to this experiment file")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="dotted scenario overrides applied to every policy"
    )
    policies: dict[str, dict[str, Any]] | None = Field(
        None, description="policy name -> dotted overrides of the base scenario ({} = the base itself)"
    )
    baseline: str | None = Field(None, description="the policy the others are compared with (default: the first)")
    metrics: list[str] | None = Field(None, min_length=1, description="summary metrics to tabulate (flattened names)")
    key_metric: str | None = Field(
        None, description="the metric whose precision `precision` targets (default: the first metric)"
    )
    key_metric_direction: Literal["max", "min"] = Field(
        "max", description="whether more (max) or less (min) of the key metric is better: what select-best picks"
    )
    runs: int = Field(100, ge=1, le=10_000_000, description="replications per policy (>= 1)")
    precision: float | None = Field(
        None, gt=0, lt=1,
        description="replicate until the key metric's 95 % CI half-width is <= precision x |mean| (0..1 exclusive)",
    )
    precision_on: Literal["mean", "difference"] | None = Field(
        None, description="precision mode: stop on each policy's mean (default), or on the paired difference of "
                          "each with the baseline (relative precision gamma / (1 + gamma), at least 10 runs)",
    )
    max_runs: int = Field(
        2000, ge=1, le=10_000_000, description="precision mode: at most this many replications per policy (>= 1)"
    )
    seed: int = Field(
        1, ge=0, description="experiment seed: replication r of every policy uses the r-th seed spawned from it (>= 0)"
    )
    engine: Literal["numba", "python"] = Field("numba", description="numba (fast) or python (plain-Mesa reference)")
    keep_series: bool | None = Field(
        None,
        description="store weekly members and tenures per replication (default: true for compare, false for sweeps)",
    )
    sweep: SweepSpec | None = Field(None, description="sweep design over scenario parameters")
    uncertainties: UncertaintiesSpec | None = Field(
        None, description="ranges the club does not control (scenario discovery): a Latin hypercube of `samples` "
                          "conditions, each replicated under every policy; instead of sweep:",
    )

    @field_validator("policies", mode="before")
    @classmethod
    def _policy_names(cls, value: Any) -> Any:
        # YAML reads `52: {...}` with an int key and `name:` with nothing as None
        if isinstance(value, Mapping):
            return {str(k): ({} if v is None else v) for k, v in value.items()}
        return value

    @field_validator("overrides", mode="before")
    @classmethod
    def _empty_overrides(cls, value: Any) -> Any:
        return {} if value is None else value


def _validate_spec(data: Mapping[str, Any], source: Path | str) -> ExperimentSpec:
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as err:
        raise validation_input_error(err, source, ExperimentSpec, describe=True, missing="missing") from None
    dotted = first_non_finite(spec.model_dump())
    if dotted is not None:
        raise InputError(source, dotted, "must be a finite number (not .inf, .nan or beyond 1e308)")
    return spec


# --------------------------------------------------------------------------- experiments


@dataclass(frozen=True, eq=False)
class Sweep:
    """A resolved sweep design: its parameters (dotted keys) and its points (values by parameter)."""

    design: str
    parameters: tuple[str, ...]
    points: tuple[dict[str, Any], ...]
    dtypes: dict[str, str]


@dataclass(frozen=True, eq=False)
class Experiment:
    """A loaded, validated experiment: every policy's (and sweep point's) resolved scenario.

    `configs[(point, policy)]` is the scenario replicated for that cell (`point` is -1 without a sweep).
    """

    name: str
    description: str
    source: str | None
    policies: dict[str, ScenarioConfig]
    baseline: str
    metrics: tuple[str, ...]
    key_metric: str
    runs: int
    precision: float | None
    max_runs: int
    seed: int
    engine: str
    keep_series: bool | None
    sweep: Sweep | None
    configs: dict[tuple[int, str], ScenarioConfig]
    spec: dict[str, Any] = field(default_factory=dict)
    key_metric_direction: Literal["max", "min"] = "max"
    precision_on: Literal["mean", "difference"] | None = None  # None: the experiment's (or resumed run's), else mean

    @property
    def policy_names(self) -> list[str]:
        return list(self.policies)

    @property
    def points(self) -> list[tuple[int, dict[str, Any]]]:
        """(point id, parameter values): [(-1, {})] without a sweep."""
        if self.sweep is None:
            return [(-1, {})]
        return list(enumerate(self.sweep.points))

    def fingerprint(self) -> dict[str, Any]:
        """What the replications depend on (JSON-ready); a resumed folder must match it. Besides every
        resolved scenario it holds the SHA-256 of each file they read (`scenario_inputs`), since a
        scenario names its market CSV by path only."""
        return json.loads(json.dumps({
            "policies": {name: config.model_dump(mode="json") for name, config in self.policies.items()},
            "points": [dict(values) for _, values in self.points] if self.sweep is not None else None,
            "seed": self.seed,
            "engine": self.engine,
            "keep_series": self.keep_series,
            "inputs": scenario_inputs([*self.policies.values(), *self.configs.values()]),
        }))


def scenario_inputs(configs: Sequence[ScenarioConfig]) -> dict[str, str | None]:
    """The files these scenarios read (every `*_csv` key, such as market.professions_csv, wherever it
    sits), each with the SHA-256 of its content (None if it cannot be read)."""
    paths: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if isinstance(value, str) and str(key).endswith("_csv"):
                    paths.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    seen: set[int] = set()
    for config in configs:
        if id(config) not in seen:  # the cells of a sweep share their policies' configs
            seen.add(id(config))
            walk(config.model_dump(mode="json"))
    inputs: dict[str, str | None] = {}
    for path in sorted(paths):
        try:
            inputs[path] = file_checksum(Path(path))["sha256"]
        except OSError:
            inputs[path] = None
    return inputs


def _read_mapping(path: Path) -> dict:
    return read_yaml_mapping(path, "experiment")


_EXPERIMENT_MARKERS = ("scenario", "policies", "sweep")


def is_experiment_file(path: str | Path) -> bool:
    """True if `path` is an experiment file (has `scenario:`, `policies:` or `sweep:`), False for a scenario.

    Raises `InputError` if the file cannot be read as a YAML mapping.
    """
    data = _read_mapping(Path(path))
    return any(key in data for key in _EXPERIMENT_MARKERS)


def _flatten_overrides(overrides: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{club: {fees: {annual: 1}}}` and `{club.fees.annual: 1}` alike -> dotted keys (no scenario leaf is a dict)."""
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten_overrides(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _prefixed(prefix: str, name: str | None) -> str | None:
    return ".".join(p for p in (prefix, name) if p) or None


def _override(data: dict, overrides: Mapping[str, Any], source: Path | str, prefix: str) -> dict:
    try:
        return apply_overrides(data, _flatten_overrides(overrides), source)
    except InputError as err:
        raise InputError(source, _prefixed(prefix, err.field), err.message) from None


def _validate(data: Mapping[str, Any], source: Path | str, prefix: str) -> ScenarioConfig:
    try:
        return validate_config(data, source)
    except InputError as err:
        raise InputError(source, _prefixed(prefix, err.field), err.message) from None


def _clean_number(value: float, integer: bool) -> float | int:
    return int(round(value)) if integer else float(np.round(value, 12))


def _param_dtype(values: Sequence[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "float64"
    return "string"


def _coerce(value: Any, dtype: str) -> Any:
    if dtype == "float64":
        return float(value)
    if dtype == "string":
        return value if isinstance(value, str) else json.dumps(value)
    return value


def _lhs(samples: int, dimensions: int, seed: int) -> np.ndarray:
    from scipy.stats import qmc

    try:
        sampler = qmc.LatinHypercube(d=dimensions, seed=seed)
    except TypeError:  # scipy versions that only take `rng`
        sampler = qmc.LatinHypercube(d=dimensions, rng=seed)
    return sampler.random(samples)


def _resolve_sweep(spec: SweepSpec, seed: int, source: Path | str) -> Sweep:
    names = list(spec.parameters)
    if spec.design == "lhs" and spec.samples is None:
        raise InputError(source, "sweep.samples", "missing: a Latin hypercube needs the number of points (>= 1)")
    if spec.design == "grid" and spec.samples is not None:
        raise InputError(source, "sweep.samples", "only for design: lhs (a grid's points are its values)")
    axes: dict[str, list[Any]] = {}
    for name, param in spec.parameters.items():
        where = f"sweep.parameters.{name}"
        annotation = field_annotation(name)
        integer = annotation is int
        if param.values is not None and (param.low is not None or param.high is not None or param.steps is not None):
            raise InputError(source, where, "give either values: [...] or low/high, not both")
        if param.values is None and (param.low is None or param.high is None):
            raise InputError(source, where, "give values: [...] (grid) or low: and high: (a range)")
        if param.values is not None and not param.values:
            raise InputError(source, f"{where}.values", "must list at least one value")
        if param.low is not None and param.high is not None and param.low > param.high:
            raise InputError(source, where, f"low ({param.low:g}) must not exceed high ({param.high:g})")
        if spec.design == "lhs":
            if param.values is not None:
                raise InputError(source, where, "a Latin hypercube samples ranges: give low: and high:, not values")
            if param.steps is not None:
                raise InputError(source, f"{where}.steps", "only for design: grid")
            if annotation not in (int, float, float | None, int | None):
                raise InputError(source, where, "a Latin hypercube needs a numeric parameter; use a grid of values")
        elif param.values is not None:
            axes[name] = list(param.values)
        else:
            if param.steps is None:
                raise InputError(source, where, "a grid over low..high needs steps: (>= 2), or give values: [...]")
            grid = [_clean_number(v, integer) for v in np.linspace(param.low, param.high, param.steps)]
            axes[name] = list(dict.fromkeys(grid))
    count = math.prod(len(axes[n]) for n in names) if spec.design == "grid" else int(spec.samples or 0)
    if count > MAX_CELLS:
        sizes = " x ".join(f"{len(axes[n]):,}" for n in names) if spec.design == "grid" else f"{count:,} samples"
        raise InputError(source, "sweep", f"a {spec.design} of {sizes} = {count:,} points; at most {MAX_CELLS:,} "
                                          "points (x policies): use fewer values or steps, or design: lhs")
    if spec.design == "grid":
        points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(axes[n] for n in names))]
    else:
        unit = _lhs(int(spec.samples or 0), len(names), seed)
        points = []
        for row in unit:
            point = {}
            for name, u in zip(names, row, strict=True):
                param = spec.parameters[name]
                value = float(param.low) + float(u) * (float(param.high) - float(param.low))
                point[name] = _clean_number(value, field_annotation(name) is int)
            points.append(point)
    dtypes = {name: _param_dtype([p[name] for p in points]) for name in names}
    points = [{name: _coerce(p[name], dtypes[name]) for name in names} for p in points]
    return Sweep(spec.design, tuple(names), tuple(points), dtypes)


def _metric_list(names: Sequence[str], source: Path | str, where: str) -> list[str]:
    columns: list[str] = []
    for name in names:
        if name in _EXPANDED:
            columns.extend(_EXPANDED[name])
        elif name in METRIC_COLUMNS:
            columns.append(name)
        else:
            close = difflib.get_close_matches(name, list(METRIC_COLUMNS), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else "allowed: " + ", ".join(METRIC_COLUMNS)
            raise InputError(source, where, f"unknown metric '{name}'; {hint}")
    return list(dict.fromkeys(columns))


def _uncertainties_as_sweep(spec: ExperimentSpec, source: Path | str) -> ExperimentSpec:
    """`uncertainties:` (EMA Workbench's word: what the club does not control, apart from its policies) is a
    Latin hypercube sweep over those ranges, crossed with the policies."""
    if spec.uncertainties is None:
        return spec
    if spec.sweep is not None:
        raise InputError(source, "uncertainties", "give either sweep: or uncertainties:, not both")
    for name, param in spec.uncertainties.parameters.items():
        if param.low is None or param.high is None or param.values is not None or param.steps is not None:
            raise InputError(source, f"uncertainties.parameters.{name}", "give a range: {low: ..., high: ...}")
    design = SweepSpec(design="lhs", samples=spec.uncertainties.samples, parameters=spec.uncertainties.parameters)
    return spec.model_copy(update={"sweep": design})


def _build(
    spec: ExperimentSpec,
    source: Path | str,
    base_configs: dict[str, ScenarioConfig],
    policy_overrides: dict[str, dict[str, Any]],
    name: str,
) -> Experiment:
    policies: dict[str, ScenarioConfig] = {}
    for policy, base in base_configs.items():
        overrides = policy_overrides.get(policy) or {}
        if overrides:
            data = _override(base.model_dump(mode="json"), overrides, source, f"policies.{policy}")
            policies[policy] = _validate(data, source, f"policies.{policy}")
        else:
            policies[policy] = base
    baseline = spec.baseline if spec.baseline is not None else next(iter(policies))
    if baseline not in policies:
        raise InputError(source, "baseline", f"'{baseline}' is not a policy; policies: {', '.join(policies)}")
    metrics = _metric_list(spec.metrics or DEFAULT_METRICS, source, "metrics")
    key_metric = metrics[0]
    if spec.key_metric is not None:
        key = _metric_list([spec.key_metric], source, "key_metric")
        if len(key) != 1:
            raise InputError(source, "key_metric", f"'{spec.key_metric}' is several metrics; name one, e.g. {key[0]}")
        key_metric = key[0]
        if key_metric not in metrics:
            metrics.append(key_metric)

    sweep = None
    configs: dict[tuple[int, str], ScenarioConfig] = {}
    spec = _uncertainties_as_sweep(spec, source)
    if spec.sweep is not None:
        for param in spec.sweep.parameters:  # unknown keys first, with a did-you-mean
            _override(ScenarioConfig().model_dump(mode="json"), {param: None}, source, "sweep.parameters")
            if param in METRIC_COLUMNS or param in ID_COLUMNS:
                raise InputError(source, f"sweep.parameters.{param}", "clashes with a result column's name")
        sweep = _resolve_sweep(spec.sweep, spec.seed, source)
        if len(sweep.points) * len(policies) > MAX_CELLS:
            raise InputError(source, "sweep", f"{len(sweep.points):,} points x {len(policies)} policies = "
                                              f"{len(sweep.points) * len(policies):,} cells; at most {MAX_CELLS:,}")
        for point, values in enumerate(sweep.points):
            shown = ", ".join(f"{k}={v}" for k, v in values.items())
            for policy, config in policies.items():
                data = _override(config.model_dump(mode="json"), values, source, "sweep.parameters")
                configs[(point, policy)] = _validate(data, source, f"sweep point {point} ({shown}), policy {policy}")
    else:
        configs = {(-1, policy): config for policy, config in policies.items()}

    return Experiment(
        name=name,
        description=spec.description,
        source=str(source) if source is not None else None,
        policies=policies,
        baseline=baseline,
        metrics=tuple(metrics),
        key_metric=key_metric,
        runs=spec.runs,
        precision=spec.precision,
        max_runs=spec.max_runs,
        seed=spec.seed,
        engine=spec.engine,
        keep_series=spec.keep_series,
        sweep=sweep,
        configs=configs,
        spec=json.loads(json.dumps(spec.model_dump(mode="json"), default=str)),
        key_metric_direction=spec.key_metric_direction,
        precision_on=spec.precision_on,
    )


def load_experiment(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Experiment:
    """Load and validate an experiment file; `overrides` (dotted keys, e.g. from `--set`) apply to the base scenario.

    Every policy's (and sweep point's) scenario is resolved and validated here, so a bad
    override fails at load with one line naming this file and the dotted key.
    """
    path = Path(path)
    data = _read_mapping(path)
    if not any(key in data for key in _EXPERIMENT_MARKERS) and set(data) & set(ScenarioConfig.model_fields):
        raise InputError(path, None, "a scenario, not an experiment (no 'scenario:' key); compare scenarios "
                                     "with `clubsim compare A.yaml B.yaml` (in Python, compare_scenarios)")
    if "parameters" in data and "method" in data and "policies" not in data and "sweep" not in data:
        raise InputError(path, "parameters", "a sensitivity analysis, not a comparison; "
                                             "run it with clubsim sensitivity")
    spec = _validate_spec(data, path)
    scenario_path = (path.resolve().parent / spec.scenario)
    if not scenario_path.is_file():
        raise InputError(path, "scenario", f"no such file: {spec.scenario} (looked for {scenario_path})")
    base = load_config(scenario_path).config
    raw = base.model_dump(mode="json")
    if spec.overrides:
        raw = _override(raw, spec.overrides, path, "overrides")
        base = _validate(raw, path, "overrides")
    if overrides:
        raw = _override(raw, overrides, path, "")
        base = _validate(raw, path, "")
    policy_overrides = spec.policies if spec.policies else {"base": {}}
    if spec.policies is not None and not spec.policies:
        raise InputError(path, "policies", "must name at least one policy (or leave it out: one policy, the base)")
    base_configs = dict.fromkeys(policy_overrides, base)
    name = plain_name(spec.name, path, "name") if spec.name is not None else path.stem  # it names a folder
    return _build(spec, path, base_configs, policy_overrides, name)


def scenario_experiment(
    paths: Sequence[str | Path],
    overrides: Mapping[str, Any] | None = None,
    *,
    runs: int = 100,
    seed: int = 1,
    metrics: Sequence[str] | None = None,
    name: str | None = None,
) -> Experiment:
    """An ad-hoc experiment: each scenario file is a policy named by its stem; the first is the baseline."""
    if not paths:
        raise InputError(None, "scenarios", "give at least one scenario file")
    configs: dict[str, ScenarioConfig] = {}
    for path in paths:
        stem, k = Path(path).stem, 2
        policy = stem
        while policy in configs:
            policy, k = f"{stem}_{k}", k + 1
        configs[policy] = load_config(path, overrides).config
    name = name or "_vs_".join(configs)
    source = "<scenarios>"
    try:
        spec = ExperimentSpec(name=name, scenario=str(paths[0]), runs=runs, seed=seed,
                              metrics=list(metrics) if metrics else None)
    except ValidationError as err:
        first = err.errors()[0]
        raise InputError(source, ".".join(str(p) for p in first["loc"]), first["msg"]) from None
    experiment = _build(spec, source, configs, {}, name)
    spec_dump = {**experiment.spec, "scenarios": [str(p) for p in paths], "overrides": dict(overrides or {})}
    return dataclasses.replace(experiment, source=None, spec=json.loads(json.dumps(spec_dump, default=str)))


# --------------------------------------------------------------------------- replications


def replication_seeds(experiment_seed: int, n: int) -> list[int]:
    """The seeds of replications 0..n-1: prefix-stable (the first k never depend on n), non-negative int64."""
    children = np.random.SeedSequence(int(experiment_seed)).spawn(int(n))
    return [int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for child in children]


SEEDS_DERIVATION = ("replication r's seed: numpy.random.SeedSequence(root).spawn(count)[r]"
                    ".generate_state(1, uint64)[0] >> 1 (sim.experiment.replication_seeds)")


def seeds_record(experiment_seed: int, n: int) -> dict[str, Any]:
    """How a manifest records the replication seeds: the root seed and their count (a list of a million
    seeds would weigh 25 MB); `manifest_seeds` lists them again."""
    return {"root": int(experiment_seed), "count": int(n), "derivation": SEEDS_DERIVATION}


def manifest_seeds(manifest: Mapping[str, Any]) -> list[int]:
    """The replication seeds a manifest records: `{"root", "count"}`, or the list older manifests hold."""
    seeds = manifest.get("seeds")
    if isinstance(seeds, Mapping):
        return replication_seeds(int(seeds["root"]), int(seeds["count"]))
    return [int(seed) for seed in seeds or []]


@dataclass(frozen=True)
class Task:
    """One replication: a cell (sweep point, policy), its replication index and seed, and its scenario."""

    point: int
    policy: str
    replication: int
    seed: int
    config: ScenarioConfig
    engine: str = "numba"
    keep_series: bool = False
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.point, self.policy, self.replication)


def _simulate_columns(config: ScenarioConfig, seed: int, engine: str) -> tuple[Any, Any]:
    """One run's weekly series and member table, by column (plain arrays on the numba engine: no pandas).

    A region's are the region's (its clubs added up, `sim.metrics.summarize_region`)."""
    if config.is_region:  # the region's tables only: a replication needs no per-club summaries
        from sim.metrics import region_members, region_series
        from sim.runner import region_tables

        names, club_series, club_members = region_tables(config, seed, engine)
        return region_series(club_series), region_members(club_members, names)
    if engine == "numba":
        from sim.engine import ClubEngine

        club = ClubEngine(config, np.random.default_rng(seed))
        club.run_to()
        return club.series_columns(), club.members_columns()
    if engine == "python":
        from sim.reference import ReferenceClubModel

        model = ReferenceClubModel(config, rng=seed)
        model.run()
        return model.series_frame(), model.members_frame()
    raise ValueError(f"unknown engine {engine!r}")


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


_TYPE_CODES = {name: code for code, name in enumerate(MEMBER_TYPES)}


def run_replication(task: Task) -> dict[str, Any]:
    """Run one replication; returns its flat result row (ids, swept values, summary metrics, optional series)."""
    series, members = _simulate_columns(task.config, task.seed, task.engine)
    row: dict[str, Any] = {"point": task.point, "policy": task.policy, "replication": task.replication,
                           "seed": task.seed}
    row.update(task.params)
    row.update(flatten_summary(summarize(series, members)))
    if task.keep_series:
        reason = np.asarray(members["exit_reason"])
        row["members_weekly"] = np.asarray(series["members"], np.int32)
        row["tenure_years"] = np.asarray(members["tenure_years"], np.float32)
        row["tenure_observed"] = (reason != "active") & (reason != "dissolved")
        row["tenure_type"] = np.array([_TYPE_CODES.get(t, -1) for t in members["member_type"]], np.int8)
    return row


def _tasks(experiment: Experiment, n: int, keep_series: bool, done: set[tuple[int, str, int]]) -> list[Task]:
    """Replication-major order, so an interrupted run holds balanced, paired replications."""
    seeds = replication_seeds(experiment.seed, n)
    tasks = []
    for replication, seed in enumerate(seeds):
        for point, values in experiment.points:
            params = tuple(values.items())
            for policy in experiment.policies:
                if (point, policy, replication) in done:
                    continue
                tasks.append(Task(point, policy, replication, seed, experiment.configs[(point, policy)],
                                  experiment.engine, keep_series, params))
    return tasks


# --------------------------------------------------------------------------- tables (arrow)


def _arrow_type(name: str, value: Any, param_dtypes: Mapping[str, str]) -> pa.DataType:
    import pyarrow as pa

    if name in ("point", "replication", "seed"):
        return pa.int64()
    if name == "policy":
        return pa.string()
    if name in param_dtypes:
        return {"bool": pa.bool_(), "int64": pa.int64(), "float64": pa.float64(), "string": pa.string()}[
            param_dtypes[name]]
    if name == "members_weekly":
        return pa.list_(pa.int32())
    if name == "tenure_years":
        return pa.list_(pa.float32())
    if name == "tenure_observed":
        return pa.list_(pa.bool_())
    if name == "tenure_type":
        return pa.list_(pa.int8())
    if name in _BOOL_METRICS or isinstance(value, (bool, np.bool_)):
        return pa.bool_()
    if name in _INT_METRICS or (isinstance(value, (int, np.integer)) and name not in METRIC_COLUMNS):
        return pa.int64()
    if isinstance(value, str):
        return pa.string()
    return pa.float64()


def _row_schema(row: Mapping[str, Any], param_dtypes: Mapping[str, str]) -> pa.Schema:
    """The fixed column order: ids, swept values, known metrics, other metrics (sorted), series."""
    import pyarrow as pa

    params = list(param_dtypes)
    metrics = [c for c in METRIC_COLUMNS if c in row]
    extra = sorted(c for c in row if c not in ID_COLUMNS and c not in params and c not in metrics
                   and c not in SERIES_COLUMNS)
    series = [c for c in SERIES_COLUMNS if c in row]
    names = [*ID_COLUMNS, *params, *metrics, *extra, *series]
    return pa.schema([pa.field(n, _arrow_type(n, row.get(n), param_dtypes)) for n in names])


def _parquet_bytes(table: pa.Table) -> bytes:
    """Deterministic Parquet bytes: no schema metadata, fixed writer options; each metric's and series'
    field carries its label and units (`sim.metric_registry.arrow_metadata`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = table.replace_schema_metadata(None).combine_chunks()  # page layout must not depend on chunking
    table = table.cast(with_arrow_metadata(table.schema))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy", version="2.6",
                   data_page_version="1.0", use_dictionary=True, write_statistics=True,
                   row_group_size=1_000_000)
    return sink.getvalue().to_pybytes()


class _PartWriter:
    """Appends finished rows to DIR/parts/part-NNNNN-<sha256>.parquet, every PART_ROWS rows or PART_SECONDS.

    A part's name carries the SHA-256 of its bytes, and it is written under a temporary name and renamed:
    `--resume` reads only parts whose bytes still match their name (`_read_done`).
    """

    def __init__(self, parts_dir: Path, param_dtypes: Mapping[str, str], schema: pa.Schema | None = None):
        self.parts_dir = parts_dir
        self.param_dtypes = param_dtypes
        self.schema = schema
        self.buffer: list[dict[str, Any]] = []
        self.last = time.monotonic()
        existing = [int(match["index"]) for p in (parts_dir.iterdir() if parts_dir.is_dir() else [])
                    if (match := PART_NAME.fullmatch(p.name))]
        self.next_index = max(existing, default=-1) + 1
        self.written = 0

    def add(self, row: dict[str, Any]) -> None:
        self.buffer.append(row)
        if len(self.buffer) >= PART_ROWS or time.monotonic() - self.last >= PART_SECONDS:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        if not self.buffer:
            return
        import pyarrow as pa

        if self.schema is None:
            self.schema = _row_schema(self.buffer[0], self.param_dtypes)
        try:
            self.parts_dir.mkdir(exist_ok=True)
        except OSError as err:
            raise OutputError(self.parts_dir, None, f"cannot write: {err.strerror or err}") from None
        data = _parquet_bytes(pa.Table.from_pylist(self.buffer, schema=self.schema))
        write_bytes(self.parts_dir / f"part-{self.next_index:05d}-{bytes_checksum(data)}.parquet", data)
        self.next_index += 1
        self.written += len(self.buffer)
        self.buffer = []


def _canonical(schema: pa.Schema) -> pa.Schema:
    """Parquet readers name list items "element", pyarrow writers "item": one name, so bytes match."""
    import pyarrow as pa

    return pa.schema([pa.field(f.name, pa.list_(f.type.value_type) if pa.types.is_list(f.type) else f.type)
                      for f in schema])


def _read_done(folder: OutputFolder, manifest: Mapping[str, Any]) -> tuple[pa.Table | None, list[str]]:
    """Rows already in the folder: replications.parquet of a complete run (checked against the manifest:
    InputError if it differs) and the parts whose bytes match the SHA-256 in their names, in that order.
    Returns them and the parts not read (cut short, changed, or unnamed by an older clubsim): their
    replications run again."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    rejected: list[str] = []
    if manifest.get("status") == STATUS_COMPLETE and REPLICATIONS_FILE in listed_files(manifest):
        verify_files(folder.path, manifest, [REPLICATIONS_FILE])
        path = folder.path / REPLICATIONS_FILE
        try:
            tables.append(pq.read_table(path))
        except (OSError, pa.ArrowException) as err:
            raise InputError(path, None, f"cannot be read as Parquet: {err}") from None
    for name in folder.parts():
        expected = PART_NAME.fullmatch(name)["sha256"]  # type: ignore[index]
        try:  # checked and parsed from the same bytes
            data = (folder.path / PARTS / name).read_bytes()
            if expected is None or bytes_checksum(data) != expected:
                rejected.append(name)
                continue
            tables.append(pq.read_table(pa.BufferReader(data)))
        except (OSError, pa.ArrowException):
            rejected.append(name)
    if not tables:
        return None, rejected
    table = pa.concat_tables([t.replace_schema_metadata(None) for t in tables], promote_options="permissive")
    return table.cast(_canonical(table.schema)), rejected


def _assemble(
    experiment: Experiment,
    loaded: pa.Table | None,
    new_rows: list[dict[str, Any]],
    n: int,
    schema: pa.Schema | None,
) -> pa.Table:
    """Every wanted row once (the first seen), sorted by (point, policy order, replication)."""
    import pyarrow as pa

    tables = []
    if loaded is not None:
        tables.append(loaded)
    if new_rows:
        schema = schema or (loaded.schema if loaded is not None else _row_schema(new_rows[0], _dtypes(experiment)))
        tables.append(pa.Table.from_pylist(new_rows, schema=schema))
    if not tables:
        raise RuntimeError("no replications")
    table = tables[0] if len(tables) == 1 else pa.concat_tables(
        [t.cast(tables[0].schema) if t.schema != tables[0].schema else t for t in tables])
    order = {name: i for i, name in enumerate(experiment.policies)}
    points = {p for p, _ in experiment.points}
    point = table.column("point").to_numpy()
    policy = np.array([order.get(p, -1) for p in table.column("policy").to_pylist()], np.int64)
    replication = table.column("replication").to_numpy()
    wanted = (policy >= 0) & (replication < n) & np.isin(point, list(points))
    keys = pd.DataFrame({"point": point, "policy": policy, "replication": replication})
    wanted &= ~keys.duplicated(keep="first").to_numpy()
    index = np.flatnonzero(wanted)
    index = index[np.lexsort((replication[index], policy[index], point[index]))]
    return table.take(pa.array(index, pa.int64()))


def _dtypes(experiment: Experiment) -> dict[str, str]:
    return dict(experiment.sweep.dtypes) if experiment.sweep is not None else {}


def _to_frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas()
    return frame.reset_index(drop=True)


# --------------------------------------------------------------------------- statistics


def _t975(df: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, df))


def _as_float(values: Any) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)


def _mean_ci(x: np.ndarray, proportion: bool = False) -> tuple[int, float, float, float, float]:
    """n, mean, sd and the 95 % CI of the mean: t-based, or Wilson's score interval for a proportion
    (a yes/no metric such as `survived`), which stays inside [0, 1]."""
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n < 2:
        return n, mean, math.nan, math.nan, math.nan
    sd = float(x.std(ddof=1))
    if proportion:
        from scipy import stats

        interval = stats.binomtest(int(round(x.sum())), n).proportion_ci(confidence_level=0.95, method="wilson")
        return n, mean, sd, float(interval.low), float(interval.high)
    half = _t975(n - 1) * sd / math.sqrt(n)
    return n, mean, sd, mean - half, mean + half


def metric_ci(values: Any, metric: str) -> tuple[int, float, float, float, float]:
    """n, mean, sd and 95 % CI of a metric's mean over replications, as the comparison table and its
    figures show it: t-based, or Wilson's for a yes/no metric (`survived`, or any boolean column), then
    cut at the metric's bounds (`METRIC_BOUNDS`). Non-finite values are skipped."""
    proportion = metric in _BOOL_METRICS or np.asarray(values).dtype.kind == "b"
    n, mean, sd, lo, hi = _mean_ci(_as_float(values), proportion=proportion)
    if metric in METRIC_BOUNDS:
        lo, hi = (float(bound) for bound in np.clip((lo, hi), *METRIC_BOUNDS[metric]))  # NaN stays NaN
    return n, mean, sd, lo, hi


def _paired(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Mean of x - y over pairs, its t-based 95 % CI and the paired t-test p (scipy.stats.ttest_rel)."""
    d = x - y
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(d.mean())
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(d.std(ddof=1))
    if sd == 0.0:  # every pair differs by the same amount: no sampling error
        return mean, mean, mean, (math.nan if mean == 0.0 else 0.0)
    from scipy import stats

    se = sd / math.sqrt(n)
    half = _t975(n - 1) * se
    p = float(2 * stats.t.sf(abs(mean / se), n - 1))
    return mean, mean - half, mean + half, p


def _welch(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """95 % CI of mean(x) - mean(y) for independent samples (Welch)."""
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if len(x) < 2 or len(y) < 2:
        return math.nan, math.nan
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    diff = float(x.mean() - y.mean())
    se2 = vx + vy
    if se2 == 0:
        return diff, diff
    df = se2**2 / ((vx**2 / (len(x) - 1)) + (vy**2 / (len(y) - 1)))
    half = _t975(df) * math.sqrt(se2)
    return diff - half, diff + half


def survivor_metrics(metrics: Sequence[str]) -> list[str]:
    """Those of `metrics` that the tables also give over the surviving replications (`SURVIVOR_METRICS`):
    size, business, referrals, contact-sphere share and visitors, which a closed club drags toward 0."""
    return [metric for metric in metrics if metric in SURVIVOR_METRICS]


def _survived(group: pd.DataFrame) -> np.ndarray:
    """Which replications' clubs survived (False where unknown)."""
    return _as_float(group["survived"]) == 1.0


def _statistics_row(group: pd.DataFrame, base: pd.DataFrame | None, metric: str, is_baseline: bool,
                    with_diff: bool) -> dict[str, Any]:
    """n, mean, sd and 95 % CI of `metric` in `group` and, with `with_diff`, its paired difference with
    `base` over the replications both hold (both frames indexed by replication)."""
    column = group[metric] if metric in group else np.full(len(group), math.nan)
    n, mean, sd, lo, hi = metric_ci(column, metric)
    row: dict[str, Any] = {"n": n, "mean": mean, "sd": sd, "ci_low": lo, "ci_high": hi}
    if not with_diff:
        return row
    if base is not None and metric in base:
        common = group.index.intersection(base.index)
        diff, dlo, dhi, p = _paired(_as_float(group.loc[common, metric]), _as_float(base.loc[common, metric]))
        ulo, uhi = _welch(_as_float(column), _as_float(base[metric]))
        ratio = crn_variance_ratio(_as_float(group.loc[common, metric]), _as_float(base.loc[common, metric]))
    else:
        diff = dlo = dhi = p = ulo = uhi = ratio = math.nan
    significant = bool(np.isfinite(dlo) and np.isfinite(dhi) and (dlo > 0 or dhi < 0))
    if is_baseline:  # the baseline against itself: no difference to estimate
        significant = False
        ulo = uhi = ratio = math.nan
    row.update(diff=diff, diff_ci_low=dlo, diff_ci_high=dhi, diff_p=p, significant=significant,
               unpaired_ci_low=ulo, unpaired_ci_high=uhi, crn_variance_ratio=ratio)
    return row


def crn_variance_ratio(x: np.ndarray, y: np.ndarray) -> float:
    """What common random numbers saved on the difference x - y, over the pairs where both are finite:
    (var x + var y) / var(x - y), the variance of the difference had the runs been independent over
    its variance paired (> 1: CRN helped; inf: the pairs differ by a constant; NaN: no variance)."""
    both = np.isfinite(x) & np.isfinite(y)
    x, y = x[both], y[both]
    if len(x) < 2:
        return math.nan
    unpaired = float(x.var(ddof=1) + y.var(ddof=1))
    paired = float((x - y).var(ddof=1))
    if paired == 0.0:
        return math.inf if unpaired > 0.0 else math.nan
    return unpaired / paired


def statistics_table(
    replications: pd.DataFrame,
    metrics: Sequence[str],
    policies: Sequence[str] | None = None,
    baseline: str | None = None,
    parameters: Sequence[str] = (),
) -> pd.DataFrame:
    """Long-form statistics per (point, policy, metric): n, mean, sd, 95 % CI, and versus the baseline
    (same point, same replication): paired difference with CI and p, `significant` (CI excludes 0),
    and the unpaired (Welch) CI of the difference. A mean's CI stays within its metric's bounds
    (`METRIC_BOUNDS`); differences have none. Without `parameters` (a comparison) there is no
    `point` column and the columns are `TABLE_COLUMNS`.

    When the replications have a `survived` column, every policy's rows end with `survived` (if not
    among `metrics`) and, for each of `survivor_metrics(metrics)`, a `<metric>_survivors` row over the
    replications whose club survived: `n` counts them, and the paired difference is over the seeds
    where both this policy's and the baseline's clubs survived (the unpaired CI over each one's
    survivors). Every replication surviving, these rows equal the metric's own.
    """
    if policies is None:
        policies = list(dict.fromkeys(replications["policy"]))
    baseline = baseline if baseline is not None else (policies[0] if policies else None)
    sweep = bool(parameters)
    with_diff = not sweep or len(policies) > 1
    frame = replications
    survivors = survivor_metrics(metrics) if "survived" in frame.columns else []
    shown = [*metrics, *(["survived"] if survivors and "survived" not in metrics else [])]
    rows = []
    points = sorted(frame["point"].unique()) if len(frame) else []
    for point in points:
        at_point = frame[frame["point"] == point]
        by_policy = {p: g.set_index("replication").sort_index() for p, g in at_point.groupby("policy", sort=False)}
        base = by_policy.get(baseline)
        base_alive = base[_survived(base)] if base is not None and survivors else None
        values = at_point.iloc[0][list(parameters)].to_dict() if sweep and len(at_point) else {}
        for policy in policies:
            group = by_policy.get(policy)
            if group is None:
                continue
            head: dict[str, Any] = {"point": int(point), **values} if sweep else {}
            is_baseline = policy == baseline
            for metric in shown:
                rows.append({**head, "policy": policy, "metric": metric,
                             **_statistics_row(group, base, metric, is_baseline, with_diff)})
            alive = group[_survived(group)] if survivors else group
            for metric in survivors:
                rows.append({**head, "policy": policy, "metric": f"{metric}{SURVIVORS_SUFFIX}",
                             **_statistics_row(alive, base_alive, metric, is_baseline, with_diff)})
    columns = list(TABLE_COLUMNS if with_diff else TABLE_COLUMNS[:7])
    if sweep:
        columns = ["point", *parameters, *(c for c in columns if c != CRN_COLUMN)]
    table = pd.DataFrame(rows, columns=columns)
    table["n"] = table["n"].astype(np.int64)
    if with_diff:
        table["significant"] = table["significant"].astype(bool)
    return table


def survival_counts(
    replications: pd.DataFrame,
    policies: Sequence[str] | None = None,
    baseline: str | None = None,
) -> pd.DataFrame:
    """Per (point, policy): `runs` (replications), `survived` (those whose club survived, the n of the
    `_survivors` rows) and `pairs` (seeds where both this policy's and the baseline's clubs survived,
    at the same point: the n of the survivors' paired differences)."""
    if policies is None:
        policies = list(dict.fromkeys(replications["policy"]))
    baseline = baseline if baseline is not None else (policies[0] if policies else None)
    rows = []
    frame = replications
    points = sorted(frame["point"].unique()) if len(frame) else []
    for point in points:
        at_point = frame[frame["point"] == point]
        alive = {p: set(g["replication"][_survived(g)]) if "survived" in g else set()
                 for p, g in at_point.groupby("policy", sort=False)}
        runs = at_point.groupby("policy", sort=False).size()
        for policy in policies:
            if policy not in alive:
                continue
            rows.append({"point": int(point), "policy": policy, "runs": int(runs[policy]),
                         "survived": len(alive[policy]), "pairs": len(alive[policy] & alive.get(baseline, set()))})
    return pd.DataFrame(rows, columns=["point", "policy", "runs", "survived", "pairs"])


def _precision_met(key_values: Mapping[tuple[int, str, int], float], cells: Sequence[tuple[int, str]], n: int,
                   precision: float, key_metric: str) -> bool:
    """Whether, in every cell, half the width of the key metric's 95 % CI (the table's: `metric_ci`) is at
    most `precision` x |mean|."""
    by_cell: dict[tuple[int, str], list[float]] = {cell: [] for cell in cells}
    for (point, policy, replication), value in key_values.items():
        if replication < n and (point, policy) in by_cell:
            by_cell[(point, policy)].append(value)
    for values in by_cell.values():
        count, mean, _sd, lo, hi = metric_ci(np.asarray(values, float), key_metric)
        if count < 2 or not np.isfinite(lo):
            return False
        half = (hi - lo) / 2
        if half > precision * abs(mean):
            return False
    return True


def _difference_precision_met(key_values: Mapping[tuple[int, str, int], float], experiment: Experiment, n: int,
                               precision: float) -> bool:
    """Whether, at every point and for every policy but the baseline, the 95 % CI of the key metric's paired
    difference with the baseline (over replications < n where both are finite) has a half-width of at
    most gamma / (1 + gamma) x |difference|, gamma = `precision` (Law's relative-precision rule)."""
    target = precision / (1.0 + precision)
    for point, _values in experiment.points:
        base = {r: v for (p, name, r), v in key_values.items()
                if p == point and name == experiment.baseline and r < n}
        for policy in experiment.policies:
            if policy == experiment.baseline:
                continue
            pairs = [(v, base[r]) for (p, name, r), v in key_values.items()
                     if p == point and name == policy and r < n and r in base]
            if len(pairs) < 2:
                return False
            x, y = np.asarray(pairs, float).T
            diff, lo, hi, _p = _paired(x, y)
            if not (np.isfinite(lo) and np.isfinite(hi)) or (hi - lo) / 2 > target * abs(diff):
                return False
    return True


# --------------------------------------------------------------------------- results


@dataclass
class _ExperimentResult:
    """What a comparison and a sweep share: replications, statistics, runs and the output folder."""

    experiment: Experiment
    replications: pd.DataFrame
    table: pd.DataFrame
    runs: int
    precision_met: bool | None = None
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    # parts found when resuming whose bytes no longer match the SHA-256 in their names: rerun, not read
    rejected_parts: list[str] = field(default_factory=list)

    @property
    def policies(self) -> list[str]:
        return self.experiment.policy_names

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.experiment.metrics

    @property
    def survivors(self) -> pd.DataFrame:
        """Per (point, policy): replications, those whose club survived, and the seeds where both this
        policy's and the baseline's did (`survival_counts`): the n of the table's `_survivors` rows."""
        return survival_counts(self.replications, self.policies, self.experiment.baseline)

    def _figures(self) -> dict[str, Figure]:
        raise NotImplementedError

    def plot(self, out_dir: str | Path | None = None) -> dict[str, Figure]:
        """The figures by file name; written as PNGs to `out_dir` if given."""
        from sim import experiment_plots

        figures = self._figures()
        if out_dir is not None:
            experiment_plots.save_figures(figures, Path(out_dir))
        return figures


@dataclass
class ComparisonResult(_ExperimentResult):
    """Replications (one row per policy x replication) and the statistics table of a comparison.

    `plot()` gives metrics.png and roi_by_type.png, and trajectories.png and survival.png when the
    weekly series are kept.
    """

    @property
    def baseline(self) -> str:
        return self.experiment.baseline

    def _figures(self) -> dict[str, Figure]:
        from sim import experiment_plots

        return experiment_plots.comparison_figures(self)


@dataclass
class SweepResult(_ExperimentResult):
    """Replications (one row per point x policy x replication), per-point statistics and the points.

    `plot()` gives one figure per metric (sweep_<metric>.png): mean and 95 % CI against each swept parameter.
    """

    @property
    def parameters(self) -> tuple[str, ...]:
        return self.experiment.sweep.parameters if self.experiment.sweep is not None else ()

    @property
    def points(self) -> pd.DataFrame:
        rows = [{"point": point, **values} for point, values in self.experiment.points]
        return pd.DataFrame(rows, columns=["point", *self.parameters])

    def _figures(self) -> dict[str, Figure]:
        from sim import experiment_plots

        return experiment_plots.sweep_figures(self)


class ExperimentInterrupted(KeyboardInterrupt):
    """Ctrl-C (or `stop_after`) during an experiment: finished replications were kept in `out_dir`."""

    def __init__(self, kept: int, out_dir: Path | None, total: int, signum: int = 2):
        self.kept, self.out_dir, self.total = kept, out_dir, total
        self.signum = signum  # SIGINT (Ctrl-C), or SIGTERM: the exit code is 128 + signum
        where = f" in {out_dir}" if out_dir is not None else ""
        super().__init__(f"interrupted: {kept} of {total} replications kept{where}")

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt from its own arguments, not from the message in self.args (see InputError.__reduce__)
        return (type(self), (self.kept, self.out_dir, self.total, self.signum))


class ExperimentFailed(BackendError):
    """The Dask cluster stopped running an experiment's replications (`reason`, a `BackendError`'s line):
    the finished ones were kept in `out_dir`, as on Ctrl-C, and --resume runs the rest."""

    def __init__(self, reason: str, kept: int, out_dir: Path | None, total: int):
        self.reason, self.kept, self.out_dir, self.total = reason, kept, out_dir, total
        where = f", kept in {out_dir}" if out_dir is not None else ""
        super().__init__(f"{reason} after {kept} of {total} replications{where}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.kept, self.out_dir, self.total))


# --------------------------------------------------------------------------- running


ProgressFn = Callable[[int, int], None]


@contextmanager
def progress_bar(description: str, console: Any = None, unit: str = "replications") -> Iterator[ProgressFn]:
    """A rich progress bar on stderr, as a `(done, total)` callback for `compare` and `sweep` (or, counting
    weeks, for one long run)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console or Console(stderr=True)) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def _progress_callback(progress: bool | ProgressFn | None, description: str) -> Iterator[ProgressFn | None]:
    if callable(progress):
        yield progress
    elif progress:
        with progress_bar(description) as update:
            yield update
    else:
        yield None


def _manifest(
    experiment: Experiment, kind: str, status: str, *, runs: int, runs_requested: int, precision: float | None,
    precision_met: bool | None, backend: str, workers: int | None, scheduler: str | None, rows: int,
    command: str | Sequence[str] | None, files: Sequence[str] = (), error: str | None = None,
) -> dict[str, Any]:
    """An experiment's manifest; `error` (a failed run's reason, see `keeping_finished`) only when given."""
    return {
        "kind": kind,
        "status": status,
        "name": experiment.name,
        "experiment_source": experiment.source,
        "experiment": experiment.spec,
        "resolved": experiment.fingerprint(),
        "baseline": experiment.baseline,
        "metrics": list(experiment.metrics),
        "key_metric": experiment.key_metric,
        "runs": runs,
        "runs_requested": runs_requested,
        "precision": precision,
        "precision_on": experiment.precision_on,
        "max_runs": experiment.max_runs,
        "precision_met": precision_met,
        "seeds": seeds_record(experiment.seed, runs),
        "replications": rows,
        "backend": backend,
        "workers": workers,
        "scheduler": scheduler,
        **provenance(command),
        "files": sorted(files),
        **({"error": error} if error is not None else {}),
    }



def _read_manifest(out_dir: Path, kind: str) -> dict[str, Any]:
    if not out_dir.is_dir():
        raise InputError(out_dir, "--resume", "no such folder")
    path = out_dir / MANIFEST
    if not path.is_file():
        raise InputError(out_dir, "--resume", f"no {MANIFEST} here: not the output folder of an experiment")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(path, None, f"cannot read: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != kind:
        found = manifest.get("kind") if isinstance(manifest, dict) else None
        raise InputError(out_dir, "--resume", f"holds a {found} run, not a {kind}")
    return manifest


def _check_same_experiment(out_dir: Path, manifest: Mapping[str, Any], experiment: Experiment) -> None:
    theirs, ours = manifest.get("resolved") or {}, experiment.fingerprint()
    if theirs == ours:
        return
    differs = [k for k in ours if theirs.get(k) != ours[k] and k != "inputs"]
    before = theirs.get("inputs") or {}
    # a file a scenario reads, edited since (its path alone is in the scenario)
    differs += [f"the content of {path}" for path, digest in ours["inputs"].items() if before.get(path) != digest]
    if not differs:
        return
    if "policies" in differs and set(theirs.get("policies") or {}) == set(ours["policies"]):
        differs = [f"policy {p}" for p in ours["policies"]
                   if (theirs.get("policies") or {}).get(p) != ours["policies"][p]] + \
                  [d for d in differs if d != "policies"]
    raise InputError(out_dir, "--resume", "holds a different experiment (differs in: " + ", ".join(differs)
                     + "); run it without --resume, or into another folder")


def _check_options(source: str | None, runs: int | None, precision: float | None, workers: int | None,
                   backend: str, scheduler: str | None = None) -> None:
    from sim.backends import BACKENDS, check_workers

    if runs is not None and runs < 1:
        raise InputError(source, "runs", f"must be at least 1, got {runs}")
    if precision is not None and not 0 < precision < 1:
        raise InputError(source, "precision", f"must be between 0 and 1 (exclusive), got {precision:g}")
    if backend not in BACKENDS:
        raise InputError("--backend", repr(backend), f"unknown backend; use one of: {', '.join(BACKENDS)}")
    check_workers(workers, backend, scheduler)


def _coerce_experiment(experiment: Experiment | str | Path | Sequence[str | Path]) -> Experiment:
    if isinstance(experiment, Experiment):
        return experiment
    if isinstance(experiment, (str, Path)):
        if is_experiment_file(experiment):
            return load_experiment(experiment)
        return scenario_experiment([experiment])
    return scenario_experiment(list(experiment))


def experiment_cost(experiment: Experiment, runs: int, *, keep_series: bool, backend: str = "local",
                    workers: int | None = None, scheduler: str | None = None) -> Any:
    """What replicating every cell `runs` times will take (`sim.runner.Cost`): this process's result rows,
    and the worker processes of this machine (none with a remote scheduler), each with its largest run;
    the time is the runs' on these workers."""
    from sim.backends import default_workers
    from sim.runner import WORKER_BYTES, Cost, run_cost

    costs = {id(config): run_cost(config, experiment.engine) for config in experiment.configs.values()}
    cells = list(experiment.configs.values())
    total = runs * len(cells)
    row = ROW_BYTES
    if keep_series:  # the weekly members and one tenure per member ever, in the row and its copies
        row += max(3 * (4 * c.weeks + 6 * sum(club.founders + club.capacity * c.years
                                              for _, club in c.region_clubs())) for c in cells)
    largest = max(cost.bytes for cost in costs.values())
    local = workers or default_workers()
    if backend == "dask" and scheduler:
        processes, largest, local = 0, 0.0, max(local, 1)
    elif backend == "local" and (local == 1 or total == 1):
        processes = 0
    else:
        processes = max(1, min(local, total))
    seconds = runs * sum(cost.seconds for cost in (costs[id(c)] for c in cells)) / max(processes, 1)
    return Cost(total * row + processes * WORKER_BYTES + max(processes, 1) * largest, seconds)


def _check_cost(experiment: Experiment, kind: str, runs: int, precision: float | None, backend: str,
                workers: int | None, scheduler: str | None, max_memory: int | None) -> None:
    """Refuse, before any folder is made or seed spawned, an experiment that would not fit in memory."""
    from sim.runner import check_cost

    planned = max(runs, experiment.max_runs) if precision is not None else runs
    keep_series = experiment.keep_series if experiment.keep_series is not None else kind == "compare"
    cost = experiment_cost(experiment, planned, keep_series=keep_series, backend=backend, workers=workers,
                           scheduler=scheduler)
    cells = len(experiment.configs)
    what = (f"{planned * cells:,} replications ({planned:,} runs x {cells:,} "
            f"{'cells' if experiment.sweep is not None else 'policies' if cells > 1 else 'policy'})")
    check_cost(cost, what, max_memory, source=experiment.source or experiment.name, field="runs")


def _output_names(experiment: Experiment, kind: str, figures: bool) -> list[str]:
    """The files a finished experiment writes (listed in its manifest from the start: they are clubsim's)."""
    from sim.experiment_plots import COMPARISON_FIGURES

    drawn = ([*COMPARISON_FIGURES] if kind == "compare" else [f"sweep_{m}.png" for m in experiment.metrics]) \
        if figures else []
    return [REPLICATIONS_FILE, COMPARISON_FILE if kind == "compare" else SWEEP_FILE, *drawn, MANIFEST]


@contextmanager
def keeping_finished(writer: _PartWriter | None, update_manifest: Callable[..., None],
                     interrupted: Callable[[int], ExperimentInterrupted]) -> Iterator[None]:
    """Around the replications of a run: on Ctrl-C (or SIGTERM) and on a failure, the finished ones are
    flushed to their parts and the manifest says so, so that --resume reruns only the rest;
    `interrupted(signum)` builds the interruption to raise (and counts what was kept). A Dask cluster
    that stopped (`BackendError`) becomes `ExperimentFailed`, with the manifest `failed` and the reason
    in its `error`. On success the last parts are flushed."""
    try:
        yield
    except KeyboardInterrupt as err:
        if writer is not None:
            writer.flush()
            update_manifest("interrupted")
        raise interrupted(getattr(err, "signum", 2)) from None
    except BackendError as err:
        if writer is not None:
            writer.flush()
            update_manifest("failed", error=str(err))
        counted = interrupted(2)
        raise ExperimentFailed(str(err), counted.kept, counted.out_dir, counted.total) from None
    except Exception:
        if writer is not None:  # best effort: the first failure (say, a full disk) is the one to report
            with suppress(OSError, InputError):
                writer.flush()
            with suppress(OSError, InputError):
                update_manifest("failed")
        raise
    if writer is not None:
        writer.flush()


def _run(
    experiment: Experiment,
    kind: Literal["compare", "sweep"],
    *,
    runs: int | None,
    seed: int | None,
    precision: float | None,
    backend: str,
    workers: int | None,
    scheduler: str | None,
    out: str | Path | None,
    resume: bool,
    progress: bool | ProgressFn | None,
    figures: bool,
    command: str | Sequence[str] | None,
    stop_after: int | None,
    max_memory: int | None = None,
) -> ComparisonResult | SweepResult:
    """Check the options and the cost, hold the output folder (`sim.outputs.OutputFolder`) and replicate."""
    _check_options(experiment.source, runs, precision, workers, backend, scheduler)
    if resume and out is None:
        raise InputError("--resume", None, "needs the output folder to resume (out=...)")
    earlier = _read_manifest(Path(out).expanduser(), kind) if resume else {}
    _check_cost(experiment, kind, runs or int(earlier.get("runs_requested") or experiment.runs),
                precision if precision is not None else earlier.get("precision", experiment.precision),
                backend, workers, scheduler, max_memory)
    options = {"runs": runs, "seed": seed, "precision": precision, "backend": backend, "workers": workers,
               "scheduler": scheduler, "resume": resume, "progress": progress, "figures": figures,
               "command": command, "stop_after": stop_after}
    if out is None:
        return _replicate(experiment, kind, None, {}, **options)
    with OutputFolder(Path(out), "--resume" if resume else OUT_OPTION) as folder:
        manifest = _read_manifest(folder.path, kind) if resume else {}  # as it is now that this process holds it
        return _replicate(experiment, kind, folder, manifest, **options)


def _replicate(
    experiment: Experiment,
    kind: Literal["compare", "sweep"],
    folder: OutputFolder | None,
    manifest: dict[str, Any],
    *,
    runs: int | None,
    seed: int | None,
    precision: float | None,
    backend: str,
    workers: int | None,
    scheduler: str | None,
    resume: bool,
    progress: bool | ProgressFn | None,
    figures: bool,
    command: str | Sequence[str] | None,
    stop_after: int | None,
) -> ComparisonResult | SweepResult:
    """Run the missing replications (all, unless resuming), then the statistics and the folder's files."""
    from sim.backends import run_tasks

    if seed is None and (manifest.get("experiment") or {}).get("seed") == experiment.seed:
        # resuming a run started with another seed (--seed) than its unchanged experiment file's
        seed = (manifest.get("resolved") or {}).get("seed")
    if seed is not None:
        from sim.runner import check_seed

        experiment = dataclasses.replace(experiment, seed=check_seed(seed, experiment.source))
    keep_series = experiment.keep_series if experiment.keep_series is not None else kind == "compare"
    experiment = dataclasses.replace(experiment, keep_series=keep_series)

    out_dir: Path | None = folder.path if folder is not None else None
    loaded = None
    rejected: list[str] = []
    outputs = _output_names(experiment, kind, figures)
    if folder is not None:
        if resume:
            _check_same_experiment(folder.path, manifest, experiment)
            loaded, rejected = _read_done(folder, manifest)
        else:  # a new run: the earlier output here goes (only what clubsim wrote: `OutputFolder.remove`)
            folder.remove(folder.owned)
        folder.check_free(outputs)

    if runs is None:
        runs = int(manifest.get("runs_requested") or experiment.runs)
    if precision is None:
        precision = manifest.get("precision", experiment.precision) if manifest else experiment.precision
    precision_on = experiment.precision_on or (manifest.get("precision_on") if manifest else None) or "mean"
    experiment = dataclasses.replace(experiment, precision_on=precision_on)
    if precision_on == "difference":
        if len(experiment.policies) < 2:
            raise InputError(experiment.source, "precision_on", "difference: needs a baseline and another policy")
        if precision is None:
            raise InputError(experiment.source, "precision_on",
                             "difference: needs a precision target (--precision P, or precision: in the file)")
        runs = max(runs, PRECISION_MIN_RUNS)
    cap = max(experiment.max_runs, runs)
    step = max(20, runs)
    cells = [(point, policy) for point, _ in experiment.points for policy in experiment.policies]

    done: set[tuple[int, str, int]] = set()
    key_values: dict[tuple[int, str, int], float] = {}
    if loaded is not None:
        keys = zip(loaded.column("point").to_pylist(), loaded.column("policy").to_pylist(),
                   loaded.column("replication").to_pylist(), strict=True)
        metric = _as_float(loaded.column(experiment.key_metric).to_pylist()) \
            if experiment.key_metric in loaded.column_names else None
        for i, key in enumerate(keys):
            if key not in done:
                done.add(key)
                if metric is not None:
                    key_values[key] = float(metric[i])

    writer = _PartWriter(out_dir / PARTS, _dtypes(experiment), loaded.schema if loaded is not None else None) \
        if out_dir is not None else None
    new_rows: list[dict[str, Any]] = []
    info = {"backend": backend, "workers": workers, "scheduler": scheduler, "command": command}
    n = runs
    met: bool | None = None

    def update_manifest(status: str, files: Sequence[str] = outputs, error: str | None = None) -> None:
        # until complete, it lists the files this run may write, so that they stay clubsim's to replace
        if folder is not None:
            rows = len({k for k in done if k[2] < n})
            folder.write_manifest(_manifest(experiment, kind, status, runs=n, runs_requested=runs,
                                            precision=precision, precision_met=met, rows=rows, files=files,
                                            error=error, **info))

    update_manifest("running")
    received = 0

    def on_result(row: dict[str, Any]) -> None:
        nonlocal received
        key = (int(row["point"]), str(row["policy"]), int(row["replication"]))
        if key in done:
            return
        done.add(key)
        value = row.get(experiment.key_metric, math.nan)
        key_values[key] = math.nan if value is None else float(value)
        new_rows.append(row)
        if writer is not None:
            writer.add(row)
        received += 1
        if stop_after is not None and received >= stop_after:
            raise KeyboardInterrupt

    description = f"{kind} {experiment.name}"
    def interrupted(signum: int) -> ExperimentInterrupted:
        return ExperimentInterrupted(len(done), out_dir, n * len(cells), signum)

    with _progress_callback(progress, description) as report:
        with keeping_finished(writer, update_manifest, interrupted):
            while True:
                total = n * len(cells)
                tasks = _tasks(experiment, n, keep_series, done)
                before = len({k for k in done if k[2] < n})

                def on_progress(count: int, _total: int, before: int = before, total: int = total) -> None:
                    if report is not None:
                        report(before + count, total)

                if report is not None:
                    report(before, total)
                if tasks:
                    run_tasks(tasks, run_replication, backend=backend, workers=workers, scheduler=scheduler,
                              on_result=on_result, progress=on_progress)
                if precision is None:
                    break
                met = _difference_precision_met(key_values, experiment, n, precision) \
                    if precision_on == "difference" else _precision_met(key_values, cells, n, precision,
                                                                          experiment.key_metric)
                if met or n >= cap:
                    break
                n = min(n + step, cap)

    completed = False
    try:  # an interruption while the files are written and the figures drawn keeps the replications too
        table = _assemble(experiment, loaded, new_rows, n, writer.schema if writer is not None else None)
        replications = _to_frame(table)
        parameters = experiment.sweep.parameters if experiment.sweep is not None else ()
        stats = statistics_table(replications, experiment.metrics, experiment.policy_names, experiment.baseline,
                                 parameters)
        result_cls = ComparisonResult if kind == "compare" else SweepResult
        result = result_cls(experiment, replications, stats, n, met, out_dir)
        result.rejected_parts = rejected
        if folder is not None:
            data = _parquet_bytes(table)
            files = {REPLICATIONS_FILE: folder.write_with(REPLICATIONS_FILE, lambda tmp: tmp.write_bytes(data))}
            csv_name = COMPARISON_FILE if kind == "compare" else SWEEP_FILE
            files[csv_name] = folder.write_text(csv_name, stats.to_csv(index=False, float_format=FLOAT_FORMAT,
                                                                       lineterminator="\n"))
            if figures:
                from sim.experiment_plots import save_figures

                staging = folder.staging()
                try:
                    files.update(folder.adopt(save_figures(result.plot(), staging).values()))
                except OSError as err:
                    raise OutputError(folder.path, "figures", f"cannot write: {err.strerror or err}") from None
                finally:
                    folder.discard(staging)
            files[MANIFEST] = folder.path / MANIFEST
            parts = {name for name in folder.owned if name.startswith(f"{PARTS}/")}
            folder.remove(folder.owned - set(files) - parts)  # e.g. an earlier run's figures, when resumed without
            update_manifest(STATUS_COMPLETE, list(files))
            completed = True
            folder.remove(parts)  # after the manifest: until then they hold the replications
            result.files = files
    except KeyboardInterrupt as err:
        if completed:  # every file is written and listed: only the parts were left to remove
            raise
        if folder is not None:
            update_manifest("interrupted")
        raise ExperimentInterrupted(len(done), out_dir, n * len(cells), getattr(err, "signum", 2)) from None
    return result


def compare(
    experiment: Experiment | str | Path | Sequence[str | Path],
    runs: int | None = None,
    *,
    precision_on: Literal["mean", "difference"] | None = None,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    precision: float | None = None,
    seed: int | None = None,
    progress: bool | ProgressFn | None = False,
    figures: bool = True,
    command: str | Sequence[str] | None = None,
    stop_after: int | None = None,
    max_memory: int | None = None,
) -> ComparisonResult:
    """Replicate every policy `runs` times under common random numbers and compare them with the baseline.

    `experiment`: a loaded `Experiment`, an experiment file, or scenario file(s) (an ad-hoc comparison).
    `runs`, `precision`, `seed`: override the experiment's (when resuming, the interrupted run's).
    `precision_on`: "mean" (each policy's key metric) or "difference" (its paired difference with the
    baseline, Law's relative precision gamma / (1 + gamma), at least 10 runs); comparison.csv's
    `crn_variance_ratio` says how much the pairing narrowed each difference's variance.
    `out`: write replications.parquet, comparison.csv, manifest.json and figures there (parts/ as
    replications finish); `resume=True` continues the run in `out`. `progress`: True for a progress
    bar on stderr, or a callable `(done, total)`. `stop_after`: test hook, interrupt after that many
    new replications. `max_memory` (bytes): refuse (InputError) an experiment estimated to need more
    (default: the memory this machine has available). Ctrl-C raises `ExperimentInterrupted` (a
    KeyboardInterrupt) after saving; a Dask cluster that stops (scheduler gone, no worker for
    `sim.backends.DASK_WORKER_WAIT` seconds) raises `ExperimentFailed` after saving.
    """
    experiment = _coerce_experiment(experiment)
    if experiment.sweep is not None:
        raise InputError(experiment.source, "sweep", "this experiment is a sweep: run it with sweep (clubsim sweep)")
    if precision_on is not None:
        if precision_on not in PRECISION_ON:
            raise InputError("--precision-on", repr(precision_on), f"use one of: {', '.join(PRECISION_ON)}")
        experiment = dataclasses.replace(experiment, precision_on=precision_on)
    result = _run(experiment, "compare", runs=runs, seed=seed, precision=precision, backend=backend,
                  workers=workers, scheduler=scheduler, out=out, resume=resume, progress=progress,
                  figures=figures, command=command, stop_after=stop_after, max_memory=max_memory)
    assert isinstance(result, ComparisonResult)
    return result


def sweep(
    experiment: Experiment | str | Path,
    runs: int | None = None,
    *,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    precision: float | None = None,
    seed: int | None = None,
    progress: bool | ProgressFn | None = False,
    figures: bool = True,
    command: str | Sequence[str] | None = None,
    stop_after: int | None = None,
    max_memory: int | None = None,
) -> SweepResult:
    """Replicate every sweep point (x policy) `runs` times with common random numbers; arguments as `compare`.

    Writes replications.parquet, sweep.csv, manifest.json and sweep_<metric>.png figures to `out`.
    """
    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    if experiment.sweep is None:
        raise InputError(experiment.source, "sweep", "missing: this experiment has no sweep: section (use compare)")
    result = _run(experiment, "sweep", runs=runs, seed=seed, precision=precision, backend=backend,
                  workers=workers, scheduler=scheduler, out=out, resume=resume, progress=progress,
                  figures=figures, command=command, stop_after=stop_after, max_memory=max_memory)
    assert isinstance(result, SweepResult)
    return result


def compare_scenarios(
    paths: Sequence[str | Path],
    runs: int | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    seed: int = 1,
    metrics: Sequence[str] | None = None,
    name: str | None = None,
    **options: Any,
) -> ComparisonResult:
    """Compare scenario files as policies (each named by its stem; the first is the baseline).

    `overrides` apply to every scenario; other keyword arguments are those of `compare`.
    """
    experiment = scenario_experiment(paths, overrides, runs=runs or 100, seed=seed, metrics=metrics, name=name)
    return compare(experiment, runs, **options)


__all__ = [
    "ComparisonResult",
    "Experiment",
    "ExperimentFailed",
    "ExperimentInterrupted",
    "SweepResult",
    "Task",
    "compare",
    "compare_scenarios",
    "flatten_summary",
    "is_experiment_file",
    "load_experiment",
    "replication_seeds",
    "run_replication",
    "scenario_experiment",
    "statistics_table",
    "survival_counts",
    "survivor_metrics",
    "sweep",
]
