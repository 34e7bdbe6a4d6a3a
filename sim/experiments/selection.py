"""Ranking and selection: which policy is best on the key metric, with a stated probability of being right.

`kn_select` is Kim & Nelson's fully sequential procedure KN over a sampling callback (pure, testable on
synthetic data); `select_best` wires it to the experiment's replications (common random numbers, the
backends, the output folder and `--resume`), as `clubsim select-best` runs it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.errors import InputError

SELECTION_FILE = "selection.json"
SELECTION_TABLE = "selection.csv"
KIND = "select-best"
PROCEDURE = "KN (Kim & Nelson 2001), fully sequential, valid under common random numbers"
DEFAULT_CONFIDENCE = 0.95
DEFAULT_FIRST_STAGE = 20
DEFAULT_BATCH = 10

# sample(systems, start, stop) -> array (len(systems), stop - start): observations of replications
# start..stop-1 of those systems; replication r of every system shares random numbers r (CRN)
Sampler = Callable[[Sequence[int], int, int], np.ndarray]


# --------------------------------------------------------------------------- the procedure


@dataclass(frozen=True)
class Selection:
    """What `kn_select` decided. Indices are the systems' (0..k-1).

    `eliminated_at[i]`: the stage (replications seen) at which system i was eliminated; None for the
    selected one and, when stopped at `max_runs`, for those still in contention. `replications[i]`:
    the observations the decisions used. `means[i]`: their mean (in the metric's own direction).
    `stopped`: "selected" (one remained: the guarantee holds) or "max_runs" (best sample mean of those
    left; no guarantee). `fixed_n`: replications per system a two-stage fixed design of the same
    guarantee (paired, Bonferroni: Clark & Yang 1986) would need, from the same first stage.
    """

    best: int
    eliminated_at: tuple[int | None, ...]
    replications: tuple[int, ...]
    means: tuple[float, ...]
    stopped: Literal["selected", "max_runs"]
    stages: int
    h2: float
    fixed_n: int

    @property
    def total_replications(self) -> int:
        return int(sum(self.replications))


def kn_constants(k: int, confidence: float, first_stage: int) -> tuple[float, float]:
    """KN's eta and h^2 = 2 eta (n0 - 1) for k systems (Kim & Nelson 2001, eq. for c = 1)."""
    alpha = 1.0 - confidence
    eta = 0.5 * ((2.0 * alpha / (k - 1)) ** (-2.0 / (first_stage - 1)) - 1.0)
    return eta, 2.0 * eta * (first_stage - 1)


def fixed_sample_size(first: np.ndarray, delta: float, confidence: float) -> int:
    """Replications per system of the paired two-stage Bonferroni design (Clark & Yang 1986) that
    selects the best with probability >= `confidence` when it leads by `delta`: with n0 first-stage
    observations under CRN, N = max(n0, ceil(t^2 max_il S_il^2 / delta^2)), t the 1 - alpha/(k-1)
    quantile of Student's t with n0 - 1 degrees of freedom."""
    from scipy import stats

    k, n0 = first.shape
    if k < 2:
        return n0
    t = float(stats.t.ppf(1.0 - (1.0 - confidence) / (k - 1), n0 - 1))
    diffs = first[:, None, :] - first[None, :, :]
    s2 = float(diffs.var(axis=2, ddof=1).max())
    return max(n0, math.ceil(t * t * s2 / (delta * delta)))


def check_parameters(k: int, delta: float, confidence: float, first_stage: int, max_runs: int | None,
                     source: str | None = None) -> None:
    """InputError (one line) for a value the procedure cannot take."""
    if k < 2:
        raise InputError(source, "policies", f"selecting the best needs at least 2 policies, got {k}")
    if not (math.isfinite(delta) and delta > 0):
        raise InputError("--delta", None, f"must be a finite number > 0 (the indifference zone, in the metric's unit), "
                                          f"got {delta:g}")
    if not 0.0 < confidence < 1.0 or confidence <= 1.0 / k:
        raise InputError("--confidence", None,
                         f"must be between 1/k = {1 / k:.3g} and 1 (exclusive), e.g. 0.95; got {confidence:g}")
    if first_stage < 2:
        raise InputError("--first-stage", None, f"must be at least 2 (variances need two runs), got {first_stage}")
    if max_runs is not None and max_runs < first_stage:
        raise InputError("--max-runs", None, f"must be at least --first-stage ({first_stage}), got {max_runs}")


def kn_select(
    sample: Sampler,
    k: int,
    *,
    delta: float,
    confidence: float = DEFAULT_CONFIDENCE,
    first_stage: int = DEFAULT_FIRST_STAGE,
    max_runs: int | None = None,
    maximize: bool = True,
    batch: int = 1,
    on_stage: Callable[[int, Sequence[int]], Any] | None = None,
) -> Selection:
    """Select the system with the largest (`maximize`) or smallest mean, KN (Kim & Nelson 2001).

    With probability >= `confidence` the selected system is the best whenever the best leads the
    others by at least `delta` (indifference zone); the procedure is valid when replication r of
    every system shares random numbers (common random numbers), since it screens on the variances of
    the pairwise differences, S_il^2, from `first_stage` (n0) observations of each. After stage r
    (r observations each), system i is eliminated if its mean is below some l's by more than
    W_il(r) = max(0, delta / (2r) (h^2 S_il^2 / delta^2 - r)); the others get one more observation.
    It stops when one remains or at `max_runs` observations (the largest mean of those left, without
    the guarantee). `batch`: observations requested per call of `sample` (the decisions never depend
    on it; observations beyond a system's elimination are ignored). `on_stage(r, alive)` is called
    after each screening.
    """
    check_parameters(k, delta, confidence, first_stage, max_runs)
    sign = 1.0 if maximize else -1.0
    n0 = first_stage
    cap = max_runs if max_runs is not None else math.inf
    _eta, h2 = kn_constants(k, confidence, n0)

    # ------------------------------------------------------------------ stage 0: n0 of every system
    first = _observations(sample, list(range(k)), 0, n0) * sign
    store: list[list[float]] = [list(row) for row in first]
    s2 = (first[:, None, :] - first[None, :, :]).var(axis=2, ddof=1)
    limits = np.floor(h2 * s2 / (delta * delta))  # N_il: beyond this stage, W_il = 0
    sums = first.sum(axis=1)
    alive = np.ones(k, bool)
    eliminated: list[int | None] = [None] * k
    used = [n0] * k
    r = n0
    stopped: Literal["selected", "max_runs"] = "selected"

    index = np.arange(k)
    scaled, last = h2 * s2 / (delta * delta), limits.max()
    while True:
        # ------------------------------------------------------------------ screening at stage r
        means = sums[index] / r
        width = np.maximum(0.0, delta / (2.0 * r) * (scaled - r))
        beaten = means[None, :] - width  # [i, l]: l's mean less its allowance against i
        np.fill_diagonal(beaten, -np.inf)
        out = means < beaten.max(axis=1)
        if last < r:  # past every N_il: the largest mean alone stays
            out = np.ones(len(index), bool)
            out[int(np.argmax(means))] = False
        if out.any():
            for i in index[out]:
                alive[i] = False
                eliminated[i] = r
                used[i] = r
            index = np.flatnonzero(alive)
            scaled = h2 * s2[np.ix_(index, index)] / (delta * delta)
            last = limits[np.ix_(index, index)].max()
        if on_stage is not None:
            on_stage(r, [int(i) for i in np.flatnonzero(alive)])
        if alive.sum() == 1:
            break
        if r >= cap:
            stopped = "max_runs"
            break
        # ------------------------------------------------------------------ one more observation each
        if len(store[index[0]]) <= r:
            stop = int(min(r + max(batch, 1), cap))
            more = _observations(sample, [int(i) for i in index], r, stop) * sign
            for i, row in zip(index, more, strict=True):
                store[i].extend(row)
        sums[index] += [store[i][r] for i in index]
        r += 1

    for i in index:
        used[i] = r
    best = int(index[int(np.argmax(sums[index] / r))])
    means_out = tuple(float(sign * sum(store[i][:used[i]]) / used[i]) for i in range(k))
    return Selection(best=best, eliminated_at=tuple(eliminated), replications=tuple(used), means=means_out,
                     stopped=stopped, stages=r, h2=float(h2),
                     fixed_n=fixed_sample_size(first, delta, confidence))


def _observations(sample: Sampler, systems: list[int], start: int, stop: int) -> np.ndarray:
    values = np.asarray(sample(systems, start, stop), dtype=float)
    if values.shape != (len(systems), stop - start):
        raise ValueError(f"sample returned shape {values.shape}, expected {(len(systems), stop - start)}")
    if not np.isfinite(values).all():
        bad = np.argwhere(~np.isfinite(values))[0]
        raise InputError(None, "key_metric", f"not a number in replication {start + int(bad[1])} of system "
                                             f"{systems[int(bad[0])]}: cannot rank on it")
    return values


# --------------------------------------------------------------------------- on the simulator


@dataclass
class SelectionResult:
    """A selection over an experiment's policies: the decision, the replications it used, its table."""

    experiment: Any
    selection: Selection
    delta: float
    confidence: float
    first_stage: int
    max_runs: int
    replications: pd.DataFrame
    table: pd.DataFrame
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    rejected_reasons: dict[str, str] = field(default_factory=dict, repr=False)  # as `_ExperimentResult`'s

    @property
    def rejected_parts(self) -> list[str]:
        return list(self.rejected_reasons)

    @property
    def best(self) -> str:
        return self.experiment.policy_names[self.selection.best]

    @property
    def policies(self) -> list[str]:
        return self.experiment.policy_names

    def summary(self) -> dict[str, Any]:
        """selection.json's content."""
        names = self.policies
        sel = self.selection
        return {
            "best": self.best,
            "confidence": self.confidence,
            "delta": self.delta,
            "key_metric": self.experiment.key_metric,
            "direction": self.experiment.key_metric_direction,
            "procedure": PROCEDURE,
            "first_stage": self.first_stage,
            "max_runs": self.max_runs,
            "stopped": sel.stopped,
            "guarantee": sel.stopped == "selected",
            "replications": {name: sel.replications[i] for i, name in enumerate(names)},
            "eliminated_at": {name: sel.eliminated_at[i] for i, name in enumerate(names)},
            "means": {name: sel.means[i] for i, name in enumerate(names)},
            "total_replications": sel.total_replications,
            "fixed_design_replications": sel.fixed_n * len(names),
            "seed": self.experiment.seed,
        }


TABLE_COLUMNS = ("policy", "replications", "mean", "ci_low", "ci_high", "diff_vs_best", "diff_ci_low",
                 "diff_ci_high", "eliminated_at", "selected")


def selection_table(experiment: Any, replications: pd.DataFrame, selection: Selection) -> pd.DataFrame:
    """Per policy: replications used, the key metric's mean and 95 % CI (`metric_ci`), the paired
    difference with the selected policy over the replications both ran, and the elimination stage."""
    from sim.experiments.experiment import _as_float
    from sim.experiments.statistics import _paired, metric_ci

    key = experiment.key_metric
    names = experiment.policy_names
    by_policy = {p: g.set_index("replication").sort_index() for p, g in replications.groupby("policy", sort=False)}
    best = by_policy[names[selection.best]]
    rows = []
    for i, name in enumerate(names):
        group = by_policy[name]
        _n, mean, _sd, lo, hi = metric_ci(group[key], key)
        if i == selection.best:
            diff = dlo = dhi = math.nan
        else:
            common = group.index.intersection(best.index)
            diff, dlo, dhi, _p = _paired(_as_float(group.loc[common, key]), _as_float(best.loc[common, key]))
        stage = selection.eliminated_at[i]
        rows.append({"policy": name, "replications": selection.replications[i], "mean": mean, "ci_low": lo,
                     "ci_high": hi, "diff_vs_best": diff, "diff_ci_low": dlo, "diff_ci_high": dhi,
                     "eliminated_at": pd.NA if stage is None else stage, "selected": i == selection.best})
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    table["eliminated_at"] = table["eliminated_at"].astype("Int64")
    return table


def _output_names() -> list[str]:
    from sim.experiments.experiment import REPLICATIONS_FILE
    from sim.experiments.folders import MANIFEST

    return [REPLICATIONS_FILE, SELECTION_FILE, SELECTION_TABLE, MANIFEST]


def select_best(
    experiment: Any,
    *,
    delta: float | None = None,
    confidence: float | None = None,
    first_stage: int | None = None,
    max_runs: int | None = None,
    batch: int = DEFAULT_BATCH,
    seed: int | None = None,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    progress: Any = False,
    command: str | Sequence[str] | None = None,
    stop_after: int | None = None,
) -> SelectionResult:
    """Select the best of an experiment's policies on its key metric (`key_metric_direction`: max or min)
    with KN (`kn_select`): replication r of every policy uses the experiment's r-th seed, and only
    policies still in contention get more replications.

    `experiment`: a loaded `Experiment` or an experiment file. `delta`: the indifference zone in the
    metric's unit; `confidence`: the probability of correct selection (default 0.95); `first_stage`:
    n0 (default 20); `max_runs`: at most this many replications per policy (default: the experiment's
    max_runs). `out`: write replications.parquet (the replications the decisions used), selection.json,
    selection.csv and manifest.json there; `resume=True` continues an interrupted run (replications
    already done are reused; with `delta` etc. left None, the interrupted run's). Other arguments as
    `sim.experiments.experiment.compare`. Ctrl-C raises `ExperimentInterrupted` after saving.
    """
    from sim.experiments.experiment import (
        OUT_OPTION,
        Experiment,
        _check_options,
        _read_manifest,
        load_experiment,
    )
    from sim.experiments.folders import OutputFolder

    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    if experiment.sweep is not None:
        raise InputError(experiment.source, "sweep", "select-best ranks policies, not sweep points; "
                                                     "remove the sweep: (or uncertainties:) section")
    _check_options(experiment.source, None, None, workers, backend)
    if batch < 1:
        raise InputError("--batch", None, f"must be at least 1, got {batch}")
    if resume and out is None:
        raise InputError("--resume", None, "needs the output folder to resume (out=...)")
    options = {"delta": delta, "confidence": confidence, "first_stage": first_stage, "max_runs": max_runs,
               "batch": batch, "seed": seed, "backend": backend, "workers": workers, "scheduler": scheduler,
               "resume": resume, "progress": progress, "command": command, "stop_after": stop_after}
    if out is None:
        return _select(experiment, None, {}, **options)
    earlier = _read_manifest(Path(out).expanduser(), KIND) if resume else {}
    _procedure(experiment, earlier, delta, confidence, first_stage, max_runs)  # refused before the folder is made
    with OutputFolder(Path(out), "--resume" if resume else OUT_OPTION) as folder:
        manifest = _read_manifest(folder.path, KIND) if resume else {}
        return _select(experiment, folder, manifest, **options)


def _procedure(experiment: Any, manifest: Mapping[str, Any], delta: float | None, confidence: float | None,
               first_stage: int | None, max_runs: int | None) -> tuple[float, float, int, int]:
    """The procedure's delta, confidence, first stage and cap: as given, else the resumed run's, else the
    defaults; checked (`check_parameters`)."""
    before = dict(manifest.get("selection") or {})
    delta = delta if delta is not None else before.get("delta")
    if delta is None:
        raise InputError("--delta", None, "missing: the indifference zone, in the key metric's unit "
                                          f"({experiment.key_metric}), e.g. --delta 500")
    confidence = confidence if confidence is not None else before.get("confidence", DEFAULT_CONFIDENCE)
    stage_from = "" if first_stage is not None else "the resumed run's, " if "first_stage" in before else \
        "the default, "
    first_stage = first_stage if first_stage is not None else before.get("first_stage", DEFAULT_FIRST_STAGE)
    cap_from = None if max_runs is not None else "the resumed run's" if "max_runs" in before else \
        f"max_runs of {experiment.source}"
    max_runs = max_runs if max_runs is not None else before.get("max_runs", experiment.max_runs)
    check_parameters(len(experiment.policy_names), float(delta), float(confidence), int(first_stage), None,
                     experiment.source)
    if cap_from is not None and int(max_runs) < int(first_stage):
        stage = f"{stage_from}{first_stage}," if stage_from else str(first_stage)
        raise InputError("--first-stage", None, f"{stage} is more than the most replications a policy may take, "
                                                f"{max_runs} ({cap_from}): lower it, or raise --max-runs")
    check_parameters(len(experiment.policy_names), float(delta), float(confidence), int(first_stage), int(max_runs),
                     experiment.source)
    return delta, confidence, first_stage, max_runs


@contextmanager
def _dask_scheduler(backend: str, workers: int | None, scheduler: str | None) -> Iterator[str | None]:
    """The scheduler every batch goes to: the given one, or one LocalCluster for the whole selection
    (`run_tasks` would start a cluster per batch)."""
    if backend != "dask" or scheduler:
        yield scheduler
        return
    from sim.experiments.backends import local_dask_cluster

    with local_dask_cluster(workers) as address:
        yield address


def _select(experiment: Any, folder: Any, manifest: Mapping[str, Any], *, delta: float | None,
            confidence: float | None, first_stage: int | None, max_runs: int | None, batch: int,
            seed: int | None, backend: str, workers: int | None, scheduler: str | None, resume: bool,
            progress: Any, command: Any, stop_after: int | None) -> SelectionResult:
    from sim.experiments.backends import run_tasks
    from sim.experiments.experiment import (
        PARTS,
        REPLICATIONS_FILE,
        STATUS_COMPLETE,
        ExperimentInterrupted,
        Task,
        _assemble,
        _check_same_experiment,
        _manifest,
        _parquet_bytes,
        _PartWriter,
        _progress_callback,
        _read_done,
        _to_frame,
        keeping_finished,
        part_stamp,
        replication_seeds,
        run_replication,
    )
    from sim.experiments.folders import MANIFEST

    delta, confidence, first_stage, max_runs = _procedure(experiment, manifest, delta, confidence, first_stage,
                                                          max_runs)
    names = experiment.policy_names
    if seed is None and (manifest.get("experiment") or {}).get("seed") == experiment.seed:
        seed = (manifest.get("resolved") or {}).get("seed")
    if seed is not None:
        if seed < 0:
            raise InputError(experiment.source, "seed", f"must be >= 0, got {seed}")
        experiment = dataclasses.replace(experiment, seed=int(seed))
    keep_series = bool(experiment.keep_series)
    experiment = dataclasses.replace(experiment, keep_series=keep_series)
    chosen = {"delta": float(delta), "confidence": float(confidence), "first_stage": int(first_stage),
              "max_runs": int(max_runs)}

    out_dir = folder.path if folder is not None else None
    outputs = _output_names()
    loaded, rejected = None, {}
    stamp = part_stamp(experiment)
    if folder is not None:
        if resume:
            _check_same_experiment(folder.path, manifest, experiment)
            loaded, rejected = _read_done(folder, manifest, stamp)
        else:
            folder.remove(folder.owned)
        folder.check_free(outputs)

    key = experiment.key_metric
    values: dict[tuple[str, int], float] = {}
    if loaded is not None:
        metric = loaded.column(key).to_pylist() if key in loaded.column_names else None
        for i, (point, policy, replication) in enumerate(zip(
                loaded.column("point").to_pylist(), loaded.column("policy").to_pylist(),
                loaded.column("replication").to_pylist(), strict=True)):
            if point == -1 and (policy, replication) not in values:
                value = metric[i] if metric is not None else None
                values[(policy, replication)] = math.nan if value is None else float(value)
        finished = 1 + max((replication for _, replication in values), default=-1)
        if finished > max_runs:  # the ones past --max-runs would be dropped from the files
            raise InputError("--max-runs", None, f"{max_runs} is fewer than the {finished} replications {out_dir} "
                                                 f"already holds; resume with --max-runs {finished} or more (or "
                                                 "without --max-runs), or run into another folder")

    writer = _PartWriter(out_dir / PARTS, {}, loaded.schema if loaded is not None else None,
                         stamp=stamp) if out_dir is not None else None
    new_rows: list[dict[str, Any]] = []
    info = {"backend": backend, "workers": workers, "scheduler": scheduler, "command": command}
    state = {"stage": 0, "received": 0, "done": 0}

    def update_manifest(status: str, files: Sequence[str] = outputs, extra: Mapping[str, Any] = (),
                        error: str | None = None) -> None:
        if folder is not None:
            body = _manifest(experiment, KIND, status, runs=state["stage"], runs_requested=int(max_runs),
                             precision=None, precision_met=None, rows=len(values), files=files, error=error,
                             **info)
            body["selection"] = {**chosen, "procedure": PROCEDURE, **dict(extra)}
            folder.write_manifest(body)

    def on_result(row: dict[str, Any]) -> None:
        policy_key = (str(row["policy"]), int(row["replication"]))
        if policy_key in values:
            return
        value = row.get(key, math.nan)
        values[policy_key] = math.nan if value is None else float(value)
        new_rows.append(row)
        if writer is not None:
            writer.add(row)
        state["received"] += 1
        if stop_after is not None and state["received"] >= stop_after:
            raise KeyboardInterrupt

    update_manifest("running")
    with _progress_callback(progress, f"select-best {experiment.name}") as report:

        def sample(systems: Sequence[int], start: int, stop: int) -> np.ndarray:
            seeds = replication_seeds(experiment.seed, stop)
            tasks = [Task(-1, names[i], r, seeds[r], experiment.configs[(-1, names[i])], experiment.engine,
                          keep_series)
                     for r in range(start, stop) for i in systems if (names[i], r) not in values]
            done_before = state["done"]

            def on_progress(count: int, _total: int) -> None:
                state["done"] = done_before + count
                if report is not None:
                    report(state["done"], done_before + len(tasks))

            if tasks:
                run_tasks(tasks, run_replication, backend=backend, workers=workers, scheduler=scheduler,
                          on_result=on_result, progress=on_progress)
            return np.array([[values[(names[i], r)] for r in range(start, stop)] for i in systems], float)

        def on_stage(stage: int, _alive: Sequence[int]) -> None:
            state["stage"] = stage

        def interrupted(signum: int) -> ExperimentInterrupted:  # Ctrl-C, or SIGTERM (`signum` 15: exit 143)
            return ExperimentInterrupted(len(values), out_dir, int(max_runs) * len(names), signum)

        with keeping_finished(writer, update_manifest, interrupted), \
                _dask_scheduler(backend, workers, scheduler) as address:
            scheduler = address
            selection = kn_select(sample, len(names), delta=float(delta), confidence=float(confidence),
                                  first_stage=int(first_stage), max_runs=int(max_runs),
                                  maximize=experiment.key_metric_direction == "max", batch=batch,
                                  on_stage=on_stage)

    used = dict(zip(names, selection.replications, strict=True))
    table = _assemble(experiment, loaded, new_rows, max(used.values()), writer.schema if writer else None)
    policy = np.asarray(table.column("policy").to_pylist(), object)
    replication = table.column("replication").to_numpy()
    keep = np.array([r < used[p] for p, r in zip(policy, replication, strict=True)], bool)
    import pyarrow as pa

    table = table.take(pa.array(np.flatnonzero(keep), pa.int64()))
    replications = _to_frame(table)
    stats = selection_table(experiment, replications, selection)
    result = SelectionResult(experiment, selection, float(delta), float(confidence), int(first_stage),
                             int(max_runs), replications, stats, out_dir)
    result.rejected_reasons = rejected
    if folder is not None:
        from sim.experiments.experiment import FLOAT_FORMAT

        data = _parquet_bytes(table)
        files = {REPLICATIONS_FILE: folder.write_with(REPLICATIONS_FILE, lambda tmp: tmp.write_bytes(data))}
        files[SELECTION_FILE] = folder.write_text(SELECTION_FILE, json.dumps(result.summary(), indent=2) + "\n")
        files[SELECTION_TABLE] = folder.write_text(
            SELECTION_TABLE, stats.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"))
        files[MANIFEST] = folder.path / MANIFEST
        parts = {name for name in folder.owned if name.startswith(f"{PARTS}/")}
        folder.remove(folder.owned - set(files) - parts)
        update_manifest(STATUS_COMPLETE, list(files), {"best": result.best, "stopped": selection.stopped})
        folder.remove(parts)
        result.files = files
    return result


__all__ = ["Selection", "SelectionResult", "fixed_sample_size", "kn_constants", "kn_select", "select_best",
           "selection_table"]
