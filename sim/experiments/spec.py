"""What an experiment is: the experiment file's schema, its loading (base scenario, policies as dotted overrides,
a grid or Latin-hypercube sweep, uncertainties), ad-hoc comparisons of scenario files, and the names of the
result columns (`METRIC_COLUMNS`, `TABLE_COLUMNS`) and files. Running it is `sim.experiments.experiment`'s.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, ValidationError, field_validator

from sim.errors import InputError, validation_input_error
from sim.experiments.folders import (
    MAX_NAME_LENGTH,
    file_checksum,
    plain_name,
)
from sim.model.metric_registry import bounds as metric_bounds
from sim.model.metrics import EXIT_REASONS, MEMBER_TYPES, SUMMARY_KEYS
from sim.model.scenario import (
    EXPERIMENT_KEYS,
    OVERRIDES_SOURCE,
    NumbersNotBooleans,
    ScenarioConfig,
    apply_overrides,
    field_annotation,
    first_non_finite,
    load_config,
    read_yaml_mapping,
    validate_config,
)

# --------------------------------------------------------------------------- result columns

ID_COLUMNS = ("point", "policy", "replication", "seed")
SERIES_COLUMNS = ("members_weekly", "tenure_years", "tenure_observed", "tenure_type")
# summary keys in summarize()'s order; dict-valued ones are flattened (`flatten_summary`)
_SUMMARY_ORDER = (*SUMMARY_KEYS, "joins_total", "exits_by_reason", "business_total", "direct_sales_total",
                  "member_years", "mean_members", "weeks")
_EXPANDED = {"roi_by_type": tuple(f"roi_{t}" for t in MEMBER_TYPES),
             "exits_by_reason": tuple(f"exits_{r}" for r in EXIT_REASONS)}
METRIC_COLUMNS: tuple[str, ...] = tuple(
    column for key in _SUMMARY_ORDER for column in _EXPANDED.get(key, (key,))
)
_INT_METRICS = {"members_final", "joins_total", "weeks", *_EXPANDED["exits_by_reason"]}
_BOOL_METRICS = {"survived"}
# where a metric's mean lies whatever the runs (`sim.model.metric_registry`, each metric's `bounds`): counts,
# durations and money are never negative, shares stay within [0, 1], and an ROI is never below -1 (gains
# are >= 0: `sim.model.metrics.roi`). A t-interval on a skewed metric near a bound can cross it (members at the end
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
# An experiment's cells (sweep points x policies) are each resolved and validated before anything runs
# (about a millisecond each), and every one is replicated `runs` times.
MAX_CELLS = 10_000
ROW_BYTES = 16_000  # one replication's result row while the experiment runs and is assembled, without series


# --------------------------------------------------------------------------- schema


class _Spec(NumbersNotBooleans):
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


MAX_REPLICATIONS = 10_000_000
# a chapter's replication takes about 10 ms of a core: the cap is about a day per policy
REPLICATIONS_ALLOWED = f"1 to {MAX_REPLICATIONS:,}: more would run for days"


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
    runs: int = Field(100, ge=1, le=MAX_REPLICATIONS, description=f"replications per policy ({REPLICATIONS_ALLOWED})")
    precision: float | None = Field(
        None, gt=0, lt=1,
        description="replicate until the key metric's 95 % CI half-width is <= precision x |mean| (0..1 exclusive)",
    )
    precision_on: Literal["mean", "difference"] | None = Field(
        None, description="precision mode: stop on each policy's mean (default), or on the paired difference of "
                          "each with the baseline (relative precision gamma / (1 + gamma), at least 10 runs)",
    )
    max_runs: int = Field(
        2000, ge=1, le=MAX_REPLICATIONS,
        description=f"precision mode: at most this many replications per policy ({REPLICATIONS_ALLOWED})",
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


def is_experiment_file(path: str | Path) -> bool:
    """True if `path` is an experiment file (has `scenario:`, `policies:`, `sweep:` or `uncertainties:`), False
    for a scenario.

    Raises `InputError` if the file cannot be read as a YAML mapping.
    """
    data = _read_mapping(Path(path))
    return any(key in data for key in EXPERIMENT_KEYS)


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


def load_experiment(path: str | Path, overrides: Mapping[str, Any] | None = None, *,
                    overrides_source: str | None = None) -> Experiment:
    """Load and validate an experiment file; `overrides` (dotted keys, e.g. from `--set`) apply to the base scenario.

    Every policy's (and sweep point's) scenario is resolved and validated here, so a bad
    override fails at load with one line naming this file (or `overrides_source`: the CLI passes "--set")
    and the dotted key.
    """
    path = Path(path)
    data = _read_mapping(path)
    if not any(key in data for key in EXPERIMENT_KEYS) and set(data) & set(ScenarioConfig.model_fields):
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
    if overrides:  # the file's own scenario is valid: a problem now is the overrides'
        raw = _override(raw, overrides, overrides_source or path, "")
        base = _validate(raw, overrides_source or path, "")
    policy_overrides = spec.policies if spec.policies else {"base": {}}
    if spec.policies is not None and not spec.policies:
        raise InputError(path, "policies", "must name at least one policy (or leave it out: one policy, the base)")
    base_configs = dict.fromkeys(policy_overrides, base)
    name = plain_name(spec.name, path, "name") if spec.name is not None else path.stem  # it names a folder
    return _build(spec, path, base_configs, policy_overrides, name)


def _ad_hoc_name(policies: Sequence[str]) -> str:
    """An ad-hoc experiment's name, which names its output folder: its policies joined by `_vs_`, shortened to
    the first and a count where that is longer than a name may be."""
    for name in ("_vs_".join(policies), f"{policies[0]}_vs_{len(policies) - 1}_more"):
        if len(name) <= MAX_NAME_LENGTH:
            return name
    return f"{len(policies)}_scenarios"


def scenario_experiment(
    paths: Sequence[str | Path],
    overrides: Mapping[str, Any] | None = None,
    *,
    runs: int = 100,
    seed: int = 1,
    metrics: Sequence[str] | None = None,
    name: str | None = None,
    overrides_source: str = OVERRIDES_SOURCE,
) -> Experiment:
    """An ad-hoc experiment: each scenario file is a policy named by its stem; the first is the baseline. A bad
    override names `overrides_source` (the CLI passes "--set")."""
    if isinstance(paths, (str, Path)):  # one file, not its characters
        paths = [paths]
    if not paths:
        raise InputError(None, "scenarios", "give at least one scenario file")
    configs: dict[str, ScenarioConfig] = {}
    for path in paths:
        stem, k = Path(path).stem, 2
        policy = stem
        while policy in configs:
            policy, k = f"{stem}_{k}", k + 1
        configs[policy] = load_config(path, overrides, overrides_source=overrides_source).config
    name = name or _ad_hoc_name(list(configs))
    source = "<scenarios>"
    try:
        spec = ExperimentSpec(name=name, scenario=str(paths[0]), runs=runs, seed=seed,
                              metrics=list(metrics) if metrics else None)
    except ValidationError as err:  # only `runs` comes from the caller here: the CLI's --runs
        raise validation_input_error(err, source, ExperimentSpec, describe=True) from None
    experiment = _build(spec, source, configs, {}, name)
    spec_dump = {**experiment.spec, "scenarios": [str(p) for p in paths], "overrides": dict(overrides or {})}
    return dataclasses.replace(experiment, source=None, spec=json.loads(json.dumps(spec_dump, default=str)))
