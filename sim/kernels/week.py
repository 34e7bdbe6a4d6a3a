"""One week of the process (docs/ODD.md section 3), and the Monte Carlo fast path over many weeks."""

from sim.kernels import entry, inlined, kernel
from sim.kernels.accounts import settle_accounts
from sim.kernels.borrowed import borrowed
from sim.kernels.decisions import members_decide
from sim.kernels.draws import rekey
from sim.kernels.hunting import hunt
from sim.kernels.layout import (
    CLOSED,
    N_CLUB_STREAMS,
    N_HUNTERS,
    N_MEMBERS,
    NEXT_ID,
    S_ATTENDANCE_RATE,
    S_HUNTER_SHARE,
    S_MEAN_TIE,
    S_MEMBERS,
    S_WEEK,
    TIE_TOTAL,
    TIES_SUMMED,
)
from sim.kernels.meeting import hold_meeting, is_meeting_week
from sim.kernels.referrals import pass_referrals
from sim.kernels.rules import apply_club_rules
from sim.kernels.ties import decay_ties, row_sum


@kernel
def close_week(slots, club, series, week, sum_ties):
    """Write this week's row of the series and start the next one. The series holds all weeks, or (a
    region streaming its outputs, `sim.model.region`) a ring of the last weeks not yet written out. With
    `sum_ties` (a region's clubs), the mean tie is the total `decay_ties` summed, if no one joined or left since."""
    stats = club.week_stats
    n = club.counters[N_MEMBERS]
    if sum_ties and club.counters[TIES_SUMMED] == 1:  # summed by `decay_ties`, and no one joined or left since
        total = club.totals[TIE_TOTAL]
    else:
        tie, member = slots.tie, slots.member
        total = 0.0
        for i in range(tie.shape[0]):  # members' whole rows: own and free slots hold tie 0, free rows too
            if member[i] >= 0:
                total += row_sum(tie, i)
    club.counters[TIES_SUMMED] = 0
    stats[S_WEEK] = week
    stats[S_MEMBERS] = n
    stats[S_MEAN_TIE] = total / (n * (n - 1)) if n > 1 else 0.0
    stats[S_HUNTER_SHARE] = club.counters[N_HUNTERS] / n if n > 0 else 0.0
    row = week % series.shape[0]
    for k in range(len(stats)):  # element-wise: slice assignment costs seconds of compile time
        series[row, k] = stats[k]
        if k != S_ATTENDANCE_RATE:  # carried until the next meeting
            stats[k] = 0.0


@kernel
def restart_streams(club, week):
    """Each random process of the club restarts at its stream for this week (`draws.rekey`): two runs on one
    seed draw in step again from each week on, however far they diverged the week before."""
    for process in range(N_CLUB_STREAMS):
        rekey(club.streams, club.stream_key, process, week, 0)


@inlined
def meet_and_refer(p, market, members, slots, club, cand, week, meeting, sum_ties):
    """Phases 1-6: meeting, referrals and deals, hunting, ties decay (`decay_ties`: `sum_ties` for a region's
    clubs, whose ties leave the cache before the week's accounts and close)."""
    restart_streams(club, week)
    if meeting:
        hold_meeting(p, market, members, slots, club, cand, week)
    pass_referrals(p, market, members, slots, club, week)
    if meeting:
        hunt(p, market, members, slots, club, week)
    decay_ties(p, slots, club, sum_ties)


@inlined
def settle_and_decide(p, members, slots, club, cand, week, meeting, sum_ties):
    """Phases 7-9: accounts, members decide, club rules (`sum_ties` as `meet_and_refer`'s)."""
    settle_accounts(p, members, slots, club, week, sum_ties)
    members_decide(p, members, slots, club, week)
    apply_club_rules(p, members, slots, club, cand, week, meeting)


@kernel
def step_week(p, market, members, slots, club, cand, series, week):
    if club.counters[CLOSED] == 0:
        meeting = is_meeting_week(week, p.meetings_per_year)
        # a chapter's decay sums nothing: its tie matrix is still in the cache for the accounts and the close
        meet_and_refer(p, market, members, slots, club, cand, week, meeting, False)
        settle_and_decide(p, members, slots, club, cand, week, meeting, False)
    close_week(slots, club, series, week, False)


@kernel
def room_for_a_week(p, members, club):
    """Member records for a week's joins: at most `capacity` (admissions stop at capacity)."""
    return club.counters[NEXT_ID] + p.capacity <= len(members.member_type)


@entry
def run_weeks(p, market, members, slots, club, cand, series, start, stop):
    """Weeks start..stop-1; returns the first week not run (early when member records run out).

    The state is borrowed (`sim.kernels.borrowed`): the engine holds it for the whole call.
    """
    market = borrowed(market)  # one per line: unpacking a tuple of them hides that each aliases an argument
    members = borrowed(members)
    slots = borrowed(slots)
    club = borrowed(club)
    cand = borrowed(cand)
    series = borrowed(series)
    for week in range(start, stop):
        if not room_for_a_week(p, members, club):
            return week
        step_week(p, market, members, slots, club, cand, series, week)
    return stop
