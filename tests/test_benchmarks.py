"""The benchmark scripts that time the engines from outside (benchmarks/): what they time is still there.

Their figures are speed, which no test checks; these tests check that a script still times what its name
says (a phase renamed in the engine, or a new one, would otherwise drop silently out of its breakdown).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import sim.model.region
from sim.model.region import RegionEngine
from sim.model.scenario import load_config

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.append(str(BENCHMARKS))

import crn  # noqa: E402  (scripts of benchmarks/, importable once their folder is on the path)
import region_phases  # noqa: E402

pytestmark = pytest.mark.usefixtures("numba_ready")


def test_region_phases_names_every_kernel_of_the_threaded_week() -> None:
    """The kernels that `_run_week_threaded` calls (names of sim.model.region bound to sim.kernels functions)
    are the script's phases."""
    kernels = {name for name, value in vars(sim.model.region).items()
               if getattr(value, "__module__", "").startswith("sim.kernels")}
    assert set(RegionEngine._run_week_threaded.__code__.co_names) & kernels == set(region_phases.PHASES)


@pytest.mark.parametrize("threads", [1, 2])
def test_region_phases_times_every_phase_of_the_threaded_week(threads: int) -> None:
    config = load_config(region_phases.SCENARIO, {**region_phases.WORKLOADS["world_slice"], "region.clubs": 4,
                                                   "region.interclub_events_per_year": 52, "years": 1}).config
    figures = region_phases.phase_breakdown(config, threads, seed=3, warm_weeks=4, timed_weeks=3)
    assert figures["lanes"] == threads
    # each wrapped kernel was called, but the one-thread delivery: it runs only in a week an outbox fills up
    assert set(figures["phases"]) == set(region_phases.PHASES) - {"region_deliver_entry"}
    for name, phase in figures["phases"].items():
        assert phase["wall_ns"] > 0, name
        if threads == 1 or name.startswith("region_"):  # one call a week: its own time is the wall time
            assert phase["busy_ns"] == phase["wall_ns"], name
        else:  # the lanes' times, each within the phase's wall time
            assert 0 < phase["busy_ns"] <= phase["wall_ns"] * threads * 1.001, name
    assert figures["week_ns"] >= sum(phase["wall_ns"] for phase in figures["phases"].values())
    # the engine's own kernels are back in place: a later run is not timed
    assert all(getattr(region_phases.region_module, name).__module__ != region_phases.__name__
               for name in region_phases.PHASES)


def test_crns_ceiling_is_the_ratio_of_perfectly_correlated_pairs_and_bounds_every_other() -> None:
    """`crn_variance_reduction_*_ceiling`: pairs that move together exactly reach it; any other pairing of the
    same two samples stays below it (fee income's 1,200 against 300 EUR could not reach issue 20's 2.35)."""
    from sim.experiments.statistics import crn_variance_ratio

    rng = np.random.default_rng(1)
    a = rng.lognormal(10, 0.3, 400)
    b = 4 * a + 1_000  # four times the spread, as fee income at 1,200 against 300 EUR
    ceiling = crn.reduction_ceiling(a, b)
    assert ceiling == pytest.approx(crn_variance_ratio(a, b)) and ceiling == pytest.approx(17 / 9)
    for _ in range(20):  # the same samples, paired otherwise
        assert crn_variance_ratio(a, rng.permutation(b)) < ceiling
    assert crn.reduction_ceiling(a, a + 5) == np.inf
