"""The numba engine for a region of clubs (docs/ODD.md 7.8): builds the clubs, runs, reads results.

`RegionEngine` holds one market for the whole region, each club's single-club arrays and random
streams (`sim.model.state`) in numba typed lists, the region's own arrays (all clubs' slots and
weak ties, `sim.model.state.Region`) and one `Lane` per thread. On one thread
`sim.kernels.region.run_region_weeks` walks whole weeks; on several, each phase of a week runs its
lanes of clubs on a thread pool (numba releases the GIL), and the region's phases in between run on
one. Results are identical whatever the number of threads. Results come back per club (the
same series and member columns as a single club); `sim.model.metrics.region_series` and
`sim.model.runner` add them up for the region. With `outputs="stream"` each club's weekly series is a
ring of a quarter's weeks, written out to a temporary file each time it fills, and the records of the
members who left are written out too, their rows reused (`sim.model.streamed`): the same results,
without holding every week of every club nor every member ever.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from sim.kernels.draws import require_pcg64, root_seed
from sim.kernels.layout import N_MEMBERS, N_SERIES, NEXT_ID
from sim.kernels.lists import replace_item, typed_list
from sim.kernels.membership import found_club
from sim.kernels.region import (
    clubs_without_room,
    lane_areas_meet,
    lane_close_week,
    lane_deliver,
    lane_meet_and_refer,
    lane_second_circle,
    lane_settle_and_decide,
    region_deliver_entry,
    region_has_room,
    region_meet_entry,
    region_transfer_and_untie_entry,
    run_region_weeks,
    tabulate_decay,
)
from sim.kernels.streaming import remap_weak_members
from sim.model.engine import members_columns, series_columns
from sim.model.market import Market, make_market
from sim.model.runner import OUTPUTS
from sim.model.scenario import ScenarioConfig
from sim.model.state import (
    allocate_alias_scratch,
    allocate_club,
    allocate_clubs_candidates,
    allocate_clubs_members,
    allocate_clubs_pairs,
    allocate_lane,
    allocate_members,
    allocate_region,
    allocate_slots,
    allocate_work,
    ceilings_after_sales,
    grow_members,
    lane_bounds,
    make_market_arrays,
    make_params,
    make_region_params,
    member_records_for,
    release_rows,
    weak_ties_of,
)
from sim.model.streamed import STREAM_RING_WEEKS, MemberSpill, SeriesSpill, StreamedSeries

CLUBS_PER_THREAD = 100  # by default, a region gets a thread per this many clubs (up to the usable cores)


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_threads(clubs: int) -> int:
    """The usable cores, but no more than one per CLUBS_PER_THREAD clubs: a small region's week is too short
    to share."""
    return max(1, min(usable_cores(), clubs // CLUBS_PER_THREAD))


class RegionEngine:
    """A region's clubs in typed lists, each with its own random streams; runs weeks inside numba, on
    `threads` threads (default: `default_threads`; at most one per club). `outputs="stream"` keeps the
    clubs' weekly series in a temporary file in `spill_dir` (default: the system's temporary folder)
    instead of memory, written every `STREAM_RING_WEEKS` weeks, and there too the records of the members
    who left by then, whose rows are reused (`compact_members`; `sim.model.streamed`)."""

    @property
    def rng(self) -> np.random.Generator:
        """The run's generator (read-only: it built the market and drew the streams' root)."""
        return self._rng

    def __init__(self, config: ScenarioConfig, rng: np.random.Generator, threads: int | None = None,
                 outbox: int | None = None, outputs: str = "memory", spill_dir: str | Path | None = None):
        self.config = config
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, not {threads}")
        if outputs not in OUTPUTS:
            raise ValueError(f"unknown outputs {outputs!r}; use one of {OUTPUTS}")
        self._rng = require_pcg64(rng)
        self.market: Market = make_market(config.market, rng)
        self.root_seed = root_seed(rng)  # club c draws from streams (c, process) of this root, the region from its own
        self.market_arrays = make_market_arrays(self.market, config.market.own_sector_boost)
        self.region_params = make_region_params(config)
        clubs = config.region_clubs()
        self.club_names = [name for name, _ in clubs]
        params_of: dict[int, np.record] = {}  # clubs of one group share their parameter record
        P, M, S, C, K, SE = ([] for _ in range(6))  # typed lists once filled (`typed_list`)
        capacities = [spec.capacity for _, spec in clubs]
        region = allocate_region(capacities, config.region.weak_ties_per_member, config.weeks, self.root_seed,
                                 len(self.market_arrays.sector_size))
        tabulate_decay(region.keep_power, config.ties.decay)
        self.lanes = lane_bounds(capacities, threads or default_threads(len(capacities)))
        # the lanes as a typed list (for `run_region_weeks`) and as tuples (for the pool: no typed list's getitem)
        self._lane_items = [allocate_lane(first, last, capacities, self.market_arrays,
                                          config.region.weak_ties_per_member, outbox) for first, last in self.lanes]
        self.L = typed_list(self._lane_items)
        lane_of = np.repeat(np.arange(len(self.lanes)), [last - first for first, last in self.lanes])
        # the weeks each club's series holds: all of them, or a ring that close_week fills at week % ring
        self.ring = config.weeks if outputs == "memory" else max(1, min(STREAM_RING_WEEKS, config.weeks))
        self.spill = SeriesSpill(len(clubs), self.ring, spill_dir) if outputs == "stream" else None
        self._rings: list[np.ndarray] = []  # SE's arrays, read from Python without a typed list's ~10 us an item
        self._records: list[np.ndarray] = []  # M's and C's counters, likewise
        self._counters: list[np.ndarray] = []
        self._capacities = capacities
        # scratch, shared by the clubs of a lane: they run in turn
        works = [allocate_work(max(capacities)) for _ in self.lanes]
        alias_scratch = [allocate_alias_scratch(max(len(self.market_arrays.profession_sector), *capacities))
                         for _ in self.lanes]
        for _, spec in clubs:
            if id(spec) not in params_of:
                params_of[id(spec)] = make_params(config.model_copy(update={"club": spec}))
        clubs_members = allocate_clubs_members([member_records_for(params_of[id(spec)], spec.founders)
                                                for _, spec in clubs])
        clubs_candidates = allocate_clubs_candidates(len(clubs))
        clubs_pairs = allocate_clubs_pairs(capacities)
        ceilings_of = {key: ceilings_after_sales(params.trust_loss, params.weeks) for key, params in params_of.items()}
        for c, (_, spec) in enumerate(clubs):
            work = works[lane_of[c]]
            params = params_of[id(spec)]
            rows = slice(region.slot_start[c], region.slot_start[c + 1])
            members = clubs_members[c]
            slots = allocate_slots(params, member=region.slot_member[rows], week_gain=region.week_gain[rows],
                                   work=work, pairs=clubs_pairs[c], ceiling_after=ceilings_of[id(spec)])
            club = allocate_club(params, self.market_arrays, self.root_seed, c, week_stats=region.week_stats[c],
                                 alias_scratch=alias_scratch[lane_of[c]])
            candidates = clubs_candidates[c]
            found_club(params, spec.founders, members, slots, club, candidates, self.market_arrays)
            region.weak_owner[rows] = slots.member  # the founders own their (empty) rows
            P.append(params)
            M.append(members)
            self._records.append(members)
            self._counters.append(club.counters)
            S.append(slots)
            C.append(club)
            K.append(candidates)
            # float32: counts stay exact and money keeps 7 significant digits (a cent of a week's 100,000 EUR),
            # at half the memory of float64 (46 KB a club over 10 years instead of 91 KB)
            self._rings.append(np.zeros((self.ring, N_SERIES), dtype=np.float32))
            SE.append(self._rings[-1])
        self.P, self.M, self.S, self.C, self.K, self.SE = (typed_list(items) for items in (P, M, S, C, K, SE))
        self.region = region
        self.week = 0
        self.member_spill = MemberSpill(self._records[0].dtype, len(clubs), spill_dir) if self.spill else None
        # streaming, record i of club c holds member id live_ids[c][i] below len(live_ids[c]), and ever[c] + i -
        # len(live_ids[c]) from there (ever[c]: the club's members ever at its last compaction)
        self._live_ids = [np.zeros(0, dtype=np.int64) for _ in clubs]
        self._ever = np.zeros(len(clubs), dtype=np.int64)

    @property
    def finished(self) -> bool:
        return self.week >= self.config.weeks

    @property
    def W(self) -> list:  # noqa: N802 (named like the typed lists P, M, S, C, K)
        """Each club's weak ties (`sim.model.state.WeakTies`, views of the region's arrays)."""
        return [weak_ties_of(self.region, c) for c in range(len(self.C))]

    @property
    def member_count(self) -> int:
        return int(sum(club.counters[N_MEMBERS] for club in self.C))

    @property
    def threads(self) -> int:
        return len(self.lanes)

    @property
    def outputs(self) -> str:
        return "memory" if self.spill is None else "stream"

    def run_to(self, stop: int | None = None) -> None:
        """Run weeks up to `stop` (default: the horizon) inside numba; a streaming region writes its
        series out each time its rings fill (its last weeks when its results are read)."""
        stop = self.config.weeks if stop is None else min(stop, self.config.weeks)
        assert stop < len(self.region.keep_power)  # the kernels read decay at ages up to stop - 1, unchecked
        while self.week < stop:
            self._run_weeks(min(stop, (self.week // self.ring + 1) * self.ring))  # not past a full ring
            if self.spill is not None and self.week % self.ring == 0:
                self.spill.write(self._rings, self.week)
                self.compact_members()

    def _run_weeks(self, stop: int) -> None:
        if self.threads > 1:
            room = region_has_room(self.P, self.M, self.C)
            with ThreadPoolExecutor(self.threads, thread_name_prefix="clubsim-lane") as pool:
                while self.week < stop:
                    if not room:
                        self._make_room()
                    room = self._run_week_threaded(pool)
                    self.week += 1
            return
        while self.week < stop:
            if not region_has_room(self.P, self.M, self.C):
                self._make_room()
            self.week = int(
                run_region_weeks(self.region_params, self.P, self.market_arrays, self.M, self.S,
                                 self.C, self.K, self.SE, self.region, self.L, self.week, stop)
            )

    def _run_week_threaded(self, pool: ThreadPoolExecutor) -> bool:
        """One week, `run_region_weeks`' phases in its order: the club phases lane by lane on the pool. Returns
        whether every club's member records hold another week's joins (each lane checks its own clubs)."""
        rp, P, market, M, S, C, K, SE, region, L = (self.region_params, self.P, self.market_arrays, self.M,
                                                     self.S, self.C, self.K, self.SE, self.region, self.L)
        week = self.week

        def each_lane(kernel, args) -> list:
            futures = [pool.submit(kernel, *args(t, first, last)) for t, (first, last) in enumerate(self.lanes)]
            return [future.result() for future in futures]

        each_lane(lane_meet_and_refer, lambda t, first, last: (P, market, M, S, C, K, region, first, last, week))
        partners = region_meet_entry(rp, P, M, S, region, week)
        if len(partners) > 0:  # an event's meetings, area by area on the lanes (`areas_from`)
            each_lane(lane_areas_meet, lambda t, first, last: (rp, M, region, partners, first, last, week))
        if rp.second_circle:
            lanes = self._lane_items
            second_circle_args = lambda t, first, last: (P, market, M, S, C, region, lanes[t], first, week)  # noqa: E731
            lane_next = np.array(each_lane(lane_second_circle, second_circle_args), dtype=np.int64)
            if all(lane_next[t] == last for t, (_, last) in enumerate(self.lanes)):
                # every outbox holds its lane's whole week: each lane delivers to its own clubs
                each_lane(lane_deliver, lambda t, first, last: (M, region, L, first, last))
                for lane in lanes:
                    lane.out_used[0] = 0
            else:  # an outbox filled up before its lane's last club: one thread delivers and finishes the lane
                region_deliver_entry(P, market, M, S, C, region, L, lane_next, week)
        each_lane(lane_settle_and_decide, lambda t, first, last: (P, M, S, C, K, region, first, last, week))
        region_transfer_and_untie_entry(rp, P, M, S, C, K, region, week)
        return all(each_lane(lane_close_week, lambda t, first, last: (P, M, S, C, SE, first, last, week)))

    def _make_room(self) -> None:
        # only the clubs found short are touched: reading a typed list from Python costs ~10 us an item
        for c in clubs_without_room(self.P, self.M, self.C):
            members = self._records[c]
            self._records[c] = grow_members(members, 2 * len(members.member_type), untouched=True)
            replace_item(self.M, c, self._records[c])
            release_rows(members, 0)  # the club's first records, if these were: the region's array keeps them

    def _record_ids(self, c: int, n: int) -> np.ndarray:
        """The member ids of club c's records 0..n-1."""
        live = self._live_ids[c]
        return np.concatenate([live[:n], self._ever[c] + np.arange(max(n - len(live), 0))])

    def compact_members(self) -> None:
        """Streaming, between weeks: in each club holding the records of half its capacity's worth of members
        who left (or more), their records are written to the spill file (their weak ties ended with their
        week), the others move up in their order, and every member index is renumbered (slots, weak ties'
        owners and other ends); the club's records shrink to its members and two weeks of joins. Nothing
        that draws or adds up depends on where a record is: a run is the same."""
        region, clubs = self.region, len(self._records)
        # most clubs are not due: they all share one empty batch (a recarray slice per club cost 10 us)
        no_records, no_ids = self._records[0][:0].view(np.ndarray), np.zeros(0, dtype=np.int64)
        gone: list[np.ndarray] = []
        gone_ids: list[np.ndarray] = []
        new_index: list[np.ndarray] = []
        offset = np.full(clubs, -1, dtype=np.int64)  # where club c's renumbering starts in `renumbered`, if any
        at = 0
        for c in range(clubs):
            counters = self._counters[c]
            n = int(counters[NEXT_ID])
            # a club's records are renumbered every few years, not each quarter (70 us a club, 9 % of a run)
            if 2 * (n - int(counters[N_MEMBERS])) < self._capacities[c]:
                gone.append(no_records)
                gone_ids.append(no_ids)
                continue
            records = self._records[c].view(np.ndarray)  # plain: fields read in C
            left = records["exit_week"][:n] >= 0
            ids = self._record_ids(c, n)
            stay = ~left
            kept = int(stay.sum())
            gone.append(records[:n][left])
            gone_ids.append(ids[left])
            index = np.full(n, -1, dtype=np.int64)
            index[stay] = np.arange(kept)
            offset[c], at = at, at + n
            new_index.append(index)
            records[:kept] = records[:n][stay]
            records[kept:n] = 0  # admit adds to a new member's zeroed accounts
            counters[NEXT_ID] = kept
            self._ever[c] += n - len(self._live_ids[c])
            self._live_ids[c] = ids[stay]
            rows = slice(region.slot_start[c], region.slot_start[c + 1])
            for member in (region.slot_member[rows], region.weak_owner[rows]):
                held = member >= 0
                member[held] = index[member[held]]
            size = kept + 2 * self._capacities[c]  # two weeks of joins, as a club's first records
            # the records stay where they are, the memory of the rows freed given back (on Windows, they shrink)
            if not release_rows(records, kept) and len(records) > size:
                smaller = allocate_members(size, untouched=True)
                smaller.view(np.ndarray)[:kept] = records[:kept]
                self._records[c] = smaller
                replace_item(self.M, c, smaller)
        self.member_spill.write(gone, gone_ids)
        if new_index and remap_weak_members(region.weak_club, region.weak_member, offset, np.concatenate(new_index)):
            raise AssertionError("a weak tie outlived its member")

    # ------------------------------------------------------------------ results

    def club_series_columns(self, c: int) -> dict[str, np.ndarray]:
        if self.spill is None:
            return series_columns(self._rings[c], self.week)
        self.spill.write(self._rings, self.week)  # the weeks since the ring last filled
        return series_columns(self.spill.club(c), self.week)

    def clubs_series(self) -> Sequence[dict[str, np.ndarray]]:
        """Every club's series by column: a list, or streaming, a sequence reading each from the spill file
        when asked for (it holds the file, not the engine)."""
        if self.spill is None:
            return [self.club_series_columns(c) for c in range(len(self._rings))]
        self.spill.write(self._rings, self.week)
        return StreamedSeries(self.spill)

    def club_members_columns(self, c: int) -> dict[str, np.ndarray]:
        """Club c's members ever by column; streaming, those who left read back from the spill file and put
        in member id order with those still in the club."""
        n = int(self._counters[c][NEXT_ID])
        if self.member_spill is None:
            return members_columns(self._records[c], n, self.week)
        gone, gone_ids = self.member_spill.club(c)
        ids = np.concatenate([gone_ids, self._record_ids(c, n)])
        order = np.argsort(ids, kind="stable")
        if not np.array_equal(ids[order], np.arange(len(ids))):
            raise AssertionError(f"club {c}'s member records lost track of their ids")
        records = np.concatenate([gone, self._records[c][:n].view(np.ndarray)])[order]
        return members_columns(records, len(records), self.week)
