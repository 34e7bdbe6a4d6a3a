"""Phase 8 (docs/ODD.md 7.6): exogenous exits and the renewal decision with patience."""

import numpy as np

from sim.kernels import helper, kernel
from sim.kernels.accounts import month_of
from sim.kernels.draws import uniform
from sim.kernels.layout import EXOGENOUS, LEFT, R_DECISIONS
from sim.kernels.membership import current_slots, perceived_roi, remove_member, sigmoid


@helper
def is_renewal_week(p, tenure_weeks):
    """The last week of a paid period: the next week starts a new year (or month)."""
    if p.monthly_billing:
        return month_of(tenure_weeks + 1) > month_of(tenure_weeks)
    return (tenure_weeks + 1) % 52 == 0


@helper
def leave_probability(p, expectation, roi, tenure_years, patience):
    """Logistic in the shortfall of perceived ROI; the required ROI grows with tenure until patience runs out."""
    required = expectation * min(1.0, tenure_years / patience)
    base = np.log(p.renewal_base_leave / (1.0 - p.renewal_base_leave))
    return sigmoid(base + p.renewal_steepness * (required - roi))


@kernel
def members_decide(p, members, slots, club, week):
    """Each member's exit is its own decision, so members decide in slot order."""
    rng = club.streams[R_DECISIONS]
    present = current_slots(slots)
    member, exogenous_exit_week, expectation = slots.member, slots.exogenous_exit_week, slots.expectation
    perceived_gain, perceived_cost = slots.perceived_gain, slots.perceived_cost
    for s in present:
        m = member[s]
        if week == exogenous_exit_week[s]:  # drawn at joining (membership.exogenous_delay)
            remove_member(members, slots, club, s, EXOGENOUS, week)
            continue
        tenure = week - members[m].join_week
        if not is_renewal_week(p, tenure):
            continue
        roi = perceived_roi(perceived_gain[s], perceived_cost[s])
        tenure_years = (tenure + 1) / 52.0  # completed at the end of this paid period
        leave = leave_probability(p, expectation[s], roi, tenure_years, members[m].patience)
        learning = p.expectation_learning
        if p.monthly_billing:
            leave = 1.0 - (1.0 - leave) ** (1.0 / 12.0)
            learning /= 12.0
        if uniform(rng) < leave:
            remove_member(members, slots, club, s, LEFT, week)
        else:
            expectation[s] += learning * (roi - expectation[s])
