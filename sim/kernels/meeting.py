"""Phase 1, the meeting (docs/ODD.md 7.1): attendance, co-attendance, one-to-ones, visitors."""

import numpy as np

from sim.kernels import inlined, kernel
from sim.kernels.distributions import poisson_by_inversion
from sim.kernels.draws import rekey, uniform
from sim.kernels.layout import (
    HUNTER,
    MAX_VISITORS_PER_MEETING,
    N_CANDIDATES,
    R_ATTENDANCE,
    R_CANDIDATES,
    R_ONE_TO_ONES,
    R_VISITORS,
    S_APPLICANTS,
    S_ATTENDANCE_RATE,
    S_MEETING,
    S_VISITORS,
    SLOTS_USED,
    W_GROWTH,
    W_HUNTER_GROWTH,
    W_IS_HUNTER,
    W_OTHERS,
    W_RANK,
    W_SATISFACTION,
    W_SECTOR,
    W_SPHERE,
)
from sim.kernels.membership import attending_slots, current_slots, draw_candidate, perceived_roi, random_index, sigmoid


@kernel
def is_meeting_week(week, meetings_per_year):
    return week == 0 or (week * meetings_per_year) // 52 > ((week - 1) * meetings_per_year) // 52


@inlined
def take_attendance(rng, p, members, slots, club, present, week):
    """Each member attends with its habit; attending builds the habit, missing erodes it."""
    member, habits, attending = slots.member, slots.attendance_habit, slots.attending
    week_time_cost, absences, absence_weeks = slots.week_time_cost, slots.absences, slots.absence_weeks
    ring = absence_weeks.shape[1]
    attendees = 0
    for s in present:
        m = member[s]
        habit = habits[s]
        if uniform(rng) < habit:
            attending[s] = True
            attendees += 1
            habits[s] = habit + p.habit_gain * (1.0 - habit)
            cost = p.hours_per_meeting * members[m].hourly_value
            members[m].hours += p.hours_per_meeting
            members[m].time_cost += cost
            week_time_cost[s] += cost
        else:
            attending[s] = False
            habits[s] = habit - p.habit_loss * habit
            absence_weeks[s, absences[s] % ring] = week
            absences[s] += 1
    club.week_stats[S_MEETING] = 1.0
    club.week_stats[S_ATTENDANCE_RATE] = attendees / len(present) if len(present) > 0 else 0.0


@inlined
def tie_growth_factor(p, member_is_hunter, i, j):
    """Intimacy and emotion: ties involving a hunter grow slower."""
    return p.hunter_growth_factor if member_is_hunter[i] or member_is_hunter[j] else 1.0


@inlined
def hunter_slots(members, slots):
    """1 for the slots holding a hunter, else 0 (a scratch row)."""
    member, member_type, is_hunter = slots.member, members.member_type, slots.work_index[W_IS_HUNTER]
    for s in range(len(member)):
        is_hunter[s] = member[s] >= 0 and member_type[member[s]] == HUNTER
    return is_hunter


@inlined
def grow_co_attendance_ties(p, slots, attendees, is_hunter, slots_used):
    """Frequency: every ordered pair of attendees grows its tie towards its ceiling, slower if either is
    a hunter, and shared in a room of more than `attention_span` others.

    Row by row over the slots ever used with a zero growth towards absent and free slots (tie + 0
    leaves a tie unchanged): contiguous rows vectorise, a gather over attendees does not. Rows grow towards
    1, the ceiling of every tie but those to members who sold to i (`Slots.sellers[i]` of them), whose
    growth is computed apart (a gather of their ceilings would not vectorise).
    """
    c = slots_used
    ties, sales, ceiling_after = slots.tie, slots.sales, slots.ceiling_after
    growth = slots.work_value[W_GROWTH]                # a non-hunter's tie growth towards each slot
    hunter_growth = slots.work_value[W_HUNTER_GROWTH]  # a hunter's
    shared = attention_share(p, len(attendees))
    for j in range(c):
        growth[j] = 0.0
        hunter_growth[j] = 0.0
    for j in attendees:
        growth[j] = p.co_attendance_growth * shared * (p.hunter_growth_factor if is_hunter[j] else 1.0)
        hunter_growth[j] = p.co_attendance_growth * shared * p.hunter_growth_factor
    sold_to_slot, sold_to_tie = slots.work_index[W_OTHERS], slots.work_value[W_SATISFACTION]
    for i in attendees:
        g = hunter_growth if is_hunter[i] else growth
        tie = ties[i]
        n_sold = slots.sellers[i]  # i's ties to who sold to it grow towards their cut ceilings: set aside
        if n_sold > 0:
            sold, k = sales[i], 0
            for j in range(c):
                if sold[j] > 0:
                    sold_to_slot[k] = j
                    sold_to_tie[k] = tie[j] + g[j] * (ceiling_after[sold[j]] - tie[j])
                    k += 1
                    if k == n_sold:
                        break
        for j in range(c):
            tie[j] += g[j] * (1.0 - tie[j])
        for k in range(n_sold):
            tie[sold_to_slot[k]] = sold_to_tie[k]
        tie[i] = 0.0  # no tie to oneself


@inlined
def attention_share(p, attendees):
    """A room's attention is shared: each of more than `attention_span` others gets a share of it."""
    others = attendees - 1
    return min(1.0, p.attention_span / others) if others > 0 else 1.0


@inlined
def group_attendees_by_sector(members, member, attendees, slot_sector, by_sector, rank, sector_start, sector_end):
    """The attendees grouped by sector, in slot order within a sector (a counting sort): sector s's are
    by_sector[sector_start[s]:sector_end[s]], and attendee a is at by_sector[rank[a]]."""
    sectors = 0
    for a in attendees:
        slot_sector[a] = members[member[a]].sector
        sectors = max(sectors, slot_sector[a] + 1)
    for sector in range(sectors):
        sector_end[sector] = 0
    for a in attendees:
        sector_end[slot_sector[a]] += 1
    start = 0
    for sector in range(sectors):
        sector_start[sector] = start
        start += sector_end[sector]
        sector_end[sector] = sector_start[sector]  # the next place in the sector, its end once all are placed
    for a in attendees:
        at = sector_end[slot_sector[a]]
        by_sector[at] = a
        rank[a] = at
        sector_end[slot_sector[a]] = at + 1


@inlined
def one_to_one_partner(rng, p, attendees, slot_sector, by_sector, rank, sector_start, sector_end, i):
    """i's partner: with probability `sphere_one_to_one` an attendee of its own sector (its contact sphere)
    if one attends, otherwise any other attendee, uniformly."""
    if p.sphere_one_to_one > 0.0 and uniform(rng) < p.sphere_one_to_one:
        first, last = sector_start[slot_sector[i]], sector_end[slot_sector[i]]
        if last - first > 1:  # the k-th of the others in i's sector, in slot order: i's own place skipped
            at = first + random_index(rng, last - first - 1)
            return by_sector[at + 1] if at >= rank[i] else by_sector[at]
    n = len(attendees)
    j = attendees[random_index(rng, n - 1)]
    return attendees[n - 1] if j == i else j  # drawn among the n - 1 others


@inlined
def hold_one_to_ones(rng, p, members, slots, club, attendees, is_hunter):
    """Each attendee meets one other attendee (favouring its contact sphere); both ties grow.

    The order of the meetings does not matter: a growth t -> t + g (c - t) multiplies c - t
    by 1 - g, and products commute, so attendees are taken in slot order.
    """
    if len(attendees) < 2:
        return
    tie, sales, ceiling_after = slots.tie, slots.sales, slots.ceiling_after
    slot_sector, by_sector, rank = slots.work_index[W_SECTOR], slots.work_index[W_SPHERE], slots.work_index[W_RANK]
    # the alias builder's scratch, free during the meeting: max(professions, capacity) long, and a sector's index
    # is below the number of professions
    sector_start, sector_end = club.alias_small, club.alias_large
    if p.sphere_one_to_one > 0.0:  # grouped once: searching every attendee's record for each partner was O(n^2)
        group_attendees_by_sector(members, slots.member, attendees, slot_sector, by_sector, rank, sector_start,
                                  sector_end)
    for i in attendees:
        j = one_to_one_partner(rng, p, attendees, slot_sector, by_sector, rank, sector_start, sector_end, i)
        g = p.one_to_one_growth * tie_growth_factor(p, is_hunter, i, j)
        tie[i, j] += g * (ceiling_after[sales[i, j]] - tie[i, j])
        tie[j, i] += g * (ceiling_after[sales[j, i]] - tie[j, i])


@inlined
def room_pull(p, members_now):
    """A fuller room recruits less: 1 - crowding x members / capacity (1 in an empty room)."""
    return 1.0 - p.crowding * members_now / p.capacity


@inlined
def invite_visitors(rng, p, market, members, slots, club, cand, present, week):
    """The chapter brings visitors in proportion to its members' mean satisfaction, less as its room fills,
    each invited by a member in proportion to its own satisfaction; some visitors apply (screened in
    apply_club_rules).

    For common random numbers, the number of visitors takes one uniform (inversion), and the v-th visitor
    of a week is drawn from the candidates stream keyed on (week, v): two runs on one seed see the same
    people visit, whoever their members are."""
    cumulative = slots.work_value[W_SATISFACTION, :len(present)]  # members' satisfaction, summed in slot order
    perceived_gain, perceived_cost, expectation = slots.perceived_gain, slots.perceived_cost, slots.expectation
    total = 0.0
    for k in range(len(present)):
        s = present[k]
        roi = perceived_roi(perceived_gain[s], perceived_cost[s])
        total += sigmoid(p.renewal_steepness * (roi - expectation[s]))
        cumulative[k] = total
    visitors = 0
    if len(present) > 0:
        appeal = 1.0 - p.satisfaction_weight + p.satisfaction_weight * total / len(present)
        flow = p.visitors_per_meeting * appeal * room_pull(p, len(present))
        visitors = min(poisson_by_inversion(rng, flow), MAX_VISITORS_PER_MEETING)
    club.week_stats[S_VISITORS] += visitors
    applicants = 0
    for visitor in range(visitors):
        pick = min(np.searchsorted(cumulative, uniform(rng) * total, side="right"), len(present) - 1)
        inviter = present[pick]
        sector_hint = -1
        if uniform(rng) < p.own_sector_share:
            sector_hint = members[slots.member[inviter]].sector
        if uniform(rng) < p.application_rate:
            rekey(club.streams, club.stream_key, R_CANDIDATES, week, 1 + visitor)
            draw_candidate(club.streams[R_CANDIDATES], p, market, cand, applicants, sector_hint)
            applicants += 1
    club.counters[N_CANDIDATES] = applicants
    club.week_stats[S_APPLICANTS] += applicants


@kernel
def hold_meeting(p, market, members, slots, club, cand, week):
    present = current_slots(slots)  # nobody joins or leaves during the meeting
    streams = club.streams
    take_attendance(streams[R_ATTENDANCE], p, members, slots, club, present, week)
    attendees = attending_slots(slots, present)
    is_hunter = hunter_slots(members, slots)
    grow_co_attendance_ties(p, slots, attendees, is_hunter, club.counters[SLOTS_USED])
    hold_one_to_ones(streams[R_ONE_TO_ONES], p, members, slots, club, attendees, is_hunter)
    invite_visitors(streams[R_VISITORS], p, market, members, slots, club, cand, present, week)
