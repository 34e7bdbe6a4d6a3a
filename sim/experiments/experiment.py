"""Monte Carlo experiments: replications under common random numbers, policy comparisons and sweeps.

An experiment file (experiments/*.yaml) names a base scenario, policies (dotted overrides of it),
metrics, a number of runs and a seed; `compare` replicates every policy with the same seeds and
tabulates means, 95 % CIs and paired differences against the baseline; `sweep` does the same over
a grid or Latin hypercube of scenario parameters. A replication is a pure function of (scenario,
seed), so results do not depend on the backend, the number of workers or interruptions (`resume`).

This module runs them: seeds, replications, parts and their resumption, results and `compare`/`sweep`.
What an experiment is (its file, loading) is `sim.experiments.spec`'s, the statistics
`sim.experiments.statistics`'; both are importable from here too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import pandas as pd

from sim.errors import BackendError, InputError, OutputError
from sim.experiments.folders import (
    MANIFEST,
    OUT_OPTION,
    PART_NAME,
    PARTS,
    STATUS_COMPLETE,
    OutputFolder,
    bytes_checksum,
    listed_files,
    provenance,
    verify_files,
    write_bytes,
)
from sim.experiments.spec import (
    _BOOL_METRICS,
    _INT_METRICS,
    COMPARISON_FILE,
    FLOAT_FORMAT,
    ID_COLUMNS,
    METRIC_COLUMNS,
    PRECISION_MIN_RUNS,
    PRECISION_ON,
    REPLICATIONS_FILE,
    ROW_BYTES,
    SERIES_COLUMNS,
    SWEEP_FILE,
    Experiment,
    is_experiment_file,
    load_experiment,
    scenario_experiment,
)
from sim.experiments.statistics import (
    _as_float,
    _difference_precision_met,
    _precision_met,
    statistics_table,
    survival_counts,
    survivor_metrics,
)
from sim.model.metric_registry import with_arrow_metadata
from sim.model.metrics import MEMBER_TYPES, flatten_summary, summarize
from sim.model.scenario import ScenarioConfig

if TYPE_CHECKING:
    import pyarrow as pa
    from matplotlib.figure import Figure

PART_ROWS = 50  # a part is written every PART_ROWS finished rows or PART_SECONDS
PART_SECONDS = 2.0
PART_STAMP = "clubsim_experiment"  # a part's schema metadata key: the SHA-256 of its experiment (`part_stamp`)
PART_CHANGED = "its bytes do not match the SHA-256 in its name"
PART_FOREIGN = "it was written for another experiment (or seed), or by another version of clubsim"


# --------------------------------------------------------------------------- replications


def replication_seeds(experiment_seed: int, n: int) -> list[int]:
    """The seeds of replications 0..n-1: prefix-stable (the first k never depend on n), non-negative int64."""
    children = np.random.SeedSequence(int(experiment_seed)).spawn(int(n))
    return [int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for child in children]


SEEDS_DERIVATION = ("replication r's seed: numpy.random.SeedSequence(root).spawn(count)[r]"
                    ".generate_state(1, uint64)[0] >> 1 (sim.experiments.experiment.replication_seeds)")


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
    """One run's weekly series and member table, by column (plain arrays on the numba engine: no pandas), for a
    region or the Python engine (a club on the numba engine needs no tables: `_club_replication`).

    A region's are the region's (its clubs added up, `sim.model.metrics.summarize_region`)."""
    if config.is_region:  # the region's tables only: a replication needs no per-club summaries
        from sim.model.metrics import region_members, region_series
        from sim.model.runner import region_tables

        # one thread: the experiment's workers already share the cores (the results do not depend on it)
        names, club_series, club_members = region_tables(config, seed, engine, threads=1)
        return region_series(club_series), region_members(club_members, names)
    if engine == "python":
        from sim.reference.club import ReferenceClubModel

        model = ReferenceClubModel(config, rng=seed)
        model.run()
        return model.series_frame(), model.members_frame()
    raise ValueError(f"unknown engine {engine!r}")


_TYPE_CODES = {name: code for code, name in enumerate(MEMBER_TYPES)}
# what a replication keeps of its run when asked to keep its series: the weekly members, and each member's tenure,
# whether it was observed to end (not censored) and the member's type (a code of MEMBER_TYPES)
Kept = dict[str, np.ndarray]


def _club_replication(config: ScenarioConfig, seed: int, keep_series: bool) -> tuple[dict[str, Any], Kept]:
    """A club's replication on the numba engine: its summary and kept series read from the engine's arrays,
    without building its tables (`ClubEngine.summary`; the same values as `summarize` of them)."""
    from sim.model.engine import ClubEngine

    club = ClubEngine(config, np.random.default_rng(seed))
    club.run_to()
    kept: Kept = {}
    if keep_series:
        tenure, observed, member_type = club.tenures()
        kept = {"members_weekly": club.weekly("members").astype(np.int32),
                "tenure_years": tenure.astype(np.float32), "tenure_observed": observed,
                "tenure_type": member_type.astype(np.int8)}
    return club.summary(), kept


def _replication_from_tables(config: ScenarioConfig, seed: int, engine: str, keep_series: bool
                             ) -> tuple[dict[str, Any], Kept]:
    """A replication's summary and kept series from its tables (a region, or the Python engine)."""
    series, members = _simulate_columns(config, seed, engine)
    kept: Kept = {}
    if keep_series:
        reason = np.asarray(members["exit_reason"])
        kept = {"members_weekly": np.asarray(series["members"], np.int32),
                "tenure_years": np.asarray(members["tenure_years"], np.float32),
                "tenure_observed": (reason != "active") & (reason != "dissolved"),
                "tenure_type": np.array([_TYPE_CODES.get(t, -1) for t in members["member_type"]], np.int8)}
    return summarize(series, members), kept


def run_replication(task: Task) -> dict[str, Any]:
    """Run one replication; returns its flat result row (ids, swept values, summary metrics, optional series)."""
    if task.engine == "numba" and not task.config.is_region:
        summary, kept = _club_replication(task.config, task.seed, task.keep_series)
    else:
        summary, kept = _replication_from_tables(task.config, task.seed, task.engine, task.keep_series)
    row: dict[str, Any] = {"point": task.point, "policy": task.policy, "replication": task.replication,
                           "seed": task.seed}
    row.update(task.params)
    row.update(flatten_summary(summary))
    row.update(kept)
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


def _parquet_bytes(table: pa.Table, schema_metadata: Mapping[str, str] | None = None) -> bytes:
    """Deterministic Parquet bytes: fixed writer options, no schema metadata but `schema_metadata`; each
    metric's and series' field carries its label and units (`sim.model.metric_registry.arrow_metadata`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = table.replace_schema_metadata(None).combine_chunks()  # page layout must not depend on chunking
    table = table.cast(with_arrow_metadata(table.schema))
    if schema_metadata:
        table = table.replace_schema_metadata(dict(schema_metadata))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy", version="2.6",
                   data_page_version="1.0", use_dictionary=True, write_statistics=True,
                   row_group_size=1_000_000)
    return sink.getvalue().to_pybytes()


def part_stamp(experiment: Experiment) -> str:
    """The SHA-256 of what an experiment's replications depend on: its fingerprint (the resolved policies, as
    `--resume` compares them, and the content of the files they read), the results format and clubsim's
    version. Each part carries it, so that `--resume` reads only the parts of this very experiment, written
    by this clubsim, not parts copied from another folder (those are run again)."""
    from sim import __version__
    from sim.model.runner import RESULTS_FORMAT

    fingerprint = experiment.fingerprint()
    fingerprint["inputs"] = sorted(str(digest) for digest in fingerprint["inputs"].values())
    fingerprint["results_format"] = RESULTS_FORMAT
    fingerprint["clubsim"] = __version__
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()


class _PartWriter:
    """Appends finished rows to DIR/parts/part-NNNNN-<sha256>.parquet, every PART_ROWS rows or PART_SECONDS.

    A part's name carries the SHA-256 of its bytes, and it is written under a temporary name and renamed;
    its schema metadata carries the experiment's `part_stamp`. `--resume` reads only parts whose bytes still
    match their name and whose stamp is the experiment's (`_read_done`).
    """

    def __init__(self, parts_dir: Path, param_dtypes: Mapping[str, str], schema: pa.Schema | None, *,
                 stamp: str):
        if parts_dir.is_symlink() or (parts_dir.exists() and not parts_dir.is_dir()):
            # its parts would be written wherever the link points, outside the folder clubsim holds
            raise InputError(parts_dir, None, "is a symbolic link or a file, not clubsim's folder of parts: move "
                                              "it away, or choose another folder")
        self.parts_dir = parts_dir
        self.stamp = stamp
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
        data = _parquet_bytes(pa.Table.from_pylist(self.buffer, schema=self.schema), {PART_STAMP: self.stamp})
        write_bytes(self.parts_dir / f"part-{self.next_index:05d}-{bytes_checksum(data)}.parquet", data)
        self.next_index += 1
        self.written += len(self.buffer)
        self.buffer = []


def _canonical(schema: pa.Schema) -> pa.Schema:
    """Parquet readers name list items "element", pyarrow writers "item": one name, so bytes match."""
    import pyarrow as pa

    return pa.schema([pa.field(f.name, pa.list_(f.type.value_type) if pa.types.is_list(f.type) else f.type)
                      for f in schema])


def _read_done(folder: OutputFolder, manifest: Mapping[str, Any],
               stamp: str) -> tuple[pa.Table | None, dict[str, str]]:
    """Rows already in the folder: replications.parquet of a complete run (checked against the manifest:
    InputError if it differs) and the parts whose bytes match the SHA-256 in their names and that carry
    this experiment's `stamp`, in that order. Returns them and the parts not read, each with the reason
    (cut short, changed, or written for another experiment or by an older clubsim): their replications
    run again."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    rejected: dict[str, str] = {}
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
                rejected[name] = PART_CHANGED
                continue
            table = pq.read_table(pa.BufferReader(data))
        except (OSError, pa.ArrowException):
            rejected[name] = PART_CHANGED
            continue
        if (table.schema.metadata or {}).get(PART_STAMP.encode()) != stamp.encode():
            rejected[name] = PART_FOREIGN
            continue
        tables.append(table)
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


# --------------------------------------------------------------------------- results


class FigureSet(Protocol):
    """The figures of a comparison or a sweep, drawn by the presentation layer above this one
    (`sim.presentation.experiment_plots.FIGURES`) and handed down: the experiment lists their names in its
    manifest from the start, and writes them with its other files before the manifest is complete."""

    def names(self, experiment: Experiment, kind: str) -> list[str]:
        """The file names `draw` gives for an experiment run as `kind` ("compare" or "sweep")."""
        ...

    def draw(self, result: ComparisonResult | SweepResult) -> dict[str, Figure]:
        """The figures by file name."""
        ...

    def save(self, figures: Mapping[str, Figure], out_dir: Path) -> dict[str, Path]:
        """Write figures into `out_dir`; returns {file name: path}."""
        ...


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
    # parts found when resuming that were not read, each with why (`PART_CHANGED`, `PART_FOREIGN`): rerun instead
    rejected_reasons: dict[str, str] = field(default_factory=dict, repr=False)
    # what draws `plot()`'s figures (`sim.presentation.experiment_plots.FIGURES`, passed by `sim.compare`)
    figure_set: FigureSet | None = field(default=None, repr=False, compare=False)

    @property
    def policies(self) -> list[str]:
        return self.experiment.policy_names

    @property
    def rejected_parts(self) -> list[str]:
        """The parts `--resume` found but did not read (`rejected_reasons` says why)."""
        return list(self.rejected_reasons)

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.experiment.metrics

    @property
    def survivors(self) -> pd.DataFrame:
        """Per (point, policy): replications, those whose club survived, and the seeds where both this
        policy's and the baseline's did (`survival_counts`): the n of the table's `_survivors` rows."""
        return survival_counts(self.replications, self.policies, self.experiment.baseline)

    def plot(self, out_dir: str | Path | None = None) -> dict[str, Figure]:
        """The figures by file name (drawn by the result's `figure_set`); written as PNGs to `out_dir` if given."""
        if self.figure_set is None:
            raise ValueError("this result has no figure set: run it with sim.compare or sim.sweep, or draw it with "
                             "sim.presentation.experiment_plots.FIGURES.draw(result)")
        figures = self.figure_set.draw(self)
        if out_dir is not None:
            self.figure_set.save(figures, Path(out_dir))
        return figures


@dataclass
class ComparisonResult(_ExperimentResult):
    """Replications (one row per policy x replication) and the statistics table of a comparison.

    `plot()` gives metrics.png and roi_by_type.png, and trajectories.png and survival.png when the
    weekly series are kept (`sim.presentation.experiment_plots`).
    """

    @property
    def baseline(self) -> str:
        return self.experiment.baseline



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
        raise InputError(out_dir, "--resume", "not a folder" if out_dir.exists() else "no such folder")
    path = out_dir / MANIFEST
    if not path.is_file():
        raise InputError(out_dir, "--resume", f"no {MANIFEST} here: not the output folder of an experiment")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(path, None, f"cannot read: {err}") from None
    if not isinstance(manifest, dict):
        raise InputError(path, None, "must be a JSON object, as clubsim writes it")
    if manifest.get("kind") != kind:
        found = manifest.get("kind")
        if found is None and isinstance(manifest.get("scenario"), dict) and "seed" in manifest:
            found = "run"  # a run's manifest has no kind
        what = f"the output of clubsim {found}" if isinstance(found, str) and found else "not an experiment's output"
        raise InputError(out_dir, "--resume", f"holds {what}, not a {kind}: resume a {kind} in its own folder")
    return manifest


def _check_same_experiment(out_dir: Path, manifest: Mapping[str, Any], experiment: Experiment) -> None:
    from sim.model.runner import RESULTS_FORMAT

    written_by = manifest.get("results_format", 1)  # manifests before the format was recorded: 1
    if written_by != RESULTS_FORMAT:
        raise InputError(out_dir, "--resume", f"holds replications of results format {written_by}, and this clubsim "
                         f"gives format {RESULTS_FORMAT} (other numbers for the same seeds); run it again into "
                         "another folder")
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
    from sim.experiments.backends import BACKENDS, check_workers

    if runs is not None and (isinstance(runs, bool) or not isinstance(runs, numbers.Integral) or runs < 1):
        raise InputError(source, "runs", f"must be a whole number, at least 1; got {runs!r}")
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
    if not isinstance(experiment, Sequence) or not all(isinstance(item, (str, Path)) for item in experiment):
        raise InputError("experiment", repr(experiment)[:60], "must be a loaded experiment, an experiment file, or "
                                                              "scenario files to compare (a list of paths)")
    return scenario_experiment(list(experiment))


def experiment_cost(experiment: Experiment, runs: int, *, keep_series: bool, backend: str = "local",
                    workers: int | None = None, scheduler: str | None = None) -> Any:
    """What replicating every cell `runs` times will take (`sim.model.runner.Cost`): this process's result rows,
    and the worker processes of this machine (none with a remote scheduler), each with its largest run;
    the time is the runs' on these workers."""
    from sim.experiments.backends import default_workers
    from sim.model.runner import WORKER_BYTES, Cost, run_cost

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
    from sim.model.runner import check_cost

    planned = max(runs, experiment.max_runs) if precision is not None else runs
    keep_series = experiment.keep_series if experiment.keep_series is not None else kind == "compare"
    cost = experiment_cost(experiment, planned, keep_series=keep_series, backend=backend, workers=workers,
                           scheduler=scheduler)
    cells = len(experiment.configs)
    what = (f"{planned * cells:,} replications ({planned:,} runs x {cells:,} "
            f"{'cells' if experiment.sweep is not None else 'policies' if cells > 1 else 'policy'})")
    check_cost(cost, what, max_memory, source=experiment.source or experiment.name, field="runs")


def _output_names(experiment: Experiment, kind: str, figure_set: FigureSet | None) -> list[str]:
    """The files a finished experiment writes (listed in its manifest from the start: they are clubsim's)."""
    drawn = figure_set.names(experiment, kind) if figure_set is not None else []
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
    figure_set: FigureSet | None,
    command: str | Sequence[str] | None,
    stop_after: int | None,
    max_memory: int | None = None,
    held: OutputFolder | None = None,
) -> ComparisonResult | SweepResult:
    """Check the options and the cost, hold the output folder (`sim.experiments.folders.OutputFolder`) and replicate;
    `held`: the folder `out`, which the caller already holds (`holding_output`), its checks done."""
    options = {"runs": runs, "seed": seed, "precision": precision, "backend": backend, "workers": workers,
               "scheduler": scheduler, "resume": resume, "progress": progress, "figures": figures,
               "figure_set": figure_set, "command": command, "stop_after": stop_after}
    if held is not None and (out is None or Path(out).expanduser().resolve() != held.path.resolve()):
        raise ValueError(f"the held folder {held.path} is not out={out}")
    holding = nullcontext(held) if held is not None else holding_output(
        experiment, kind, out, runs=runs, precision=precision, resume=resume, backend=backend, workers=workers,
        scheduler=scheduler, max_memory=max_memory)
    with holding as folder:
        manifest = _read_manifest(folder.path, kind) if folder is not None and resume else {}  # as it is now
        return _replicate(experiment, kind, folder, manifest, **options)


@contextmanager
def holding_output(
    experiment: Experiment,
    kind: Literal["compare", "sweep"],
    out: str | Path | None,
    *,
    runs: int | None = None,
    precision: float | None = None,
    resume: bool = False,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    max_memory: int | None = None,
) -> Iterator[OutputFolder | None]:
    """Check an experiment's options and cost, then hold its output folder `out` (None without one) until the block
    ends: a caller that writes more files after the replications (`sim.experiments.discovery`) passes the folder
    to `sweep` as `held`, so that no other clubsim writes there in between."""
    _check_options(experiment.source, runs, precision, workers, backend, scheduler)
    if resume and out is None:
        raise InputError("--resume", None, "needs the output folder to resume (out=...)")
    earlier = _read_manifest(Path(out).expanduser(), kind) if resume else {}
    _check_cost(experiment, kind, runs or int(earlier.get("runs_requested") or experiment.runs),
                precision if precision is not None else earlier.get("precision", experiment.precision),
                backend, workers, scheduler, max_memory)
    if out is None:
        yield None
        return
    with OutputFolder(Path(out), "--resume" if resume else OUT_OPTION) as folder:
        yield folder


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
    figure_set: FigureSet | None,
    command: str | Sequence[str] | None,
    stop_after: int | None,
) -> ComparisonResult | SweepResult:
    """Run the missing replications (all, unless resuming), then the statistics and the folder's files."""
    from sim.experiments.backends import run_tasks

    if seed is None and (manifest.get("experiment") or {}).get("seed") == experiment.seed:
        # resuming a run started with another seed (--seed) than its unchanged experiment file's
        seed = (manifest.get("resolved") or {}).get("seed")
    if seed is not None:
        from sim.model.runner import check_seed

        experiment = dataclasses.replace(experiment, seed=check_seed(seed, experiment.source))
    keep_series = experiment.keep_series if experiment.keep_series is not None else kind == "compare"
    experiment = dataclasses.replace(experiment, keep_series=keep_series)

    out_dir: Path | None = folder.path if folder is not None else None
    loaded = None
    rejected: dict[str, str] = {}
    drawing = figure_set if figures else None
    outputs = _output_names(experiment, kind, drawing)
    stamp = part_stamp(experiment)  # hashes the files the scenarios read: once
    if folder is not None:
        if resume:
            _check_same_experiment(folder.path, manifest, experiment)
            loaded, rejected = _read_done(folder, manifest, stamp)
        else:  # a new run: the earlier output here goes (only what clubsim wrote: `OutputFolder.remove`)
            folder.remove(folder.owned)
        folder.check_free(outputs)

    asked_runs = runs
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

    finished = 1 + max((key[2] for key in done), default=-1)  # replications a resumed folder already holds
    if asked_runs is not None and asked_runs < finished:  # the ones past --runs would be dropped from the files
        raise InputError("--runs", None, f"{asked_runs} is fewer than the {finished} replications {out_dir} already "
                                         f"holds; resume with --runs {finished} or more (or without --runs), or run "
                                         "into another folder")
    writer = _PartWriter(out_dir / PARTS, _dtypes(experiment), loaded.schema if loaded is not None else None,
                         stamp=stamp) if out_dir is not None else None
    new_rows: list[dict[str, Any]] = []
    if workers is None and not scheduler:  # the manifest says how many ran: the usable cores, by default
        from sim.experiments.backends import default_workers

        workers = default_workers()
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
        result = result_cls(experiment, replications, stats, n, met, out_dir, figure_set=figure_set)
        result.rejected_reasons = rejected
        if folder is not None:
            data = _parquet_bytes(table)
            files = {REPLICATIONS_FILE: folder.write_with(REPLICATIONS_FILE, lambda tmp: tmp.write_bytes(data))}
            csv_name = COMPARISON_FILE if kind == "compare" else SWEEP_FILE
            files[csv_name] = folder.write_text(csv_name, stats.to_csv(index=False, float_format=FLOAT_FORMAT,
                                                                       lineterminator="\n"))
            if drawing is not None:
                staging = folder.staging()
                try:
                    files.update(folder.adopt(drawing.save(drawing.draw(result), staging).values()))
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
    figure_set: FigureSet | None = None,
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
    `out`: write replications.parquet, comparison.csv, manifest.json and, if `figures`, the figures of
    `figure_set` there (parts/ as replications finish; `sim.compare` passes the figure set of
    `sim.presentation.experiment_plots`, and without one no figures are drawn); `resume=True` continues the
    run in `out`. `progress`: True for a progress bar on stderr, or a callable `(done, total)`.
    `stop_after`: test hook, interrupt after that many new replications. `max_memory` (bytes): refuse
    (InputError) an experiment estimated to need more (default: the memory this machine has available).
    Ctrl-C raises `ExperimentInterrupted` (a KeyboardInterrupt) after saving; a Dask cluster that stops
    (scheduler gone, no worker for `sim.experiments.backends.DASK_WORKER_WAIT` seconds) raises
    `ExperimentFailed` after saving.
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
                  figures=figures, figure_set=figure_set, command=command, stop_after=stop_after,
                  max_memory=max_memory)
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
    figure_set: FigureSet | None = None,
    command: str | Sequence[str] | None = None,
    stop_after: int | None = None,
    max_memory: int | None = None,
    held: OutputFolder | None = None,
) -> SweepResult:
    """Replicate every sweep point (x policy) `runs` times with common random numbers; arguments as `compare`.

    Writes replications.parquet, sweep.csv, manifest.json and the figure set's sweep_<metric>.png figures to `out`.
    `held`: the folder `out` as the caller holds it (`holding_output`), to write more there after the sweep.
    """
    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    if experiment.sweep is None:
        raise InputError(experiment.source, "sweep", "missing: this experiment has no sweep: section (use compare)")
    result = _run(experiment, "sweep", runs=runs, seed=seed, precision=precision, backend=backend,
                  workers=workers, scheduler=scheduler, out=out, resume=resume, progress=progress,
                  figures=figures, figure_set=figure_set, command=command, stop_after=stop_after,
                  max_memory=max_memory, held=held)
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
    "FigureSet",
    "SweepResult",
    "Task",
    "compare",
    "compare_scenarios",
    "holding_output",
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
