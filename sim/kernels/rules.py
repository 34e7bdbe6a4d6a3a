"""Phase 9 (docs/ODD.md 7.7): attendance and contribution rules, admissions, closing."""

import numpy as np

from sim.kernels import helper, inlined, kernel
from sim.kernels.draws import uniform
from sim.kernels.layout import (
    CLOSED,
    DISSOLVED,
    EXPELLED_ABSENCE,
    EXPELLED_CONTRIBUTION,
    HUNTER,
    N_CANDIDATES,
    N_MEMBERS,
    N_REFUSED,
    R_SCREENING,
)
from sim.kernels.membership import admit, composition_allows, copy_candidate, current_slots, remove_member


@inlined
def all_recent(event_weeks, events, s, week, window):
    """Slot s's last events (a ring buffer of their weeks, as many as it holds) all fall in the window."""
    ring = event_weeks.shape[1]
    if events[s] < ring:
        return False
    oldest = event_weeks[s, events[s] % ring]
    return oldest > week - window


@inlined
def enforce_rules(p, members, slots, club, week):
    """More than max_absences absences, or fewer than min_referrals given, in the rule's window."""
    for s in current_slots(slots):
        if p.attendance_rule and all_recent(slots.absence_weeks, slots.absences, s, week, p.absence_window):
            remove_member(members, slots, club, s, EXPELLED_ABSENCE, week)
        elif (
            p.contribution_rule
            and week - members[slots.member[s]].join_week >= p.contribution_window
            and not all_recent(slots.referral_weeks, slots.referrals, s, week, p.contribution_window)
        ):
            remove_member(members, slots, club, s, EXPELLED_CONTRIBUTION, week)


@helper
def charge_committee(p, members, slots):
    """An interview's committee hours are shared equally by the members."""
    present = current_slots(slots)
    if len(present) == 0:
        return
    share = p.committee_hours / len(present)
    for s in present:
        m = slots.member[s]
        cost = share * members[m].hourly_value
        members[m].hours += share
        members[m].time_cost += cost
        slots.week_time_cost[s] += cost


@inlined
def has_place_for(p, club, cand, k):
    """Admission rules 1-2: a free seat, and the composition policy allows candidate k."""
    return club.counters[N_MEMBERS] < p.capacity and composition_allows(p, club, cand.profession[k], cand.sector[k])


@helper
def pays_and_passes_interview(rng, p, members, slots, cand, k):
    """Admission rules 3-4: willingness to pay, then the interview (at the committee's cost)."""
    if p.entry_fee + p.annual_fee > cand.willingness_to_pay[k]:
        return False
    if p.interview:
        charge_committee(p, members, slots)
        rejection = p.interview_accuracy if cand.member_type[k] == HUNTER else p.false_rejection
        if uniform(rng) < rejection:
            return False
    return True


@inlined
def screen_applicants(rng, p, members, slots, club, cand, week):
    """Applicants in arrival order; those refused for capacity or composition are kept first in
    `cand` (club.counters[N_REFUSED] of them) for a region's transfers (docs/ODD.md 7.8)."""
    refused = 0
    for k in range(club.counters[N_CANDIDATES]):
        if not has_place_for(p, club, cand, k):
            copy_candidate(cand, k, refused)  # refused <= k: rows not yet read are never overwritten
            refused += 1
        elif pays_and_passes_interview(rng, p, members, slots, cand, k):
            admit(p, members, slots, club, cand, k, week, np.bool_(False))
    club.counters[N_CANDIDATES] = 0
    club.counters[N_REFUSED] = refused


@inlined
def close_if_too_small(p, members, slots, club, week):
    if p.min_viable_size > 0 and club.counters[N_MEMBERS] < p.min_viable_size:
        for s in current_slots(slots):
            remove_member(members, slots, club, s, DISSOLVED, week)
        club.counters[CLOSED] = 1


@kernel
def apply_club_rules(p, members, slots, club, cand, week, meeting):
    if meeting:
        enforce_rules(p, members, slots, club, week)
        screen_applicants(club.streams[R_SCREENING], p, members, slots, club, cand, week)
    close_if_too_small(p, members, slots, club, week)
