"""Phases 2-4 (docs/ODD.md 7.2): client needs, referral decisions with competition, deals, synergy.

Only needs that can become a referral are drawn (docs/ODD.md section 10).
Member i's needs naming a held profession, kept with i's propensity, are a
Poisson(needs_i x q_i x propensity_i) stream (thinning; q_i is the share of
i's need weight on held professions); the club's streams together are one
Poisson count whose needs belong to members in proportion to their rates
(superposition), met in random order. A need's profession mixes two alias
tables (Walker 1977, Vose 1991): held professions by demand weight, and those
of the member's own sector, weighted by the own-sector boost. The tables are
rebuilt when membership changes, in time linear in members and professions.

The per-need helpers take plain arrays, not the state tuples: numba passes a
tuple of arrays by value (with a reference count per array), which costs more
than the work itself in a loop run hundreds of times a week.
"""

import numpy as np

from sim.kernels import helper, inlined, kernel
from sim.kernels.distributions import poisson, standard_normal
from sim.kernels.draws import uniform
from sim.kernels.layout import (
    COMPLEMENTARITY,
    HELD_WEIGHT,
    HOLDINGS_CHANGED,
    N_GIVERS,
    N_HELD,
    NEED_RATE,
    R_NEEDS,
    RECEIVED_MAX,
    RECIPROCATOR,
    S_BUSINESS,
    S_DEALS,
    S_REFERRALS,
    S_SPHERE_REFERRALS,
)
from sim.kernels.membership import image_factor, random_index


@helper
def draw_weighted(rng, cumulative, row, n):
    """k < n drawn with probability proportional to the increments of cumulative[row, :n]."""
    u = uniform(rng) * cumulative[row, n - 1]
    low, high = 0, n - 1
    while low < high:  # first k with cumulative > u
        mid = (low + high) // 2
        if cumulative[row, mid] > u:
            high = mid
        else:
            low = mid + 1
    return low


@inlined  # out of line it counted a reference to its arrays in and out (sim/kernels/__init__.py)
def choose_receiver(rng, holders, profession, n, tie, i):
    """Competition: among the holders other than i, one drawn in proportion to i's tie to them."""
    if n == 1:  # exclusivity's usual case
        j = holders[profession, 0]
        return j if j != i else -1
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
    u = uniform(rng) * total
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
def is_teammate(tie, j, h, strong_threshold):
    """h is j's teammate: another member to whom j has a strong tie."""
    return h != j and tie[j, h] >= strong_threshold


@helper
def holds_teammate(holders, holder_count, tie, j, profession, strong_threshold):
    for h in range(holder_count[profession]):
        if is_teammate(tie, j, holders[profession, h], strong_threshold):
            return True
    return False


@helper
def draw_teammate(rng, market, holders, holder_count, tie, j, sector, strong_threshold):
    """Team work: one of j's teammates in `sector`: its trade by demand weight among the teammates',
    then one of that trade's teammates by j's tie (competition); -1 if j has none there."""
    total = 0.0
    for k in range(market.sector_size[sector]):
        profession = market.sector_professions[sector, k]
        if holds_teammate(holders, holder_count, tie, j, profession, strong_threshold):
            total += market.demand_weight[profession]
    if total <= 0.0:
        return -1
    u = uniform(rng) * total
    chosen = -1
    for k in range(market.sector_size[sector]):
        profession = market.sector_professions[sector, k]
        if holds_teammate(holders, holder_count, tie, j, profession, strong_threshold):
            chosen = profession
            u -= market.demand_weight[profession]
            if u < 0.0:
                break
    ties = 0.0
    for h in range(holder_count[chosen]):
        if is_teammate(tie, j, holders[chosen, h], strong_threshold):
            ties += tie[j, holders[chosen, h]]
    u = uniform(rng) * ties
    mate = -1
    for h in range(holder_count[chosen]):
        if is_teammate(tie, j, holders[chosen, h], strong_threshold):
            mate = holders[chosen, h]
            u -= tie[j, mate]
            if u < 0.0:
                break
    return mate


@helper
def reciprocity_prior(p, members, giver, receiver, week):
    """Reciprocators' prior credit to a member lasts `reciprocity_credit_weeks` after the two met."""
    met = max(members[giver].join_week, members[receiver].join_week)
    return p.reciprocity_prior if week - met < p.reciprocity_credit_weeks else 0.0


@helper
def pass_probability(propensity, is_reciprocator, tie, credited_referrals, pass_floor, prior, saturation):
    """propensity x (floor + (1 - floor) x tie), x what j gave for reciprocators ("qui donne reçoit")."""
    probability = propensity * (pass_floor + (1.0 - pass_floor) * tie)
    if is_reciprocator:
        probability *= min(1.0, (prior + credited_referrals) / saturation)
    return probability


@helper
def build_alias_table(weights, n, threshold, alias, offset, scaled, small, large):
    """Vose's alias method over weights[:n], into threshold/alias[offset:offset+n] (scaled, small,
    large: scratch of length >= n). Then k = uniform(n) is kept if U < threshold[offset+k], else
    replaced by alias[offset+k] (an index in 0..n-1)."""
    total = 0.0
    for k in range(n):
        total += weights[k]
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
        threshold[offset + low] = scaled[low]
        alias[offset + low] = high
        scaled[high] = (scaled[high] + scaled[low]) - 1.0
        if scaled[high] < 1.0:
            n_large -= 1
            small[n_small] = high
            n_small += 1
    for r in range(n_large):
        threshold[offset + large[r]] = 1.0
        alias[offset + large[r]] = large[r]
    for r in range(n_small):  # left over only through rounding
        threshold[offset + small[r]] = 1.0
        alias[offset + small[r]] = small[r]


@helper
def pick_alias(u, threshold, alias, offset, n):
    """The index in 0..n-1 that a uniform u in [0, 1) picks from an alias table."""
    x = u * n
    k = min(np.int64(x), n - 1)
    return k if x - k < threshold[offset + k] else alias[offset + k]


@helper
def draw_alias(rng, threshold, alias, offset, n):
    return pick_alias(uniform(rng), threshold, alias, offset, n)


@helper
def index_held_professions(p, market, club):
    """The professions members hold, grouped by sector, with their alias tables and need shares."""
    n_held = 0
    held_weight = 0.0
    for sector in range(len(market.sector_size)):
        start = n_held
        club.sector_held_start[sector] = start
        sector_weight = 0.0
        for k in range(market.sector_size[sector]):
            profession = market.sector_professions[sector, k]
            if club.profession_count[profession] > 0:
                club.held_professions[n_held] = profession
                club.held_weight[n_held] = market.demand_weight[profession]
                sector_weight += market.demand_weight[profession]
                n_held += 1
        if n_held > start:
            build_alias_table(club.held_weight[start:], n_held - start, club.sector_held_threshold,
                              club.sector_held_alias, start, club.alias_scaled, club.alias_small, club.alias_large)
        club.sector_held_weight[sector] = sector_weight
        held_weight += sector_weight
    club.sector_held_start[len(market.sector_size)] = n_held
    if n_held > 0:
        build_alias_table(club.held_weight, n_held, club.held_threshold, club.held_alias, 0,
                          club.alias_scaled, club.alias_small, club.alias_large)
    club.counters[N_HELD] = n_held
    club.totals[HELD_WEIGHT] = held_weight
    for sector in range(len(market.sector_size)):
        own = (p.own_sector_boost - 1.0) * club.sector_held_weight[sector]
        club.held_need_share[sector] = (held_weight + own) / market.need_total[sector]


@helper
def index_need_rates(members, slots, club):
    """Each member's rate of needs that may become its referral, and the alias table over members."""
    n_givers = 0
    total = 0.0
    for s in range(len(slots.member)):
        m = slots.member[s]
        if m < 0:
            continue
        rate = members[m].needs_per_week * club.held_need_share[members[m].sector] * members[m].referral_propensity
        if rate > 0.0:
            club.giver_slots[n_givers] = s
            club.giver_rate[n_givers] = rate
            total += rate
            n_givers += 1
    if n_givers > 0:
        build_alias_table(club.giver_rate, n_givers, club.giver_threshold, club.giver_alias, 0,
                          club.alias_scaled, club.alias_small, club.alias_large)
    club.counters[N_GIVERS] = n_givers
    club.totals[NEED_RATE] = total


@helper
def draw_held_need(rng, own_sector_boost, club, sector):
    """A held need's profession for a member of `sector`: by demand weight, x own_sector_boost in its sector."""
    held_weight = club.totals[HELD_WEIGHT]
    own_weight = (own_sector_boost - 1.0) * club.sector_held_weight[sector]
    u = uniform(rng) * (held_weight + own_weight)
    if u < held_weight:
        return club.held_professions[
            pick_alias(u / held_weight, club.held_threshold, club.held_alias, 0, club.counters[N_HELD])
        ]
    start = club.sector_held_start[sector]
    n = club.sector_held_start[sector + 1] - start
    return club.held_professions[
        start + pick_alias((u - held_weight) / own_weight, club.sector_held_threshold, club.sector_held_alias, start, n)
    ]


@kernel
def pass_referrals(p, market, members, slots, club, week):
    if club.counters[HOLDINGS_CHANGED]:
        index_held_professions(p, market, club)
        index_need_rates(members, slots, club)
        club.counters[HOLDINGS_CHANGED] = 0
    n_givers = club.counters[N_GIVERS]
    if n_givers == 0:
        return
    # the loop's arrays, fetched once: a tuple field read inside a branchy loop costs a
    # reference-count update each time, which numba's pruning misses
    member, tie, received_from = slots.member, slots.tie, slots.received_from
    sales, ceiling_after = slots.sales, slots.ceiling_after
    referral_weeks, referrals, week_gain = slots.referral_weeks, slots.referrals, slots.week_gain
    holders, holder_count = club.profession_holders, club.profession_count
    giver_slots, giver_threshold, giver_alias = club.giver_slots, club.giver_threshold, club.giver_alias
    stats = club.week_stats
    ring = referral_weeks.shape[1]
    rng = club.streams[R_NEEDS]
    for _ in range(poisson(rng, club.totals[NEED_RATE])):
        i = giver_slots[draw_alias(rng, giver_threshold, giver_alias, 0, n_givers)]
        profession = draw_held_need(rng, p.own_sector_boost, club, members[member[i]].sector)
        propensity_kept = True  # the first giver's propensity thinned its needs already
        joint = False  # a team follow-on (docs/ODD.md 7.2, team work): j is the teammate already drawn
        j = -1
        while True:  # a converted deal may create a follow-on need in the sector (synergy)
            if not joint:
                if holder_count[profession] == 1:  # exclusivity's usual case, without a call
                    j = holders[profession, 0]
                    j = j if j != i else -1
                else:
                    j = choose_receiver(rng, holders, profession, holder_count[profession], tie, i)
                if j < 0:
                    break
            giver, receiver = member[i], member[j]
            if joint:  # team work: i brings in a sector peer as its propensity says, whatever their tie
                probability = members[giver].referral_propensity
            else:
                is_reciprocator = members[giver].member_type == RECIPROCATOR
                prior = reciprocity_prior(p, members, giver, receiver, week) if is_reciprocator else 0.0
                probability = pass_probability(
                    1.0 if propensity_kept else members[giver].referral_propensity,
                    is_reciprocator, tie[i, j], received_from[i, j], p.pass_floor, prior, p.reciprocity_saturation,
                ) * image_factor(p, referral_weeks, referrals, members[receiver].join_week, j, week)
            if uniform(rng) >= probability:
                break
            members[giver].referrals_given += 1
            members[receiver].referrals_received += 1
            if received_from[j, i] < RECEIVED_MAX:
                received_from[j, i] += 1
            referral_weeks[i, referrals[i] % ring] = week
            referrals[i] += 1
            stats[S_REFERRALS] += 1
            if members[giver].sector == members[receiver].sector:
                stats[S_SPHERE_REFERRALS] += 1  # inside the giver's contact sphere

            if not joint and uniform(rng) >= p.conversion_min + (p.conversion_max - p.conversion_min) * tie[i, j]:
                break  # a joint deal converts: the client already works with the team
            value = market.deal_median[profession] * np.exp(p.deal_value_sigma * standard_normal(rng))
            members[receiver].business_received += value
            members[giver].business_given += value
            members[receiver].deals_received += 1
            week_gain[j] += value
            tie[j, i] += p.reciprocity_growth * (ceiling_after[sales[j, i]] - tie[j, i])
            stats[S_DEALS] += 1
            stats[S_BUSINESS] += value

            if uniform(rng) >= p.sector_synergy:
                break
            follow_on_sector = market.profession_sector[profession]
            if p.composition == COMPLEMENTARITY and p.team_work > 0.0 and uniform(rng) < p.team_work:
                # team work: the receiver takes the follow-on to a strongly tied sector peer of the club
                mate = draw_teammate(rng, market, holders, holder_count, tie, j, follow_on_sector,
                                     p.strong_threshold)
                if mate < 0:
                    break
                profession = members[member[mate]].profession
                joint = True
                i, j = j, mate
            else:
                joint = False
                k = draw_weighted(rng, market.sector_need_cdf, follow_on_sector, market.sector_size[follow_on_sector])
                profession = market.sector_professions[follow_on_sector, k]
                i = j
            propensity_kept = False
