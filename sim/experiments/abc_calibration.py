"""Calibration by approximate Bayesian computation: the posterior of a scenario's free parameters given its
targets (pyABC's ABC-SMC, Toni et al. 2009), rather than one best point. `abc_smc` runs it over any model
callback; `calibrate_abc` wires it to replications and writes what `clubsim calibrate --method abc` shows:
the weighted particles of every generation (posterior.parquet), each parameter's posterior median and 90 %
credible interval, and a posterior predictive check (the targets' statistics simulated under
posterior draws, against their accepted bands). pyABC's history database stays in the output folder, so an
interrupted calibration resumes from its last finished generation. Its figures (pair plots, the predictive
check) are drawn by the presentation layer (`sim.presentation.analysis_figures.abc_figures`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

POSTERIOR_FILE = "posterior.csv"            # the last generation's particles and weights
PARTICLES_FILE = "posterior.parquet"        # every generation's particles and weights
SUMMARY_FILE = "posterior_summary.csv"      # median and 90 % credible interval per parameter
GENERATIONS_FILE = "generations.csv"
DEGENERATE_SHARE = 0.2  # an effective sample size under this share of the population is warned of
LOCAL_NEIGHBOURS = 0.25  # pyABC's LocalTransition: each particle's kernel from its nearest quarter of the population
# how pyABC sees the parameters, recorded in the manifest: a calibration resumes only with the same
SAMPLING = f"unit cube, LocalTransition(k_fraction={LOCAL_NEIGHBOURS})"
EARLIER_SAMPLING = "the parameters' own units (clubsim 0.3.0 and earlier)"
PREDICTIVE_FILE = "predictive.csv"          # the posterior predictive check, one row per target
PREDICTIVE_DRAWS_FILE = "predictive_draws.csv"
HISTORY_FILE = "abc.db"                     # pyABC's history (SQLite): what --resume continues from
FIGURES = ("pairs.png", "predictive.png")  # drawn by `sim.presentation.analysis_figures.abc_figures`
OUTPUT_FILES = ("fit.csv", POSTERIOR_FILE, PARTICLES_FILE, SUMMARY_FILE, GENERATIONS_FILE, PREDICTIVE_FILE,
                PREDICTIVE_DRAWS_FILE, *FIGURES)  # and <scenario>_calibrated.yaml, abc.db, manifest.json
CREDIBLE = 0.90
DEFAULT_PREDICTIVE_DRAWS = 20
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
    particles: pd.DataFrame | None = None  # every generation: `generation`, the parameters, `weight`

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

    def summary(self, level: float = CREDIBLE) -> pd.DataFrame:
        """Per parameter: posterior median, mean and the equal-tailed `level` credible interval (weighted
        quantiles; 90 % by default: the 5 % and 95 % quantiles)."""
        tail = (1.0 - level) / 2.0
        median, mean, low, high = self.quantile(0.5), self.mean(), self.quantile(tail), self.quantile(1.0 - tail)
        return pd.DataFrame([{"parameter": n, "median": median[n], "ci_low": low[n], "ci_high": high[n],
                              "mean": mean[n], "level": level} for n in self.names])

    def draw(self, count: int, seed: int) -> pd.DataFrame:
        """`count` particles drawn by weight (with replacement), reproducibly for a seed."""
        weights = self.samples["weight"].to_numpy(float)
        rows = np.random.default_rng(seed).choice(len(weights), size=count, p=weights / weights.sum())
        return self.samples.iloc[rows][self.names].reset_index(drop=True)


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
    resume: bool = False,
) -> Posterior:
    """ABC-SMC (pyABC) with uniform priors over `bounds`: `model(parameters)` returns statistics, and
    `distance(statistics)` how far they are from the observed ones. Stops when the acceptance threshold
    reaches `epsilon`, after `generations` populations or `max_simulations` model calls. Deterministic for a
    seed (one process samples; the model may replicate in parallel). `db`: pyABC's SQLite history (a
    temporary file if None); `resume`: continue the history in `db` from its last finished generation, up
    to `generations` in all (the generations after the resumed one are drawn from `seed` and the generation
    resumed at, so they are reproducible, though not those an uninterrupted run would have drawn)."""
    if population < 2:
        raise InputError("--population", None, f"must be at least 2, got {population}")
    if generations < 1:
        raise InputError("--generations", None, f"must be at least 1, got {generations}")
    pyabc = _import_pyabc()
    # pyABC samples each parameter's position in its bounds (0 to 1), mapped to its value only for the model:
    # LocalTransition's neighbours are the nearest in Euclidean distance, which in the parameters' own units
    # would be chosen by the widest range alone (a deal value of 800-3,000 EUR beside a share of 0.5-1)
    prior = pyabc.Distribution(**{name: pyabc.RV("uniform", 0.0, 1.0) for name in bounds})

    def values(positions: Any) -> dict[str, Any]:
        """Each parameter's value at its position (a pyABC parameter's number, or a frame's column)."""
        return {name: lo + positions[name] * (hi - lo) for name, (lo, hi) in bounds.items()}
    state = np.random.get_state()
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as scratch:
            warnings.simplefilter("ignore")
            abc = pyabc.ABCSMC(
                lambda positions: dict(model({name: float(value) for name, value in values(positions).items()})),
                prior,
                lambda x, _x0: float(distance(x)),
                population_size=population,
                # each particle perturbed with the covariance of its own neighbours, not the population's
                # weighted one: with pyABC's default kernel a posterior resting on a few particles had a
                # near-singular covariance, so a proposal's density could be 0 and its weight infinite (a
                # 9-parameter BNI calibration stopped on "total weight nan")
                transitions=pyabc.LocalTransition(k_fraction=LOCAL_NEIGHBOURS),
                sampler=pyabc.sampler.SingleCoreSampler(),
            )
            path = Path(db) if db is not None else Path(scratch) / HISTORY_FILE
            done = 0
            if resume:
                history = abc.load(f"sqlite:///{path}", 1)
                done = int(history.max_t) + 1
            else:
                abc.new(f"sqlite:///{path}", {})
            np.random.seed((seed + 7919 * done) % 2**32)  # pyABC draws from numpy's global generator
            options: dict[str, Any] = {"minimum_epsilon": epsilon, "max_nr_populations": max(generations - done, 0)}
            if max_simulations is not None:
                options["max_total_nr_simulations"] = max_simulations
            history = abc.run(**options) if generations > done else abc.history
            frame, weights = history.get_distribution(m=0, t=history.max_t)
            populations = history.get_all_populations()
            simulations = int(history.total_nr_simulations)
            every = []
            for t in range(int(history.max_t) + 1):
                particles, particle_weights = history.get_distribution(m=0, t=t)
                particles = pd.DataFrame(values(particles.reset_index(drop=True)[list(bounds)].astype(float)))
                particles.insert(0, "generation", t)
                particles["weight"] = np.asarray(particle_weights, float)
                every.append(particles)
    finally:
        np.random.set_state(state)
    samples = pd.DataFrame(values(frame.reset_index(drop=True)[list(bounds)].astype(float)))
    samples["weight"] = np.asarray(weights, float)
    table = populations[populations["t"] >= 0]
    particles = pd.concat(every, ignore_index=True)
    generations_table = pd.DataFrame({"generation": table["t"].astype(int).to_numpy(),
                                      "epsilon": table["epsilon"].astype(float).to_numpy(),
                                      "simulations": table["samples"].astype(int).to_numpy(),
                                      "particles": table["particles"].astype(int).to_numpy()})
    ess = particles.groupby("generation")["weight"].agg(effective_sample_size)
    generations_table["effective_sample_size"] = generations_table["generation"].map(ess).to_numpy(float)
    return Posterior(samples, generations_table, simulations, particles)


def effective_sample_size(weights: Any) -> float:
    """Kish's effective sample size of weighted particles, (sum w)^2 / sum w^2: the number of equally weighted
    particles they are worth. Far below the population, the posterior rests on a few particles."""
    w = np.asarray(weights, float)
    return float(w.sum() ** 2 / np.sum(w**2)) if np.any(w > 0) else 0.0


def degenerate_warning(samples: pd.DataFrame) -> str | None:
    """A warning when the posterior's weights rest on a few particles (an effective sample size under a fifth
    of the population): its credible intervals and medians are then those of a handful of draws."""
    ess, population = effective_sample_size(samples["weight"]), len(samples)
    if ess >= DEGENERATE_SHARE * population:
        return None
    return (f"the posterior's weights rest on few particles (effective sample size {ess:.1f} of {population}): "
            "its intervals are not to be trusted; run again with a larger --population or more --generations")


# --------------------------------------------------------------------------- on the simulator


def _check_same_calibration(folder: Path, previous: Mapping[str, Any], now: Mapping[str, Any]) -> None:
    """Refuse to resume a calibration with other inputs: pyABC would go on from the particles in abc.db, and the
    posterior would mix two calibrations (another scenario's generation 0, another population's later ones)."""
    abc = previous.get("abc") or {}
    recorded = {"scenario": previous.get("scenario"), "targets": previous.get("targets"),
                "--runs": previous.get("runs"), "--seed": previous.get("seed"),
                "--population": abc.get("population"), "--epsilon": abc.get("epsilon"),
                # the particles in abc.db are positions in this sampling's space
                "sampling": abc.get("sampling", EARLIER_SAMPLING)}

    def plain(value: Any) -> Any:  # as the manifest holds it (JSON: lists, not tuples)
        return json.loads(json.dumps(value, default=str))

    differs = [name for name, value in now.items() if recorded[name] is not None and recorded[name] != plain(value)]
    if differs:
        raise InputError(folder, "--resume", "holds a different calibration (differs in: " + ", ".join(differs)
                         + "); run it without --resume, or into another folder")


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
    predictive_draws: int | None = None,
    resume: bool = False,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int], Any] | None = None,
    command: str | Sequence[str] | None = None,
    draw_figures: Callable[[Any], Mapping[str, Figure]] | None = None,
) -> Any:
    """`clubsim calibrate --method abc`: the posterior of the targets file's free parameters (uniform priors
    on their bounds). Each particle replicates the scenario `runs` times on its own seeds (drawn from
    `seed`); its distance is the weighted root-mean-square of the targets' errors, each in units of its
    tolerance (<= 1: every target within). The calibrated values are the posterior medians, checked on
    `check_runs` fresh replications as `calibrate` does. The posterior predictive check replicates
    `predictive_draws` particles drawn by weight, `runs` times each, and reports each target's statistic
    over the draws against its band. With `out`, writes (atomically, in a locked folder) the calibrated
    scenario, fit.csv, posterior.csv, posterior.parquet, posterior_summary.csv, generations.csv,
    predictive.csv, predictive_draws.csv, abc.db and manifest.json, and the figures `draw_figures` draws from
    the result (pairs.png and predictive.png: `sim.presentation.analysis_figures.abc_figures`; this layer draws
    none); `resume` continues the calibration whose abc.db is there. Returns a `CalibrationResult` whose
    `posterior` attribute holds the `Posterior`, `predictive` the check's table and `predictive_draws` its
    draws."""
    from sim.experiments.backends import local_dask_cluster
    from sim.experiments.calibration import CalibrationResult, _round, fit_table
    from sim.experiments.folders import (
        MANIFEST,
        STATUS_COMPLETE,
        OutputFolder,
        listed_files,
        provenance,
        read_own_manifest,
    )
    from sim.experiments.targets import load_targets, point_value, replicate, with_parameters
    from sim.model.scenario import LoadedScenario, load_config

    if not hasattr(targets, "targets"):
        targets = load_targets(targets)
    if not targets.parameters:
        raise InputError(targets.source, "parameters", "names no free parameter to calibrate "
                                                       "(dotted scenario key -> {low, high})")
    for name, value in (("--runs", runs), ("--check-runs", check_runs), ("--predictive-draws", predictive_draws),
                        ("--evaluations", max_evaluations), ("--population", population)):
        if value is not None and value < 2:
            raise InputError(name, None, f"must be at least 2, got {value}")
    if generations is not None and generations < 1:
        raise InputError("--generations", None, f"must be at least 1, got {generations}")
    if epsilon is not None and not epsilon > 0:
        raise InputError("--epsilon", None, f"must be > 0, got {epsilon:g}")
    if resume and out is None:
        raise InputError("--resume", None, "needs the output folder of the calibration to continue (--out)")
    if resume:  # what is not given is the interrupted calibration's, not the defaults
        before = read_own_manifest(Path(out).expanduser()) or {}
        abc = before.get("abc") if isinstance(before.get("abc"), dict) else {}
        runs = runs if runs is not None else before.get("runs")
        seed = seed if seed is not None else before.get("seed")
        population = population if population is not None else abc.get("population")
        epsilon = epsilon if epsilon is not None else abc.get("epsilon")
    population = DEFAULT_POPULATION if population is None else population
    epsilon = DEFAULT_EPSILON if epsilon is None else epsilon
    targets = dataclasses.replace(targets, runs=runs or targets.runs, check_runs=check_runs or targets.check_runs,
                                  max_evaluations=max_evaluations or targets.max_evaluations, method="abc",
                                  seed=targets.seed if seed is None else seed)
    _import_pyabc()
    loaded = load_config(scenario)
    config = loaded.config
    integers = set(targets.integer_parameters)
    options = {"backend": backend, "workers": workers, "scheduler": scheduler}
    weights = np.array([t.weight for t in targets.targets], float)
    draws = predictive_draws or DEFAULT_PREDICTIVE_DRAWS
    budget = targets.max_evaluations * targets.runs + targets.check_runs + draws * targets.runs
    done = {"runs": 0}

    def advance(count: int) -> None:
        done["runs"] += count
        if progress is not None:
            progress(min(done["runs"], budget), budget)

    def model(parameters: dict[str, float]) -> dict[str, float]:
        values = {name: _round(value, name in integers) for name, value in parameters.items()}
        particle_seed = int(np.random.randint(0, 2**31 - 1))  # from pyABC's seeded stream: reproducible
        records = replicate({"x": with_parameters(config, values, targets.source)}, targets.runs, particle_seed,
                            **options)["x"]
        advance(targets.runs)
        return {t.metric: point_value(records, t.metric) for t in targets.targets}

    def distance(statistics: Mapping[str, float]) -> float:
        errors = np.array([t.error(statistics[t.metric]) for t in targets.targets], float)
        return float(math.sqrt(np.sum(weights * errors**2) / np.sum(weights)))

    bounds = {name: (float(lo), float(hi)) for name, (lo, hi) in targets.parameters.items()}
    if resume and out is not None and not Path(out).expanduser().is_dir():  # refused before a folder is made
        raise InputError(out, "--resume", "no such folder: no calibration to continue; start it without --resume")
    folder = OutputFolder(Path(out), in_place=[HISTORY_FILE]) if out is not None else None
    with contextlib.ExitStack() as stack:
        if folder is not None:
            stack.enter_context(folder)
        if backend == "dask" and not scheduler:  # one local cluster for every particle, not one each
            options["scheduler"] = stack.enter_context(local_dask_cluster(workers))
        history = None
        base_manifest: dict[str, Any] = {}
        if folder is not None:
            history = folder.path / HISTORY_FILE
            previous = folder.previous or {}
            if resume:
                if HISTORY_FILE not in listed_files(previous) or not history.is_file():
                    raise InputError(folder.path, "--resume", f"holds no calibration to continue ({HISTORY_FILE} "
                                                              f"listed in {MANIFEST}): start it without --resume")
                if previous.get("status") == STATUS_COMPLETE:
                    raise InputError(folder.path, "--resume", "this calibration is finished: nothing to resume")
                _check_same_calibration(folder.path, previous, {
                    "scenario": config.model_dump(mode="json"), "targets": targets.spec, "--runs": targets.runs,
                    "--seed": targets.seed, "--population": population, "--epsilon": epsilon,
                    "sampling": SAMPLING})
            outputs = [HISTORY_FILE, f"{Path(scenario).stem}_calibrated.yaml", *OUTPUT_FILES]
            if not resume:
                folder.check_free(outputs)
                folder.remove(outputs)
            base_manifest = {
                "kind": "calibration",
                "scenario_source": str(scenario),
                "scenario": config.model_dump(mode="json"),
                "targets_source": targets.source,
                "targets": targets.spec,
                "runs": targets.runs,
                "check_runs": targets.check_runs,
                "seed": targets.seed,
                # what a resumed calibration must share: the particles pyABC holds in abc.db came from them
                "abc": {"population": population, "epsilon": epsilon, "sampling": SAMPLING},
                **provenance(command),
            }
            # listed before pyABC writes it: an interrupted calibration's history is clubsim's to resume
            folder.write_manifest({**base_manifest, "status": "running", "files": sorted([*outputs, MANIFEST])})
        posterior = abc_smc(model, bounds, distance,
                            population=population,
                            generations=DEFAULT_GENERATIONS if generations is None else generations,
                            epsilon=epsilon,
                            max_simulations=targets.max_evaluations, seed=targets.seed, db=history, resume=resume)
        summary = posterior.summary()
        parameters = {row.parameter: _round(row.median, row.parameter in integers)
                      for row in summary.itertuples(index=False)}
        calibrated = with_parameters(config, parameters, targets.source)
        records = replicate({"calibrated": calibrated}, targets.check_runs, targets.seed, first=targets.runs,
                            **options)["calibrated"]
        advance(targets.check_runs)
        fit = fit_table(records, targets)
        predictive_draws_table = _predictive_draws(posterior, targets, config, draws, integers, options, advance)
        predictive = predictive_table(predictive_draws_table, targets)
        final = float(posterior.generations["epsilon"].iloc[-1]) if len(posterior.generations) else math.nan
        message = (f"ABC-SMC: {len(posterior.generations)} generations of {len(posterior.samples)} particles, "
                   f"{posterior.simulations} simulations, final epsilon {final:.3g}, effective sample size "
                   f"{effective_sample_size(posterior.samples['weight']):.1f}")
        warning = degenerate_warning(posterior.samples)
        if warning is not None:
            message += f"; warning: {warning}"
        result = CalibrationResult(LoadedScenario(calibrated, loaded.source), targets, parameters, fit,
                                   posterior.samples, final, message, folder.path if folder else None)
        result.posterior = posterior  # type: ignore[attr-defined]
        result.predictive = predictive  # type: ignore[attr-defined]
        result.predictive_draws = predictive_draws_table  # type: ignore[attr-defined]
        if folder is not None:
            result.files = _write_abc_outputs(folder, Path(scenario), result, posterior, summary, fit,
                                              predictive, predictive_draws_table, draw_figures)
            # figures a run interrupted after writing them left, that this one (resumed without a drawer) does not
            # rewrite: listed as clubsim's since it started, they would outlive the files they were drawn from
            folder.remove([name for name in FIGURES if name not in result.files])
            folder.write_manifest({
                **base_manifest,
                "status": STATUS_COMPLETE,
                "calibrated": calibrated.model_dump(mode="json"),
                "parameters": parameters,
                "posterior": summary.to_dict(orient="records"),
                "predictive": predictive.to_dict(orient="records"),
                "optimiser": {"method": "abc", "population": len(posterior.samples),
                              "generations": len(posterior.generations), "simulations": posterior.simulations,
                              "max_evaluations": targets.max_evaluations, "final_epsilon": final,
                              "predictive_draws": draws, "resumed": resume, "message": message},
                "all_within": result.all_within,
                "files": sorted([*result.files, HISTORY_FILE, MANIFEST]),
            })
            result.files[HISTORY_FILE] = folder.path / HISTORY_FILE
            result.files[MANIFEST] = folder.path / MANIFEST
    return result


def _predictive_draws(posterior: Posterior, targets: Any, config: Any, draws: int, integers: set[str],
                      options: Mapping[str, Any], advance: Callable[[int], None]) -> pd.DataFrame:
    """Each of `draws` posterior particles (by weight) replicated `runs` times: one row per draw, with the
    particle's parameters and each target's statistic."""
    from sim.experiments.calibration import _round
    from sim.experiments.targets import point_value, replicate, with_parameters

    particles = posterior.draw(draws, targets.seed)
    configs = {f"draw{i}": with_parameters(config, {name: _round(float(value), name in integers)
                                                    for name, value in row.items()}, targets.source)
               for i, row in particles.iterrows()}
    # the fit check used replications runs .. runs + check_runs - 1; these come after, on fresh seeds
    records = replicate(configs, targets.runs, targets.seed, first=targets.runs + targets.check_runs, **options)
    advance(draws * targets.runs)
    rows = []
    for i, row in particles.iterrows():
        rows.append({"draw": i, **row.to_dict(),
                     **{t.metric: point_value(records[f"draw{i}"], t.metric) for t in targets.targets}})
    return pd.DataFrame(rows)


def predictive_table(draws: pd.DataFrame, targets: Any) -> pd.DataFrame:
    """Per target: its band, the statistic's median and 90 % range over the posterior draws, and the share
    of draws that land inside the band."""
    rows = []
    for t in targets.targets:
        values = draws[t.metric].to_numpy(float)
        finite = values[np.isfinite(values)]
        low, median, high = (np.quantile(finite, [0.05, 0.5, 0.95]) if len(finite) else (math.nan,) * 3)
        rows.append({"metric": t.metric, "value": t.value, "band_low": t.low, "band_high": t.high,
                     "median": float(median), "q05": float(low), "q95": float(high),
                     "within_share": float(np.mean([t.within(v) for v in values])), "draws": len(values)})
    return pd.DataFrame(rows)


def _write_abc_outputs(folder: Any, scenario: Path, result: Any, posterior: Posterior, summary: pd.DataFrame,
                       fit: pd.DataFrame, predictive: pd.DataFrame, draws: pd.DataFrame,
                       draw_figures: Callable[[Any], Mapping[str, Figure]] | None) -> dict[str, Path]:
    """Every file of an ABC calibration but the manifest and abc.db, written atomically into `folder` (the
    figures, if `draw_figures` draws them)."""
    from sim.experiments.calibration import calibrated_scenario_text

    def csv(frame: pd.DataFrame) -> str:
        return frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")

    files: dict[str, Path] = {}
    text = calibrated_scenario_text(scenario, folder.path, result).replace(
        f"# abc, {len(posterior.samples)} evaluations x",
        f"# ABC-SMC (pyABC), {posterior.simulations} simulations x")
    name = f"{scenario.stem}_calibrated.yaml"
    files[name] = folder.write_text(name, text)
    for name, frame in (("fit.csv", fit), (POSTERIOR_FILE, posterior.samples), (SUMMARY_FILE, summary),
                        (GENERATIONS_FILE, posterior.generations), (PREDICTIVE_FILE, predictive),
                        (PREDICTIVE_DRAWS_FILE, draws)):
        files[name] = folder.write_text(name, csv(frame))
    particles = posterior.particles if posterior.particles is not None else posterior.samples
    files[PARTICLES_FILE] = folder.write_with(PARTICLES_FILE, lambda path: particles.to_parquet(path, index=False))
    for name, fig in (draw_figures(result) if draw_figures is not None else {}).items():
        files[name] = folder.write_with(name, lambda path, fig=fig: fig.savefig(path, format="png", dpi=110))
    return files


__all__ = ["Posterior", "abc_smc", "calibrate_abc", "predictive_table"]
