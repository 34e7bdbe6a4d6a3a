"""Calibration by approximate Bayesian computation: the posterior of a scenario's free parameters given its
targets (pyABC's ABC-SMC, Toni et al. 2009), rather than one best point. `abc_smc` runs it over any model
callback; `calibrate_abc` wires it to replications and writes what `clubsim calibrate --method abc` shows.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import InputError

POSTERIOR_FILE = "posterior.csv"
GENERATIONS_FILE = "generations.csv"
DEFAULT_POPULATION = 50
DEFAULT_GENERATIONS = 6
DEFAULT_EPSILON = 0.5
INSTALL_HINT = "needs pyABC: pip install 'clubsim[abc]'"
_PYABC_LOGGERS = ("ABC", "Epsilon", "Distance", "Acceptor", "Population", "Sampler", "History", "Transition",
                  "Redis", "pyabc", "Predictor", "Sumstat", "ABC.Distance", "ABC.History", "ABC.Sampler")


@dataclass
class Posterior:
    """ABC-SMC's last population: `samples` (one row per particle: the parameters and its `weight`),
    `generations` (t, epsilon, samples drawn, particles accepted) and the simulations it took."""

    samples: pd.DataFrame
    generations: pd.DataFrame
    simulations: int

    @property
    def names(self) -> list[str]:
        return [c for c in self.samples.columns if c != "weight"]

    def mean(self) -> dict[str, float]:
        w = self.samples["weight"].to_numpy()
        return {name: float(np.sum(self.samples[name].to_numpy() * w) / w.sum()) for name in self.names}

    def quantile(self, q: float) -> dict[str, float]:
        """The weighted q-quantile of each parameter."""
        out = {}
        w = self.samples["weight"].to_numpy()
        for name in self.names:
            values = self.samples[name].to_numpy()
            order = np.argsort(values)
            cumulative = np.cumsum(w[order]) / w.sum()
            out[name] = float(values[order][min(np.searchsorted(cumulative, q), len(values) - 1)])
        return out

    def summary(self) -> pd.DataFrame:
        """Per parameter: posterior mean and 95 % credible interval (weighted 2.5 and 97.5 % quantiles)."""
        mean, low, high = self.mean(), self.quantile(0.025), self.quantile(0.975)
        return pd.DataFrame([{"parameter": n, "mean": mean[n], "ci_low": low[n], "ci_high": high[n]}
                             for n in self.names])


def _import_pyabc() -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pyabc
    except ImportError:
        raise InputError("--method", "'abc'", INSTALL_HINT) from None
    for name in _PYABC_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    return pyabc


def abc_smc(
    model: Callable[[dict[str, float]], Mapping[str, float]],
    bounds: Mapping[str, tuple[float, float]],
    distance: Callable[[Mapping[str, float]], float],
    *,
    population: int = DEFAULT_POPULATION,
    generations: int = DEFAULT_GENERATIONS,
    epsilon: float = DEFAULT_EPSILON,
    max_simulations: int | None = None,
    seed: int = 1,
    db: Path | None = None,
) -> Posterior:
    """ABC-SMC (pyABC) with uniform priors over `bounds`: `model(parameters)` returns statistics, and
    `distance(statistics)` how far they are from the observed ones. Stops when the acceptance threshold
    reaches `epsilon`, after `generations` populations or `max_simulations` model calls. Deterministic for a
    seed (one process samples; the model may replicate in parallel). `db`: pyABC's SQLite history (a
    temporary file if None)."""
    if population < 2:
        raise InputError("--population", None, f"must be at least 2, got {population}")
    if generations < 1:
        raise InputError("--generations", None, f"must be at least 1, got {generations}")
    pyabc = _import_pyabc()
    prior = pyabc.Distribution(**{name: pyabc.RV("uniform", lo, hi - lo) for name, (lo, hi) in bounds.items()})
    state = np.random.get_state()
    np.random.seed(seed % 2**32)  # pyABC draws from numpy's global generator
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as scratch:
            warnings.simplefilter("ignore")
            abc = pyabc.ABCSMC(
                lambda parameters: dict(model({k: float(v) for k, v in parameters.items()})),
                prior,
                lambda x, _x0: float(distance(x)),
                population_size=population,
                sampler=pyabc.sampler.SingleCoreSampler(),
            )
            path = Path(db) if db is not None else Path(scratch) / "abc.db"
            abc.new(f"sqlite:///{path}", {})
            options: dict[str, Any] = {"minimum_epsilon": epsilon, "max_nr_populations": generations}
            if max_simulations is not None:
                options["max_total_nr_simulations"] = max_simulations
            history = abc.run(**options)
            frame, weights = history.get_distribution(m=0, t=history.max_t)
            populations = history.get_all_populations()
            simulations = int(history.total_nr_simulations)
    finally:
        np.random.set_state(state)
    samples = frame.reset_index(drop=True)[list(bounds)].astype(float)
    samples["weight"] = np.asarray(weights, float)
    table = populations[populations["t"] >= 0]
    generations_table = pd.DataFrame({"generation": table["t"].astype(int).to_numpy(),
                                      "epsilon": table["epsilon"].astype(float).to_numpy(),
                                      "simulations": table["samples"].astype(int).to_numpy(),
                                      "particles": table["particles"].astype(int).to_numpy()})
    return Posterior(samples, generations_table, simulations)


# --------------------------------------------------------------------------- on the simulator


def calibrate_abc(
    scenario: str | Path,
    targets: Any,
    *,
    out: str | Path | None = None,
    runs: int | None = None,
    check_runs: int | None = None,
    max_evaluations: int | None = None,
    population: int | None = None,
    generations: int | None = None,
    epsilon: float | None = None,
    seed: int | None = None,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int], Any] | None = None,
    command: str | Sequence[str] | None = None,
) -> Any:
    """`clubsim calibrate --method abc`: the posterior of the targets file's free parameters (uniform priors
    on their bounds). Each particle replicates the scenario `runs` times on its own seeds (drawn from
    `seed`); its distance is the weighted root-mean-square of the targets' errors, each in units of its
    tolerance (<= 1: every target within). The calibrated values are the posterior means, checked on
    `check_runs` fresh replications as `calibrate` does; with `out`, writes the calibrated scenario,
    fit.csv, posterior.csv, generations.csv and manifest.json. Returns a `CalibrationResult` whose
    `posterior` attribute holds the `Posterior`."""
    from sim.calibration import CalibrationResult, _round, calibrated_scenario_text, fit_table
    from sim.outputs import MANIFEST, prepare_out_dir, provenance, write_manifest
    from sim.scenario import LoadedScenario, load_config
    from sim.targets import load_targets, point_value, replicate, with_parameters

    if not hasattr(targets, "targets"):
        targets = load_targets(targets)
    if not targets.parameters:
        raise InputError(targets.source, "parameters", "names no free parameter to calibrate "
                                                       "(dotted scenario key -> {low, high})")
    for name, value in (("--runs", runs), ("--check-runs", check_runs)):
        if value is not None and value < 2:
            raise InputError(name, None, f"must be at least 2, got {value}")
    if epsilon is not None and not epsilon > 0:
        raise InputError("--epsilon", None, f"must be > 0, got {epsilon:g}")
    targets = dataclasses.replace(targets, runs=runs or targets.runs, check_runs=check_runs or targets.check_runs,
                                  max_evaluations=max_evaluations or targets.max_evaluations, method="abc",
                                  seed=targets.seed if seed is None else seed)
    _import_pyabc()
    loaded = load_config(scenario)
    config = loaded.config
    integers = set(targets.integer_parameters)
    options = {"backend": backend, "workers": workers, "scheduler": scheduler}
    weights = np.array([t.weight for t in targets.targets], float)
    budget = targets.max_evaluations * targets.runs + targets.check_runs
    done = {"runs": 0}

    def model(parameters: dict[str, float]) -> dict[str, float]:
        values = {name: _round(value, name in integers) for name, value in parameters.items()}
        particle_seed = int(np.random.randint(0, 2**31 - 1))  # from pyABC's seeded stream: reproducible
        records = replicate({"x": with_parameters(config, values, targets.source)}, targets.runs, particle_seed,
                            **options)["x"]
        done["runs"] += targets.runs
        if progress is not None:
            progress(min(done["runs"], budget), budget)
        return {t.metric: point_value(records, t.metric) for t in targets.targets}

    def distance(statistics: Mapping[str, float]) -> float:
        errors = np.array([t.error(statistics[t.metric]) for t in targets.targets], float)
        return float(math.sqrt(np.sum(weights * errors**2) / np.sum(weights)))

    bounds = {name: (float(lo), float(hi)) for name, (lo, hi) in targets.parameters.items()}
    out_dir = prepare_out_dir(Path(out)) if out is not None else None
    posterior = abc_smc(model, bounds, distance, population=population or DEFAULT_POPULATION,
                        generations=generations or DEFAULT_GENERATIONS, epsilon=epsilon or DEFAULT_EPSILON,
                        max_simulations=targets.max_evaluations, seed=targets.seed,
                        db=(out_dir / "abc.db") if out_dir is not None else None)
    parameters = {name: _round(value, name in integers) for name, value in posterior.mean().items()}
    calibrated = with_parameters(config, parameters, targets.source)
    records = replicate({"calibrated": calibrated}, targets.check_runs, targets.seed, first=targets.runs,
                        **options)["calibrated"]
    fit = fit_table(records, targets)
    final = float(posterior.generations["epsilon"].iloc[-1]) if len(posterior.generations) else math.nan
    message = (f"ABC-SMC: {len(posterior.generations)} generations of {len(posterior.samples)} particles, "
               f"{posterior.simulations} simulations, final epsilon {final:.3g}")
    result = CalibrationResult(LoadedScenario(calibrated, loaded.source), targets, parameters, fit,
                               posterior.samples, final, message, out_dir)
    result.posterior = posterior  # type: ignore[attr-defined]
    if out_dir is not None:
        files: dict[str, Path] = {}
        scenario_file = out_dir / f"{Path(scenario).stem}_calibrated.yaml"
        text = calibrated_scenario_text(Path(scenario), out_dir, result).replace(
            f"# abc, {len(posterior.samples)} evaluations x",
            f"# ABC-SMC (pyABC), {posterior.simulations} simulations x")
        scenario_file.write_text(text, encoding="utf-8")
        files[scenario_file.name] = scenario_file
        for name, frame in (("fit.csv", fit), (POSTERIOR_FILE, posterior.samples),
                            (GENERATIONS_FILE, posterior.generations)):
            (out_dir / name).write_text(frame.to_csv(index=False, float_format="%.10g", lineterminator="\n"),
                                        encoding="utf-8")
            files[name] = out_dir / name
        files["abc.db"] = out_dir / "abc.db"
        manifest = {
            "kind": "calibration",
            "scenario_source": str(scenario),
            "scenario": config.model_dump(mode="json"),
            "calibrated": calibrated.model_dump(mode="json"),
            "targets_source": targets.source,
            "targets": targets.spec,
            "parameters": parameters,
            "posterior": posterior.summary().to_dict(orient="records"),
            "optimiser": {"method": "abc", "population": len(posterior.samples),
                          "generations": len(posterior.generations), "simulations": posterior.simulations,
                          "max_evaluations": targets.max_evaluations, "final_epsilon": final,
                          "message": message},
            "runs": targets.runs,
            "check_runs": targets.check_runs,
            "seed": targets.seed,
            "all_within": result.all_within,
            **provenance(command),
            "files": sorted([*files, MANIFEST]),
        }
        files[MANIFEST] = write_manifest(out_dir, manifest)
        result.files = files
    return result


__all__ = ["Posterior", "abc_smc", "calibrate_abc"]
