"""Global sensitivity analysis with SALib: which scenario parameters the outputs hang on.

A sensitivity experiment file (experiments/sensitivity_*.yaml) names a base scenario, parameters with
ranges and output metrics. `analyse` samples the ranges with SALib (Morris trajectories or Sobol'
sequences), replicates every sample point `runs` times with the same seeds at every point (common
random numbers, on the backends of `clubsim compare`), averages each metric per point and computes
Morris elementary-effect statistics (mu*, sigma) or Sobol' indices (S1, ST) with 95 % confidence
intervals. The result is a ranked table and an output folder with a manifest (and the bar figure the presentation
layer draws, `sim.presentation.analysis_figures`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, ValidationError, model_validator

from sim.errors import InputError, validation_input_error
from sim.experiments.folders import OutputFolder, provenance, versions
from sim.experiments.targets import check_parameter, check_statistic, replicate, with_parameters
from sim.model.scenario import NumbersNotBooleans, ScenarioConfig, load_config, read_yaml_mapping

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    FigureDrawer = Callable[["SensitivityResult"], dict[str, Figure]]

METHODS = ("morris", "sobol")
SAMPLES_FILE = "samples.csv"
INDICES_FILE = "indices.csv"
RESAMPLES = 1000


# --------------------------------------------------------------------------- schema


class _Spec(NumbersNotBooleans):
    model_config = ConfigDict(extra="forbid")


class RangeSpec(_Spec):
    low: float = Field(..., description="lower end of the parameter's range")
    high: float = Field(..., description="upper end of the parameter's range")

    @model_validator(mode="after")
    def _order(self) -> RangeSpec:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        return self


class MorrisSpec(_Spec):
    trajectories: int = Field(10, ge=2, le=10_000, description="Morris trajectories (points: trajectories x "
                                                               "(parameters + 1)) (>= 2)")
    levels: int = Field(4, ge=2, le=100, description="grid levels of the Morris design (even, >= 2)")

    @model_validator(mode="after")
    def _even(self) -> MorrisSpec:
        if self.levels % 2:
            raise ValueError(f"levels must be even, got {self.levels}")
        return self


class SobolSpec(_Spec):
    samples: int = Field(64, ge=2, le=1_048_576, description="base samples N, a power of 2 (points: N x "
                                                             "(parameters + 2))")
    second_order: bool = Field(False, description="also estimate second-order indices (points: N x (2 parameters + 2))")

    @model_validator(mode="after")
    def _power_of_two(self) -> SobolSpec:
        if self.samples & (self.samples - 1):
            raise ValueError(f"samples must be a power of 2 (Sobol' sequences), got {self.samples}")
        return self


class SensitivitySpec(_Spec):
    name: str | None = Field(None, description="short name for the output folder (default: the file's stem)")
    description: str = Field("", description="free text")
    scenario: str = Field(..., description="the base scenario file, relative to this file")
    overrides: dict[str, Any] = Field(default_factory=dict, description="dotted overrides of the base scenario")
    parameters: dict[str, RangeSpec] = Field(..., min_length=1,
                                             description="dotted scenario key -> {low, high}: the ranges to explore")
    metrics: list[str] = Field(..., min_length=1, description="output metrics (summary metrics or series statistics)")
    runs: int = Field(4, ge=1, le=10_000, description="replications per sample point, the same seeds at every point")
    seed: int = Field(1, ge=0, description="seed of the sample design and of the replications (>= 0)")
    method: Literal["morris", "sobol"] = Field("morris", description="default method (the command's --method wins)")
    morris: MorrisSpec = MorrisSpec()
    sobol: SobolSpec = SobolSpec()


def _spec(data: Mapping[str, Any], source: Path) -> SensitivitySpec:
    try:
        return SensitivitySpec.model_validate(data)
    except ValidationError as err:
        raise validation_input_error(err, source, SensitivitySpec, missing="missing") from None


@dataclass(frozen=True)
class SensitivityExperiment:
    """A loaded sensitivity experiment: the base scenario, the ranges, the metrics and the designs."""

    name: str
    description: str
    source: str
    base: ScenarioConfig
    parameters: dict[str, tuple[float, float]]
    integer_parameters: frozenset[str]
    metrics: tuple[str, ...]
    runs: int
    seed: int
    method: str
    morris: MorrisSpec
    sobol: SobolSpec
    spec: dict[str, Any]

    def problem(self) -> dict[str, Any]:
        """The SALib problem: names and bounds."""
        return {"num_vars": len(self.parameters), "names": list(self.parameters),
                "bounds": [list(b) for b in self.parameters.values()]}


def load_sensitivity(path: str | Path, overrides: Mapping[str, Any] | None = None) -> SensitivityExperiment:
    """Load and check a sensitivity experiment file (`overrides`: dotted keys for the base scenario)."""
    path = Path(path)
    data = read_yaml_mapping(path, "sensitivity experiment")
    if "parameters" not in data:  # say what the file is, rather than "parameters: missing"
        if "policies" in data or "sweep" in data or "uncertainties" in data:
            raise InputError(path, "parameters", "missing: this is an experiment file for compare, sweep or "
                                                 "discover; a sensitivity file names parameters: {key: {low, high}}")
        if "scenario" not in data:
            raise InputError(path, "scenario", "missing: this looks like a scenario, not a sensitivity file "
                                               "(scenario:, metrics: and parameters: {key: {low, high}}, as "
                                               "experiments/sensitivity_bni.yaml)")
    spec = _spec(data, path)
    scenario_path = path.resolve().parent / spec.scenario
    if not scenario_path.is_file():
        raise InputError(path, "scenario", f"no such file: {spec.scenario} (looked for {scenario_path})")
    base = load_config(scenario_path).config
    if spec.overrides:
        base = with_parameters(base, spec.overrides, path)
    if overrides:
        base = with_parameters(base, overrides, path)
    integers = {name for name in spec.parameters if check_parameter(name, path, "parameters")}
    for name, bounds in spec.parameters.items():
        for bound in (bounds.low, bounds.high):
            try:
                with_parameters(base, {name: int(round(bound)) if name in integers else bound}, path)
            except InputError as err:
                raise InputError(path, f"parameters.{name}", f"bound {bound:g}: {err.message}") from None
    for i, metric in enumerate(spec.metrics):
        check_statistic(metric, path, f"metrics.{i}", pooled=False)
    return SensitivityExperiment(
        name=spec.name or path.stem, description=spec.description, source=str(path), base=base,
        parameters={name: (b.low, b.high) for name, b in spec.parameters.items()},
        integer_parameters=frozenset(integers), metrics=tuple(dict.fromkeys(spec.metrics)), runs=spec.runs,
        seed=spec.seed, method=spec.method, morris=spec.morris, sobol=spec.sobol, spec=spec.model_dump(mode="json"),
    )


# --------------------------------------------------------------------------- running


@dataclass
class SensitivityResult:
    """The design's points with each metric's mean, the ranked indices, and the files written."""

    experiment: SensitivityExperiment
    method: str
    samples: pd.DataFrame
    indices: pd.DataFrame
    runs: int
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)

    def top(self, metric: str, k: int = 3) -> list[str]:
        """The k most influential parameters for `metric`."""
        rows = self.indices[self.indices["metric"] == metric].sort_values("rank")
        return rows["parameter"].head(k).tolist()

    # what draws `plot()`'s figures (`sim.presentation.analysis_figures.sensitivity_figures`, passed by the CLI
    # and `sim.sensitivity`)
    draw_figures: FigureDrawer | None = field(default=None, repr=False, compare=False)

    def plot(self, out_dir: str | Path | None = None) -> dict[str, Figure]:
        """The figures by file name (sensitivity_<method>.png); with `out_dir`, also written there."""
        if self.draw_figures is None:
            raise ValueError("this result has no figure drawer: run it through sim.sensitivity(...), or pass "
                             "draw_figures=sim.presentation.analysis_figures.sensitivity_figures")
        figures = self.draw_figures(self)
        if out_dir is not None:
            for name, figure in figures.items():
                figure.savefig(Path(out_dir) / name, dpi=110)
        return figures


def figure_file(method: str) -> str:
    """The file name of a sensitivity analysis's figure."""
    return f"sensitivity_{method}.png"


def sample_points(experiment: SensitivityExperiment, method: str) -> np.ndarray:
    """The SALib design: one row per point, one column per parameter (integers rounded)."""
    problem = experiment.problem()
    if method == "morris":
        from SALib.sample import morris as morris_sample

        points = morris_sample.sample(problem, experiment.morris.trajectories, num_levels=experiment.morris.levels,
                                      seed=experiment.seed)
    elif method == "sobol":
        from SALib.sample import sobol as sobol_sample

        points = sobol_sample.sample(problem, experiment.sobol.samples,
                                     calc_second_order=experiment.sobol.second_order, seed=experiment.seed)
    else:
        raise InputError("--method", repr(method), f"unknown method; use one of: {', '.join(METHODS)}")
    for j, name in enumerate(problem["names"]):
        if name in experiment.integer_parameters:
            points[:, j] = np.round(points[:, j])
    return points


def _point_value(name: str, value: float, integers: frozenset[str]) -> float | int:
    return int(round(value)) if name in integers else float(value)


def _indices(experiment: SensitivityExperiment, method: str, points: np.ndarray, means: pd.DataFrame) -> pd.DataFrame:
    problem = experiment.problem()
    rows = []
    for metric in experiment.metrics:
        y = means[metric].to_numpy(float)
        if not np.all(np.isfinite(y)):
            continue  # undefined at some points (e.g. hunters' ROI where no hunter joined): cannot be analysed
        if method == "morris":
            from SALib.analyze import morris as morris_analyze

            res = morris_analyze.analyze(problem, points, y, num_resamples=RESAMPLES, conf_level=0.95,
                                         num_levels=experiment.morris.levels, seed=experiment.seed)
            for j, name in enumerate(problem["names"]):
                rows.append({"metric": metric, "parameter": name, "mu": float(res["mu"][j]),
                             "mu_star": float(res["mu_star"][j]), "mu_star_conf": float(res["mu_star_conf"][j]),
                             "sigma": float(res["sigma"][j])})
        else:
            from SALib.analyze import sobol as sobol_analyze

            res = sobol_analyze.analyze(problem, y, calc_second_order=experiment.sobol.second_order,
                                        num_resamples=RESAMPLES, conf_level=0.95, seed=experiment.seed)
            for j, name in enumerate(problem["names"]):
                rows.append({"metric": metric, "parameter": name, "S1": float(res["S1"][j]),
                             "S1_conf": float(res["S1_conf"][j]), "ST": float(res["ST"][j]),
                             "ST_conf": float(res["ST_conf"][j])})
    key = "mu_star" if method == "morris" else "ST"
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["rank"] = table.groupby("metric")[key].rank(ascending=False, method="first").astype(int)
    order = {m: i for i, m in enumerate(experiment.metrics)}
    table = table.sort_values(["metric", "rank"], key=lambda c: c.map(order) if c.name == "metric" else c)
    return table.reset_index(drop=True)


def analyse(
    experiment: SensitivityExperiment | str | Path,
    method: str | None = None,
    *,
    runs: int | None = None,
    seed: int | None = None,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    out: str | Path | None = None,
    figures: bool = True,
    draw_figures: FigureDrawer | None = None,
    progress: Callable[[int, int], Any] | None = None,
    command: str | Sequence[str] | None = None,
) -> SensitivityResult:
    """Sample, replicate and analyse; `method` (default: the file's) is "morris" or "sobol".

    `out`: write samples.csv (each point's values and metric means), indices.csv (ranked), manifest.json
    and, unless figures=False, the figures `draw_figures` draws (sensitivity_<method>.png:
    `sim.presentation.analysis_figures.sensitivity_figures`; this layer draws none) there.
    """
    import dataclasses

    if not isinstance(experiment, SensitivityExperiment):
        experiment = load_sensitivity(experiment)
    method = method or experiment.method
    if method not in METHODS:
        raise InputError("--method", repr(method), f"unknown method; use one of: {', '.join(METHODS)}")
    if runs is not None and runs < 1:
        raise InputError("--runs", None, f"must be at least 1, got {runs}")
    if seed is not None and seed < 0:
        raise InputError("--seed", None, f"must be >= 0, got {seed}")
    experiment = dataclasses.replace(experiment, runs=runs or experiment.runs,
                                     seed=experiment.seed if seed is None else seed)
    # held (created, checked, locked) before the replications, so a bad or busy folder fails at once
    folder = OutputFolder(Path(out)) if out is not None else None
    with folder if folder is not None else contextlib.nullcontext():
        points = sample_points(experiment, method)
        names = list(experiment.parameters)
        configs = {}
        for i, row in enumerate(points):
            values = {name: _point_value(name, v, experiment.integer_parameters)
                      for name, v in zip(names, row, strict=True)}
            configs[f"p{i}"] = with_parameters(experiment.base, values, experiment.source)
        records = replicate(configs, experiment.runs, experiment.seed, backend=backend, workers=workers,
                            scheduler=scheduler, progress=progress)
        rows = []
        for i, row in enumerate(points):
            recs = records[f"p{i}"]
            means = {}
            for metric in experiment.metrics:
                values = np.asarray([r.get(metric, math.nan) for r in recs], float)
                values = values[np.isfinite(values)]
                means[metric] = float(values.mean()) if len(values) else math.nan
            rows.append({"point": i, **dict(zip(names, row.tolist(), strict=True)), **means})
        samples = pd.DataFrame(rows)
        indices = _indices(experiment, method, points, samples)
        result = SensitivityResult(experiment, method, samples, indices, experiment.runs,
                                   folder.path if folder is not None else None, draw_figures=draw_figures)
        if folder is not None:
            _write(result, folder, figures and draw_figures is not None, command)
    return result


def _write(result: SensitivityResult, folder: OutputFolder, figures: bool, command: str | Sequence[str] | None) -> None:
    """samples.csv, indices.csv and the figure, each written atomically, then the manifest."""
    from sim.experiments.experiment import replication_seeds

    drawn = result.plot() if figures else {}
    names = [SAMPLES_FILE, INDICES_FILE, *drawn]

    def write(folder: OutputFolder) -> dict[str, Path]:
        files: dict[str, Path] = {}
        for name, frame in ((SAMPLES_FILE, result.samples), (INDICES_FILE, result.indices)):
            files[name] = folder.write_text(name, frame.to_csv(index=False, float_format="%.10g", lineterminator="\n"))
        for name, figure in drawn.items():
            files[name] = folder.write_with(name, lambda path, figure=figure: figure.savefig(path, format="png",
                                                                                            dpi=110))
        return files

    experiment = result.experiment
    manifest = {
        "kind": "sensitivity",
        "method": result.method,
        "experiment_source": experiment.source,
        "experiment": experiment.spec,
        "scenario": experiment.base.model_dump(mode="json"),
        "points": len(result.samples),
        "runs": experiment.runs,
        "seed": experiment.seed,
        "seeds": replication_seeds(experiment.seed, experiment.runs),
        "skipped_metrics": [m for m in experiment.metrics if m not in set(result.indices.get("metric", []))],
        **provenance(command),
        "versions": {**versions(), "SALib": _salib_version()},
    }
    result.files = folder.write_outputs(manifest, names, write)


def _salib_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("SALib")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


# --------------------------------------------------------------------------- presenting


__all__ = ["METHODS", "SensitivityExperiment", "SensitivityResult", "analyse",
           "figure_file", "load_sensitivity", "sample_points"]
