"""Random streams (`sim.kernels.draws`, docs/ODD.md 4 "Stochasticity"): one per random process and club, keyed
on (root, club, process, week, index) and restarted every week, so that two runs on one seed that differ in a
policy draw in step again from each week on (common random numbers)."""

from __future__ import annotations

from pathlib import Path

import numba
import numpy as np
import pytest

from sim.kernels.draws import FOUNDING, make_streams, rekey, stream_generator, stream_key, stream_words, uniform
from sim.kernels.layout import CLUB_STREAMS, N_CLUB_STREAMS, R_CANDIDATES, R_NEEDS
from sim.model.engine import ClubEngine
from sim.model.runner import simulate
from sim.model.scenario import load_config

pytestmark = pytest.mark.usefixtures("numba_ready")

BNI = Path(__file__).resolve().parent.parent / "scenarios" / "bni_chapter.yaml"
KEYS = [(0, 0, 0, 0, 0), (2**63 - 1, 7, R_NEEDS, 17, 5), (123456789, 2**32, 1, FOUNDING, 0), (42, 3, 8, 519, 4096)]


@numba.njit
def rekeyed_draws(streams, key, process, week, index, n):
    rekey(streams, key, process, week, index)
    out = np.empty(n)
    for k in range(n):
        out[k] = uniform(streams[process])
    return out


@pytest.mark.parametrize("root, club, process, week, index", KEYS)
def test_a_stream_is_the_same_in_the_kernels_in_python_and_in_numpy(root, club, process, week, index) -> None:
    """`rekey` (numba) and `stream_words` (Python) agree; `uniform` on the stream draws numpy's PCG64 numbers
    from that state, jitted and in plain Python (NUMBA_DISABLE_JIT=1 runs the Python path)."""
    key = stream_key(root, club)
    jitted = rekeyed_draws(np.zeros((N_CLUB_STREAMS, 4), np.uint64), key, process, week, index, 50)
    in_python = np.zeros((N_CLUB_STREAMS, 4), np.uint64)
    rekey(in_python, key, process, week, index)
    assert tuple(int(word) for word in in_python[process]) == stream_words(root, club, process, week, index)
    assert [uniform(in_python[process]) for _ in range(50)] == list(jitted)
    assert list(stream_generator(root, club, process, week, index).random(50)) == list(jitted)


def test_every_key_gives_its_own_stream() -> None:
    firsts = {stream_generator(5, club, process, week, index).random()
              for club in range(3) for process in range(N_CLUB_STREAMS) for week in (FOUNDING, 0, 1)
              for index in range(3)}
    assert len(firsts) == 3 * N_CLUB_STREAMS * 3 * 3
    assert make_streams(5, 1, N_CLUB_STREAMS).shape == (len(CLUB_STREAMS), 4)


def test_each_process_restarts_at_its_week_stream_however_the_runs_diverged() -> None:
    """Two chapters on one seed, fees of 300 and 1,200 EUR: by week 40 their members differ and their streams
    have drawn different numbers; at the start of week 40 every process is back on the same stream."""
    engines = [ClubEngine(load_config(BNI, {"club.fees.annual": fee}).config, np.random.default_rng(3))
               for fee in (300, 1200)]
    for engine in engines:
        engine.run_to(40)
    cheap, dear = engines
    week_40 = make_streams(cheap.root_seed, 0, N_CLUB_STREAMS, week=40)
    assert cheap.members_ever != dear.members_ever  # the runs diverged
    assert not np.array_equal(cheap.club.streams[R_NEEDS], week_40[R_NEEDS])  # week 39 drew from them
    for engine in engines:
        engine.restart_streams()
    np.testing.assert_array_equal(cheap.club.streams, week_40)
    np.testing.assert_array_equal(dear.club.streams, week_40)


def test_the_same_people_visit_whoever_the_members_are() -> None:
    """The v-th visitor of a week is drawn from the candidates stream keyed on (week, 1 + v): with an interview
    or without, the applicants of the first meeting are the same people (type, trade, needs)."""
    first_applicants = []
    for selection in ("none", "interview"):
        engine = ClubEngine(load_config(BNI, {"club.selection.policy": selection}).config, np.random.default_rng(9))
        engine.restart_streams()
        engine.hold_meeting()
        n = int(engine.club.counters[6])  # N_CANDIDATES: this week's applicants, not yet screened
        assert n > 0
        cand = engine.candidates[:n]
        first_applicants.append((cand.member_type.copy(), cand.profession.copy(), cand.needs_per_week.copy()))
    for column in range(3):
        np.testing.assert_array_equal(first_applicants[0][column], first_applicants[1][column])


def test_paired_seeds_narrow_a_policy_difference() -> None:
    """Common random numbers at work: over 120 seeds, the business per member-year of complementarity minus
    exclusivity varies at most half as much on paired seeds as on independent ones (the benchmark measures
    about 2.3 times less over 400; 1.2 before the streams restarted each week)."""
    def business(policy: str) -> np.ndarray:
        return np.array([simulate(BNI, seed, overrides={"club.composition.policy": policy, "years": 5})
                         .summary["business_per_member_year"] for seed in range(120)])

    exclusivity, complementarity = business("exclusivity"), business("complementarity")
    paired = np.var(complementarity - exclusivity, ddof=1)
    unpaired = np.var(complementarity, ddof=1) + np.var(exclusivity, ddof=1)
    assert unpaired / paired > 1.6


def test_founders_come_from_the_candidates_stream_before_week_0() -> None:
    engine = ClubEngine(load_config(BNI).config, np.random.default_rng(4))
    first = engine.members_columns()["member_type"][0]
    u = stream_generator(engine.root_seed, 0, R_CANDIDATES, FOUNDING).random()
    shares = load_config(BNI).config.population.shares
    expected = "giver" if u < shares.giver else "reciprocator" if u < shares.giver + shares.reciprocator else "hunter"
    assert first == expected
