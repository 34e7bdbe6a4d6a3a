"""Phases 2-4 (docs/ODD.md 7.2): client needs, referral decisions with competition, deals, synergy.

Needs naming a profession nobody in the club holds are lost, so they are never
drawn: a Poisson(lambda) count of needs, each held with probability q, gives
exactly a Poisson(lambda q) count of held needs (thinning), and a held need's
profession is drawn among the held ones only, from an alias table (Walker
1977, Vose 1991) rebuilt when membership changes. Same distribution, a
fraction of the work.

The per-need helpers take plain arrays, not the state tuples: numba passes a
tuple of arrays by value (with a reference count per array), which costs more
than the work itself in a loop run hundreds of times a week.
"""

import numpy as np

from sim.kernels import helper, kernel
from sim.kernels.membership import current_slots, random_index, shuffled
from sim.state import HOLDINGS_CHANGED, N_HELD, RECIPROCATOR, S_BUSINESS, S_DEALS, S_REFERRALS


@helper
def draw_weighted(rng, cumulative, row, n):
    """k < n drawn with probability proportional to the increments of cumulative[row, :n]."""
    u = rng.random() * cumulative[row, n - 1]
    low, high = 0, n - 1
    while low < high:  # first k with cumulative > u
        mid = (low + high) // 2
        if cumulative[row, mid] > u:
            high = mid
        else:
            low = mid + 1
    return low


@helper
def choose_receiver(rng, holders, profession, n, tie, i):
    """Competition: among the holders other than i, one drawn in proportion to i's tie to them."""
    total = 0.0
    others = 0
    for h in range(n):
        j = holders[profession, h]
        if j != i:
            total += tie[i, j]
            others += 1
    if others <= 1:  # no competition: the only other holder, or nobody
        for h in range(n):
            if holders[profession, h] != i:
                return holders[profession, h]
        return -1
    if total <= 0.0:
        target = random_index(rng, others)
        for h in range(n):
            j = holders[profession, h]
            if j != i:
                if target == 0:
                    return j
                target -= 1
    u = rng.random() * total
    last = -1
    for h in range(n):
        j = holders[profession, h]
        if j != i:
            last = j
            u -= tie[i, j]
            if u < 0.0:
                return j
    return last


@helper
def pass_probability(propensity, is_reciprocator, tie, credited_referrals, pass_floor, prior, saturation):
    """propensity x (floor + (1 - floor) x tie), x what j gave for reciprocators ("qui donne reçoit")."""
    probability = propensity * (pass_floor + (1.0 - pass_floor) * tie)
    if is_reciprocator:
        probability *= min(1.0, (prior + credited_referrals) / saturation)
    return probability


@helper
def build_alias_table(weights, n, threshold, alias, row):
    """Vose's alias method: afterwards k = uniform(n) kept if U < threshold[row, k], else alias[row, k]."""
    total = 0.0
    for k in range(n):
        total += weights[k]
    scaled = np.empty(n)
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    n_small = n_large = 0
    for k in range(n):
        scaled[k] = weights[k] * n / total
        if scaled[k] < 1.0:
            small[n_small] = k
            n_small += 1
        else:
            large[n_large] = k
            n_large += 1
    while n_small > 0 and n_large > 0:
        n_small -= 1
        low, high = small[n_small], large[n_large - 1]
        threshold[row, low] = scaled[low]
        alias[row, low] = high
        scaled[high] = (scaled[high] + scaled[low]) - 1.0
        if scaled[high] < 1.0:
            n_large -= 1
            small[n_small] = high
            n_small += 1
    for k in large[:n_large]:
        threshold[row, k] = 1.0
        alias[row, k] = k
    for k in small[:n_small]:  # left over only through rounding
        threshold[row, k] = 1.0
        alias[row, k] = k


@helper
def draw_alias(rng, threshold, alias, row, n):
    u = rng.random() * n
    k = min(np.int64(u), n - 1)
    return k if u - k < threshold[row, k] else alias[row, k]


@helper
def index_held_professions(p, market, club):
    """The professions members hold, and for each sector the need weights they catch."""
    n_held = 0
    for profession in range(len(market.profession_sector)):
        if club.profession_count[profession] > 0:
            club.held_professions[n_held] = profession
            n_held += 1
    club.counters[N_HELD] = n_held
    weights = np.empty(n_held)
    for sector in range(len(market.sector_size)):
        total = 0.0
        for k in range(n_held):
            profession = club.held_professions[k]
            weights[k] = market.demand_weight[profession]
            if market.profession_sector[profession] == sector:
                weights[k] *= p.own_sector_boost
            total += weights[k]
        if n_held > 0:
            build_alias_table(weights, n_held, club.held_need_threshold, club.held_need_alias, sector)
        club.held_need_share[sector] = total / market.need_total[sector]
    club.counters[HOLDINGS_CHANGED] = 0


@kernel
def pass_referrals(rng, p, market, members, slots, club, week):
    if club.counters[HOLDINGS_CHANGED]:
        index_held_professions(p, market, club)
    n_held = club.counters[N_HELD]
    present = current_slots(slots)
    tie, received_from = slots.tie, slots.received_from
    holders, holder_count = club.profession_holders, club.profession_count
    stats = club.week_stats
    ring = slots.referral_weeks.shape[1]
    for first in shuffled(rng, present):
        sector = members.sector[slots.member[first]]
        held_needs = rng.poisson(members.needs_per_week[slots.member[first]] * club.held_need_share[sector])
        for _ in range(held_needs):
            k = draw_alias(rng, club.held_need_threshold, club.held_need_alias, sector, n_held)
            profession = club.held_professions[k]
            i = first
            while True:  # a converted deal may create a follow-on need in the sector (synergy)
                j = choose_receiver(rng, holders, profession, holder_count[profession], tie, i)
                if j < 0:
                    break
                giver, receiver = slots.member[i], slots.member[j]
                probability = pass_probability(
                    members.referral_propensity[giver], members.member_type[giver] == RECIPROCATOR, tie[i, j],
                    received_from[i, j], p.pass_floor, p.reciprocity_prior, p.reciprocity_saturation,
                )
                if rng.random() >= probability:
                    break
                members.referrals_given[giver] += 1
                members.referrals_received[receiver] += 1
                received_from[j, i] += 1
                slots.referral_weeks[i, slots.referrals[i] % ring] = week
                slots.referrals[i] += 1
                stats[S_REFERRALS] += 1

                if rng.random() >= p.conversion_min + (p.conversion_max - p.conversion_min) * tie[i, j]:
                    break
                value = market.deal_median[profession] * np.exp(p.deal_value_sigma * rng.standard_normal())
                members.business_received[receiver] += value
                members.business_given[giver] += value
                members.deals_received[receiver] += 1
                slots.week_gain[j] += value
                tie[j, i] += p.reciprocity_growth * (1.0 - tie[j, i])
                stats[S_DEALS] += 1
                stats[S_BUSINESS] += value

                if rng.random() >= p.sector_synergy:
                    break
                follow_on_sector = market.profession_sector[profession]
                k = draw_weighted(rng, market.sector_need_cdf, follow_on_sector, market.sector_size[follow_on_sector])
                profession = market.sector_professions[follow_on_sector, k]
                i = j
