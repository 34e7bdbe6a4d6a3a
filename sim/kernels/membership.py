"""Joining and leaving: candidates, admission under the composition policy, exits.

Shared by founding (docs/ODD.md section 5), visitors (7.1) and club rules (7.7).
"""

import numpy as np

from sim.kernels import helper, inlined, kernel
from sim.kernels.distributions import beta, standard_normal
from sim.kernels.draws import uniform
from sim.kernels.layout import (
    COMPLEMENTARITY,
    EXCLUSIVITY,
    FOUNDING_WEEK,
    GIVER,
    HOLDINGS_CHANGED,
    HUNTER,
    N_HUNTERS,
    N_MEMBERS,
    NEVER,
    NEVER_AGAIN,
    NEXT_ID,
    NO_SECTOR,
    R_CANDIDATES,
    RECIPROCATOR,
    S_EXITS,
    S_EXITS_LEFT,
    S_FEES,
    S_JOINS,
    SLOTS_USED,
    TIES_SUMMED,
    W_ATTENDEES,
    W_PRESENT,
)


@helper
def draw_candidate(rng, p, market, cand, k, sector_hint):
    """Draw candidate k; uniform profession, or uniform inside `sector_hint` (>= 0)."""
    u = uniform(rng)
    if u < p.share_giver:
        member_type = GIVER
    elif u < p.share_giver + p.share_reciprocator:
        member_type = RECIPROCATOR
    else:
        member_type = HUNTER
    if sector_hint >= 0 and market.sector_size[sector_hint] > 0:
        profession = market.sector_professions[sector_hint, random_index(rng, market.sector_size[sector_hint])]
    else:
        profession = random_index(rng, len(market.profession_sector))
    cand.member_type[k] = member_type
    cand.profession[k] = profession
    cand.sector[k] = market.profession_sector[profession]
    cand.needs_per_week[k] = p.needs_median * np.exp(p.needs_sigma * standard_normal(rng))
    cand.margin[k] = p.margin_low + (p.margin_high - p.margin_low) * uniform(rng)
    cand.hourly_value[k] = p.hourly_value_median * np.exp(p.hourly_value_sigma * standard_normal(rng))
    cand.attendance_habit[k] = beta(rng, p.attendance_alpha, p.attendance_beta)
    if member_type == GIVER:
        cand.referral_propensity[k] = p.propensity_giver
    elif member_type == RECIPROCATOR:
        cand.referral_propensity[k] = p.propensity_reciprocator
    else:
        cand.referral_propensity[k] = p.propensity_hunter
    optimism = np.exp(p.expected_business_sigma * standard_normal(rng))
    cand.willingness_to_pay[k], cand.expectation[k] = expected_value(
        p, cand.needs_per_week[k], cand.margin[k], cand.hourly_value[k], optimism)
    cand.patience[k] = (p.patience_median * np.exp(p.patience_sigma * standard_normal(rng))
                        + p.entry_fee_commitment * p.entry_fee / 1000.0)
    cand.exogenous_delay[k] = exogenous_delay(rng, p.exogenous_weekly)


@helper
def expected_value(p, needs_per_week, margin, hourly_value, optimism):
    """What a candidate expects (docs/ODD.md 7.7): the promised business, scaled by its size and its own
    optimism, earns it margin x business a year; it pays up to a share of that (willingness to pay) and
    expects a share (realism) of the ROI it implies against a year's fee and time."""
    expected_margin = margin * p.promised_business * (needs_per_week / p.needs_median) * optimism
    yearly_cost = p.annual_fee + p.meetings_per_year * p.hours_per_meeting * hourly_value
    expectation = p.expectation_realism * (expected_margin - yearly_cost) / max(yearly_cost, 1.0)
    return p.wtp_share * expected_margin, expectation


@helper
def copy_candidate(cand, source, target):
    cand.member_type[target] = cand.member_type[source]
    cand.profession[target] = cand.profession[source]
    cand.sector[target] = cand.sector[source]
    cand.needs_per_week[target] = cand.needs_per_week[source]
    cand.margin[target] = cand.margin[source]
    cand.hourly_value[target] = cand.hourly_value[source]
    cand.referral_propensity[target] = cand.referral_propensity[source]
    cand.willingness_to_pay[target] = cand.willingness_to_pay[source]
    cand.patience[target] = cand.patience[source]
    cand.attendance_habit[target] = cand.attendance_habit[source]
    cand.expectation[target] = cand.expectation[source]
    cand.exogenous_delay[target] = cand.exogenous_delay[source]


@helper
def exogenous_delay(rng, weekly_probability):
    """Weeks a member stays before an exogenous exit: Geometric(weekly_probability) - 1, drawn once.

    The same as a weekly Bernoulli(weekly_probability) check, with one draw per member instead of
    one per member-week.
    """
    if weekly_probability <= 0.0:
        return NEVER_AGAIN
    if weekly_probability >= 1.0:
        return 0
    return min(np.int64(np.log(1.0 - uniform(rng)) / np.log(1.0 - weekly_probability)), NEVER_AGAIN)


@inlined
def composition_allows(p, club, profession, sector):
    """Exclusivity: one per profession; complementarity: k per profession, m per sector; open: any."""
    if p.composition == EXCLUSIVITY:
        return club.profession_count[profession] == 0
    if p.composition == COMPLEMENTARITY:
        return club.profession_count[profession] < p.max_per_profession and club.sector_count[sector] < p.max_per_sector
    return True


@helper
def first_period_fee(p):
    return p.annual_fee / 12.0 if p.monthly_billing else p.annual_fee


@helper
def admit(p, members, slots, club, cand, k, week, founder):
    """Candidate k joins: a slot, initial ties both ways, entry fee and first period's fee."""
    s = 0
    while slots.member[s] >= 0:
        s += 1
    m = club.counters[NEXT_ID]
    club.counters[NEXT_ID] = m + 1

    members[m].member_type = cand.member_type[k]
    members[m].profession = cand.profession[k]
    members[m].sector = cand.sector[k]
    members[m].founder = founder
    members[m].join_week = week
    members[m].exit_week = -1
    members[m].exit_reason = 0
    members[m].slot = s
    members[m].needs_per_week = cand.needs_per_week[k]
    members[m].margin = cand.margin[k]
    members[m].hourly_value = cand.hourly_value[k]
    members[m].referral_propensity = cand.referral_propensity[k]
    members[m].willingness_to_pay = cand.willingness_to_pay[k]
    members[m].patience = cand.patience[k]

    slots.member[s] = m
    club.counters[SLOTS_USED] = max(club.counters[SLOTS_USED], s + 1)
    club.counters[TIES_SUMMED] = 0  # its ties are new
    # the slot's sales and referral counts are 0: they ended with its last member (`remove_member`), if any
    for j in range(club.counters[SLOTS_USED]):  # slots past it are free and were never written
        if slots.member[j] >= 0 and j != s:
            slots.tie[s, j] = p.tie_initial
            slots.tie[j, s] = p.tie_initial
        else:
            slots.tie[s, j] = 0.0
            slots.tie[j, s] = 0.0
    # founders are checked from week 0; a newcomer, admitted at the end of its week, from the next
    slots.exogenous_exit_week[s] = week + (0 if founder else 1) + cand.exogenous_delay[k]
    slots.attendance_habit[s] = cand.attendance_habit[k]
    slots.reputation[s] = 1.0
    slots.expectation[s] = cand.expectation[k]
    # perceived value starts from the promise: the expected ROI on the expected weekly cost
    expected_cost = p.annual_fee / 52.0 + p.meetings_per_year / 52.0 * p.hours_per_meeting * cand.hourly_value[k]
    slots.perceived_cost[s] = expected_cost
    slots.perceived_gain[s] = expected_cost * (1.0 + cand.expectation[k])
    slots.attending[s] = False
    slots.week_gain[s] = 0.0
    slots.week_time_cost[s] = 0.0
    slots.absences[s] = 0
    for r in range(slots.absence_weeks.shape[1]):
        slots.absence_weeks[s, r] = NEVER
    slots.referrals[s] = 0
    for r in range(slots.referral_weeks.shape[1]):
        slots.referral_weeks[s, r] = NEVER

    profession = cand.profession[k]
    club.profession_holders[profession, club.profession_count[profession]] = s
    club.profession_count[profession] += 1
    club.counters[HOLDINGS_CHANGED] = 1
    club.sector_count[cand.sector[k]] += 1
    club.counters[N_MEMBERS] += 1
    if cand.member_type[k] == HUNTER:
        club.counters[N_HUNTERS] += 1

    fee = p.entry_fee + first_period_fee(p)
    members[m].fees_paid += fee
    club.week_stats[S_FEES] += fee
    club.week_stats[S_JOINS] += 1
    return s


@helper
def remove_member(members, slots, club, s, reason, week):
    """The member in slot s exits for `reason`: its slot, ties and holdings are freed."""
    m = slots.member[s]
    members[m].exit_week = week
    members[m].exit_reason = reason
    members[m].slot = -1

    profession = members[m].profession
    n = club.profession_count[profession]
    for h in range(n):
        if club.profession_holders[profession, h] == s:
            club.profession_holders[profession, h] = club.profession_holders[profession, n - 1]
            club.profession_holders[profession, n - 1] = -1
            break
    club.profession_count[profession] = n - 1
    club.counters[HOLDINGS_CHANGED] = 1
    club.counters[TIES_SUMMED] = 0  # its ties end
    club.sector_count[members[m].sector] -= 1
    club.counters[N_MEMBERS] -= 1
    if members[m].member_type == HUNTER:
        club.counters[N_HUNTERS] -= 1

    slots.member[s] = -1
    slots.attending[s] = False
    sales = slots.sales
    for j in range(club.counters[SLOTS_USED]):  # its pairs end: ties, sales (ceilings back to 1), referral counts
        if sales[j, s] > 0:
            slots.sellers[j] -= 1
        slots.tie[s, j] = 0.0
        slots.tie[j, s] = 0.0
        sales[s, j] = 0
        sales[j, s] = 0
        slots.received_from[s, j] = 0
        slots.received_from[j, s] = 0
    slots.sellers[s] = 0
    club.week_stats[S_EXITS_LEFT + reason - 1] += 1
    club.week_stats[S_EXITS] += 1


@inlined
def current_slots(slots):
    """Slots holding a member, in slot order: a view of the slots' scratch row, valid until the next call
    (callers take it at the start of a phase; removing members while walking it is safe)."""
    member, out = slots.member, slots.work_index[W_PRESENT]
    n = 0
    for s in range(len(member)):
        if member[s] >= 0:
            out[n] = s
            n += 1
    return out[:n]


@inlined
def attending_slots(slots, present):
    """The present slots attending this week's meeting, in slot order (a view of another scratch row)."""
    attending, out = slots.attending, slots.work_index[W_ATTENDEES]
    n = 0
    for s in present:
        if attending[s]:
            out[n] = s
            n += 1
    return out[:n]


@helper
def random_index(rng, n):
    """Uniform on 0..n-1; Generator.integers costs ten times more in numba."""
    return min(np.int64(uniform(rng) * n), n - 1)


@helper
def shuffled(rng, items):
    """A random order of `items` (Fisher-Yates); numba's Generator.permutation compiles far slower."""
    order = items.copy()
    for k in range(len(order) - 1, 0, -1):
        pick = random_index(rng, k + 1)
        order[k], order[pick] = order[pick], order[k]
    return order


@inlined  # out of line it counted a reference to its arrays in and out: 650 atomic updates a week
def image_factor(p, referral_weeks, referrals, join_week, s, week):
    """Image scoring (docs/ODD.md 7.2): `image_penalty` if slot s gave no referral in the last
    `image_window` weeks of its tenure (the chapter's weekly report shows it), else 1."""
    if p.image_penalty >= 1.0:
        return 1.0
    last = join_week
    if referrals[s] > 0:
        last = max(last, np.int64(referral_weeks[s, (referrals[s] - 1) % referral_weeks.shape[1]]))
    return p.image_penalty if week - last >= p.image_window else 1.0


@helper
def perceived_roi(perceived_gain, perceived_cost):
    return (perceived_gain - perceived_cost) / max(perceived_cost, 1.0)


@helper
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@kernel
def found_club(p, founders, members, slots, club, cand, market):
    """Draw candidates until `founders` are admitted under the composition policy alone."""
    rng = club.streams[R_CANDIDATES]
    attempts = 0
    row, founder = np.int64(0), np.bool_(True)
    while club.counters[N_MEMBERS] < founders and attempts < 1000 * founders:
        attempts += 1
        draw_candidate(rng, p, market, cand, row, NO_SECTOR)
        if composition_allows(p, club, cand.profession[row], cand.sector[row]):
            admit(p, members, slots, club, cand, row, FOUNDING_WEEK, founder)
