"""The numba engine for a region of clubs (docs/ODD.md 7.8): builds the clubs, runs, reads results.

`RegionEngine` holds one market and one generator for the whole region, each club's
single-club arrays (`sim.model.state`) in numba typed lists, and the region's own arrays (all
clubs' slots and weak ties, `sim.model.state.Region`); `sim.kernels.region.run_region_weeks`
walks them week by week. Results come back per club (the
same series and member columns as a single club); `sim.model.metrics.region_series` and
`sim.model.runner` add them up for the region.
"""

from __future__ import annotations

import numpy as np
from numba.typed import List

from sim.kernels.draws import require_pcg64
from sim.kernels.layout import N_MEMBERS, N_SERIES, NEXT_ID
from sim.kernels.membership import found_club
from sim.kernels.region import clubs_without_room, region_has_room, run_region_weeks, tabulate_decay
from sim.model.engine import members_columns, series_columns
from sim.model.market import Market, make_market
from sim.model.scenario import ScenarioConfig
from sim.model.state import (
    allocate_candidates,
    allocate_club,
    allocate_members,
    allocate_region,
    allocate_slots,
    allocate_work,
    grow_members,
    make_market_arrays,
    make_params,
    make_region_params,
    member_records_for,
    weak_ties_of,
)


class RegionEngine:
    """A region's clubs in typed lists, one generator; runs all weeks inside numba."""

    @property
    def rng(self) -> np.random.Generator:
        """The run's generator (read-only: the kernels draw from PCG64 only, checked when the engine is built)."""
        return self._rng

    def __init__(self, config: ScenarioConfig, rng: np.random.Generator):
        self.config = config
        self._rng = require_pcg64(rng)
        self.market: Market = make_market(config.market, rng)
        self.market_arrays = make_market_arrays(self.market, config.market.own_sector_boost)
        self.region_params = make_region_params(config)
        clubs = config.region_clubs()
        self.club_names = [name for name, _ in clubs]
        params_of: dict[int, np.record] = {}  # clubs of one group share their parameter record
        self.P, self.M, self.S, self.C, self.K, self.SE = (List() for _ in range(6))
        region = allocate_region([spec.capacity for _, spec in clubs], self.market_arrays,
                                 config.region.weak_ties_per_member, config.weeks)
        tabulate_decay(region.keep_power, config.ties.decay)
        work = allocate_work(max(spec.capacity for _, spec in clubs))  # clubs run one after another
        for c, (_, spec) in enumerate(clubs):
            if id(spec) not in params_of:
                params_of[id(spec)] = make_params(config.model_copy(update={"club": spec}))
            params = params_of[id(spec)]
            rows = slice(region.slot_start[c], region.slot_start[c + 1])
            members = allocate_members(member_records_for(params, spec.founders))
            slots = allocate_slots(params, member=region.slot_member[rows], week_gain=region.week_gain[rows],
                                   work=work)
            club = allocate_club(params, self.market_arrays, week_stats=region.week_stats[c])
            candidates = allocate_candidates()
            found_club(rng, params, spec.founders, members, slots, club, candidates, self.market_arrays)
            region.weak_owner[rows] = slots.member  # the founders own their (empty) rows
            self.P.append(params)
            self.M.append(members)
            self.S.append(slots)
            self.C.append(club)
            self.K.append(candidates)
            # float32: counts stay exact and money keeps 7 significant digits (a cent of a week's 100,000 EUR),
            # at half the memory of float64 (46 KB a club over 10 years instead of 91 KB)
            self.SE.append(np.zeros((config.weeks, N_SERIES), dtype=np.float32))
        self.region = region
        self.week = 0

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

    def run_to(self, stop: int | None = None) -> None:
        """Run weeks up to `stop` (default: the horizon) inside numba."""
        stop = self.config.weeks if stop is None else min(stop, self.config.weeks)
        assert stop < len(self.region.keep_power)  # the kernels read decay at ages up to stop - 1, unchecked
        while self.week < stop:
            if not region_has_room(self.P, self.M, self.C):
                self._make_room()
            self.week = int(
                run_region_weeks(self.rng, self.region_params, self.P, self.market_arrays, self.M, self.S,
                                 self.C, self.K, self.SE, self.region, self.week, stop)
            )

    def _make_room(self) -> None:
        # only the clubs found short are touched: reading a typed list from Python costs ~10 us an item
        for c in clubs_without_room(self.P, self.M, self.C):
            members = self.M[c]
            self.M[c] = grow_members(members, 2 * len(members.member_type))

    # ------------------------------------------------------------------ results

    def club_series_columns(self, c: int) -> dict[str, np.ndarray]:
        return series_columns(self.SE[c], self.week)

    def club_members_columns(self, c: int) -> dict[str, np.ndarray]:
        return members_columns(self.M[c], int(self.C[c].counters[NEXT_ID]), self.week)
