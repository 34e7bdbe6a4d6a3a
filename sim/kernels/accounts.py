"""Phase 7 (docs/ODD.md 7.5): fees due, social value of strong ties, perceived value."""

from sim.kernels import helper, kernel
from sim.kernels.layout import S_FEES, STRONG_TIES, TIES_SUMMED
from sim.kernels.membership import current_slots
from sim.kernels.ties import strong_ties_in_row


@helper
def month_of(tenure_weeks):
    return (12 * tenure_weeks) // 52


@helper
def fee_due(p, tenure_weeks):
    """Renewal fees: the annual fee on each anniversary, or a twelfth at each new month."""
    if tenure_weeks <= 0:
        return 0.0
    if p.monthly_billing:
        if month_of(tenure_weeks) > month_of(tenure_weeks - 1):
            return p.annual_fee / 12.0
        return 0.0
    if tenure_weeks % 52 == 0:
        return p.annual_fee
    return 0.0


@kernel
def settle_accounts(p, members, slots, club, week, sum_ties):
    """Each member's fees due, social value (its strong ties: counted by `decay_ties` if `sum_ties`) and
    perceived gain and cost."""
    present = current_slots(slots)
    a = p.value_smoothing
    member, tie, week_gain, week_time_cost = slots.member, slots.tie, slots.week_gain, slots.week_time_cost
    perceived_gain, perceived_cost, stats = slots.perceived_gain, slots.perceived_cost, club.week_stats
    summed = sum_ties and club.counters[TIES_SUMMED] == 1  # counted by `decay_ties`, and no one joined or left since
    for s in present:
        m = member[s]
        fee = fee_due(p, week - members[m].join_week)
        members[m].fees_paid += fee
        stats[S_FEES] += fee

        strong_ties = club.counters[STRONG_TIES + s] if summed else strong_ties_in_row(tie, s, p.strong_threshold)
        social_value = p.social_value_per_strong_tie * strong_ties
        members[m].social_value += social_value

        gain = members[m].margin * week_gain[s] + social_value
        # the entry fee is sunk, not perceived; the mornings weigh more each year (fatigue)
        tenure_years = (week - members[m].join_week) / 52.0
        cost = p.annual_fee / 52.0 + week_time_cost[s] * (1.0 + p.fatigue * tenure_years)
        perceived_gain[s] = (1.0 - a) * perceived_gain[s] + a * gain
        perceived_cost[s] = (1.0 - a) * perceived_cost[s] + a * cost
        week_gain[s] = 0.0
        week_time_cost[s] = 0.0
