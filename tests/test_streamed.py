"""A region's outputs that stream (issue 20): the pieces a streaming region is built from, its clubs' weekly
series added up in one pass, and its spill files of weekly series and of the records of members who left,
read back as written; the weak ties' renumbering when members' records move."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.kernels.layout import N_SERIES
from sim.kernels.streaming import remap_weak_members
from sim.model.metrics import _REGION_MEANS, SERIES_COLUMNS, region_series
from sim.model.runner import simulate
from sim.model.streamed import MemberSpill, SeriesSpill

pytestmark = pytest.mark.usefixtures("numba_ready")

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"

# 12 chapters for 3 years, with interclub events and transfers: every region phase writes to the series
TWELVE = {"years": 3, "club.founders": 20, "region.clubs": 12, "region.interclub_events_per_year": 12,
          "region.transfer_share": 0.5}


def stacked_region_series(clubs: list) -> dict[str, np.ndarray]:
    """The region's series as it was added up before streaming: numpy sums over stacks of the clubs'."""
    first = clubs[0]
    region: dict[str, np.ndarray] = {"week": np.asarray(first["week"])}
    members = np.sum([np.asarray(club["members"]) for club in clubs], axis=0)
    for name in SERIES_COLUMNS[1:]:
        values = [np.asarray(club[name]) for club in clubs]
        if name == "meeting":
            region[name] = np.max(values, axis=0)
        elif name in _REGION_MEANS:
            weighted = np.sum([v * np.asarray(club["members"]) for v, club in zip(values, clubs, strict=True)], axis=0)
            region[name] = np.divide(weighted, members, out=np.zeros(len(members)), where=members > 0)
        else:
            region[name] = np.sum(values, axis=0)
    return region


def assert_same_columns(one: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> None:
    assert list(one) == list(other)
    for name, values in one.items():
        assert values.dtype == other[name].dtype, name
        assert np.asarray(values).tobytes() == np.asarray(other[name]).tobytes() or (
            values.dtype == object and list(values) == list(other[name])), name


# --------------------------------------------------------------------------- adding clubs up in one pass


def test_region_series_in_one_pass_has_the_bits_of_numpys_sums_over_stacks() -> None:
    clubs = simulate(BNI, 3, overrides=TWELVE).club_series_columns
    assert_same_columns(stacked_region_series(list(clubs)), region_series(iter(clubs)))
    rng = np.random.default_rng(5)  # many clubs of long sums: a summation order would show in the last bits
    weeks = 300
    synthetic = [{"week": np.arange(weeks), **{name: rng.random(weeks) * 1e5 for name in SERIES_COLUMNS[1:]},
                  "members": rng.integers(0, 50, weeks), "meeting": rng.integers(0, 2, weeks),
                  "joins": rng.integers(0, 3, weeks).astype(np.int32)} for _ in range(3000)]
    assert_same_columns(stacked_region_series(synthetic), region_series(synthetic))
    with pytest.raises(ValueError, match="at least one club"):
        region_series([])


# --------------------------------------------------------------------------- the spill files


def test_the_spill_file_reads_back_what_was_written_block_by_block() -> None:
    rng = np.random.default_rng(1)
    clubs, ring, weeks = 3, 4, 10
    full = [rng.random((weeks, N_SERIES)).astype(np.float32) for _ in range(clubs)]
    spill = SeriesSpill(clubs, ring)
    rings = [np.zeros((ring, N_SERIES), np.float32) for _ in range(clubs)]
    for week in range(weeks):
        for c in range(clubs):
            rings[c][week % ring] = full[c][week]
        if week == 5:
            spill.write(rings, 6)  # part of a block, then the rest of it
        if (week + 1) % ring == 0 or week + 1 == weeks:
            spill.write(rings, week + 1)
    assert spill.weeks == weeks
    for c in range(clubs):
        assert spill.club(c).tobytes() == full[c].tobytes()
    with pytest.raises(ValueError, match="span two blocks"):
        spill.write(rings, weeks + ring + 1)
    spill.close()


def test_a_spill_files_fallback_name_is_an_output_folders_temporary_file() -> None:
    from sim.experiments.folders import TEMP_PREFIX
    from sim.model import streamed

    assert streamed.TEMP_PREFIX == TEMP_PREFIX  # removed by the next run if a killed process left it


def test_the_member_spill_gives_each_club_its_records_and_ids_batch_after_batch() -> None:
    dtype = np.dtype([("exit_week", np.int64), ("fees_paid", np.float64)])
    spill = MemberSpill(dtype, 3)
    batches = [
        ([np.array([(4, 1.5)], dtype), np.zeros(0, dtype), np.array([(2, 2.5), (3, 3.5)], dtype)], [[7], [], [0, 2]]),
        ([np.zeros(0, dtype)] * 3, [[], [], []]),  # nothing left anywhere: no batch
        ([np.array([(9, 4.5)], dtype), np.array([(8, 5.5)], dtype), np.zeros(0, dtype)], [[1], [0], []]),
    ]
    for records, ids in batches:
        spill.write(records, [np.array(i, dtype=np.int64) for i in ids])
    club0, ids0 = spill.club(0)
    assert club0.tolist() == [(4, 1.5), (9, 4.5)] and ids0.tolist() == [7, 1]
    club2, ids2 = spill.club(2)
    assert club2.tolist() == [(2, 2.5), (3, 3.5)] and ids2.tolist() == [0, 2]
    assert spill.club(1)[1].tolist() == [0]
    spill.close()


def test_weak_ties_follow_renumbered_members_and_report_a_lost_one() -> None:
    weak_club = np.array([[1, -1, 0], [1, 2, -1]], dtype=np.int32)
    weak_member = np.array([[3, 5, 1], [0, 4, 9]], dtype=np.int32)
    offset = np.array([-1, 0, -1], dtype=np.int64)  # club 1 renumbered: 0 -> 0, 1 -> -1 (left), 2 -> 1, 3 -> 2
    renumbered = np.array([0, -1, 1, 2], dtype=np.int64)
    assert remap_weak_members(weak_club, weak_member, offset, renumbered) == 0
    assert weak_member.tolist() == [[2, 5, 1], [0, 4, 9]]  # only live entries naming club 1 change
    weak_member[0, 0] = 1
    assert remap_weak_members(weak_club, weak_member, offset, renumbered) == 1
