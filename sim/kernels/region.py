"""A region's week (docs/ODD.md 7.8): interclub events, weak ties, second-circle referrals, transfers.

The clubs of a region are numba typed lists of the single-club state (`P` parameters, `M`
members, `S` slots, `C` club counters and tables, `K` candidates, `SE` series), one entry
per club; each club runs the single-club phases of `sim.kernels.week`, and the region's
phases here connect them. What these phases read of other clubs (their members in slots,
weekly gains and counts, and all weak ties) is in the `region` tuple's arrays, where club c's
slots are rows slot_start[c]..slot_start[c+1]-1: fetching a club's tuple from a typed list
costs a reference-count update per array in it. A weak tie names its other end as (club,
member id, slot) and decays lazily: its strength is computed from its last refresh when read.
"""

import numba
import numpy as np

from sim.kernels import entry, helper, inlined, kernel
from sim.kernels.borrowed import borrowed, borrowed_item
from sim.kernels.distributions import poisson, standard_normal
from sim.kernels.draws import rekey, uniform
from sim.kernels.layout import (
    CLOSED,
    N_REFUSED,
    OUT_DEAL,
    OUT_SPHERE,
    R_EVENTS,
    R_SECOND_CIRCLE,
    R_TRANSFERS,
    RECIPROCATOR,
    S_BUSINESS,
    S_CROSS_BUSINESS,
    S_CROSS_REFERRALS,
    S_DEALS,
    S_REFERRALS,
    S_SPHERE_REFERRALS,
)
from sim.kernels.meeting import is_meeting_week
from sim.kernels.membership import admit, random_index
from sim.kernels.rules import has_place_for, pays_and_passes_interview
from sim.kernels.week import close_week, meet_and_refer, room_for_a_week, settle_and_decide


@inlined
def weak_strength(region, r, e, week):
    """Entry e of row r's weak ties, decayed to `week`: w (1 - decay)^(weeks since its refresh)."""
    return region.weak_strength[r, e] * region.keep_power[week - region.weak_week[r, e]]


@kernel
def tabulate_decay(keep_power, decay):
    """keep_power[a] = (1 - decay)^a: what a weak tie keeps after a weeks (a pow per read costs more)."""
    for age in range(len(keep_power)):
        keep_power[age] = (1.0 - decay) ** np.float64(age)


@inlined
def find_entry(region, r, other_club, other_member):
    weak_club, weak_member = region.weak_club, region.weak_member
    for e in range(weak_club.shape[1]):
        if weak_club[r, e] == other_club and weak_member[r, e] == other_member:
            return e
    return -1


@inlined
def end_weak_tie(region, c, r, e):
    """Free entry e of row r (a slot of club c), and the other end's entry back to it (ties are mutual)."""
    weak_club, weak_slot, weak_member = region.weak_club, region.weak_slot, region.weak_member
    s = r - region.slot_start[c]
    other = region.slot_start[weak_club[r, e]] + weak_slot[r, e]
    region.bridges_stale[c] = True
    region.bridges_stale[weak_club[r, e]] = True
    for f in range(weak_club.shape[1]):
        if weak_club[other, f] == c and weak_slot[other, f] == s and weak_member[other, f] == region.weak_owner[r]:
            weak_club[other, f] = -1
    weak_club[r, e] = -1


@inlined
def free_entry(region, c, r, week):
    """A free entry of row r's weak ties; if none, the weakest tie (the first such) ends on both sides."""
    weakest, weakest_strength = 0, 2.0
    for e in range(region.weak_club.shape[1]):
        if region.weak_club[r, e] < 0:
            return e
        strength = weak_strength(region, r, e, week)
        if strength < weakest_strength:
            weakest, weakest_strength = e, strength
    end_weak_tie(region, c, r, weakest)
    return weakest


@inlined
def meet_at_event(M, region, c, s, c2, s2, growth, week):
    """The members in (c, s) and (c2, s2) meet: their weak tie grows, w <- w + growth (1 - w), both ways."""
    r, r2 = region.slot_start[c] + s, region.slot_start[c2] + s2
    m, m2 = region.slot_member[r], region.slot_member[r2]
    e = find_entry(region, r, c2, m2)
    if e >= 0:
        e2 = find_entry(region, r2, c, m)
        current = weak_strength(region, r, e, week)
    else:
        current = 0.0
        e = free_entry(region, c, r, week)
        e2 = free_entry(region, c2, r2, week)
        region.weak_club[r, e], region.weak_member[r, e], region.weak_slot[r, e] = c2, m2, s2
        region.weak_profession[r, e] = borrowed_item(M, c2).profession[m2]
        region.weak_club[r2, e2], region.weak_member[r2, e2], region.weak_slot[r2, e2] = c, m, s
        region.weak_profession[r2, e2] = borrowed_item(M, c).profession[m]
        region.bridges_stale[c] = True  # a new bridge, maybe; a refreshed one is read at its new strength
        region.bridges_stale[c2] = True
    strength = current + growth * (1.0 - current)
    region.weak_strength[r, e] = strength
    region.weak_week[r, e] = week
    region.weak_strength[r2, e2] = strength
    region.weak_week[r2, e2] = week


@inlined
def end_leavers_weak_ties(region, c):
    """Rows of members who left club c this week: their weak ties end on both sides; rows of
    newcomers start empty."""
    owner, member, weak_club = region.weak_owner, region.slot_member, region.weak_club
    for r in range(region.slot_start[c], region.slot_start[c + 1]):
        if owner[r] == member[r]:
            continue
        region.bridges_stale[c] = True  # its holdings changed, and with them which professions it bridges
        if owner[r] >= 0:
            for e in range(weak_club.shape[1]):
                if weak_club[r, e] >= 0:
                    end_weak_tie(region, c, r, e)
        owner[r] = member[r]


@helper
def area_of(rp, c, clubs):
    """The clubs first..last-1 of club c's area (the whole region when area_size is 0)."""
    if rp.area_size <= 0 or rp.area_size >= clubs:
        return 0, clubs
    first = (c // rp.area_size) * rp.area_size
    return first, min(first + rp.area_size, clubs)


@helper
def areas_from(rp, clubs, c):
    """The first club of the first area that starts at club c or after it (`clubs` if none does): a lane of
    clubs first..last-1 holds the event meetings of the areas that start in it, areas_from(first) up to
    areas_from(last). A region of one area starts its area at club 0."""
    if rp.area_size <= 0 or rp.area_size >= clubs:
        return 0 if c <= 0 else clubs
    return min(-(-c // rp.area_size) * rp.area_size, clubs)


@inlined
def attend_event(rp, P, M, S, region, week):
    """An interclub event's draws, on one thread: members attend with their habit, then each attendee's
    partners (`contacts_per_event`, uniform among the area's other clubs' attendees), attendee by attendee.
    Returns the partners, an attendee's in a row of `contacts_per_event` (-1: none); `meet_partners` holds
    the meetings. Nothing is drawn after this part, so the stream is the one the meetings would interleave."""
    rng = region.streams[R_EVENTS]
    n = 0
    clubs = len(region.open)
    for c in range(clubs):
        region.attendee_start[c] = n
        if not region.open[c]:
            continue
        slots = borrowed_item(S, c)
        members = borrowed_item(M, c)
        for s in range(len(slots.member)):
            m = slots.member[s]
            if m >= 0 and uniform(rng) < slots.attendance_habit[s]:
                cost = rp.event_hours * members[m].hourly_value
                members[m].hours += rp.event_hours
                members[m].time_cost += cost
                slots.week_time_cost[s] += cost
                region.attendee_club[n] = c
                region.attendee_slot[n] = s
                n += 1
    region.attendee_start[clubs] = n
    contacts = rp.contacts_per_event
    partners = np.full(n * contacts, -1, dtype=np.int32)
    for a in range(n):
        c = region.attendee_club[a]
        first_club, last_club = area_of(rp, c, clubs)
        area_start, area_end = region.attendee_start[first_club], region.attendee_start[last_club]
        start, own = region.attendee_start[c], region.attendee_start[c + 1] - region.attendee_start[c]
        others = area_end - area_start - own
        if others == 0:
            continue
        for k in range(contacts):
            b = area_start + random_index(rng, others)  # uniform among the area's other clubs' attendees
            if b >= start:
                b += own
            partners[a * contacts + k] = b
    return partners


@inlined
def meet_partners(rp, M, region, partners, first_club, last_club, week):
    """An interclub event's meetings for the attendees of clubs first_club..last_club-1 (whole areas), in
    attendee order: each meets its partners in turn. A meeting, and the weak tie it may end to make room,
    stays inside its area (ties are made only at events), so areas meet on separate threads, with the ties
    that one thread gives."""
    contacts = rp.contacts_per_event
    for a in range(region.attendee_start[first_club], region.attendee_start[last_club]):
        c, s = region.attendee_club[a], region.attendee_slot[a]
        for k in range(contacts):
            b = partners[a * contacts + k]
            if b < 0:
                break
            meet_at_event(M, region, c, s, region.attendee_club[b], region.attendee_slot[b],
                          rp.weak_tie_initial, week)


@inlined
def members_changed(region, c):
    """Whether a member joined or left club c since its last week ended (`end_leavers_weak_ties` records
    each row's member then): its holdings may have changed this week."""
    owner, member = region.weak_owner, region.slot_member
    for r in range(region.slot_start[c], region.slot_start[c + 1]):
        if owner[r] != member[r]:
            return True
    return False


@inlined
def index_bridges(club, market, region, lane, c):
    """Rebuild club c's bridge index (`Region.bridged` ...): its weak ties to holders of professions it does
    not hold ("bridged"), grouped by profession, and those professions grouped by sector.

    One pass over the club's rows lists its bridges and numbers the bridged professions in the order they
    are first met; the bridges are then placed by profession from that list (a second pass over every
    entry, with its tests, cost a fifth more). The grouping by sector reads only the bridged professions
    in their order, so it is kept when they are the index's as it was: most rebuilds follow a tie ending
    in another club's row, which leaves them as they were.

    Every array is bound before the loops: a helper taking the region's tuple, or a tuple field
    read inside a loop, costs a reference-count update per array, far more than an entry's work.
    """
    lane.stamp[0] += 1
    stamp = lane.stamp[0]
    first_row, last_row = region.slot_start[c], region.slot_start[c + 1]
    slot_member, weak_club, weak_profession = region.slot_member, region.weak_club, region.weak_profession
    entries = weak_club.shape[1]
    base = first_row * entries  # club c's part of the per-bridge arrays
    bridged, bridge_row, bridge_column = region.bridged[base:], region.bridge_row[base:], region.bridge_column[base:]
    bridge_start = region.bridge_start[base + c:]
    profession_count = club.profession_count
    mark, bridged_index = lane.bridge_mark, lane.bridged_index
    found_bridged, found_row, found_column = lane.found_bridged, lane.found_row, lane.found_column
    n_bridged = 0
    n_found = 0
    same_professions = True  # the bridged professions so far are the index's, in its order
    for r in range(first_row, last_row):
        if slot_member[r] < 0:
            continue
        for e in range(entries):
            if weak_club[r, e] < 0 or profession_count[weak_profession[r, e]] > 0:
                continue  # a free entry, or a tie to a profession the club holds
            profession = weak_profession[r, e]
            if mark[profession] != stamp:
                mark[profession] = stamp
                bridged_index[profession] = n_bridged
                same_professions = same_professions and bridged[n_bridged] == profession
                bridged[n_bridged] = profession
                bridge_start[n_bridged + 1] = 0
                n_bridged += 1
            b = bridged_index[profession]
            bridge_start[b + 1] += 1
            found_bridged[n_found] = b
            found_row[n_found] = r
            found_column[n_found] = e
            n_found += 1
    bridge_start[0] = 0
    next_bridge = lane.next_bridge
    for b in range(n_bridged):
        bridge_start[b + 1] += bridge_start[b]
        next_bridge[b] = bridge_start[b]  # each profession's next free entry
    for k in range(n_found):
        b = found_bridged[k]
        at = next_bridge[b]
        next_bridge[b] = at + 1
        bridge_row[at] = found_row[k]
        bridge_column[at] = found_column[k]
    if not same_professions or n_bridged != region.n_bridged[c]:
        group_by_sector(market.profession_sector, market.demand_weight, bridged, region.by_sector[base:],
                        region.by_sector_start[c], region.by_sector_cdf[base:], lane.sector_cursor,
                        region.sector_weight[c], n_bridged)
    region.n_bridged[c] = n_bridged
    region.bridges_stale[c] = False


@inlined  # out of line it counted a reference to its arrays in and out, at every rebuild of the index
def group_by_sector(profession_sector, demand_weight, bridged, by_sector, start, by_sector_cdf, sector_cursor,
                    sector_weight, n_bridged):
    """The bridged professions grouped by sector, with their cumulative demand weight: a need's
    profession is then a binary search (among all of them, or its member's own sector's)."""
    sectors = len(sector_weight)
    for k in range(sectors + 1):
        start[k] = 0
    for b in range(n_bridged):
        start[profession_sector[bridged[b]] + 1] += 1
    for k in range(sectors):
        start[k + 1] += start[k]
        sector_cursor[k] = start[k]  # counting sort: each sector's next free place
        sector_weight[k] = 0.0
    for b in range(n_bridged):
        sector = profession_sector[bridged[b]]
        by_sector[sector_cursor[sector]] = b
        sector_cursor[sector] += 1
    total = 0.0
    for position in range(n_bridged):
        profession = bridged[by_sector[position]]
        weight = demand_weight[profession]
        total += weight
        by_sector_cdf[position] = total
        sector_weight[profession_sector[profession]] += weight


@inlined
def bridge_strengths(region, bridge_strength, c, week):
    """Club c's bridges' weak ties decayed to this week, into `bridge_strength` (in index order); returns
    the strongest. Their decay is lazy (`weak_strength`): the index stays valid as they weaken."""
    entries = region.weak_club.shape[1]
    base = region.slot_start[c] * entries
    bridge_start = region.bridge_start[base + c:]
    bridge_row, bridge_column = region.bridge_row[base:], region.bridge_column[base:]
    strength_at_refresh, weak_week, keep_power = region.weak_strength, region.weak_week, region.keep_power
    strongest = 0.0
    for at in range(bridge_start[region.n_bridged[c]]):
        r, e = bridge_row[at], bridge_column[at]
        bridge_strength[at] = strength_at_refresh[r, e] * keep_power[week - weak_week[r, e]]
        strongest = max(strongest, bridge_strength[at])
    return strongest


@helper
def bisect_right(values, first, last, x):
    """The first k in first..last-1 with values[k] > x (values ascending), or last: numpy's
    searchsorted(side="right"), without its call and slice in a per-need loop."""
    while first < last:
        middle = (first + last) // 2
        if values[middle] > x:
            last = middle
        else:
            first = middle + 1
    return first


@inlined  # out of line it counted a reference to its arrays in and out: 9 atomic updates a member-week
def draw_bridged_need(u, bridged_weight, boost, sector, by_sector, by_sector_start, by_sector_cdf, n_bridged):
    """The bridged profession at u (uniform on bridged_weight + (boost - 1) x the sector's), as its position in
    the club's `bridged`: by demand weight among all of them, or (the own-sector boost) among those of the
    member's sector."""
    if u < bridged_weight:
        first, last, target = 0, n_bridged, u
    else:
        first, last = by_sector_start[sector], by_sector_start[sector + 1]
        below = by_sector_cdf[first - 1] if first > 0 else 0.0
        target = below + (u - bridged_weight) / (boost - 1.0)
    position = bisect_right(by_sector_cdf, first, last, target)
    return by_sector[min(position, last - 1)]


@helper
def bridge_trust(tie, bridge_row, bridge_strength, first_row, i, at, strong_threshold):
    """Giver i's trust in bridge `at`: trust in the bridge's member k (1 if k is i, tie[i][k]
    if that is strong, else 0) x k's weak tie, from the club's bridge index: the per-need loop reads
    no other club's tuple (an item of a numba typed list costs far more than an array read)."""
    k = bridge_row[at] - first_row
    if k == i:
        return bridge_strength[at]
    if tie[i, k] < strong_threshold:
        return 0.0
    return tie[i, k] * bridge_strength[at]


@inlined
def second_circle_referrals(P, market, M, S, C, region, lane, c, week):
    """Needs for professions club c lacks, passed through a bridge (k, h) to a holder in another club.

    The giver's side is booked here; the receiver's is posted to the lane's outbox (`deliver_outbox`).
    Returns False, with nothing drawn, when the outbox has no room for this week's draws: deliver, then
    call again.
    """
    p = borrowed_item(P, c)
    members = borrowed_item(M, c)
    slots = borrowed_item(S, c)
    club = borrowed_item(C, c)
    rng = club.streams[R_SECOND_CIRCLE]
    if region.bridges_stale[c] or members_changed(region, c):
        index_bridges(club, market, region, lane, c)
    n_bridged = region.n_bridged[c]
    if n_bridged == 0:
        return True
    entries = region.weak_club.shape[1]
    first_row = region.slot_start[c]
    base = first_row * entries
    bridged, bridge_row, bridge_column = region.bridged[base:], region.bridge_row[base:], region.bridge_column[base:]
    bridge_start = region.bridge_start[base + c:]
    by_sector, by_sector_cdf = region.by_sector[base:], region.by_sector_cdf[base:]
    by_sector_start, sector_weight = region.by_sector_start[c], region.sector_weight[c]
    bridge_strength = lane.bridge_strength
    strongest = bridge_strengths(region, bridge_strength, c, week)
    bridged_weight = 0.0
    for k in range(len(sector_weight)):
        bridged_weight += sector_weight[k]
    boost = p.own_sector_boost
    # Thinning: only needs for bridged professions that i's propensity passes on, and only a share
    # `strongest` of them (no bridge's trust exceeds the strongest weak tie); a drawn need is then
    # passed with probability t / strongest, so that t remains the probability of passing it.
    member, need_total = slots.member, market.need_total
    member_sector, member_type, needs_per_week = members.sector, members.member_type, members.needs_per_week
    referral_propensity, referrals_given, business_given = members.referral_propensity, members.referrals_given, \
        members.business_given
    n_slots = len(member)  # free slots add nothing to the cumulative rates: never drawn
    giver_cdf = lane.giver_cdf[:n_slots]
    total = 0.0
    for s in range(n_slots):
        m = member[s]
        if m >= 0:
            sector = member_sector[m]
            share = (bridged_weight + (boost - 1.0) * sector_weight[sector]) / need_total[sector]
            total += needs_per_week[m] * referral_propensity[m] * share * strongest
        giver_cdf[s] = total
    if total <= 0.0:
        return True
    # the stream as it was, if the outbox turns out too full for this week's needs (words, not a copied array:
    # no allocation in a club's week)
    word_0, word_1, word_2, word_3 = rng[0], rng[1], rng[2], rng[3]
    needs = poisson(rng, total)
    used = lane.out_used[0]
    if used + needs > len(lane.out_club):
        if used == 0:
            raise ValueError("a club's second-circle needs exceed an empty outbox (Lane.out_club)")
        rng[0], rng[1], rng[2], rng[3] = word_0, word_1, word_2, word_3
        return False
    referral_weeks, referrals = slots.referral_weeks, slots.referrals
    ring = referral_weeks.shape[1]
    tie, strong_threshold = slots.tie, p.strong_threshold
    weak_club, weak_member, weak_slot = region.weak_club, region.weak_member, region.weak_slot
    deal_median = market.deal_median
    slot_start = region.slot_start
    out_club, out_member, out_row, out_value, out_kind = lane.out_club, lane.out_member, lane.out_row, \
        lane.out_value, lane.out_kind
    for _ in range(needs):
        i = min(bisect_right(giver_cdf, 0, n_slots, uniform(rng) * total), n_slots - 1)
        giver = member[i]
        sector = member_sector[giver]
        u = uniform(rng) * (bridged_weight + (boost - 1.0) * sector_weight[sector])
        b = draw_bridged_need(u, bridged_weight, boost, sector, by_sector, by_sector_start, by_sector_cdf, n_bridged)
        profession = bridged[b]
        first, last = bridge_start[b], bridge_start[b + 1]

        trust_total = 0.0
        for at in range(first, last):
            trust_total += bridge_trust(tie, bridge_row, bridge_strength, first_row, i, at, strong_threshold)
        if trust_total <= 0.0:
            continue  # no bridge open to i: the need is lost
        pick = uniform(rng) * trust_total
        chosen, trust = last - 1, 0.0  # the last bridge if rounding leaves pick past every one
        for at in range(first, last):
            trust = bridge_trust(tie, bridge_row, bridge_strength, first_row, i, at, strong_threshold)
            if pick < trust:
                chosen = at
                break
            pick -= trust
        r, e = bridge_row[chosen], bridge_column[chosen]
        other_club = weak_club[r, e]

        probability = trust / strongest
        if member_type[giver] == RECIPROCATOR:
            probability *= min(1.0, p.reciprocity_prior / p.reciprocity_saturation)
        if uniform(rng) >= probability:
            continue
        referrals_given[giver] += 1
        referral_weeks[i, referrals[i] % ring] = week
        referrals[i] += 1
        out_club[used] = other_club
        out_member[used] = weak_member[r, e]
        out_row[used] = slot_start[other_club] + weak_slot[r, e]
        out_value[used] = 0.0
        out_kind[used] = OUT_SPHERE if sector == market.profession_sector[profession] else 0
        used += 1
        if uniform(rng) >= p.conversion_min + (p.conversion_max - p.conversion_min) * trust:
            continue
        value = deal_median[profession] * np.exp(p.deal_value_sigma * standard_normal(rng))
        business_given[giver] += value
        out_value[used - 1] = value
        out_kind[used - 1] |= OUT_DEAL
    lane.out_used[0] = used
    return True


@helper
def deliver_outbox(M, region, lane, first, last):
    """The receiving side of the lane's posted second-circle referrals to clubs first..last-1, in the order they
    were passed (the caller then empties the outbox)."""
    week_stats, week_gain = region.week_stats, region.week_gain
    for k in range(lane.out_used[0]):
        other_club, receiver, kind = lane.out_club[k], lane.out_member[k], lane.out_kind[k]
        if other_club < first or other_club >= last:
            continue
        receivers = borrowed_item(M, other_club)
        receivers.referrals_received[receiver] += 1
        week_stats[other_club, S_REFERRALS] += 1  # the other club's Club.week_stats
        week_stats[other_club, S_CROSS_REFERRALS] += 1
        if kind & OUT_SPHERE:
            week_stats[other_club, S_SPHERE_REFERRALS] += 1
        if kind & OUT_DEAL:
            value = lane.out_value[k]
            receivers.business_received[receiver] += value
            receivers.deals_received[receiver] += 1
            week_gain[lane.out_row[k]] += value  # its Slots.week_gain
            week_stats[other_club, S_DEALS] += 1
            week_stats[other_club, S_BUSINESS] += value
            week_stats[other_club, S_CROSS_BUSINESS] += value


@inlined
def transfer_refused(rp, P, M, S, C, K, region, c, week):
    """Club c's applicants refused for capacity or composition try one other club of its area (drawing from
    the region's transfer stream, for the other club's interview too)."""
    rng = region.streams[R_TRANSFERS]
    refused = region.refused[c]
    first, last = area_of(rp, c, len(C))
    if last - first < 2:
        return
    for k in range(refused):
        if uniform(rng) >= rp.transfer_share:
            continue
        other = first + random_index(rng, last - first - 1)  # uniform among the area's other clubs
        if other >= c:
            other += 1
        if not region.open[other]:
            continue
        p = borrowed_item(P, other)
        members = borrowed_item(M, other)
        slots = borrowed_item(S, other)
        club = borrowed_item(C, other)
        cand = borrowed_item(K, c)
        if has_place_for(p, club, cand, k) and pays_and_passes_interview(rng, p, members, slots, cand, k):
            admit(p, members, slots, club, cand, k, week, np.bool_(False))


@kernel
def region_has_room(P, M, C):
    for c in range(len(C)):
        if not room_for_a_week(borrowed_item(P, c), borrowed_item(M, c), borrowed_item(C, c)):
            return False
    return True


@kernel
def clubs_without_room(P, M, C):
    """The clubs whose member records would not hold a week's joins (their records must grow)."""
    short = np.zeros(len(C), dtype=np.bool_)
    for c in range(len(C)):
        short[c] = not room_for_a_week(borrowed_item(P, c), borrowed_item(M, c), borrowed_item(C, c))
    return np.flatnonzero(short)


# A region's week, in the order of docs/ODD.md 7.8. The club phases (`clubs_*`) touch only their own
# clubs and draw from their own streams, so a region runs them on several threads, each over a lane of
# consecutive clubs; the region phases (`region_*`) connect clubs and run on one thread. `run_region_weeks`
# runs whole weeks on one thread; the `lane_*`/`region_*_entry` kernels let the engine run each phase of
# a week on a thread pool (`sim.model.region`). Both run the same phases in the same order on the same
# streams, so the results do not depend on the number of threads.


@kernel
def clubs_meet_and_refer(P, market, M, S, C, K, region, first, last, week):
    """Phases 1-6 of clubs first..last-1."""
    for c in range(first, last):
        if region.open[c]:
            p = borrowed_item(P, c)
            meeting = is_meeting_week(week, p.meetings_per_year)
            meet_and_refer(p, market, borrowed_item(M, c), borrowed_item(S, c), borrowed_item(C, c),
                           borrowed_item(K, c), week, meeting, True)


@kernel
def clubs_second_circle(P, market, M, S, C, region, lane, first, last, week):
    """Second-circle needs of clubs first..last-1, posted to the lane's outbox; returns the first club not
    drawn (last, unless the outbox filled up)."""
    for c in range(first, last):
        if region.open[c] and not second_circle_referrals(P, market, M, S, C, region, lane, c, week):
            return c
    return last


@kernel
def clubs_settle_and_decide(P, M, S, C, K, region, first, last, week):
    """Phases 7-9 of clubs first..last-1, and whether each is still open."""
    for c in range(first, last):
        club = borrowed_item(C, c)
        if region.open[c]:
            p = borrowed_item(P, c)
            meeting = is_meeting_week(week, p.meetings_per_year)
            settle_and_decide(p, borrowed_item(M, c), borrowed_item(S, c), club, borrowed_item(K, c), week, meeting,
                              True)
            region.open[c] = club.counters[CLOSED] == 0
        region.refused[c] = club.counters[N_REFUSED]
        club.counters[N_REFUSED] = 0


@kernel
def clubs_close_week(P, M, S, C, SE, first, last, week):
    """The series row of clubs first..last-1; whether their member records hold another week's joins."""
    room = True
    for c in range(first, last):
        club = borrowed_item(C, c)
        close_week(borrowed_item(S, c), club, borrowed_item(SE, c), week, True)
        room = room and room_for_a_week(borrowed_item(P, c), borrowed_item(M, c), club)
    return room


@kernel
def region_meet(rp, P, M, S, region, week):
    """The region's streams restart for this week (as each club's, `week.restart_streams`); in an interclub
    event's weeks, its attendance and partners (`attend_event`): returns the partners, empty in other weeks."""
    for process in range(len(region.streams)):
        rekey(region.streams, region.stream_key, process, week, 0)
    if rp.interclub_events_per_year > 0 and is_meeting_week(week, rp.interclub_events_per_year):
        return attend_event(rp, P, M, S, region, week)
    return np.full(0, -1, dtype=np.int32)


@kernel
def areas_meet(rp, M, region, partners, first, last, week):
    """The event meetings of the areas that start in clubs first..last-1 (a lane's)."""
    clubs = len(region.open)
    meet_partners(rp, M, region, partners, areas_from(rp, clubs, first), areas_from(rp, clubs, last), week)


@kernel
def region_transfer_and_untie(rp, P, M, S, C, K, region, week):
    """Refused applicants' transfers; the weak ties of this week's leavers end."""
    clubs = len(C)
    if rp.transfer_share > 0.0:
        for c in range(clubs):
            if region.refused[c] > 0:
                transfer_refused(rp, P, M, S, C, K, region, c, week)
    for c in range(clubs):
        end_leavers_weak_ties(region, c)


# The phases of a region's week, one call each: `run_region_weeks` calls them in turn on one thread, and the
# engine (`sim.model.region`) calls the same compiled functions from a thread pool, lane by lane (nogil, so that
# lanes run at once). One compiled copy serves both paths: each borrows its state itself, since a caller that
# borrowed would make its callee another signature, compiled again.
phase = numba.njit(cache=True, error_model="numpy", nogil=True)


@phase
def lane_meet_and_refer(P, market, M, S, C, K, region, first, last, week):
    clubs_meet_and_refer(P, borrowed(market), M, S, C, K, borrowed(region), first, last, week)


@phase
def lane_second_circle(P, market, M, S, C, region, lane, first, week):
    """The lane's clubs from `first` on; returns the first club not drawn (its last + 1, unless its outbox
    filled up)."""
    lane = borrowed(lane)
    return clubs_second_circle(P, borrowed(market), M, S, C, borrowed(region), lane, first, lane.first[1], week)


@phase
def lane_settle_and_decide(P, M, S, C, K, region, first, last, week):
    clubs_settle_and_decide(P, M, S, C, K, borrowed(region), first, last, week)


@phase
def lane_close_week(P, M, S, C, SE, first, last, week):
    return clubs_close_week(P, M, S, C, SE, first, last, week)


@phase
def region_meet_entry(rp, P, M, S, region, week):
    return region_meet(rp, P, M, S, borrowed(region), week)


@phase
def lane_areas_meet(rp, M, region, partners, first, last, week):
    areas_meet(rp, M, borrowed(region), partners, first, last, week)


@phase
def region_deliver_entry(P, market, M, S, C, region, L, lane_next, week):
    """Every lane's outbox delivered, lane by lane; a lane whose outbox filled up before its last club is
    finished here, delivering as it goes, before the next lane's outbox: the receivers' sums are added in
    club order whatever the lanes."""
    borrowed_region = borrowed(region)
    clubs = len(region.open)
    for t in range(len(L)):
        lane = L[t]
        deliver_outbox(M, borrowed_region, borrowed(lane), 0, clubs)
        lane.out_used[0] = 0
        c = lane_next[t]
        while c < lane.first[1]:
            c = lane_second_circle(P, market, M, S, C, region, lane, c, week)
            deliver_outbox(M, borrowed_region, borrowed(lane), 0, clubs)
            lane.out_used[0] = 0


@phase
def lane_deliver(M, region, L, first, last):
    """Every lane's outbox delivered to the receivers in clubs first..last-1 (a lane's), lane by lane: each
    receiver's sums are added in `region_deliver_entry`'s order, so lanes deliver at once when every outbox
    holds its lane's whole week. The caller empties the outboxes once every lane has delivered."""
    borrowed_region = borrowed(region)
    for t in range(len(L)):
        deliver_outbox(M, borrowed_region, borrowed(L[t]), first, last)


@phase
def region_transfer_and_untie_entry(rp, P, M, S, C, K, region, week):
    region_transfer_and_untie(rp, P, M, S, C, K, borrowed(region), week)


@entry
def run_region_weeks(rp, P, market, M, S, C, K, SE, region, L, start, stop):
    """Weeks start..stop-1 of a region on one thread; returns the first week not run (early when a club's
    member records run out: the caller grows them and calls again)."""
    clubs = len(C)
    lane_next = np.zeros(len(L), dtype=np.int64)
    if not region_has_room(P, M, C):
        return start
    for week in range(start, stop):
        lane_meet_and_refer(P, market, M, S, C, K, region, 0, clubs, week)
        partners = region_meet_entry(rp, P, M, S, region, week)
        if len(partners) > 0:
            lane_areas_meet(rp, M, region, partners, 0, clubs, week)
        if rp.second_circle:
            for t in range(len(L)):
                lane = L[t]
                lane_next[t] = lane_second_circle(P, market, M, S, C, region, lane, lane.first[0], week)
            region_deliver_entry(P, market, M, S, C, region, L, lane_next, week)
        lane_settle_and_decide(P, M, S, C, K, region, 0, clubs, week)
        region_transfer_and_untie_entry(rp, P, M, S, C, K, region, week)
        if not lane_close_week(P, M, S, C, SE, 0, clubs, week):
            return week + 1
    return stop
