"""Phases 2-4 (docs/ODD.md 7.2): client needs, referral decisions with competition, deals, synergy.

The per-need helpers take plain arrays, not the state tuples: numba passes a
tuple of arrays by value (with a reference count per array), which costs more
than the work itself in a loop run hundreds of times a week.
"""

import numpy as np
from numba import njit

from sim.kernels.membership import current_slots
from sim.state import RECIPROCATOR, S_BUSINESS, S_DEALS, S_REFERRALS


@njit(cache=True)
def draw_from_cdf(rng, cdf, n):
    """Index drawn with probability proportional to the increments of cdf[:n]."""
    pick = np.searchsorted(cdf[:n], rng.random() * cdf[n - 1], side="right")
    return min(pick, n - 1)


@njit(cache=True)
def choose_receiver(rng, holders, n, trust, i):
    """Competition: among the holders other than i, one drawn in proportion to i's trust in them."""
    total = 0.0
    others = 0
    for h in range(n):
        if holders[h] != i:
            total += trust[holders[h]]
            others += 1
    if others == 0:
        return -1
    if total <= 0.0:
        target = rng.integers(0, others)
        for h in range(n):
            if holders[h] != i:
                if target == 0:
                    return holders[h]
                target -= 1
    u = rng.random() * total
    last = -1
    for h in range(n):
        j = holders[h]
        if j != i:
            last = j
            u -= trust[j]
            if u < 0.0:
                return j
    return last


@njit(cache=True)
def pass_probability(propensity, is_reciprocator, tie, credited_referrals, pass_floor, prior, saturation):
    """propensity x (floor + (1 - floor) x tie), x what j gave for reciprocators ("qui donne reçoit")."""
    probability = propensity * (pass_floor + (1.0 - pass_floor) * tie)
    if is_reciprocator:
        probability *= min(1.0, (prior + credited_referrals) / saturation)
    return probability


@njit(cache=True)
def pass_referrals(rng, p, market, members, slots, club, week):
    present = current_slots(slots)
    n_professions = len(market.profession_sector)
    tie, received_from, holders, holder_count = slots.tie, slots.received_from, club.profession_holders, club.profession_count
    stats = club.week_stats
    ring = slots.referral_weeks.shape[1]
    for first in present[rng.permutation(len(present))]:
        cdf = market.need_cdf[members.sector[slots.member[first]]]
        for _ in range(rng.poisson(members.needs_per_week[slots.member[first]])):
            profession = draw_from_cdf(rng, cdf, n_professions)
            i = first
            while True:  # a converted deal may create a follow-on need in the sector (synergy)
                j = choose_receiver(rng, holders[profession], holder_count[profession], tie[i], i)
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
                sector = market.profession_sector[profession]
                k = draw_from_cdf(rng, market.sector_need_cdf[sector], market.sector_size[sector])
                profession = market.sector_professions[sector, k]
                i = j
