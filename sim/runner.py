"""One run as a pure function of (scenario, seed): the fast path used by the CLI and experiments.

`simulate` runs the numba engine without building Mesa agents (all weeks in
one numba call), or the plain-Mesa reference engine, and returns the weekly
series, the member table (as columns, and as pandas frames on demand) and the
summary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sim.metrics import summarize, summarize_region
from sim.scenario import LoadedScenario, ScenarioConfig, load_config

if TYPE_CHECKING:
    import pandas as pd

ENGINES = ("numba", "python")
Engine = Literal["numba", "python"]
WeeksDone = Callable[[int, int], None]  # progress: (weeks simulated, weeks in all)
# with a progress callback, a run goes on in steps of this many weeks: a region's week takes up to
# 40 ms at world scale, a club's 15 us (and each call into numba costs it 20-100 us)
REGION_PROGRESS_WEEKS, CLUB_PROGRESS_WEEKS = 4, 52


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
    club_series_columns: list[dict[str, np.ndarray]] = field(default_factory=list, repr=False)
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


def simulate(
    scenario: str | Path | Mapping[str, Any] | ScenarioConfig | LoadedScenario,
    seed: int,
    engine: Engine = "numba",
    overrides: Mapping[str, Any] | None = None,
    progress: WeeksDone | None = None,
) -> RunResult:
    """One run; `progress(weeks done, weeks)` is called as it goes, if given (a region takes minutes)."""
    loaded = load_config(scenario, overrides)
    weeks = loaded.config.weeks
    if loaded.config.is_region:
        return _simulate_region(loaded, seed, engine, progress)
    if engine == "numba":
        from sim.engine import ClubEngine

        club = ClubEngine(loaded.config, np.random.default_rng(seed))
        _run_reporting_progress(club, weeks, progress, CLUB_PROGRESS_WEEKS)
        series, members = club.series_columns(), club.members_columns()
    elif engine == "python":
        from sim.reference import ReferenceClubModel

        model = ReferenceClubModel(loaded.config, rng=seed)
        _run_reporting_progress(model, weeks, progress, CLUB_PROGRESS_WEEKS)
        series_frame, members_frame = model.series_frame(), model.members_frame()
        series = {name: series_frame[name].to_numpy() for name in series_frame.columns}
        members = {name: members_frame[name].to_numpy() for name in members_frame.columns}
    else:
        raise ValueError(f"unknown engine {engine!r}; use one of {ENGINES}")
    return RunResult(loaded, seed, engine, series, members, summarize(series, members))


def region_tables(config: ScenarioConfig, seed: int, engine: Engine = "numba", progress: WeeksDone | None = None
                  ) -> tuple[list[str], list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    """One run of a region: its clubs' names, weekly series and member tables, by column."""
    if engine == "numba":
        from sim.region import RegionEngine

        region = RegionEngine(config, np.random.default_rng(seed))
        _run_reporting_progress(region, config.weeks, progress, REGION_PROGRESS_WEEKS)
        names = region.club_names
        return (names, [region.club_series_columns(c) for c in range(len(names))],
                [region.club_members_columns(c) for c in range(len(names))])
    if engine == "python":
        from sim.reference_region import ReferenceRegionModel

        model = ReferenceRegionModel(config, rng=seed)
        _run_reporting_progress(model, config.weeks, progress, REGION_PROGRESS_WEEKS)
        return (list(model.club_names),
                [{n: f[n].to_numpy() for n in f.columns} for f in model.club_series_frames()],
                [{n: f[n].to_numpy() for n in f.columns} for f in model.club_members_frames()])
    raise ValueError(f"unknown engine {engine!r}; use one of {ENGINES}")


def _simulate_region(loaded: LoadedScenario, seed: int, engine: Engine, progress: WeeksDone | None) -> RunResult:
    """A region: per-club results from either engine, added up by `sim.metrics.summarize_region`."""
    names, club_series, club_members = region_tables(loaded.config, seed, engine, progress)
    series, members, summary = summarize_region(club_series, club_members, names)
    return RunResult(loaded, seed, engine, series, members, summary, names, club_series)
