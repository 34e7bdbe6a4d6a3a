"""The numba engine's state holder: builds the arrays, runs phases or whole runs, reads results.

`ClubEngine` owns one club's arrays (`sim.model.state`), its random streams among them.
`ClubModel` (Mesa) calls its phase methods week by week; `simulate` calls
`run_to` for the Monte Carlo fast path, which runs every week inside one
numba call. Both call the same kernels, so both give identical results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.kernels.accounts import settle_accounts
from sim.kernels.decisions import members_decide
from sim.kernels.draws import require_pcg64, root_seed
from sim.kernels.hunting import hunt
from sim.kernels.layout import (
    CLOSED,
    EXIT_NAMES,
    N_MEMBERS,
    N_SERIES,
    NEXT_ID,
    SERIES_FIELDS,
    TYPE_NAMES,
)
from sim.kernels.meeting import hold_meeting, is_meeting_week
from sim.kernels.membership import found_club
from sim.kernels.referrals import pass_referrals
from sim.kernels.rules import apply_club_rules
from sim.kernels.ties import decay_ties
from sim.kernels.week import close_week, restart_streams, room_for_a_week, run_weeks
from sim.model.market import Market, make_market
from sim.model.metrics import MEMBER_COLUMNS, ROI_INPUTS, SERIES_COLUMNS, roi
from sim.model.scenario import ScenarioConfig
from sim.model.state import (
    allocate_candidates,
    allocate_club,
    allocate_members,
    allocate_slots,
    grow_members,
    make_market_arrays,
    make_params,
    member_records_for,
)

if TYPE_CHECKING:
    import pandas as pd

assert SERIES_FIELDS == SERIES_COLUMNS, "the kernels' series layout must match sim.model.metrics"
# the kernel's own Python function: calling into numba would unbox the state tuples (~50 us a call)
_room_for_a_week = getattr(room_for_a_week, "py_func", room_for_a_week)
MEMBER_TYPE_NAMES = np.array(TYPE_NAMES, dtype=object)
EXIT_REASON_NAMES = np.array(EXIT_NAMES, dtype=object)
FLOAT_SERIES = frozenset({"business", "direct_sales", "attendance_rate", "mean_tie", "hunter_share", "fees_collected",
                          "cross_club_business"})


class ClubEngine:
    """One club's arrays and random streams; week-by-week phases or a whole run.

    The run's generator builds the market, then gives the root of the club's streams
    (`sim.kernels.draws`): the club is club 0 of that root, and each random process draws from its own
    stream (`Club.streams`).
    """

    @property
    def rng(self) -> np.random.Generator:
        """The run's generator (read-only: it built the market and drew the streams' root)."""
        return self._rng

    def __init__(self, config: ScenarioConfig, rng: np.random.Generator):
        self.config = config
        self._rng = require_pcg64(rng)
        self.market: Market = make_market(config.market, rng)
        self.root_seed = root_seed(rng)
        self.params = make_params(config)
        self.market_arrays = make_market_arrays(self.market, config.market.own_sector_boost)
        self.members = allocate_members(member_records_for(self.params, config.club.founders))
        self.slots = allocate_slots(self.params)
        self.club = allocate_club(self.params, self.market_arrays, self.root_seed)
        self.candidates = allocate_candidates()
        self.series = np.zeros((config.weeks, N_SERIES))
        self.week = 0
        found_club(
            self.params, config.club.founders, self.members, self.slots, self.club,
            self.candidates, self.market_arrays,
        )

    # ------------------------------------------------------------------ state

    @property
    def finished(self) -> bool:
        return self.week >= self.config.weeks

    @property
    def closed(self) -> bool:
        return bool(self.club.counters[CLOSED])

    @property
    def member_count(self) -> int:
        return int(self.club.counters[N_MEMBERS])

    @property
    def members_ever(self) -> int:
        return int(self.club.counters[NEXT_ID])

    def _make_room(self) -> None:
        if not _room_for_a_week(self.params, self.members, self.club):
            self.members = grow_members(self.members, 2 * len(self.members.member_type))

    # ------------------------------------------------------------------ phases (ClubModel.step)

    def is_meeting_week(self) -> bool:
        return not self.closed and bool(is_meeting_week(self.week, self.params.meetings_per_year))

    def restart_streams(self) -> None:
        restart_streams(self.club, self.week)

    def hold_meeting(self) -> None:
        self._make_room()
        hold_meeting(self.params, self.market_arrays, self.members, self.slots, self.club,
                     self.candidates, self.week)

    def pass_referrals(self) -> None:
        pass_referrals(self.params, self.market_arrays, self.members, self.slots, self.club, self.week)

    def hunt(self) -> None:
        hunt(self.params, self.market_arrays, self.members, self.slots, self.club, self.week)

    def decay_ties(self) -> None:
        decay_ties(self.params, self.slots)

    def settle_accounts(self) -> None:
        settle_accounts(self.params, self.members, self.slots, self.club, self.week)

    def members_decide(self) -> None:
        members_decide(self.params, self.members, self.slots, self.club, self.week)

    def apply_club_rules(self, meeting: bool) -> None:
        apply_club_rules(self.params, self.members, self.slots, self.club, self.candidates,
                         self.week, meeting)

    def close_week(self) -> None:
        close_week(self.slots, self.club, self.series, self.week)
        self.week += 1

    # ------------------------------------------------------------------ fast path

    def run_to(self, stop: int | None = None) -> None:
        """Run weeks up to `stop` (default: the horizon) inside numba."""
        stop = self.config.weeks if stop is None else min(stop, self.config.weeks)
        while self.week < stop:
            self._make_room()
            self.week = int(
                run_weeks(self.params, self.market_arrays, self.members, self.slots, self.club,
                          self.candidates, self.series, self.week, stop)
            )

    # ------------------------------------------------------------------ results

    def series_columns(self) -> dict[str, np.ndarray]:
        """The weekly series by column (integer counts as int64)."""
        return series_columns(self.series, self.week)

    def members_columns(self) -> dict[str, np.ndarray]:
        """One entry per member ever, by column (`sim.model.metrics.MEMBER_COLUMNS`)."""
        return members_columns(self.members, self.members_ever, self.week)

    def series_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.series_columns())

    def members_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.members_columns())


def series_columns(series: np.ndarray, weeks: int) -> dict[str, np.ndarray]:
    """A club's weekly series matrix (its first `weeks` rows) by column: integer counts as int64, the
    rest as float64 (a region keeps its clubs' series in float32)."""
    rows = series[:weeks]
    return {
        column: rows[:, k].astype(np.float64, copy=False) if column in FLOAT_SERIES else rows[:, k].astype(np.int64)
        for k, column in enumerate(SERIES_COLUMNS)
    }


def members_columns(records: np.recarray, n: int, week: int) -> dict[str, np.ndarray]:
    """A club's first `n` member records by column (`sim.model.metrics.MEMBER_COLUMNS`), at `week`."""
    m = records[:n].view(np.ndarray)  # a field of a plain structured array is read in C, a recarray's in Python
    exit_week = m["exit_week"]
    end = np.where(exit_week >= 0, exit_week, week)
    columns = {
        "member_id": np.arange(n),
        "member_type": MEMBER_TYPE_NAMES[m["member_type"]],
        "profession": m["profession"],
        "sector": m["sector"],
        "founder": m["founder"],
        "join_week": m["join_week"],
        "exit_week": exit_week,
        "exit_reason": EXIT_REASON_NAMES[m["exit_reason"]],
        "tenure_years": (end - m["join_week"]) / 52.0,
        "business_received": m["business_received"],
        "business_given": m["business_given"],
        "referrals_given": m["referrals_given"].astype(np.int64),
        "referrals_received": m["referrals_received"].astype(np.int64),
        "deals_received": m["deals_received"].astype(np.int64),
        "direct_sales": m["direct_sales"],
        "social_value": m["social_value"],
        "fees_paid": m["fees_paid"],
        "hours": m["hours"],
        "time_cost": m["time_cost"],
        "margin": m["margin"],
        "hourly_value": m["hourly_value"],
    }
    columns["roi"] = roi(*(columns[name] for name in ROI_INPUTS))
    return {name: columns[name] for name in MEMBER_COLUMNS}
