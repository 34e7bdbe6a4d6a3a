"""The arrays that hold a club: parameters, market, members, slots and counters.

The numba engine keeps no Python objects in its hot loops: a run is a few
named tuples of numpy arrays and scalars, built here from a validated
scenario, passed to the kernels of `sim.kernels`, and read back by
`sim.model.club` and `sim.model.metrics`. Members have two indexes: a `member_id`
(every member ever; accounts and attributes) and a `slot` (current members
only; ties are a slot x slot matrix so their size is bounded by capacity).
"""

from __future__ import annotations

import mmap
from typing import NamedTuple, get_type_hints

import numpy as np

from sim.kernels.draws import REGION_KEY, make_streams, stream_key
from sim.kernels.layout import (
    COMPLEMENTARITY,
    COMPOSITION_CODES,
    EXCLUSIVITY,
    MAX_VISITORS_PER_MEETING,
    N_CLUB_STREAMS,
    N_COUNTERS,
    N_REGION_STREAMS,
    N_SERIES,
    N_TOTALS,
    N_WORK_INDEX,
    N_WORK_VALUE,
    NEVER,
    NEVER_AGAIN,
)
from sim.kernels.setup import founding_streams, sector_tables
from sim.model.market import Market
from sim.model.scenario import ScenarioConfig


class Params(NamedTuple):
    """Every scenario parameter the kernels read (see docs/ODD.md).

    Declared as a NamedTuple for its field list and types; the kernels get it as a
    numpy record (`as_record`), which numba passes by pointer: a 70-field tuple would
    be passed field by field to every kernel, and compile much slower.
    """

    weeks: int
    meetings_per_year: int
    hours_per_meeting: float
    capacity: int
    min_viable_size: int
    annual_fee: float
    entry_fee: float
    monthly_billing: bool
    composition: int
    max_per_profession: int
    max_per_sector: int
    team_work: float
    interview: bool
    interview_accuracy: float
    false_rejection: float
    committee_hours: float
    attendance_rule: bool
    max_absences: int
    absence_window: int
    contribution_rule: bool
    min_referrals: int
    contribution_window: int
    visitors_per_meeting: float
    satisfaction_weight: float
    crowding: float
    own_sector_share: float
    application_rate: float
    share_giver: float
    share_reciprocator: float
    needs_median: float
    needs_sigma: float
    margin_low: float
    margin_high: float
    hourly_value_median: float
    hourly_value_sigma: float
    attendance_alpha: float
    attendance_beta: float
    propensity_giver: float
    propensity_reciprocator: float
    propensity_hunter: float
    promised_business: float
    expected_business_sigma: float
    wtp_share: float
    expectation_realism: float
    patience_median: float
    patience_sigma: float
    tie_initial: float
    co_attendance_growth: float
    one_to_one_growth: float
    hunter_growth_factor: float
    reciprocity_growth: float
    tie_decay: float
    strong_threshold: float
    attention_span: float
    sphere_one_to_one: float
    pass_floor: float
    conversion_min: float
    conversion_max: float
    reciprocity_prior: float
    reciprocity_saturation: float
    reciprocity_credit_weeks: int
    image_window: int
    image_penalty: float
    sale_probability: float
    trust_loss: float
    gossip: float
    habit_gain: float
    habit_loss: float
    value_smoothing: float
    social_value_per_strong_tie: float
    expectation_learning: float
    renewal_steepness: float
    renewal_base_leave: float
    exogenous_weekly: float
    fatigue: float
    entry_fee_commitment: float
    own_sector_boost: float
    sector_synergy: float
    deal_value_sigma: float


def _record_dtype(fields: dict[str, type]) -> np.dtype:
    numpy_types = {float: np.float64, int: np.int64, bool: np.bool_}
    return np.dtype([(name, numpy_types.get(kind, kind)) for name, kind in fields.items()], align=True)


PARAMS_DTYPE = _record_dtype(get_type_hints(Params))
PARAMS_RECORD = np.dtype((np.record, PARAMS_DTYPE))  # its items are records: attribute access, as the kernels'


def as_record(params: Params) -> np.record:
    """The parameters as one numpy record (attribute access in numba and in plain Python)."""
    return np.rec.array([tuple(params)], dtype=PARAMS_DTYPE)[0]


class MarketArrays(NamedTuple):
    profession_sector: np.ndarray   # int64[P]
    demand_weight: np.ndarray       # float64[P]
    deal_median: np.ndarray         # float64[P]
    need_total: np.ndarray          # float64[S]: total need weight seen by a member of sector s
    sector_professions: np.ndarray  # int64[S, K]: professions of each sector, padded with -1
    sector_size: np.ndarray         # int64[S]
    sector_need_cdf: np.ndarray     # float64[S, K]: cumulative demand weights inside each sector


# Slots, professions, sectors, weeks and the counts and positions bounded by them are 16-bit wherever they are
# kept (member records, a club's tables, weak ties and the bridge index): the scenario schema's limits keep them
# below 2**15 (capacity 1,000, professions 5,000, 100 years of 52 weeks; tests/test_region_memory.py reads the
# limits). Signed, so that -1 marks a free place, and so that numba's arithmetic on them stays signed. A member
# record is 136 bytes, not 192; the tables built from the records give these fields as int64
# (`sim.model.engine.members_columns`).
SCHEMA_INT16 = np.int16

MEMBER_FIELDS: dict[str, type] = {
    # attributes, drawn when the member is created
    "member_type": np.int8, "profession": SCHEMA_INT16, "sector": SCHEMA_INT16, "founder": np.bool_,
    "needs_per_week": np.float64, "margin": np.float64, "hourly_value": np.float64,
    "referral_propensity": np.float64, "willingness_to_pay": np.float64, "patience": np.float64,
    # membership
    "join_week": SCHEMA_INT16, "exit_week": SCHEMA_INT16, "exit_reason": np.int8, "slot": SCHEMA_INT16,
    # accounts
    "business_received": np.float64, "business_given": np.float64, "referrals_given": np.int32,
    "referrals_received": np.int32, "deals_received": np.int32, "direct_sales": np.float64,
    "social_value": np.float64, "fees_paid": np.float64, "hours": np.float64, "time_cost": np.float64,
}
MEMBER_DTYPE = _record_dtype(MEMBER_FIELDS)

CANDIDATE_FIELDS: dict[str, type] = {
    "member_type": np.int8, "profession": SCHEMA_INT16, "sector": SCHEMA_INT16,
    "needs_per_week": np.float64, "margin": np.float64, "hourly_value": np.float64,
    "referral_propensity": np.float64, "willingness_to_pay": np.float64, "patience": np.float64,
    "attendance_habit": np.float64, "expectation": np.float64, "exogenous_delay": np.int64,
}
CANDIDATE_DTYPE = _record_dtype(CANDIDATE_FIELDS)


class Slots(NamedTuple):
    """Current members, indexed by slot (0..capacity-1)."""

    member: np.ndarray              # int64[C]: member_id in the slot, -1 if free
    # the pair matrices: rows and columns from club.counters[SLOTS_USED] on were never written (a region's
    # are slices of untouched memory, `allocate_clubs_pairs`, which become resident only as slots are taken)
    tie: np.ndarray                 # float64[C, C]: tie[i, j] = i's trust in j
    sales: np.ndarray               # uint16[C, C]: sales j made to i since both were members (one a meeting at most)
    received_from: np.ndarray       # uint8[C, C]: referrals i received from j, held at 255 (`layout.RECEIVED_MAX`:
                                    # credit saturates at reciprocity_saturation <= 100)
    sellers: np.ndarray             # int64[C]: the members who sold to i (nonzero entries of sales[i])
    ceiling_after: np.ndarray       # float64[weeks + 1]: the most a tie grows to after k sales (`ceilings_after_sales`)
    attendance_habit: np.ndarray
    expectation: np.ndarray
    perceived_gain: np.ndarray
    perceived_cost: np.ndarray
    attending: np.ndarray           # bool[C]: attends this week's meeting
    week_gain: np.ndarray           # float64[C]: business + direct sales value this week, EUR
    week_time_cost: np.ndarray      # float64[C]: time cost this week, EUR
    absence_weeks: np.ndarray       # int32[C, max_absences+1]: ring of the latest absences
    absences: np.ndarray            # int64[C]: absences ever (ring position)
    referral_weeks: np.ndarray      # int32[C, min_referrals]: ring of the latest referrals given
    referrals: np.ndarray           # int64[C]: referrals given ever (ring position)
    exogenous_exit_week: np.ndarray  # int64[C]: week of the member's exogenous exit (drawn at joining)
    reputation: np.ndarray          # float64[C]: how the club sees its selling (1 until word of sales spreads)
    # scratch rows reused every week instead of allocating (an allocation costs more than a phase's
    # arithmetic); a region's clubs share one pair, as they run one after the other
    work_index: np.ndarray          # int64[N_WORK_INDEX, >= C]: rows layout.W_PRESENT..W_RANK
    work_value: np.ndarray          # float64[N_WORK_VALUE, >= C]: growth, hunter_growth, satisfaction


class Club(NamedTuple):
    """Club-level counters, the holders of each profession, and the referral phase's sampling tables."""

    counters: np.ndarray            # int64[N_COUNTERS + C]: see the indexes below, then each slot's strong ties
    totals: np.ndarray              # float64[N_TOTALS], see the indexes below
    profession_count: np.ndarray    # int16[P]: current members per profession (`SCHEMA_INT16`, as the int16 below)
    profession_holders: np.ndarray  # int16[P, H]: their slots (first profession_count[p] valid; H = holder_width)
    sector_count: np.ndarray        # int16[S]
    # held professions (first counters[N_HELD] valid), grouped by sector, and their alias tables
    held_professions: np.ndarray    # int16[min(P, C)]: the professions held (one a member at most)
    held_weight: np.ndarray         # float64[min(P, C)]: their demand weights
    held_threshold: np.ndarray      # float64[min(P, C)]: alias table over all held professions ...
    held_alias: np.ndarray          # int16[min(P, C)]:   ... by demand weight
    sector_held_start: np.ndarray   # int16[S + 1]: where each sector's held professions start
    sector_held_weight: np.ndarray  # float64[S]: demand weight held in each sector
    sector_held_threshold: np.ndarray  # float64[min(P, C)]: one alias table per sector's segment
    sector_held_alias: np.ndarray      # int16[min(P, C)]
    held_need_share: np.ndarray     # float64[S]: share of a sector's client needs that name a held profession
    # members' rates of needs that may become referrals (first counters[N_GIVERS] valid)
    giver_slots: np.ndarray         # int16[C]
    giver_rate: np.ndarray          # float64[C]: needs/week x held share x propensity
    giver_threshold: np.ndarray     # float64[C]: alias table over giver_slots by rate
    giver_alias: np.ndarray         # int16[C]
    alias_scaled: np.ndarray        # float64[max(P, C)]: scratch of the alias-table builder
    alias_small: np.ndarray         # int64[max(P, C)]
    alias_large: np.ndarray         # int64[max(P, C)]
    week_stats: np.ndarray          # float64[N_SERIES]: this week's series row being built
    streams: np.ndarray             # uint64[N_CLUB_STREAMS, STREAM_WORDS]: one random stream per process
    stream_key: np.ndarray          # uint64[2]: (root, club), the key of its streams (`draws.rekey`)


# the last scenario's parameter record, as bytes: an experiment's worker runs one scenario many times, and
# building the record costs more than copying its bytes (25 us against 4; numpy copies a record field by field)
_last_params: tuple[ScenarioConfig, np.ndarray] | None = None


def make_params(config: ScenarioConfig) -> np.record:
    """The kernels' parameter record of a scenario (a copy: a caller may change its own)."""
    global _last_params
    if _last_params is None or _last_params[0] is not config:  # a scenario is frozen: the same one, the same record
        record = np.rec.array([tuple(_params(config))], dtype=PARAMS_DTYPE).view(np.ndarray)
        _last_params = (config, record.view(np.uint8))
    return _last_params[1].copy().view(PARAMS_RECORD)[0]


def _params(config: ScenarioConfig) -> Params:
    club, pop, ties, refs, beh = config.club, config.population, config.ties, config.referrals, config.behaviour
    concentration = pop.attendance_concentration
    return Params(
        weeks=config.weeks,
        meetings_per_year=club.meetings_per_year,
        hours_per_meeting=club.meeting_hours + club.travel_hours + club.one_to_one_hours,
        capacity=club.capacity,
        min_viable_size=club.min_viable_size,
        annual_fee=club.fees.annual,
        entry_fee=club.fees.entry,
        monthly_billing=club.fees.billing == "monthly",
        composition=COMPOSITION_CODES[club.composition.policy],
        max_per_profession=club.composition.max_per_profession,
        max_per_sector=club.composition.max_per_sector,
        team_work=club.composition.team_work,
        interview=club.selection.policy == "interview",
        interview_accuracy=club.selection.accuracy,
        false_rejection=club.selection.false_rejection,
        committee_hours=club.selection.committee_hours,
        attendance_rule=club.attendance_rule.enabled,
        max_absences=club.attendance_rule.max_absences,
        absence_window=club.attendance_rule.window_weeks,
        contribution_rule=club.contribution_rule.enabled,
        min_referrals=club.contribution_rule.min_referrals,
        contribution_window=club.contribution_rule.window_weeks,
        visitors_per_meeting=club.recruitment.visitors_per_meeting,
        satisfaction_weight=club.recruitment.satisfaction_weight,
        crowding=club.recruitment.crowding,
        own_sector_share=club.recruitment.own_sector_share,
        application_rate=club.recruitment.application_rate,
        share_giver=pop.shares.giver,
        share_reciprocator=pop.shares.reciprocator,
        needs_median=pop.needs_per_week_median,
        needs_sigma=pop.needs_per_week_sigma,
        margin_low=pop.margin_low,
        margin_high=pop.margin_high,
        hourly_value_median=pop.hourly_value_median,
        hourly_value_sigma=pop.hourly_value_sigma,
        attendance_alpha=pop.attendance_mean * concentration,
        attendance_beta=(1.0 - pop.attendance_mean) * concentration,
        propensity_giver=pop.referral_propensity.giver,
        propensity_reciprocator=pop.referral_propensity.reciprocator,
        propensity_hunter=pop.referral_propensity.hunter,
        promised_business=pop.promised_business,
        expected_business_sigma=pop.expected_business_sigma,
        wtp_share=pop.willingness_to_pay_share,
        expectation_realism=pop.expectation_realism,
        patience_median=pop.patience_median_years,
        patience_sigma=pop.patience_sigma,
        tie_initial=ties.initial,
        co_attendance_growth=ties.co_attendance_growth,
        one_to_one_growth=ties.one_to_one_growth,
        hunter_growth_factor=ties.hunter_growth_factor,
        reciprocity_growth=ties.reciprocity_growth,
        tie_decay=ties.decay,
        strong_threshold=ties.strong_threshold,
        attention_span=ties.attention_span,
        sphere_one_to_one=ties.sphere_one_to_one,
        pass_floor=refs.pass_floor,
        conversion_min=refs.conversion_min,
        conversion_max=refs.conversion_max,
        reciprocity_prior=refs.reciprocity_prior,
        reciprocity_saturation=refs.reciprocity_saturation,
        reciprocity_credit_weeks=refs.reciprocity_credit_weeks,
        image_window=refs.image_window,
        image_penalty=refs.image_penalty,
        sale_probability=config.hunting.sale_probability,
        trust_loss=config.hunting.trust_loss,
        gossip=config.hunting.gossip,
        habit_gain=beh.habit_gain,
        habit_loss=beh.habit_loss,
        value_smoothing=beh.value_smoothing,
        social_value_per_strong_tie=beh.social_value_per_strong_tie,
        expectation_learning=beh.expectation_learning,
        renewal_steepness=beh.renewal_steepness,
        renewal_base_leave=beh.renewal_base_leave,
        exogenous_weekly=1.0 - (1.0 - beh.exogenous_exit_rate) ** (1.0 / 52.0),
        fatigue=beh.fatigue,
        entry_fee_commitment=beh.entry_fee_commitment,
        own_sector_boost=config.market.own_sector_boost,
        sector_synergy=config.market.sector_synergy,
        deal_value_sigma=config.market.deal_value_sigma,
    )


def make_market_arrays(market: Market, own_sector_boost: float) -> MarketArrays:
    sector, weight = market.sector.astype(np.int64), market.demand_weight.astype(np.float64)
    # the sector tables in numba: a dozen small numpy steps took 40-100 us of a replication's set-up
    need_total, sector_size, sector_professions, sector_need_cdf = sector_tables(
        sector, weight, market.sectors, float(own_sector_boost))
    return MarketArrays(
        profession_sector=sector,
        demand_weight=weight,
        deal_median=market.deal_median.astype(np.float64),
        need_total=need_total,  # all needs a member of each sector sees, own sector boosted
        sector_professions=sector_professions,  # professions grouped by sector, in profession order
        sector_size=sector_size,
        sector_need_cdf=sector_need_cdf,  # carried flat past each sector's last profession
    )


def untouched_zeros(count: int, dtype: np.dtype) -> np.ndarray:
    """`count` zeros of `dtype` in memory the system commits a page at a time, when first written.

    An anonymous mapping, advised against huge pages: numpy advises them for its large arrays, and one
    write would then commit 2 MB. A region's clubs take their member records and candidates as slices of
    such arrays; a club writes only the first rows of each (its members since the last compaction, this
    week's applicants), so the rest of its share never becomes resident."""
    if not hasattr(mmap, "MAP_ANONYMOUS"):  # Windows: numpy's own zeros
        return np.zeros(count, dtype=dtype)
    try:  # private: a shared anonymous mapping would be shared with forked workers, and keep released pages
        buffer = mmap.mmap(-1, max(1, count * np.dtype(dtype).itemsize), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except OSError:  # out of mappings (vm.max_map_count: tens of thousands of clubs whose records grew)
        return np.zeros(count, dtype=dtype)
    if hasattr(mmap, "MADV_NOHUGEPAGE"):  # Linux
        buffer.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(buffer, dtype=dtype, count=count)


def release_rows(rows: np.ndarray, first: int) -> bool:
    """Hands the system back the whole pages under rows[first:], if `rows` is a slice of an
    `untouched_zeros` array: they read as zeros again, and take memory again only when written. False,
    with nothing done, for any other array."""
    owner = rows
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    if not (isinstance(owner.base, memoryview) and isinstance(owner.base.obj, mmap.mmap)):
        return False
    start = rows[first:].__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    # whole pages only: the first may hold rows[:first], the last the next slice's rows
    end = (start + rows[first:].nbytes) // mmap.PAGESIZE * mmap.PAGESIZE
    start = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE
    if end > start and hasattr(mmap, "MADV_DONTNEED"):
        owner.base.obj.madvise(mmap.MADV_DONTNEED, start, end - start)
    return True


def allocate_members(size: int, untouched: bool = False) -> np.recarray:
    """Records of every member ever, indexed by member_id: attributes, membership, accounts.

    `untouched`: in `untouched_zeros`, records not yet admitted left zero (as after a region's compaction)
    instead of -1 in `exit_week` and `slot`: the kernels and the engines read only records below the club's
    NEXT_ID, and admitting a member writes all of its fields."""
    if untouched:
        return untouched_zeros(size, MEMBER_DTYPE).view(np.recarray)
    members = np.zeros(size, dtype=MEMBER_DTYPE).view(np.recarray)
    members.exit_week[:] = -1
    members.slot[:] = -1
    return members


def allocate_clubs_members(sizes: list[int]) -> list[np.recarray]:
    """`allocate_members(sizes[c], untouched=True)` for each club c of a region, as slices of one array."""
    records = allocate_members(sum(sizes), untouched=True)
    starts = np.cumsum([0, *sizes])
    return [records[starts[c]:starts[c + 1]] for c in range(len(sizes))]


def grow_members(members: np.recarray, size: int, untouched: bool = False) -> np.recarray:
    bigger = allocate_members(size, untouched)
    bigger[: len(members)] = members
    return bigger


def allocate_work(capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Scratch rows for `Slots.work_index` and `Slots.work_value`, for clubs of up to `capacity` members."""
    return np.zeros((N_WORK_INDEX, capacity), dtype=np.int64), np.zeros((N_WORK_VALUE, capacity))


def ceilings_after_sales(trust_loss: float, weeks: int) -> np.ndarray:
    """The most a tie can grow to after k = 0..weeks sales of the trusted member to the truster (docs/ODD.md 7.3):
    (1 - trust_loss)^k, as k cuts by (1 - trust_loss) from 1 give it (product by product, so to the bit). A
    member sells to another at most once a meeting, so a run's sales to one member stay within `weeks`."""
    cuts = np.full(weeks + 1, 1.0 - trust_loss)
    cuts[0] = 1.0
    return np.cumprod(cuts)  # an accumulation, product after product (a loop in Python: 80 us a replication)


PAIR_DTYPES = (np.float64, np.uint16, np.uint8)  # Slots.tie, sales, received_from


def allocate_pairs(capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`Slots.tie`, `sales` and `received_from` of a club of `capacity` slots, zero."""
    return tuple(np.zeros((capacity, capacity), dtype=dtype) for dtype in PAIR_DTYPES)


def allocate_clubs_pairs(capacities: list[int]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """`allocate_pairs` for each club of a region, as slices of untouched memory (`untouched_zeros`): the
    kernels write a pair matrix's rows and columns only up to the club's highest slot ever taken, so the whole
    pages of rows of slots never taken take no memory (a club far below its capacity; a world chapter's ten
    free rows of 50 fill less than a page)."""
    starts = np.cumsum([0, *(c * c for c in capacities)])
    kinds = [untouched_zeros(int(starts[-1]), np.dtype(dtype)) for dtype in PAIR_DTYPES]
    return [tuple(kind[starts[k]:starts[k + 1]].reshape(c, c) for kind in kinds)
            for k, c in enumerate(capacities)]


def allocate_slots(params: np.record, member: np.ndarray | None = None, week_gain: np.ndarray | None = None,
                   work: tuple[np.ndarray, np.ndarray] | None = None,
                   pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                   ceiling_after: np.ndarray | None = None) -> Slots:
    """A club's slots; `member` and `week_gain` may be given (a region's views into its own arrays), `work`
    (a region's scratch rows, shared by its clubs), `pairs` (`allocate_clubs_pairs`, zero) and `ceiling_after`
    (`ceilings_after_sales` of the club's parameters, shared by the clubs that have them)."""
    c = params.capacity
    work_index, work_value = allocate_work(c) if work is None else work
    tie, sales, received_from = allocate_pairs(c) if pairs is None else pairs
    if ceiling_after is None:
        ceiling_after = ceilings_after_sales(params.trust_loss, params.weeks)
    if member is None:
        member = np.empty(c, dtype=np.int64)
    if week_gain is None:
        week_gain = np.empty(c)
    member[:] = -1
    week_gain[:] = 0.0
    return Slots(
        member=member,
        tie=tie,
        sales=sales,
        received_from=received_from,
        sellers=np.zeros(c, dtype=np.int64),
        ceiling_after=ceiling_after,
        attendance_habit=np.zeros(c),
        expectation=np.zeros(c),
        perceived_gain=np.zeros(c),
        perceived_cost=np.zeros(c),
        attending=np.zeros(c, dtype=np.bool_),
        week_gain=week_gain,
        week_time_cost=np.zeros(c),
        absence_weeks=np.full((c, params.max_absences + 1), NEVER, dtype=np.int32),
        absences=np.zeros(c, dtype=np.int64),
        referral_weeks=np.full((c, params.min_referrals), NEVER, dtype=np.int32),
        referrals=np.zeros(c, dtype=np.int64),
        exogenous_exit_week=np.full(c, NEVER_AGAIN, dtype=np.int64),
        reputation=np.ones(c),
        work_index=work_index,
        work_value=work_value,
    )


def allocate_candidates() -> np.recarray:
    """This week's applicants, not yet members (club.counters[N_CANDIDATES] of them)."""
    return np.zeros(MAX_VISITORS_PER_MEETING, dtype=CANDIDATE_DTYPE).view(np.recarray)


def allocate_clubs_candidates(clubs: int) -> list[np.recarray]:
    """`allocate_candidates` for each of a region's clubs, as slices of one untouched array: a week has a
    few applicants, and the rest of a club's 256 rows (25 KB) is never written."""
    rows = untouched_zeros(clubs * MAX_VISITORS_PER_MEETING, CANDIDATE_DTYPE).view(np.recarray)
    return [rows[c * MAX_VISITORS_PER_MEETING:(c + 1) * MAX_VISITORS_PER_MEETING] for c in range(clubs)]


def holder_width(params: np.record) -> int:
    """Most members one profession can have under the composition policy."""
    if params.composition == EXCLUSIVITY:
        return 1
    if params.composition == COMPLEMENTARITY:
        return min(params.max_per_profession, params.capacity)
    return params.capacity


def member_records_for(params: np.record, founders: int) -> int:
    """Member records to allocate: the founders and two weeks of joins (at most `capacity` a week)."""
    return founders + 2 * params.capacity


def allocate_alias_scratch(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`Club.alias_scaled`, `alias_small` and `alias_large`: scratch for building alias tables of up to `size`
    entries (professions or members)."""
    return np.zeros(size), np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64)


def allocate_club(params: np.record, market: MarketArrays, root: int, club_index: int = 0,
                  week_stats: np.ndarray | None = None,
                  alias_scratch: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> Club:
    """A club's counters and tables, and its random streams: those of club `club_index` of the run's `root`
    (`sim.kernels.draws`), as they are before week 0; `week_stats` may be given (a region's view into its own
    array), and `alias_scratch` (`allocate_alias_scratch`, shared by a region's clubs that run in turn)."""
    professions, sectors, capacity = len(market.profession_sector), len(market.sector_size), params.capacity
    held = min(professions, capacity)  # professions held at once: at most one a member
    alias_scaled, alias_small, alias_large = alias_scratch or allocate_alias_scratch(max(professions, capacity))
    if len(alias_scaled) < max(professions, capacity):
        raise ValueError("alias scratch shorter than the market's professions or the club's capacity")
    if week_stats is None:
        week_stats = np.empty(N_SERIES)
    week_stats[:] = 0.0
    key = stream_key(root, club_index)
    return Club(
        counters=np.zeros(N_COUNTERS + capacity, dtype=np.int64),  # then each slot's strong ties
        totals=np.zeros(N_TOTALS),
        profession_count=np.zeros(professions, dtype=SCHEMA_INT16),
        profession_holders=np.full((professions, holder_width(params)), -1, dtype=SCHEMA_INT16),
        sector_count=np.zeros(sectors, dtype=SCHEMA_INT16),
        held_professions=np.zeros(held, dtype=SCHEMA_INT16),
        held_weight=np.zeros(held),
        held_threshold=np.zeros(held),
        held_alias=np.zeros(held, dtype=SCHEMA_INT16),
        sector_held_start=np.zeros(sectors + 1, dtype=SCHEMA_INT16),
        sector_held_weight=np.zeros(sectors),
        sector_held_threshold=np.zeros(held),
        sector_held_alias=np.zeros(held, dtype=SCHEMA_INT16),
        held_need_share=np.zeros(sectors),
        giver_slots=np.zeros(capacity, dtype=SCHEMA_INT16),
        giver_rate=np.zeros(capacity),
        giver_threshold=np.zeros(capacity),
        giver_alias=np.zeros(capacity, dtype=SCHEMA_INT16),
        alias_scaled=alias_scaled,
        alias_small=alias_small,
        alias_large=alias_large,
        week_stats=week_stats,
        streams=founding_streams(key, N_CLUB_STREAMS),  # `make_streams`' words, hashed in numba: 70 us less a run
        stream_key=key,
    )


# --------------------------------------------------------------------------- regions (docs/ODD.md 7.8)


class WeakTies(NamedTuple):
    """A club's members' weak ties to members of other clubs, K entries per slot (the region holds
    them for all clubs, `Region.weak_*`; `RegionEngine.W` shows one club's rows as these views).

    Weak ties are mutual: both ends hold an entry with the same strength and week, and an
    entry ends on both sides at once (replaced, or one end exits). A row belongs to the member
    whose id is in `owner`; an entry is free when `club` is -1.
    """

    owner: np.ndarray     # int64[C]: member id whose weak ties the row holds, -1 none
    club: np.ndarray      # int32[C, K]: the other member's club, -1 for a free entry
    member: np.ndarray    # int32[C, K]: its member id in that club
    slot: np.ndarray      # int16[C, K]: its slot there
    profession: np.ndarray  # int16[C, K]: its profession
    strength: np.ndarray  # float64[C, K]: strength at the last refresh
    week: np.ndarray      # int16[C, K]: week of the last refresh (decay is applied when read)


class RegionParams(NamedTuple):
    area_size: int
    interclub_events_per_year: int
    event_hours: float
    contacts_per_event: int
    weak_tie_initial: float
    second_circle: bool
    transfer_share: float


REGION_PARAMS_DTYPE = _record_dtype(get_type_hints(RegionParams))


def make_region_params(config: ScenarioConfig) -> np.record:
    region = config.region
    params = RegionParams(
        area_size=region.area_size,
        interclub_events_per_year=region.interclub_events_per_year,
        event_hours=region.event_hours,
        contacts_per_event=region.contacts_per_event,
        weak_tie_initial=region.weak_tie_initial,
        second_circle=region.second_circle,
        transfer_share=region.transfer_share,
    )
    return np.rec.array([tuple(params)], dtype=REGION_PARAMS_DTYPE)[0]


class Region(NamedTuple):
    """A region's clubs at a glance, all clubs' slots and weak ties, and the event's attendees.

    Fetching a club's tuples from the typed lists costs a reference-count update per array they
    hold, so what the region reads of other clubs is here: each club's slots are rows
    slot_start[c]..slot_start[c+1]-1 of the region's per-slot arrays, and a club's
    `Slots.member`, `Slots.week_gain` and `Club.week_stats` are views into the region's arrays.
    """

    open: np.ndarray            # bool[clubs]: the club has not closed (as of its last phase 9)
    refused: np.ndarray         # int64[clubs]: applicants it refused this week for capacity or composition
    slot_start: np.ndarray      # int64[clubs + 1]: club c's slots are rows slot_start[c]..slot_start[c+1]-1
    slot_member: np.ndarray     # int64[rows]: Slots.member of every club
    week_gain: np.ndarray       # float64[rows]: Slots.week_gain of every club
    week_stats: np.ndarray      # float64[clubs, N_SERIES]: Club.week_stats of every club
    keep_power: np.ndarray      # float64[weeks + 1]: (1 - tie decay)^age, a weak tie's decay after age weeks
    # weak ties (docs/ODD.md 7.8), K entries per row; see WeakTies for the fields
    weak_owner: np.ndarray      # int64[rows]
    weak_club: np.ndarray       # int32[rows, K]
    weak_member: np.ndarray     # int32[rows, K]
    weak_slot: np.ndarray       # int16[rows, K]
    weak_profession: np.ndarray  # int16[rows, K]
    weak_strength: np.ndarray   # float64[rows, K]
    weak_week: np.ndarray       # int16[rows, K]
    attendee_club: np.ndarray   # int64[sum of capacities]
    attendee_slot: np.ndarray   # int64[sum of capacities]
    attendee_start: np.ndarray  # int64[clubs + 1]: each club's attendees start here
    streams: np.ndarray         # uint64[N_REGION_STREAMS, STREAM_WORDS]: the region's own random streams
    stream_key: np.ndarray      # uint64[2]: (root, REGION_KEY), their key (`draws.rekey`)
    # Each club's bridge index (docs/ODD.md 7.8): its weak ties to holders of professions it does not hold
    # ("bridged"), grouped by profession, kept between weeks and rebuilt only when the club's weak ties or
    # members change. Club c's part of the per-entry arrays starts at slot_start[c] x K (bridge_start's at
    # slot_start[c] x K + c): a club has at most capacity x K bridges, and as many bridged professions.
    bridges_stale: np.ndarray   # bool[clubs]: its weak ties or members changed since its index was built
    n_bridged: np.ndarray       # int64[clubs]: its number of bridged professions
    bridged: np.ndarray         # int16[rows x K]: its bridged professions ...
    bridge_start: np.ndarray    # int32[rows x K + clubs]: ... profession b's bridges are start[b]..start[b+1]-1 of:
    bridge_row: np.ndarray      # int32[rows x K]: the bridge's weak tie: its row (the club's member k) ...
    bridge_column: np.ndarray   # int8[rows x K]: ... and entry
    by_sector: np.ndarray       # int16[rows x K]: positions in `bridged`, grouped by sector ...
    by_sector_cdf: np.ndarray   # float64[rows x K]: ... with their cumulative demand weight
    by_sector_start: np.ndarray  # int32[clubs, S + 1]: sector s's positions start at by_sector_start[c, s]
    sector_weight: np.ndarray   # float64[clubs, S]: the demand weight of its bridged professions, by sector


class Lane(NamedTuple):
    """What one thread of a region needs for the clubs it runs (a lane: clubs first..last-1): scratch for
    rebuilding one club's bridge index (kept in `Region`) and drawing its second-circle needs, and the
    outbox of its clubs' second-circle referrals.

    A club's second-circle referrals reach members of other clubs, which may be running on another
    thread: their effects on the receiving side are posted to the lane's outbox and delivered after
    every lane has drawn, lane by lane in club order, so that each receiver's sums are added in the same
    order whatever the number of threads.
    """

    first: np.ndarray           # int64[2]: the lane's clubs are first[0]..first[1]-1
    # scratch of a club's bridge index rebuild (`Region.bridged` ...)
    stamp: np.ndarray           # int64[1]: the current marking round of bridge_mark
    bridge_mark: np.ndarray     # int64[P]: round in which a profession was last found bridged
    bridged_index: np.ndarray   # int64[P]: a bridged profession's position in the club's `bridged`
    next_bridge: np.ndarray     # int64[max capacity x K]: each bridged profession's next free bridge
    found_bridged: np.ndarray   # int64[max capacity x K]: the bridges met in the rows, in row order: the position ...
    found_row: np.ndarray       # int32[max capacity x K]: ... of its profession in `bridged`, its row ...
    found_column: np.ndarray    # int8[max capacity x K]: ... and entry
    sector_cursor: np.ndarray   # int64[S]: each sector's next free place
    # the club drawing this week
    giver_cdf: np.ndarray       # float64[max capacity]: cumulative second-circle need rates by slot
    bridge_strength: np.ndarray  # float64[max capacity x K]: its bridges' strength this week
    # the outbox: referrals passed to other clubs, not yet delivered (first out_used[0] entries)
    out_used: np.ndarray        # int64[1]
    out_club: np.ndarray        # int64[outbox]: the receiver's club ...
    out_member: np.ndarray      # int64[outbox]: ... member id ...
    out_row: np.ndarray         # int64[outbox]: ... and row of the region's slots
    out_value: np.ndarray       # float64[outbox]: the deal's value (0 when the referral was not converted)
    out_kind: np.ndarray        # int64[outbox]: layout.OUT_DEAL | layout.OUT_SPHERE bits


MIN_OUTBOX = 4096  # entries; a lane's outbox is delivered whenever a club's draws would not fit


def allocate_region(capacities: list[int], per_member: int, weeks: int, root: int, sectors: int) -> Region:
    """The region's arrays for clubs of these capacities (each member with `per_member` weak ties, in a market of
    `sectors` sectors), with its own random streams (N_REGION_STREAMS) of the run's `root`."""
    total = int(sum(capacities))
    rows = (total, per_member)
    entries = total * per_member
    if max(capacities) > np.iinfo(SCHEMA_INT16).max or weeks > np.iinfo(SCHEMA_INT16).max:
        raise ValueError("a weak tie's slot and week are kept in 16 bits (SCHEMA_INT16)")
    return Region(
        open=np.ones(len(capacities), dtype=np.bool_),
        refused=np.zeros(len(capacities), dtype=np.int64),
        slot_start=np.concatenate([[0], np.cumsum(capacities)]).astype(np.int64),
        slot_member=np.full(total, -1, dtype=np.int64),
        week_gain=np.zeros(total),
        week_stats=np.zeros((len(capacities), N_SERIES)),
        keep_power=np.zeros(weeks + 1),
        weak_owner=np.full(total, -1, dtype=np.int64),
        weak_club=np.full(rows, -1, dtype=np.int32),
        weak_member=np.full(rows, -1, dtype=np.int32),
        weak_slot=np.full(rows, -1, dtype=SCHEMA_INT16),
        weak_profession=np.full(rows, -1, dtype=SCHEMA_INT16),
        weak_strength=np.zeros(rows),
        weak_week=np.zeros(rows, dtype=SCHEMA_INT16),
        attendee_club=np.zeros(total, dtype=np.int64),
        attendee_slot=np.zeros(total, dtype=np.int64),
        attendee_start=np.zeros(len(capacities) + 1, dtype=np.int64),
        streams=make_streams(root, REGION_KEY, N_REGION_STREAMS),
        stream_key=stream_key(root, REGION_KEY),
        bridges_stale=np.ones(len(capacities), dtype=np.bool_),
        n_bridged=np.zeros(len(capacities), dtype=np.int64),
        bridged=np.zeros(entries, dtype=SCHEMA_INT16),
        bridge_start=np.zeros(entries + len(capacities), dtype=np.int32),
        bridge_row=np.zeros(entries, dtype=np.int32),
        bridge_column=np.zeros(entries, dtype=np.int8),
        by_sector=np.zeros(entries, dtype=SCHEMA_INT16),
        by_sector_cdf=np.zeros(entries),
        by_sector_start=np.zeros((len(capacities), sectors + 1), dtype=np.int32),
        sector_weight=np.zeros((len(capacities), sectors)),
    )


def lane_bounds(capacities: list[int], lanes: int) -> list[tuple[int, int]]:
    """Clubs split into `lanes` runs of consecutive clubs with about equal total capacity (one per thread)."""
    lanes = max(1, min(lanes, len(capacities)))
    cumulative = np.cumsum(capacities)
    cuts = [0] + [int(np.searchsorted(cumulative, cumulative[-1] * k / lanes, side="left")) + 1
                  for k in range(1, lanes)] + [len(capacities)]
    cuts = [min(max(cut, 0), len(capacities)) for cut in cuts]
    bounds = [(cuts[k], cuts[k + 1]) for k in range(lanes)]
    return [(first, last) for first, last in bounds if last > first]


def allocate_lane(first: int, last: int, capacities: list[int], market: MarketArrays, per_member: int,
                  outbox: int | None = None) -> Lane:
    """The scratch and outbox of a thread running clubs first..last-1 (an outbox of `outbox` entries; by default
    16 a member seat, and at least MIN_OUTBOX: it is delivered whenever a club's draws would not fit)."""
    professions, sectors = len(market.profession_sector), len(market.sector_size)
    entries = max(capacities) * per_member
    if outbox is None:
        outbox = max(MIN_OUTBOX, 16 * int(sum(capacities[first:last])))
    return Lane(
        first=np.array([first, last], dtype=np.int64),
        stamp=np.zeros(1, dtype=np.int64),
        bridge_mark=np.zeros(professions, dtype=np.int64),
        bridged_index=np.zeros(professions, dtype=np.int64),
        next_bridge=np.zeros(entries, dtype=np.int64),
        found_bridged=np.zeros(entries, dtype=np.int64),
        found_row=np.zeros(entries, dtype=np.int32),
        found_column=np.zeros(entries, dtype=np.int8),
        sector_cursor=np.zeros(sectors, dtype=np.int64),
        giver_cdf=np.zeros(max(capacities)),
        bridge_strength=np.zeros(entries),
        out_used=np.zeros(1, dtype=np.int64),
        out_club=np.zeros(outbox, dtype=np.int64),
        out_member=np.zeros(outbox, dtype=np.int64),
        out_row=np.zeros(outbox, dtype=np.int64),
        out_value=np.zeros(outbox),
        out_kind=np.zeros(outbox, dtype=np.int64),
    )


def weak_ties_of(region: Region, c: int) -> WeakTies:
    """Club c's rows of the region's weak ties (views)."""
    rows = slice(region.slot_start[c], region.slot_start[c + 1])
    return WeakTies(owner=region.weak_owner[rows], club=region.weak_club[rows], member=region.weak_member[rows],
                    slot=region.weak_slot[rows], profession=region.weak_profession[rows],
                    strength=region.weak_strength[rows], week=region.weak_week[rows])
