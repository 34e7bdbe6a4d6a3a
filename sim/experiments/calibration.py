"""Calibration: choose a scenario's free parameters so that its Monte Carlo means land on real figures.

`calibrate` reads a targets file (`sim.experiments.targets`), searches the free parameters within their bounds
with scipy.optimize (differential evolution, or Nelder-Mead) on a weighted sum of squared target
errors, each error in units of its tolerance. Every evaluation replicates the scenario on the same
seeds (common random numbers), so two parameter sets are compared on the same luck. The result is
checked on seeds the search never saw (`check_runs`), printed as a fit table, and written as a
scenario file that `extends:` the input, with fit.csv, evaluations.csv and manifest.json.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.errors import InputError
from sim.experiments.folders import OutputFolder, provenance
from sim.experiments.targets import Targets, estimate, load_targets, point_value, replicate, with_parameters
from sim.model.scenario import LoadedScenario, ScenarioConfig, dotted_items, load_config

FIT_FILE = "fit.csv"
EVALUATIONS_FILE = "evaluations.csv"
METHODS = ("differential_evolution", "nelder_mead")
SIGNIFICANT = 4  # calibrated values are written (and checked) with this many significant digits
FIT_COLUMNS = ("metric", "value", "low", "high", "tolerance", "simulated", "ci_low", "ci_high", "n", "within",
               "source")

ProgressFn = Callable[[int, int], Any]


@dataclass
class CalibrationResult:
    """The calibrated parameters, the fit on fresh seeds, the search history and the files written."""

    scenario: LoadedScenario
    targets: Targets
    parameters: dict[str, float | int]
    fit: pd.DataFrame
    evaluations: pd.DataFrame
    loss: float
    message: str
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def all_within(self) -> bool:
        return bool(self.fit["within"].all())


# --------------------------------------------------------------------------- fit


def fit_table(records: Sequence[Mapping[str, Any]], targets: Targets) -> pd.DataFrame:
    """One row per target: the real value and band, the simulated value with its 95 % CI, within or not."""
    rows = []
    for target in targets.targets:
        est = estimate(records, target.metric)
        rows.append({"metric": target.metric, "value": target.value, "low": target.low, "high": target.high,
                     "tolerance": target.tolerance_text, "simulated": est.value, "ci_low": est.low,
                     "ci_high": est.high, "n": est.n, "within": target.within(est.value), "source": target.source})
    return pd.DataFrame(rows, columns=list(FIT_COLUMNS))


def loss(records: Sequence[Mapping[str, Any]], targets: Targets) -> float:
    """Weighted sum of squared errors, each in units of its tolerance (every target within: loss <= sum of weights)."""
    total = 0.0
    for target in targets.targets:
        total += target.weight * target.error(point_value(records, target.metric)) ** 2
    return total


def evaluate(
    scenario: str | Path | ScenarioConfig | LoadedScenario,
    targets: Targets | str | Path,
    *,
    runs: int | None = None,
    seed: int | None = None,
    fresh: bool = True,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """The fit table of a scenario as it is: `runs` (default: the file's check_runs) replications, on the
    seeds after the search's (`fresh`) or on the search's own seeds."""
    if not isinstance(targets, Targets):
        targets = load_targets(targets)
    config = load_config(scenario).config
    runs = runs or targets.check_runs
    first = targets.runs if fresh else 0
    records = replicate({"scenario": config}, runs, targets.seed if seed is None else seed, first=first,
                        backend=backend, workers=workers, scheduler=scheduler, progress=progress)["scenario"]
    return fit_table(records, targets)


# --------------------------------------------------------------------------- search


def _round(value: float, integer: bool) -> float | int:
    if integer:
        return int(round(value))
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.{SIGNIFICANT}g}")


class _Objective:
    """Loss of parameter vectors; each evaluation replicates `runs` times on the same seeds (CRN)."""

    def __init__(self, config: ScenarioConfig, targets: Targets, runs: int, seed: int, options: dict[str, Any],
                 progress: ProgressFn | None, budget: int):
        self.config, self.targets, self.runs, self.seed = config, targets, runs, seed
        self.names = list(targets.parameters)
        self.options = options
        self.progress = progress
        self.budget = budget
        self.cache: dict[tuple[float | int, ...], float] = {}
        self.history: list[dict[str, Any]] = []
        self.done = 0

    def values(self, x: Sequence[float]) -> dict[str, float | int]:
        return {name: _round(float(v), name in self.targets.integer_parameters) for name, v in zip(
            self.names, x, strict=True)}

    def batch(self, xs: Sequence[Sequence[float]]) -> list[float]:
        """Losses of several parameter vectors, replicated together (one batch for the backend)."""
        keys = [tuple(self.values(x).values()) for x in xs]
        todo = {k: None for k in keys if k not in self.cache}
        configs = {}
        for i, key in enumerate(todo):
            configs[f"x{i}"] = with_parameters(self.config, dict(zip(self.names, key, strict=True)))
        if configs:
            start = self.done

            def report(done: int, _total: int) -> None:
                if self.progress is not None:
                    self.progress(min(start + done, self.budget), self.budget)

            records = replicate(configs, self.runs, self.seed, progress=report, **self.options)
            for i, key in enumerate(todo):
                value = loss(records[f"x{i}"], self.targets)
                self.cache[key] = value
                row = dict(zip(self.names, key, strict=True))
                row["loss"] = value
                for target in self.targets.targets:
                    row[target.metric] = point_value(records[f"x{i}"], target.metric)
                row["evaluation"] = len(self.history)
                self.history.append(row)
            self.done += len(configs) * self.runs
        return [self.cache[k] for k in keys]

    def __call__(self, x: np.ndarray) -> Any:
        if x.ndim == 2:  # differential evolution, vectorized: one column per candidate
            return np.asarray(self.batch(list(x.T)))
        return self.batch([x])[0]

    def best(self) -> tuple[dict[str, float | int], float]:
        key = min(self.cache, key=lambda k: self.cache[k])
        return dict(zip(self.names, key, strict=True)), self.cache[key]


def _search(objective: _Objective, config: ScenarioConfig, targets: Targets, seed: int) -> str:
    from scipy import optimize

    bounds = [targets.parameters[name] for name in objective.names]
    if targets.method == "nelder_mead":
        flat = dotted_items(config.model_dump(mode="json"))
        start = np.array([min(max(float(flat[name]), lo), hi) for name, (lo, hi) in zip(
            objective.names, bounds, strict=True)])
        result = optimize.minimize(objective, start, method="Nelder-Mead", bounds=bounds,
                                   options={"maxfev": targets.max_evaluations, "xatol": 1e-3, "fatol": 1e-3})
        return str(result.message)
    dims = len(bounds)
    per_generation = targets.population * dims
    generations = max(1, targets.max_evaluations // per_generation - 1)
    integrality = [name in targets.integer_parameters for name in objective.names]
    result = optimize.differential_evolution(
        objective, bounds, popsize=targets.population, maxiter=generations, seed=seed, polish=False,
        init="latinhypercube", vectorized=True, updating="deferred", tol=0.0, atol=1e-3,
        integrality=integrality if any(integrality) else None,
    )
    return str(result.message)


def calibrate(
    scenario: str | Path,
    targets: str | Path | Targets,
    *,
    out: str | Path | None = None,
    runs: int | None = None,
    check_runs: int | None = None,
    max_evaluations: int | None = None,
    method: str | None = None,
    seed: int | None = None,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: ProgressFn | None = None,
    command: str | Sequence[str] | None = None,
) -> CalibrationResult:
    """Search the targets file's free parameters for `scenario`, check the fit on fresh seeds, and
    (with `out`) write `<scenario>_calibrated.yaml` (extends the input), fit.csv, evaluations.csv and
    manifest.json. Options override the targets file's runs, check_runs, max_evaluations, method
    ("differential_evolution" or "nelder_mead", e.g. to refine a previous result with more runs) and seed.
    """
    if not isinstance(targets, Targets):
        targets = load_targets(targets)
    if not targets.parameters:
        raise InputError(targets.source, "parameters", "names no free parameter to calibrate "
                                                       "(dotted scenario key -> {low, high})")
    for name, value in (("--runs", runs), ("--check-runs", check_runs)):
        if value is not None and value < 2:
            raise InputError(name, None, f"must be at least 2, got {value}")
    if max_evaluations is not None and max_evaluations < 2:
        raise InputError("--evaluations", None, f"must be at least 2, got {max_evaluations}")
    if seed is not None and seed < 0:
        raise InputError("--seed", None, f"must be >= 0, got {seed}")
    if method is not None and method not in METHODS:
        raise InputError("--method", repr(method), f"unknown method; use one of: {', '.join(METHODS)}")
    import dataclasses

    targets = dataclasses.replace(
        targets,
        runs=runs or targets.runs,
        check_runs=check_runs or targets.check_runs,
        max_evaluations=max_evaluations or targets.max_evaluations,
        method=method or targets.method,
        seed=targets.seed if seed is None else seed,
    )
    loaded = load_config(scenario)
    config = loaded.config
    for name in targets.parameters:  # every bound must be a value the schema accepts
        for bound in targets.parameters[name]:
            try:
                with_parameters(config, {name: _round(bound, name in targets.integer_parameters)}, targets.source)
            except InputError as err:
                raise InputError(targets.source, f"parameters.{name}", f"bound {bound:g}: {err.message}") from None

    # held (created, checked, locked) before the search, so a bad or busy folder fails at once
    folder = OutputFolder(Path(out)) if out is not None else None
    with folder if folder is not None else contextlib.nullcontext():
        options = {"backend": backend, "workers": workers, "scheduler": scheduler}
        budget = targets.max_evaluations * targets.runs + targets.check_runs
        objective = _Objective(config, targets, targets.runs, targets.seed, options, progress,
                               targets.max_evaluations * targets.runs)
        message = _search(objective, config, targets, targets.seed)
        parameters, best_loss = objective.best()

        def report_check(done: int, _total: int) -> None:
            if progress is not None:
                progress(objective.budget + done, budget)

        calibrated = with_parameters(config, parameters)
        records = replicate({"calibrated": calibrated}, targets.check_runs, targets.seed, first=targets.runs,
                            progress=report_check, **options)["calibrated"]
        fit = fit_table(records, targets)
        evaluations = pd.DataFrame(objective.history)
        result = CalibrationResult(LoadedScenario(calibrated, loaded.source), targets, parameters, fit, evaluations,
                                   best_loss, message, folder.path if folder is not None else None)
        if folder is not None:
            _write(result, folder, Path(scenario), config, command)
    return result


# --------------------------------------------------------------------------- outputs


def _nested(values: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dotted, value in values.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def short_number(value: float) -> str:
    """A number for a comment: 71,095 or 0.1813."""
    if not math.isfinite(value):
        return "nan"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def calibrated_scenario_text(scenario_path: Path, out_dir: Path, result: CalibrationResult) -> str:
    """The calibrated scenario file: extends the input (relative path) and sets the free parameters."""
    try:
        parent = os.path.relpath(scenario_path.resolve(), out_dir.resolve())
    except ValueError:  # another drive
        parent = str(scenario_path.resolve())
    name = f"{result.scenario.config.name}_calibrated" if not result.scenario.config.name.endswith(
        "_calibrated") else result.scenario.config.name
    header = [
        f"# Calibrated by `clubsim calibrate` against {result.targets.source} ({result.targets.name}),",
        f"# {result.targets.method}, {len(result.evaluations)} evaluations x {result.targets.runs} replications "
        f"(seed {result.targets.seed}).",
        f"# Fit on {result.targets.check_runs} fresh replications: simulated mean [95 % CI] (target, band):",
    ]
    for row in result.fit.itertuples(index=False):
        mark = "within" if row.within else "OUTSIDE"
        simulated = f"{short_number(row.simulated)} [{short_number(row.ci_low)}; {short_number(row.ci_high)}]"
        target = f"{short_number(row.value)}, {short_number(row.low)} to {short_number(row.high)}"
        header.append(f"#   {row.metric}: {simulated} (target {target}): {mark}")
    body = {"extends": parent, "name": name, **_nested(result.parameters)}
    return "\n".join(header) + "\n" + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)


def _write(result: CalibrationResult, folder: OutputFolder, scenario_path: Path, base: ScenarioConfig,
           command: str | Sequence[str] | None) -> None:
    """The calibrated scenario, fit.csv and evaluations.csv, each written atomically, then the manifest."""
    from sim.experiments.experiment import replication_seeds

    scenario_name = f"{scenario_path.stem}_calibrated.yaml"

    def write(folder: OutputFolder) -> dict[str, Path]:
        files = {scenario_name: folder.write_text(scenario_name,
                                                  calibrated_scenario_text(scenario_path, folder.path, result))}
        for name, frame in ((FIT_FILE, result.fit), (EVALUATIONS_FILE, result.evaluations)):
            files[name] = folder.write_text(name, frame.to_csv(index=False, float_format="%.10g", lineterminator="\n"))
        return files

    targets = result.targets
    manifest = {
        "kind": "calibration",
        "scenario_source": str(scenario_path),
        "scenario": base.model_dump(mode="json"),
        "calibrated": result.scenario.config.model_dump(mode="json"),
        "targets_source": targets.source,
        "targets": targets.spec,
        "parameters": result.parameters,
        "loss": result.loss,
        "optimiser": {"method": targets.method, "max_evaluations": targets.max_evaluations,
                      "evaluations": len(result.evaluations), "message": result.message},
        "runs": targets.runs,
        "check_runs": targets.check_runs,
        "seed": targets.seed,
        "search_seeds": replication_seeds(targets.seed, targets.runs),
        "check_seeds": replication_seeds(targets.seed, targets.runs + targets.check_runs)[targets.runs:],
        "all_within": result.all_within,
        **provenance(command),
    }
    result.files = folder.write_outputs(manifest, [scenario_name, FIT_FILE, EVALUATIONS_FILE], write)


__all__ = ["CalibrationResult", "calibrate", "calibrated_scenario_text", "evaluate", "fit_table",
           "loss", "short_number"]
