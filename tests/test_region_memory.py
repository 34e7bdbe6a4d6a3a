"""A region's memory (issue 20): member records and candidates in memory committed only where written
(`sim.model.state.untouched_zeros` and `release_rows`, read through the pages the system holds), and scratch
shared by the clubs of a thread."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from resident import PAGE, resident_bytes  # this folder's helpers
from schema_bounds import schema_bound

from sim.kernels.layout import N_HELD, NEXT_ID
from sim.model.region import RegionEngine
from sim.model.scenario import load_config
from sim.model.state import MEMBER_DTYPE, release_rows, untouched_zeros

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="resident pages read with mincore")

BNI = Path(__file__).resolve().parent.parent / "scenarios" / "bni_chapter.yaml"


def test_untouched_zeros_take_memory_only_where_written() -> None:
    # (resident pages are read before any read of the zeros: reading maps the system's one page of zeros)
    values = untouched_zeros(1_000_000, np.dtype(np.int64))  # 8 MB: numpy's own zeros would take huge pages
    assert resident_bytes(values) == 0
    values[500_000] = 7
    values[0] = 1
    assert resident_bytes(values) == 2 * PAGE
    assert values.flags.writeable and values.sum() == 8 and np.count_nonzero(values) == 2


def test_released_rows_read_zero_and_give_back_their_whole_pages_only() -> None:
    rows = untouched_zeros(3_000, MEMBER_DTYPE).view(np.recarray)
    rows.join_week[:] = np.arange(3_000)
    club = rows[1_000:2_000]  # its neighbours' rows share its first and last pages
    before = resident_bytes(rows)
    assert release_rows(club, 100)
    assert before - resident_bytes(rows) >= 900 * MEMBER_DTYPE.itemsize - 2 * PAGE  # read before the rows are
    assert (club.join_week[:100] == np.arange(1_000, 1_100)).all()  # below `first`: kept
    assert (rows.join_week[:1_000] == np.arange(1_000)).all()  # the neighbours, whole
    assert (rows.join_week[2_000:] == np.arange(2_000, 3_000)).all()
    released = club.join_week[100:] == 0
    kept_at_the_ends = (~released).sum()  # rows on the pages it shares with rows it must keep
    assert kept_at_the_ends * MEMBER_DTYPE.itemsize < 2 * PAGE


def test_rows_of_other_arrays_are_left_as_they_are() -> None:
    plain = np.arange(10_000)
    assert not release_rows(plain, 10)
    assert (plain == np.arange(10_000)).all()


def test_a_regions_candidates_and_records_take_memory_only_as_used() -> None:
    """200 chapters for a year: a week's few applicants touch a page or two of a club's 256 candidate rows
    (25 KB), and its records only those of its members ever, not its two weeks of joins' room."""
    config = load_config(BNI, {"years": 1, "club.founders": 25, "region.clubs": 200}).config
    region = RegionEngine(config, np.random.default_rng(1), threads=1)
    region.run_to()
    candidates = [region.K[c] for c in range(200)]
    taken = sum(resident_bytes(rows) for rows in candidates)
    assert taken < 0.25 * sum(rows.nbytes for rows in candidates)  # a page of six a club
    records = [region._records[c] for c in range(200)]
    used = sum(int(club.counters[NEXT_ID]) for club in region.C) * MEMBER_DTYPE.itemsize
    taken = sum(resident_bytes(rows) for rows in records)
    assert taken < used + 200 * 2 * PAGE  # its members' records, and the pages they straddle
    assert sum(rows.nbytes for rows in records) - taken >= 200 * PAGE  # a page of room a club, untouched


def test_a_streamed_regions_compacted_records_give_their_memory_back(tmp_path: Path) -> None:
    """Streaming, a club's compaction moves its members' records up and hands back the pages of the rows
    freed: what stays resident past its records in use is the pages they share with records in use."""
    # without crowding, chapters of 25 keep recruiting briskly, and some outgrow their first records
    config = load_config(BNI, {"years": 6, "club.founders": 25, "region.clubs": 40,
                               "club.recruitment.crowding": 0.0}).config
    region = RegionEngine(config, np.random.default_rng(2), threads=1, outputs="stream", spill_dir=tmp_path)
    first = list(region._records)  # each club's first records, a slice of the region's
    region.run_to()
    held = [int(club.counters[NEXT_ID]) for club in region.C]
    past_use = [resident_bytes(region._records[c][held[c]:]) for c in range(40)]  # before any read of them
    compacted = [c for c in range(40) if len(region.member_spill.club(c)[0]) > 0]
    assert len(compacted) >= 30
    assert max(past_use[c] for c in compacted) <= 3 * PAGE  # the page at held, the last, the neighbour's
    # a club that grew out of its first records (room for two weeks of joins) has records of its own, likewise,
    # and gives the memory of its first ones back
    grown = [c for c in range(40) if region._records[c] is not first[c]]
    assert grown and max(resident_bytes(first[c]) for c in grown) <= 2 * PAGE  # the pages its neighbours share


def test_the_clubs_of_a_thread_share_their_alias_tables_scratch() -> None:
    config = load_config(BNI, {"years": 1, "club.founders": 25, "region.clubs": 6}).config
    region = RegionEngine(config, np.random.default_rng(1), threads=2)  # clubs 0-2 and 3-5
    scratch = [(club.alias_scaled, club.alias_small, club.alias_large) for club in region.C]
    for c in (1, 2, 4, 5):
        lead = c - c % 3
        assert all(np.shares_memory(mine, its) for mine, its in zip(scratch[c], scratch[lead], strict=True))
    assert not any(np.shares_memory(mine, its) for mine, its in zip(scratch[0], scratch[3], strict=True))


def test_without_a_mapping_to_spare_the_zeros_are_numpys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process out of memory mappings (tens of thousands of clubs whose records grew) gets numpy's zeros,
    which `release_rows` leaves alone: the region then shrinks a compacted club's records instead."""
    import mmap

    def no_mapping(*args, **kwargs):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(mmap, "mmap", no_mapping)
    values = untouched_zeros(1_000, MEMBER_DTYPE)
    assert values.dtype == MEMBER_DTYPE and len(values) == 1_000 and values.base is None
    assert not release_rows(values, 10)


def test_the_scenarios_limits_fit_the_weak_ties_16_bit_fields() -> None:
    """A weak tie's slot, profession and week, and a bridged profession and its position in a club's index,
    are kept in 16 bits: raising a limit of the scenario beyond them fails here, not in a run."""
    from sim.model.scenario import ClubSpec, MarketSpec, ScenarioConfig
    from sim.model.state import SCHEMA_INT16

    largest = np.iinfo(SCHEMA_INT16).max
    assert schema_bound(ClubSpec, "capacity") - 1 <= largest  # a slot
    assert schema_bound(MarketSpec, "professions") - 1 <= largest  # a profession, and a bridged position
    assert schema_bound(ScenarioConfig, "years") * 52 <= largest  # a week


def test_a_weak_ties_16_bit_fields_hold_what_the_region_writes() -> None:
    """After a run, the 16-bit fields hold the values the region wrote: each entry's slot, profession and week
    agree with the other end's club (its member in that slot, that member's profession) and with the entry
    back (the same week), in a region with weeks and capacities that need more than 8 bits."""
    config = load_config(BNI, {"years": 6, "club.founders": 150, "club.capacity": 300, "region.clubs": 3,
                               "region.interclub_events_per_year": 12}).config
    region = RegionEngine(config, np.random.default_rng(3), threads=1)
    region.run_to()
    r = region.region
    used = r.weak_club >= 0
    assert used.sum() > 1000 and r.weak_slot[used].max() > 127 and r.weak_week[used].max() > 255
    for row, entry in zip(*np.nonzero(used), strict=True):
        other_row = r.slot_start[r.weak_club[row, entry]] + r.weak_slot[row, entry]
        other_member = r.slot_member[other_row]
        if other_member == r.weak_member[row, entry]:  # the other end still in that slot
            other_club = region.M[r.weak_club[row, entry]]
            assert r.weak_profession[row, entry] == other_club.profession[other_member]
            back = (r.weak_club[other_row] >= 0) & (r.weak_week[other_row] == r.weak_week[row, entry])
            assert back.any()


def test_the_scenarios_limits_fit_the_member_records_narrow_fields() -> None:
    """A member's (and a candidate's) codes, profession, sector, slot and weeks, and a club's tables of slots and
    professions, are kept in 16 bits or fewer: raising a limit of the scenario beyond them fails here, not in a
    run."""
    from sim.kernels.layout import EXIT_NAMES, TYPE_NAMES
    from sim.model.scenario import ClubSpec, MarketSpec, ScenarioConfig
    from sim.model.state import CANDIDATE_DTYPE, SCHEMA_INT16

    def largest(dtype: np.dtype, field: str) -> int:
        return int(np.iinfo(dtype[field]).max)

    for dtype in (MEMBER_DTYPE, CANDIDATE_DTYPE):
        assert largest(dtype, "member_type") >= len(TYPE_NAMES) - 1
        assert largest(dtype, "profession") >= schema_bound(MarketSpec, "professions") - 1
        assert largest(dtype, "sector") >= schema_bound(MarketSpec, "sectors") - 1
    assert largest(MEMBER_DTYPE, "slot") >= schema_bound(ClubSpec, "capacity") - 1
    # a club's tables of slots, professions, counts and positions (`SCHEMA_INT16`)
    largest_count = max(schema_bound(ClubSpec, "capacity"), schema_bound(MarketSpec, "professions"))
    assert np.iinfo(SCHEMA_INT16).max >= largest_count
    assert largest(MEMBER_DTYPE, "exit_reason") >= len(EXIT_NAMES) - 1
    for field in ("join_week", "exit_week"):
        assert largest(MEMBER_DTYPE, field) >= schema_bound(ScenarioConfig, "years") * 52


def test_a_members_narrow_fields_hold_what_the_run_writes() -> None:
    """In a club whose slots, professions and weeks need more than 8 bits, every record agrees with the club's
    state (its slot holds it, its profession's sector) and the club's 16-bit tables agree with the records (the
    holders and counts of professions, the held professions), at week 20 (150 founders in slots) and at the
    end, and the member table gives the fields as int64."""
    from sim.model.engine import ClubEngine

    config = load_config(BNI, {"years": 8, "club.founders": 150, "club.capacity": 300, "market.professions": 5000,
                               "club.min_viable_size": 0, "club.recruitment.crowding": 0}).config
    engine = ClubEngine(config, np.random.default_rng(5))
    for week, most in ((20, "slot"), (config.weeks, "join_week")):
        engine.run_to(week)
        records = engine.members.view(np.ndarray)[:engine.members_ever]
        present = np.flatnonzero(records["exit_week"] < 0)
        assert records[most].max() > 127 and records["profession"].max() > 255
        assert (engine.slots.member[records["slot"][present]] == present).all()
        assert (records["slot"][records["exit_week"] >= 0] == -1).all()
        assert (engine.market_arrays.profession_sector[records["profession"]] == records["sector"]).all()
        club, slots = engine.club, records["slot"][present]  # its 16-bit tables agree with the records
        professions = records["profession"][present]
        assert (club.profession_count == np.bincount(professions, minlength=len(club.profession_count))).all()
        assert (club.profession_holders[professions, 0] == slots).all()  # exclusivity: one holder each
        held = club.held_professions[:club.counters[N_HELD]]  # as of the week's referrals: leavers' may remain
        assert set(professions.tolist()) <= set(held.tolist()) and held.max() > 255
        left = records["exit_week"] >= 0
        assert (records["join_week"] >= 0).all() and (records["exit_week"][left] >= records["join_week"][left]).all()
    table = engine.members_frame()
    for column in ("profession", "sector", "join_week", "exit_week", "referrals_given", "deals_received"):
        assert table[column].dtype == np.int64
    assert (table["join_week"].to_numpy() == records["join_week"]).all() and table["join_week"].max() > 255
