"""A replication's fast path: the summary read from a club's arrays (`ClubEngine.summary`, `sim.kernels.summary`)
is `summarize` of its tables, value for value; a replication's row is the one its tables give; the set-up's
shortcuts (streams hashed in numba, the parameter record copied, member records sized for the run) change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.experiments.experiment import Task, run_replication
from sim.kernels.draws import REGION_KEY, make_streams, stream_key
from sim.kernels.layout import N_CLUB_STREAMS, N_SERIES, SERIES_FIELDS
from sim.kernels.setup import founding_streams, sector_tables
from sim.kernels.summary import pairwise_sum
from sim.model.engine import FLOAT_SERIES, ClubEngine, club_summary, members_columns, series_columns
from sim.model.metrics import MEMBER_TYPES, flatten_summary, summarize
from sim.model.runner import simulate
from sim.model.scenario import load_config
from sim.model.state import _params, allocate_members, as_record, make_params

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = ROOT / "scenarios" / "bni_chapter.yaml"
CHAPTER_40 = {"club.founders": 40, "club.capacity": 40, "club.min_viable_size": 0}


def same(fast: dict[str, Any], reference: dict[str, Any]) -> bool:
    """The same keys in the same order, the same types and the same bits (JSON writes a float's repr)."""
    return json.dumps(fast) == json.dumps(reference) and \
        [type(v) for v in fast.values()] == [type(v) for v in reference.values()]


def test_pairwise_sum_is_numpys_sum_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    for n in [*range(0, 300), 520, 1031, 8193, 20_000]:
        values = rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 6, n)
        matrix = np.repeat(values[:, np.newaxis], 3, axis=1)  # a column of a matrix: strided, as a series'
        assert pairwise_sum(values) == values.sum(), n
        assert pairwise_sum(matrix[:, 1]) == matrix[:, 1].sum(), n
    assert str(pairwise_sum(np.array([-0.0]))) == str(np.array([-0.0]).sum()) == "0.0"


def synthetic_club(rng: np.random.Generator, n: int, weeks: int) -> tuple[np.ndarray, np.recarray]:
    """A series matrix and `n` member records of random values (counts where the series holds counts), with
    many equal tenures (Kaplan-Meier's ties), exits of every reason and members still active."""
    series = rng.uniform(0, 50, (weeks, N_SERIES)) * rng.integers(0, 2, (weeks, N_SERIES))
    for k, name in enumerate(SERIES_FIELDS):
        if name not in FLOAT_SERIES:
            series[:, k] = np.floor(series[:, k])
    records = allocate_members(n + 3)
    records.member_type[:n] = rng.integers(0, rng.integers(1, 4), n)  # sometimes givers only
    records.join_week[:n] = rng.integers(0, weeks, n) // 13 * 13
    ended = rng.random(n) < rng.random()
    records.exit_reason[:n] = np.where(ended, rng.integers(1, 6, n), 0)
    records.exit_week[:n] = np.where(ended, np.minimum(records.join_week[:n] + rng.integers(0, 150, n) // 26 * 26,
                                                       weeks), -1)
    for field in ("margin", "business_received", "direct_sales", "social_value", "fees_paid", "time_cost"):
        getattr(records, field)[:n] = rng.uniform(0, 3000, n) * (rng.random(n) < 0.8)
    return series, records


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 120), st.integers(1, 300))
def test_club_summary_is_summarize_of_the_tables(seed: int, n: int, weeks: int) -> None:
    series, records = synthetic_club(np.random.default_rng(seed), n, weeks)
    reference = summarize(series_columns(series, weeks), members_columns(records, n, weeks))
    assert same(club_summary(series, records, n, weeks), reference)


@pytest.mark.parametrize("n", [131, 702, 1751, 4000])
def test_club_summary_sorts_long_member_records_as_numpy_does(n: int) -> None:
    """The summary's own sort (Shell's, for the ROI median and Kaplan-Meier's order) on records longer than
    its larger gaps: a club over many years, or a world's, holds thousands."""
    for seed in range(3):
        series, records = synthetic_club(np.random.default_rng(seed), n, 520)
        reference = summarize(series_columns(series, 520), members_columns(records, n, 520))
        assert same(club_summary(series, records, n, 520), reference), seed


CASES = {
    "chapter of 40": ({**CHAPTER_40}, None),
    "chapter": ({}, None),
    "many hunters": ({"population.shares.giver": 0.2, "population.shares.reciprocator": 0.2}, None),
    "dies (high fee)": ({"club.fees.annual": 4000, "years": 4}, None),
    "no hunters": ({"population.shares.giver": 0.5, "population.shares.reciprocator": 0.5, "years": 3}, None),
    "30 weeks (no one eligible for retention)": ({}, 30),
}


def test_engine_summary_is_summarize_on_many_seeds_and_scenarios() -> None:
    seen: dict[str, set[Any]] = {"survived": set(), "roi_hunter": set(), "retention": set(), "median": set()}
    for name, (overrides, stop) in CASES.items():
        config = load_config(CHAPTER, overrides).config
        for seed in range(12):
            club = ClubEngine(config, np.random.default_rng(seed))
            club.run_to(stop)
            reference = summarize(club.series_columns(), club.members_columns())
            assert same(club.summary(), reference), (name, seed)
            seen["survived"].add(reference["survived"])
            seen["roi_hunter"].add(reference["roi_by_type"]["hunter"] is None)
            seen["retention"].add(reference["retention_first_year"] is None)
            seen["median"].add(reference["median_tenure_years"] is None)
    assert all(values == {True, False} for values in seen.values()), seen  # every case of None was met


def test_tenures_are_the_member_tables() -> None:
    club = ClubEngine(load_config(CHAPTER, CHAPTER_40).config, np.random.default_rng(4))
    club.run_to()
    tenure, observed, member_type = club.tenures()
    members = club.members_columns()
    np.testing.assert_array_equal(tenure, members["tenure_years"])
    np.testing.assert_array_equal(observed, ~np.isin(members["exit_reason"], ["active", "dissolved"]))
    np.testing.assert_array_equal(np.array(MEMBER_TYPES)[member_type], members["member_type"])
    np.testing.assert_array_equal(club.weekly("members"), club.series_columns()["members"])


def row_from_tables(task: Task) -> dict[str, Any]:
    """A replication's row as it was built from the run's tables before the engine gave its summary."""
    club = ClubEngine(task.config, np.random.default_rng(task.seed))
    club.run_to()
    series, members = club.series_columns(), club.members_columns()
    row: dict[str, Any] = {"point": task.point, "policy": task.policy, "replication": task.replication,
                           "seed": task.seed, **dict(task.params), **flatten_summary(summarize(series, members))}
    if task.keep_series:
        reason = members["exit_reason"]
        row["members_weekly"] = np.asarray(series["members"], np.int32)
        row["tenure_years"] = np.asarray(members["tenure_years"], np.float32)
        row["tenure_observed"] = (reason != "active") & (reason != "dissolved")
        row["tenure_type"] = np.array([MEMBER_TYPES.index(t) for t in members["member_type"]], np.int8)
    return row


@pytest.mark.parametrize("keep_series", [True, False])
def test_a_replications_row_is_the_one_its_tables_give(keep_series: bool) -> None:
    config = load_config(CHAPTER, {"years": 3, "club.fees.annual": 2500}).config
    for seed in range(6):
        task = Task(1, "policy", seed, 100 + seed, config, "numba", keep_series, (("fee", 2500),))
        row, expected = run_replication(task), row_from_tables(task)
        assert list(row) == list(expected)
        for key, value in expected.items():
            if isinstance(value, np.ndarray):
                assert row[key].dtype == value.dtype and np.array_equal(row[key], value), key
            else:
                assert type(row[key]) is type(value) and (row[key] == value or value != value), key


def test_club_summary_runs_as_plain_python_with_the_same_values(tmp_path: Path) -> None:
    """NUMBA_DISABLE_JIT=1 (debugging) runs the summary's kernels as Python: the same summary, bit for bit."""
    series, records = synthetic_club(np.random.default_rng(11), 90, 260)
    np.save(tmp_path / "series.npy", series)
    np.save(tmp_path / "records.npy", records.view(np.ndarray))
    script = ("import json, sys, numpy as np\n"
              "from sim.model.engine import club_summary\n"
              f"series = np.load({str(tmp_path / 'series.npy')!r})\n"
              f"records = np.load({str(tmp_path / 'records.npy')!r}).view(np.recarray)\n"
              "print(json.dumps(club_summary(series, records, 90, 260)))\n")
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    plain = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=ROOT,
                           check=True)
    assert plain.stdout.strip() == json.dumps(club_summary(series, records, 90, 260))


def test_founding_streams_are_make_streams() -> None:
    rng = np.random.default_rng(5)
    for _ in range(100):
        root, club = int(rng.integers(2**63)), int(rng.integers(0, 5000))
        np.testing.assert_array_equal(founding_streams(stream_key(root, club), N_CLUB_STREAMS),
                                      make_streams(root, club, N_CLUB_STREAMS))
    np.testing.assert_array_equal(founding_streams(stream_key(7, REGION_KEY), 2), make_streams(7, REGION_KEY, 2))


def test_the_parameter_record_is_a_fresh_copy_of_the_scenarios() -> None:
    config = load_config(CHAPTER).config
    first = make_params(config)
    assert tuple(first) == tuple(as_record(_params(config))) and first.dtype == as_record(_params(config)).dtype
    first.capacity = 3  # a caller's change stays its own
    assert make_params(config).capacity == config.club.capacity
    other = load_config(CHAPTER, {"club.capacity": 30}).config
    assert make_params(other).capacity == 30 and make_params(config).capacity == config.club.capacity


def test_a_chapters_run_never_grows_its_member_records() -> None:
    """Records for the run from the start: each growth is another call into numba (and the same results)."""
    config = load_config(CHAPTER, CHAPTER_40).config
    for seed in range(10):
        club = ClubEngine(config, np.random.default_rng(seed))
        size = len(club.members)
        club.run_to()
        assert len(club.members) == size > club.members_ever


def sector_tables_in_numpy(sector: np.ndarray, weight: np.ndarray, sectors: int, boost: float
                           ) -> tuple[np.ndarray, ...]:
    """`sector_tables` as `make_market_arrays` computed them in numpy."""
    own = np.where(sector[np.newaxis, :] == np.arange(sectors)[:, np.newaxis], boost, 1.0)
    need_total = (weight * own).sum(axis=1)
    sector_size = np.bincount(sector, minlength=sectors).astype(np.int64)
    order = np.argsort(sector, kind="stable")
    rank = np.arange(len(order)) - (np.cumsum(sector_size) - sector_size)[sector[order]]
    width = max(1, int(sector_size.max(initial=0)))
    sector_professions = np.full((sectors, width), -1, dtype=np.int64)
    sector_professions[sector[order], rank] = order
    weights = np.zeros((sectors, width))
    weights[sector[order], rank] = weight[order]
    return need_total, sector_size, sector_professions, np.cumsum(weights, axis=1)


def test_sector_tables_are_numpys_bit_for_bit() -> None:
    rng = np.random.default_rng(2)
    for trial in range(300):
        professions, sectors = int(rng.choice([1, 5, 8, 9, 120, 129, 150, 300, 1000])), int(rng.integers(1, 15))
        sector = rng.integers(0, sectors, professions) if trial % 2 else np.arange(professions) % sectors
        weight, boost = rng.lognormal(0, 1.5, professions), float(rng.uniform(0.5, 4))
        got = sector_tables(sector, weight, sectors, boost)
        for table, expected in zip(got, sector_tables_in_numpy(sector, weight, sectors, boost), strict=True):
            assert table.dtype == expected.dtype and table.tobytes() == expected.tobytes() and \
                table.shape == expected.shape, trial


def test_simulate_gives_the_summary_of_its_tables() -> None:
    """`simulate` (and so `run_metrics`) reads a club's summary from the engine: the one its tables give."""
    for seed in range(4):
        result = simulate(CHAPTER, seed, overrides={"years": 3, "club.fees.annual": 3000})
        assert same(result.summary, summarize(result.series_columns, result.members_columns))
