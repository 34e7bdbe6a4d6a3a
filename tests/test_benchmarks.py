"""The benchmark scripts that time the engines from outside (benchmarks/): what they time is still there.

Their figures are speed, which no test checks; these tests check that a script still times what its name
says (a phase renamed in the engine would otherwise drop silently out of its breakdown).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sim.model.scenario import load_config

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import region_phases  # noqa: E402  (a script of benchmarks/, importable once its folder is on the path)

pytestmark = pytest.mark.usefixtures("numba_ready")


@pytest.mark.parametrize("threads", [1, 2])
def test_region_phases_times_every_phase_of_the_threaded_week(threads: int) -> None:
    config = load_config(region_phases.SCENARIO, {**region_phases.WORKLOADS["world_slice"], "region.clubs": 4,
                                                   "region.interclub_events_per_year": 52, "years": 1}).config
    figures = region_phases.phase_breakdown(config, threads, seed=3, warm_weeks=4, timed_weeks=3)
    assert figures["lanes"] == threads
    assert list(figures["phases"]) == list(region_phases.PHASES)  # each wrapped kernel was called, in order
    for name, phase in figures["phases"].items():
        assert phase["wall_ns"] > 0, name
        assert phase["busy_ns"] >= phase["wall_ns"] * (0.999 if threads == 1 else 0.0), name
    assert figures["week_ns"] >= sum(phase["wall_ns"] for phase in figures["phases"].values())
    # the engine's own kernels are back in place: a later run is not timed
    assert all(getattr(region_phases.region_module, name).__module__ != region_phases.__name__
               for name in region_phases.PHASES)
