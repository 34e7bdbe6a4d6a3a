"""A region's week (docs/ODD.md 7.8): interclub events, weak ties, second-circle referrals, transfers.

The clubs of a region are numba typed lists of the single-club state (`P` parameters, `M`
members, `S` slots, `W` weak ties, `C` club counters and tables, `K` candidates, `SE`
series), one entry per club; each club runs the single-club phases of `sim.kernels.week`,
and the region's phases here connect them. A weak tie names its other end as (club,
member id) and decays lazily: its strength is computed from its last refresh when read.
"""

import numpy as np

from sim.kernels import helper, kernel
from sim.kernels.meeting import is_meeting_week
from sim.kernels.membership import admit, random_index
from sim.kernels.rules import has_place_for, pays_and_passes_interview
from sim.kernels.week import close_week, meet_and_refer, room_for_a_week, settle_and_decide
from sim.state import (
    CLOSED,
    N_REFUSED,
    RECIPROCATOR,
    S_BUSINESS,
    S_CROSS_BUSINESS,
    S_CROSS_REFERRALS,
    S_DEALS,
    S_REFERRALS,
)


@helper
def weak_strength(weak, s, e, week, decay):
    """Entry e of slot s's weak ties, decayed to `week`."""
    return weak.strength[s, e] * (1.0 - decay) ** np.float64(week - weak.week[s, e])


@helper
def find_entry(weak, s, other_club, other_member):
    for e in range(weak.club.shape[1]):
        if weak.club[s, e] == other_club and weak.member[s, e] == other_member:
            return e
    return -1


@helper
def end_weak_tie(W, c, s, e):
    """Free entry e of club c's slot s, and the other end's entry back to it (ties are mutual)."""
    weak = W[c]
    other_slot = weak.slot[s, e]
    other = W[weak.club[s, e]]
    for f in range(other.club.shape[1]):
        if other.club[other_slot, f] == c and other.slot[other_slot, f] == s and other.member[
            other_slot, f
        ] == weak.owner[s]:
            other.club[other_slot, f] = -1
    weak.club[s, e] = -1


@helper
def free_entry(W, weak, c, s, week, decay):
    """A free entry of slot s's row; if none, the weakest tie (the first such) ends on both sides."""
    weakest, weakest_strength = 0, 2.0
    for e in range(weak.club.shape[1]):
        if weak.club[s, e] < 0:
            return e
        strength = weak_strength(weak, s, e, week, decay)
        if strength < weakest_strength:
            weakest, weakest_strength = e, strength
    end_weak_tie(W, c, s, weakest)
    return weakest


@helper
def meet_at_event(M, S, W, c, s, c2, s2, growth, decay, week):
    """The members in (c, s) and (c2, s2) meet: their weak tie grows, w <- w + growth (1 - w), both ways."""
    weak, weak2 = W[c], W[c2]
    m, m2 = S[c].member[s], S[c2].member[s2]
    e = find_entry(weak, s, c2, m2)
    if e >= 0:
        e2 = find_entry(weak2, s2, c, m)
        current = weak_strength(weak, s, e, week, decay)
    else:
        current = 0.0
        e = free_entry(W, weak, c, s, week, decay)
        e2 = free_entry(W, weak2, c2, s2, week, decay)
        weak.club[s, e], weak.member[s, e], weak.slot[s, e] = c2, m2, s2
        weak.profession[s, e] = M[c2].profession[m2]
        weak2.club[s2, e2], weak2.member[s2, e2], weak2.slot[s2, e2] = c, m, s
        weak2.profession[s2, e2] = M[c].profession[m]
    strength = current + growth * (1.0 - current)
    weak.strength[s, e] = strength
    weak.week[s, e] = week
    weak2.strength[s2, e2] = strength
    weak2.week[s2, e2] = week


@helper
def end_leavers_weak_ties(W, weak, slots, c):
    """Rows of members who left club c this week: their weak ties end on both sides; rows of
    newcomers start empty."""
    for s in range(len(slots.member)):
        if weak.owner[s] == slots.member[s]:
            continue
        if weak.owner[s] >= 0:
            for e in range(weak.club.shape[1]):
                if weak.club[s, e] >= 0:
                    end_weak_tie(W, c, s, e)
        weak.owner[s] = slots.member[s]


@helper
def area_of(rp, c, clubs):
    """The clubs first..last-1 of club c's area (the whole region when area_size is 0)."""
    if rp.area_size <= 0 or rp.area_size >= clubs:
        return 0, clubs
    first = (c // rp.area_size) * rp.area_size
    return first, min(first + rp.area_size, clubs)


@helper
def interclub_event(rng, rp, P, M, S, W, region, week):
    """Members attend with their habit; each attendee meets attendees of other clubs."""
    n = 0
    clubs = len(region.open)
    for c in range(clubs):
        region.attendee_start[c] = n
        if not region.open[c]:
            continue
        slots, members = S[c], M[c]
        for s in range(len(slots.member)):
            m = slots.member[s]
            if m >= 0 and rng.random() < slots.attendance_habit[s]:
                cost = rp.event_hours * members.hourly_value[m]
                members.hours[m] += rp.event_hours
                members.time_cost[m] += cost
                slots.week_time_cost[s] += cost
                region.attendee_club[n] = c
                region.attendee_slot[n] = s
                n += 1
    region.attendee_start[clubs] = n
    decay = P[0].tie_decay
    for a in range(n):
        c, s = region.attendee_club[a], region.attendee_slot[a]
        first_club, last_club = area_of(rp, c, clubs)
        area_start, area_end = region.attendee_start[first_club], region.attendee_start[last_club]
        start, own = region.attendee_start[c], region.attendee_start[c + 1] - region.attendee_start[c]
        others = area_end - area_start - own
        if others == 0:
            continue
        for _ in range(rp.contacts_per_event):
            b = area_start + random_index(rng, others)  # uniform among the area's other clubs' attendees
            if b >= start:
                b += own
            meet_at_event(M, S, W, c, s, region.attendee_club[b], region.attendee_slot[b],
                          rp.weak_tie_initial, decay, week)


@helper
def bridged_profession(slots, weak, club, s, e):
    """The profession slot s's weak tie e reaches if the club holds none of it, else -1."""
    if slots.member[s] < 0 or weak.club[s, e] < 0:
        return -1
    profession = weak.profession[s, e]
    return -1 if club.profession_count[profession] > 0 else profession


@helper
def index_bridges(slots, weak, club, market, region, week, decay):
    """Group the club's weak ties to holders of professions it does not hold by profession
    ("bridged"), with their strength this week. Returns the number of bridged professions."""
    region.stamp[0] += 1
    stamp = region.stamp[0]
    n_bridged = 0
    for s in range(len(slots.member)):
        for e in range(weak.club.shape[1]):
            profession = bridged_profession(slots, weak, club, s, e)
            if profession < 0:
                continue
            if region.bridge_mark[profession] != stamp:
                region.bridge_mark[profession] = stamp
                region.bridged_index[profession] = n_bridged
                region.bridged[n_bridged] = profession
                region.bridge_start[n_bridged + 1] = 0
                n_bridged += 1
            region.bridge_start[region.bridged_index[profession] + 1] += 1
    region.bridge_start[0] = 0
    region.strongest[0] = 0.0
    for b in range(n_bridged):
        region.bridge_start[b + 1] += region.bridge_start[b]
        region.entry_profession[b] = region.bridge_start[b]  # each profession's next free entry
    for s in range(len(slots.member)):
        for e in range(weak.club.shape[1]):
            profession = bridged_profession(slots, weak, club, s, e)
            if profession < 0:
                continue
            b = region.bridged_index[profession]
            at = region.entry_profession[b]
            region.entry_profession[b] = at + 1
            region.bridge_slot[at] = s
            region.bridge_club[at] = weak.club[s, e]
            region.bridge_member[at] = weak.member[s, e]
            region.bridge_holder_slot[at] = weak.slot[s, e]
            region.bridge_strength[at] = weak_strength(weak, s, e, week, decay)
            region.strongest[0] = max(region.strongest[0], region.bridge_strength[at])
    group_by_sector(market, region, n_bridged)
    return n_bridged


@helper
def group_by_sector(market, region, n_bridged):
    """The bridged professions grouped by sector, with their cumulative demand weight: a need's
    profession is then a binary search (among all of them, or its member's own sector's)."""
    sectors = len(region.sector_weight)
    start = region.by_sector_start
    for k in range(sectors + 1):
        start[k] = 0
    for b in range(n_bridged):
        start[market.profession_sector[region.bridged[b]] + 1] += 1
    for k in range(sectors):
        start[k + 1] += start[k]
        region.sector_cursor[k] = start[k]  # counting sort: each sector's next free place
        region.sector_weight[k] = 0.0
    for b in range(n_bridged):
        sector = market.profession_sector[region.bridged[b]]
        region.by_sector[region.sector_cursor[sector]] = b
        region.sector_cursor[sector] += 1
    total = 0.0
    for position in range(n_bridged):
        profession = region.bridged[region.by_sector[position]]
        weight = market.demand_weight[profession]
        total += weight
        region.by_sector_cdf[position] = total
        region.sector_weight[market.profession_sector[profession]] += weight


@helper
def draw_bridged_need(u, bridged_weight, boost, sector, bridged, by_sector, by_sector_start, by_sector_cdf,
                      n_bridged):
    """The bridged profession at u (uniform on bridged_weight + (boost - 1) x the sector's): by demand
    weight among all of them, or (the own-sector boost) among those of the member's sector."""
    if u < bridged_weight:
        first, last, target = 0, n_bridged, u
    else:
        first, last = by_sector_start[sector], by_sector_start[sector + 1]
        below = by_sector_cdf[first - 1] if first > 0 else 0.0
        target = below + (u - bridged_weight) / (boost - 1.0)
    position = first + np.searchsorted(by_sector_cdf[first:last], target, side="right")
    return bridged[by_sector[min(position, last - 1)]]


@helper
def bridge_trust(tie, bridge_slot, bridge_strength, i, at, strong_threshold):
    """Giver i's trust in bridge entry `at`: trust in the bridge's member k (1 if k is i, tie[i][k]
    if that is strong, else 0) x k's weak tie, from this week's bridge index: the per-need loop reads
    no other club's state (an item of a numba typed list costs far more than an array read)."""
    k = bridge_slot[at]
    if k == i:
        return bridge_strength[at]
    if tie[i, k] < strong_threshold:
        return 0.0
    return tie[i, k] * bridge_strength[at]


@helper
def second_circle_referrals(rng, P, market, M, S, W, C, region, c, week):
    """Needs for professions club c lacks, passed through a bridge (k, h) to a holder in another club."""
    p, members, slots, weak, club = P[c], M[c], S[c], W[c], C[c]
    decay = p.tie_decay
    n_bridged = index_bridges(slots, weak, club, market, region, week, decay)
    if n_bridged == 0:
        return
    bridged_weight = 0.0
    for k in range(len(region.sector_weight)):
        bridged_weight += region.sector_weight[k]
    boost = p.own_sector_boost
    # Thinning: only needs for bridged professions that i's propensity passes on, and only a share
    # `strongest` of them (no bridge's trust exceeds the strongest weak tie); a drawn need is then
    # passed with probability t / strongest, so that t remains the probability of passing it.
    strongest = region.strongest[0]
    total = 0.0
    for s in range(len(slots.member)):
        m = slots.member[s]
        if m >= 0:
            sector = members.sector[m]
            share = (bridged_weight + (boost - 1.0) * region.sector_weight[sector]) / market.need_total[sector]
            total += members.needs_per_week[m] * members.referral_propensity[m] * share * strongest
        region.giver_cdf[s] = total
    if total <= 0.0:
        return
    ring = slots.referral_weeks.shape[1]
    tie, strong_threshold = slots.tie, p.strong_threshold
    bridged, bridge_slot, bridge_strength = region.bridged, region.bridge_slot, region.bridge_strength
    by_sector, by_sector_start, by_sector_cdf = region.by_sector, region.by_sector_start, region.by_sector_cdf
    for _ in range(rng.poisson(total)):
        n_slots = len(slots.member)  # free slots add nothing to the cumulative rates: never drawn
        i = min(np.searchsorted(region.giver_cdf[:n_slots], rng.random() * total, side="right"), n_slots - 1)
        giver = slots.member[i]
        sector = members.sector[giver]
        u = rng.random() * (bridged_weight + (boost - 1.0) * region.sector_weight[sector])
        profession = draw_bridged_need(u, bridged_weight, boost, sector, bridged, by_sector, by_sector_start,
                                       by_sector_cdf, n_bridged)
        b = region.bridged_index[profession]
        first, last = region.bridge_start[b], region.bridge_start[b + 1]

        trust_total = 0.0
        for at in range(first, last):
            trust_total += bridge_trust(tie, bridge_slot, bridge_strength, i, at, strong_threshold)
        if trust_total <= 0.0:
            continue  # no bridge open to i: the need is lost
        pick = rng.random() * trust_total
        chosen, trust = last - 1, 0.0  # the last bridge if rounding leaves pick past every one
        for at in range(first, last):
            trust = bridge_trust(tie, bridge_slot, bridge_strength, i, at, strong_threshold)
            if pick < trust:
                chosen = at
                break
            pick -= trust
        other_club, receiver = region.bridge_club[chosen], region.bridge_member[chosen]

        probability = trust / strongest
        if members.member_type[giver] == RECIPROCATOR:
            probability *= min(1.0, p.reciprocity_prior / p.reciprocity_saturation)
        if rng.random() >= probability:
            continue
        members.referrals_given[giver] += 1
        slots.referral_weeks[i, slots.referrals[i] % ring] = week
        slots.referrals[i] += 1
        receivers, stats = M[other_club], C[other_club].week_stats
        receivers.referrals_received[receiver] += 1
        stats[S_REFERRALS] += 1
        stats[S_CROSS_REFERRALS] += 1
        if rng.random() >= p.conversion_min + (p.conversion_max - p.conversion_min) * trust:
            continue
        value = market.deal_median[profession] * np.exp(p.deal_value_sigma * rng.standard_normal())
        receivers.business_received[receiver] += value
        receivers.deals_received[receiver] += 1
        S[other_club].week_gain[region.bridge_holder_slot[chosen]] += value
        members.business_given[giver] += value
        stats[S_DEALS] += 1
        stats[S_BUSINESS] += value
        stats[S_CROSS_BUSINESS] += value


@helper
def transfer_refused(rng, rp, P, M, S, C, K, region, c, week):
    """Club c's applicants refused for capacity or composition try one other club of its area."""
    refused = region.refused[c]
    first, last = area_of(rp, c, len(C))
    if last - first < 2:
        return
    for k in range(refused):
        if rng.random() >= rp.transfer_share:
            continue
        other = first + random_index(rng, last - first - 1)  # uniform among the area's other clubs
        if other >= c:
            other += 1
        if not region.open[other]:
            continue
        p, members, slots, club, cand = P[other], M[other], S[other], C[other], K[c]
        if has_place_for(p, club, cand, k) and pays_and_passes_interview(rng, p, members, slots, cand, k):
            admit(p, members, slots, club, cand, k, week, np.bool_(False))


@kernel
def region_has_room(P, M, C):
    for c in range(len(C)):
        if not room_for_a_week(P[c], M[c], C[c]):
            return False
    return True


@kernel
def run_region_weeks(rng, rp, P, market, M, S, W, C, K, SE, region, start, stop):
    """Weeks start..stop-1 of a region; returns the first week not run (early when a club's
    member records run out: the caller grows them and calls again).

    Each loop fetches a club's tuples once: fetching one from a typed list costs a reference-count
    update per array it holds, and a region of small clubs spends much of its week on it.
    """
    clubs = len(C)
    if not region_has_room(P, M, C):
        return start
    for week in range(start, stop):
        for c in range(clubs):
            if region.open[c]:
                p = P[c]
                meeting = is_meeting_week(week, p.meetings_per_year)
                meet_and_refer(rng, p, market, M[c], S[c], C[c], K[c], week, meeting)
        if rp.interclub_events_per_year > 0 and is_meeting_week(week, rp.interclub_events_per_year):
            interclub_event(rng, rp, P, M, S, W, region, week)
        if rp.second_circle:
            for c in range(clubs):
                if region.open[c]:
                    second_circle_referrals(rng, P, market, M, S, W, C, region, c, week)
        for c in range(clubs):
            club = C[c]
            if region.open[c]:
                p = P[c]
                meeting = is_meeting_week(week, p.meetings_per_year)
                settle_and_decide(rng, p, M[c], S[c], club, K[c], week, meeting)
                region.open[c] = club.counters[CLOSED] == 0
            region.refused[c] = club.counters[N_REFUSED]
            club.counters[N_REFUSED] = 0
        if rp.transfer_share > 0.0:
            for c in range(clubs):
                if region.refused[c] > 0:
                    transfer_refused(rng, rp, P, M, S, C, K, region, c, week)
        room = True
        for c in range(clubs):
            slots, club = S[c], C[c]
            end_leavers_weak_ties(W, W[c], slots, c)
            close_week(slots, club, SE[c], week)
            room = room and room_for_a_week(P[c], M[c], club)
        if not room:
            return week + 1
    return stop
