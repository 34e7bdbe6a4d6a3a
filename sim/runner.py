"""One run as a pure function of (scenario, seed): the fast path used by the CLI and experiments.

`simulate` runs the numba engine without building Mesa agents (all weeks in
one numba call), or the plain-Mesa reference engine, and returns the weekly
series, the member table and the summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.metrics import summarize
from sim.scenario import LoadedScenario, ScenarioConfig, load_config

ENGINES = ("numba", "python")
Engine = Literal["numba", "python"]


@dataclass
class RunResult:
    scenario: LoadedScenario
    seed: int
    engine: str
    series: pd.DataFrame
    members: pd.DataFrame
    summary: dict[str, Any]


def simulate(
    scenario: str | Path | Mapping[str, Any] | ScenarioConfig | LoadedScenario,
    seed: int,
    engine: Engine = "numba",
    overrides: Mapping[str, Any] | None = None,
) -> RunResult:
    loaded = load_config(scenario, overrides)
    if engine == "numba":
        from sim.engine import ClubEngine

        club = ClubEngine(loaded.config, np.random.default_rng(seed))
        club.run_to()
    elif engine == "python":
        from sim.reference import ReferenceClubModel

        club = ReferenceClubModel(loaded.config, rng=seed)
        club.run()
    else:
        raise ValueError(f"unknown engine {engine!r}; use one of {ENGINES}")
    series, members = club.series_frame(), club.members_frame()
    return RunResult(loaded, seed, engine, series, members, summarize(series, members))
