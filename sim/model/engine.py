"""The numba engine's state holder: builds the arrays, runs phases or whole runs, reads results.

`ClubEngine` owns one club's arrays (`sim.model.state`), its random streams among them.
`ClubModel` (Mesa) calls its phase methods week by week; `simulate` calls
`run_to` for the Monte Carlo fast path, which runs every week inside one
numba call. Both call the same kernels, so both give identical results.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.kernels import summary
from sim.kernels.accounts import settle_accounts
from sim.kernels.decisions import members_decide
from sim.kernels.draws import require_pcg64, root_seed
from sim.kernels.hunting import hunt
from sim.kernels.layout import (
    ACTIVE,
    CLOSED,
    DISSOLVED,
    EXIT_NAMES,
    N_MEMBERS,
    N_SERIES,
    NEXT_ID,
    S_HUNTER_SHARE,
    S_MEMBERS,
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
from sim.model.metrics import EXIT_REASONS, MEMBER_COLUMNS, MEMBER_TYPES, ROI_INPUTS, SERIES_COLUMNS, roi
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
assert TYPE_NAMES == MEMBER_TYPES and EXIT_NAMES[1:] == EXIT_REASONS, "the kernels' codes must match sim.model.metrics"
# the kernel's own Python function: calling into numba would unbox the state tuples (~50 us a call)
_room_for_a_week = getattr(room_for_a_week, "py_func", room_for_a_week)
MEMBER_TYPE_NAMES = np.array(TYPE_NAMES, dtype=object)
EXIT_REASON_NAMES = np.array(EXIT_NAMES, dtype=object)
FLOAT_SERIES = frozenset({"business", "direct_sales", "attendance_rate", "mean_tie", "hunter_share", "fees_collected",
                          "cross_club_business"})


def records_for_run(params: np.record, founders: int, years: int) -> int:
    """Member records a club's run starts with: `member_records_for`'s, and half the capacity a year more, twice
    a BNI chapter's turnover (a quarter a year), so that a run seldom grows them: each growth costs another
    call into numba (50 us, unboxing the state) and a copy."""
    return member_records_for(params, founders) + params.capacity * years // 2


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
        self.members = allocate_members(records_for_run(self.params, config.club.founders, config.years))
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
        decay_ties(self.params, self.slots, self.club, False)

    def settle_accounts(self) -> None:
        settle_accounts(self.params, self.members, self.slots, self.club, self.week, False)

    def members_decide(self) -> None:
        members_decide(self.params, self.members, self.slots, self.club, self.week)

    def apply_club_rules(self, meeting: bool) -> None:
        apply_club_rules(self.params, self.members, self.slots, self.club, self.candidates,
                         self.week, meeting)

    def close_week(self) -> None:
        close_week(self.slots, self.club, self.series, self.week, False)
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

    def weekly(self, column: str) -> np.ndarray:
        """One column of the weekly series (`SERIES_COLUMNS`), as the engine holds it (float64), without the others."""
        return self.series[:self.week, SERIES_COLUMNS.index(column)]

    def summary(self) -> dict[str, Any]:
        """The run summary, `sim.model.metrics.summarize` of the tables above, from the arrays directly."""
        return club_summary(self.series, self.members, self.members_ever, self.week)

    def tenures(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each member's tenure in years, whether it ended in an exit of the member's own or the club's rules
        (not censored: still a member, or dissolved), and the member's type code (`MEMBER_TYPES`' order)."""
        records = self.members.view(np.ndarray)[:self.members_ever]  # a recarray's slicing is Python
        exit_week, reason = records["exit_week"].astype(np.int64), records["exit_reason"]
        tenure = (np.where(exit_week >= 0, exit_week, self.week) - records["join_week"]) / 52.0
        return tenure, (reason != ACTIVE) & (reason != DISSOLVED), records["member_type"].astype(np.int64)

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
    exit_week, join_week = m["exit_week"].astype(np.int64), m["join_week"].astype(np.int64)  # records keep 16 bits
    end = np.where(exit_week >= 0, exit_week, week)
    columns = {
        "member_id": np.arange(n),
        "member_type": MEMBER_TYPE_NAMES[m["member_type"]],
        "profession": m["profession"].astype(np.int64),
        "sector": m["sector"].astype(np.int64),
        "founder": m["founder"],
        "join_week": join_week,
        "exit_week": exit_week,
        "exit_reason": EXIT_REASON_NAMES[m["exit_reason"]],
        "tenure_years": (end - join_week) / 52.0,
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


def _finite(value: float) -> float | None:
    """A summary's number as `summarize` gives it: None where it does not exist (NaN) or is not finite."""
    return value if math.isfinite(value) else None


def club_summary(series: np.ndarray, records: np.ndarray, n: int, weeks: int) -> dict[str, Any]:
    """`sim.model.metrics.summarize` of a club's weekly series (the first `weeks` rows of its matrix) and its
    first `n` member records at week `weeks`, value for value, without building their tables (0.7 ms of a
    10-year chapter's replication, against 40 us here): `sim.kernels.summary.club_summary` computes the numbers."""
    if weeks < 1:
        raise ValueError("a run's summary needs at least one week of its series")
    totals, numbers = np.empty(series.shape[1]), np.empty(summary.N_NUMBERS)
    summary.club_summary(series, records, n, weeks, totals, numbers)
    total = dict(zip(SERIES_COLUMNS, totals.tolist(), strict=True))
    number = numbers.tolist()
    exits_by_reason = {reason: int(total[f"exits_{reason}"]) for reason in EXIT_REASONS}
    member_years = total["members"] / 52.0
    business, referrals = total["business"], total["referrals"]
    members_final = int(series[weeks - 1, S_MEMBERS])

    def per_member_year(value: float) -> float | None:
        return _finite(value / member_years) if member_years > 0 else 0.0

    return {
        "members_final": members_final,
        "churn_rate_annual": per_member_year(sum(v for k, v in exits_by_reason.items() if k != "dissolved")),
        "retention_first_year": _finite(number[summary.RETENTION_FIRST_YEAR]),
        "median_tenure_years": _finite(number[summary.MEDIAN_TENURE]),
        "business_per_member_year": per_member_year(business),
        "referrals_per_member_year": per_member_year(referrals),
        "roi_mean": _finite(number[summary.ROI_MEAN]),
        "roi_median": _finite(number[summary.ROI_MEDIAN]),
        "roi_by_type": {name: _finite(number[k]) for name, k in zip(MEMBER_TYPES, summary.ROI_BY_TYPE, strict=True)},
        "share_positive_roi": _finite(number[summary.SHARE_POSITIVE_ROI]),
        "hunter_share_final": _finite(float(series[weeks - 1, S_HUNTER_SHARE])),
        "fee_income_total": _finite(total["fees_collected"]),
        "survived": exits_by_reason["dissolved"] == 0 and members_final > 0,
        "sphere_share": _finite(total["sphere_referrals"] / referrals) if referrals > 0 else None,
        "visitors_per_meeting": _finite(number[summary.VISITORS_PER_MEETING]),
        "joins_total": int(total["joins"]),
        "exits_by_reason": exits_by_reason,
        "business_total": _finite(business),
        "cross_club_business_total": _finite(total["cross_club_business"]),
        "direct_sales_total": _finite(total["direct_sales"]),
        "member_years": _finite(member_years),
        "mean_members": _finite(total["members"] / weeks),
        "weeks": weeks,
    }
