"""One run as a pure function of (scenario, seed): the fast path used by the CLI and experiments.

`simulate` runs the numba engine without building Mesa agents (all weeks in
one numba call), or the plain-Mesa reference engine, and returns the weekly
series, the member table (as columns, and as pandas frames on demand) and the
summary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sim.errors import InputError
from sim.model.metrics import flatten_summary, summarize, summarize_region
from sim.model.scenario import LoadedScenario, ScenarioConfig, load_config

if TYPE_CHECKING:
    import pandas as pd

ENGINES = ("numba", "python")
Engine = Literal["numba", "python"]
# where a region's per-club weekly series go while it runs: "memory" (all weeks held), "stream" (a ring of
# weeks, the rest in a temporary file: `sim.model.streamed`); None: "stream" from STREAM_CLUBS clubs on.
# The results are the same to the byte either way.
OUTPUTS = ("memory", "stream")
Outputs = Literal["memory", "stream"]
STREAM_CLUBS = 1000
WeeksDone = Callable[[int, int], None]  # progress: (weeks simulated, weeks in all)
# with a progress callback, a run goes on in steps of this many weeks: a region's week takes up to
# 40 ms at world scale, a club's 15 us (and each call into numba costs it 20-100 us)
REGION_PROGRESS_WEEKS, CLUB_PROGRESS_WEEKS = 4, 52
# The version of what a (scenario, seed) gives, recorded in every manifest: runs of another version are
# other numbers, and an experiment is not resumed across versions. 2 (clubsim 0.2): one random stream per
# process and club (`sim.kernels.draws`) instead of one per run.
RESULTS_FORMAT = 2


def _run_reporting_progress(engine: Any, weeks: int, progress: WeeksDone | None, step: int) -> None:
    """Run an engine (anything with `week` and `run_to(stop)`: numba or reference, club or region) to
    its horizon, reporting progress every `step` weeks. Stepping does not change a run: each engine's
    weeks are the same however its calls are cut."""
    if progress is None:
        engine.run_to(weeks)
        return
    progress(engine.week, weeks)
    while engine.week < weeks:
        before = engine.week
        engine.run_to(min(before + step, weeks))
        if engine.week <= before:
            raise RuntimeError(f"the engine did not advance from week {before}")
        progress(engine.week, weeks)


@dataclass
class RunResult:
    """One run: the weekly series and the member table by column, their frames, and the summary.

    The frames (`series`, `members`) are built on first use, so a caller that only writes
    files (`clubsim run`) never imports pandas.
    """

    scenario: LoadedScenario
    seed: int
    engine: str
    series_columns: dict[str, np.ndarray]
    members_columns: dict[str, np.ndarray]
    summary: dict[str, Any]
    club_names: list[str] = field(default_factory=list)  # a region's clubs (empty for one club)
    # a region's clubs' weekly series: a list, or (outputs streamed) a sequence reading each from disk
    club_series_columns: Sequence[dict[str, np.ndarray]] = field(default_factory=list, repr=False)
    _frames: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def series(self) -> pd.DataFrame:
        return self._frame("series", self.series_columns)

    @property
    def members(self) -> pd.DataFrame:
        return self._frame("members", self.members_columns)

    def _frame(self, name: str, columns: dict[str, np.ndarray]) -> pd.DataFrame:
        if name not in self._frames:
            import pandas as pd

            self._frames[name] = pd.DataFrame(columns)
        return self._frames[name]


def check_seed(seed: Any, source: str | None = None, field: str = "seed") -> int:
    """A run's seed as an int: an integer >= 0 (Python's or numpy's); anything else, None included, is
    a one-line `InputError` (None would draw an unreproducible seed, a float or a string is a mistake)."""
    if seed is None:
        raise InputError(source, field, "missing: give an integer >= 0 (the same scenario and seed always give "
                                        "the same run; no seed would draw one that cannot be reproduced)")
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, int | np.integer):
        if isinstance(seed, np.generic):
            shown = f"{seed.item()!r} (numpy.{type(seed).__name__})"
        else:
            shown = repr(seed) if isinstance(seed, str | float | bool) else f"a {type(seed).__name__}"
        raise InputError(source, field, f"must be an integer >= 0, got {shown[:60]}")
    if seed < 0:
        raise InputError(source, field, f"must be an integer >= 0, got {seed}")
    return int(seed)


def simulate(
    scenario: str | Path | Mapping[str, Any] | ScenarioConfig | LoadedScenario,
    seed: int,
    engine: Engine = "numba",
    overrides: Mapping[str, Any] | None = None,
    progress: WeeksDone | None = None,
    threads: int | None = None,
    outputs: Outputs | None = None,
    spill_dir: str | Path | None = None,
) -> RunResult:
    """One run; `progress(weeks done, weeks)` is called as it goes, if given (a region takes minutes).

    `seed` is an integer >= 0 (`check_seed`): a run is a pure function of (scenario, seed, engine).
    `threads`: a region's numba engine runs its clubs on that many threads (default: the usable cores,
    one per `sim.model.region.CLUBS_PER_THREAD` clubs); the results are the same for any number.
    `outputs` (`OUTPUTS`; default: `region_outputs`): a region's numba engine holds its clubs' weekly
    series in memory, or streams them to an unnamed temporary file in `spill_dir` (default: the system's
    temporary folder) as it runs; the results are the same either way."""
    seed = check_seed(seed)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InputError("threads", repr(threads), "must be a whole number >= 1 (or None: the usable cores)")
    if engine not in ENGINES:
        raise InputError("engine", repr(engine), f"unknown engine; use one of: {', '.join(ENGINES)}")
    if outputs is not None and outputs not in OUTPUTS:
        raise InputError("outputs", repr(outputs), f"unknown outputs; use one of: {', '.join(OUTPUTS)}")
    loaded = load_config(scenario, overrides)
    weeks = loaded.config.weeks
    if loaded.config.is_region:
        return _simulate_region(loaded, seed, engine, progress, threads, outputs, spill_dir)
    if engine == "numba":
        from sim.model.engine import ClubEngine

        club = ClubEngine(loaded.config, np.random.default_rng(seed))
        _run_reporting_progress(club, weeks, progress, CLUB_PROGRESS_WEEKS)
        series, members = club.series_columns(), club.members_columns()
        # read from the engine's arrays: `summarize`'s values (tested), 0.3 ms less a run (`run_metrics`' too)
        return RunResult(loaded, seed, engine, series, members, club.summary())
    if engine == "python":
        from sim.reference.club import ReferenceClubModel

        model = ReferenceClubModel(loaded.config, rng=seed)
        _run_reporting_progress(model, weeks, progress, CLUB_PROGRESS_WEEKS)
        series_frame, members_frame = model.series_frame(), model.members_frame()
        series = {name: series_frame[name].to_numpy() for name in series_frame.columns}
        members = {name: members_frame[name].to_numpy() for name in members_frame.columns}
        return RunResult(loaded, seed, engine, series, members, summarize(series, members))
    raise ValueError(f"unknown engine {engine!r}; use one of {ENGINES}")


def run_metrics(
    scenario: str | Path | Mapping[str, Any] | ScenarioConfig | LoadedScenario,
    seed: int,
    overrides: Mapping[str, Any] | None = None,
    *,
    engine: Engine = "numba",
    **dotted: Any,
) -> dict[str, float]:
    """One run's summary as a flat dict of floats, for outside tools (EMA Workbench, SALib, optuna, a
    `multiprocessing.Pool`): a module-level, picklable function of (scenario, seed, overrides).

    Overrides are dotted scenario keys, given as a mapping (`{"club.fees.annual": 1200}`) or as keyword
    arguments with `__` for each dot (`club__fees__annual=1200`, `years=3`); shares set one or two at a
    time rescale the others. The keys are the summary's, flattened as in `replications.parquet`
    (`roi_by_type` -> `roi_giver`, ...; `exits_by_reason` -> `exits_left`, ...), in the files' units
    (ratios, not %; money in EUR); `survived` is 1.0 or 0.0, a value that does not exist (the ROI of a type
    that never joined) NaN. A region gives its totals (each club's summary is `simulate`'s). `seed`:
    an integer >= 0 (None is refused: it would not be reproducible).
    """
    from sim.errors import InputError

    seed = check_seed(seed)
    merged = dict(overrides or {})
    for key, value in dotted.items():
        name = key.replace("__", ".")
        if name in merged:
            raise InputError("run_metrics", name, "given twice (in overrides and as a keyword argument)")
        merged[name] = value
    summary = simulate(scenario, seed, engine, merged).summary
    return {key: float(value) for key, value in flatten_summary(summary).items()
            if isinstance(value, int | float | np.number | np.bool_)}


Columns = dict[str, np.ndarray]


def region_outputs(config: ScenarioConfig, outputs: Outputs | None = None) -> Outputs:
    """Where a region's clubs' weekly series go (`OUTPUTS`): as asked, or by default in memory below
    STREAM_CLUBS clubs (a few MB) and streamed from there on (1.8 KB a member at world scale)."""
    if outputs is None:
        return "stream" if config.region.club_count >= STREAM_CLUBS else "memory"
    if outputs not in OUTPUTS:
        raise ValueError(f"unknown outputs {outputs!r}; use one of {OUTPUTS}")
    return outputs


def region_tables(config: ScenarioConfig, seed: int, engine: Engine = "numba", progress: WeeksDone | None = None,
                  threads: int | None = None, outputs: Outputs | None = None, spill_dir: str | Path | None = None
                  ) -> tuple[list[str], Sequence[Columns], list[Columns]]:
    """One run of a region: its clubs' names, weekly series and member tables, by column. The series are
    a list, or with outputs streamed (`region_outputs`, numba engine) a sequence that reads each club's
    from the run's temporary file when asked for (go through it once at a time: each item is read anew)."""
    if engine == "numba":
        from sim.model.region import RegionEngine

        region = RegionEngine(config, np.random.default_rng(seed), threads=threads,
                              outputs=region_outputs(config, outputs), spill_dir=spill_dir)
        _run_reporting_progress(region, config.weeks, progress, REGION_PROGRESS_WEEKS)
        names = region.club_names
        return names, region.clubs_series(), [region.club_members_columns(c) for c in range(len(names))]
    if engine == "python":
        from sim.reference.region import ReferenceRegionModel

        model = ReferenceRegionModel(config, rng=seed)
        _run_reporting_progress(model, config.weeks, progress, REGION_PROGRESS_WEEKS)
        return (list(model.club_names),
                [{n: f[n].to_numpy() for n in f.columns} for f in model.club_series_frames()],
                [{n: f[n].to_numpy() for n in f.columns} for f in model.club_members_frames()])
    raise ValueError(f"unknown engine {engine!r}; use one of {ENGINES}")


def _simulate_region(loaded: LoadedScenario, seed: int, engine: Engine, progress: WeeksDone | None,
                     threads: int | None, outputs: Outputs | None, spill_dir: str | Path | None) -> RunResult:
    """A region: per-club results from either engine, added up by `sim.model.metrics.summarize_region`."""
    names, club_series, club_members = region_tables(loaded.config, seed, engine, progress, threads, outputs,
                                                     spill_dir)
    series, members, summary = summarize_region(club_series, club_members, names)
    return RunResult(loaded, seed, engine, series, members, summary, names, club_series)


# --------------------------------------------------------------------------- limits: what a run costs

MiB = 1 << 20
PROCESS_BYTES = 400 * MiB  # this process: the interpreter, numpy, pandas, numba and the loaded kernels
WORKER_BYTES = 300 * MiB  # a worker process, before its run
# Measured on regions of BNI chapters (docs/performance.md), with a margin: a club's arrays grow with
# capacity squared (ties, referral counts), its records and series with capacity x years, and the
# outputs built from them (members table, per-club series) double the peak.
CLUB_FIXED_BYTES = 200_000
SLOT_BYTES = 24  # per (capacity x capacity) pair: float64 ties and int32 counts, twice at the peak
# per unit of capacity and year, with the outputs built from them: the weekly series, and the member records
SERIES_YEAR_BYTES = 400
RECORD_YEAR_BYTES = 200
STREAMED_YEARS_HELD = 1.0  # streamed outputs: a ring of weeks in memory (the members' table is still built)
SECONDS_PER_MEMBER_WEEK = {"numba": 2e-6, "python": 4e-4}
MEMORY_FACTOR = {"numba": 1, "python": 5}


@dataclass(frozen=True)
class Cost:
    """What something will take, estimated before it starts: peak memory (bytes) and time (seconds)."""

    bytes: float
    seconds: float

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.bytes + other.bytes, self.seconds + other.seconds)


def run_cost(config: ScenarioConfig, engine: str = "numba", outputs: Outputs | None = None) -> Cost:
    """One run's peak memory on top of the process, and its time on one core (an estimate, on the
    high side: every club full, `docs/performance.md`'s figures with a margin). A region whose outputs
    stream (`region_outputs`; numba engine) holds about a year of weekly series at a time, not all its
    years (its members' table is built whole at the end): the world's ten years measured 5,300 bytes a
    member streamed (stop 27's reading, docs/performance.md) against 7,700 in memory."""
    streamed = engine == "numba" and config.is_region and region_outputs(config, outputs) == "stream"
    series_years = min(config.years, STREAMED_YEARS_HELD) if streamed else config.years
    year_bytes = RECORD_YEAR_BYTES * config.years + SERIES_YEAR_BYTES * series_years
    memory = 0.0
    member_weeks = 0.0
    for _, club in config.region_clubs() or [(config.name, config.club)]:
        capacity = club.capacity
        memory += CLUB_FIXED_BYTES + SLOT_BYTES * capacity**2 + year_bytes * capacity
        member_weeks += (club.founders + capacity) / 2 * config.weeks
    memory *= MEMORY_FACTOR.get(engine, 1)
    return Cost(memory, member_weeks * SECONDS_PER_MEMBER_WEEK.get(engine, SECONDS_PER_MEMBER_WEEK["numba"]))


def available_memory() -> int | None:
    """Bytes this process may still allocate: the kernel's MemAvailable, or less under a cgroup limit
    (Linux); None where that cannot be read."""
    free: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            room = int(limit) - used
            free = room if free is None else min(free, room)
    except (OSError, ValueError):
        pass
    return free


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_memory(text: str) -> int:
    """`4G`, `512M`, `1.5GiB`, `2GB` or a number of bytes -> bytes (binary units); ValueError if not."""
    import re

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if match is None:
        raise ValueError(text)
    value = float(match[1]) * _UNITS[match[2].upper()]
    if not value > 0 or not np.isfinite(value):
        raise ValueError(text)
    return int(value)


def format_bytes(value: float) -> str:
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20)):
        if value >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{max(value, 0) / 1024:,.0f} KB"


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{max(seconds, 1):.0f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    if hours < 48:
        return f"{int(hours)} h {int(minutes % 60):02d} min"
    days = hours / 24
    return f"{days:,.0f} days" if days < 3650 else f"{days / 365:,.0f} years"


def check_cost(cost: Cost, what: str, max_memory: int | None = None, *, source: str | None = None,
               field: str | None = None) -> None:
    """Refuse (InputError: one line, exit 2) what would need more memory than `max_memory` bytes, or
    than this machine has available when no limit is given, naming the estimate and the limit."""
    from sim.errors import InputError

    total = cost.bytes + PROCESS_BYTES
    limit = max_memory if max_memory is not None else available_memory()
    if limit is None or total <= limit:
        return
    room = f"the --max-memory of {format_bytes(limit)}" if max_memory is not None else \
        f"the {format_bytes(limit)} this machine has available"
    advice = "ask for less, or raise --max-memory" if max_memory is not None else \
        "ask for less, or set --max-memory to try anyway"
    raise InputError(source, field, f"{what} would need about {format_bytes(total)} of memory (and take about "
                                    f"{format_seconds(cost.seconds)}), more than {room}; {advice}")
