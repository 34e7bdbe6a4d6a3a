"""Phase 5 (docs/ODD.md 7.3): hunters sell to the room and lose the buyers' trust.

Each other attendee buys with probability `sale_probability`, independently:
the number of buyers is Binomial(attendees - 1, p) and the buyers a uniform
sample of that size, which costs one draw per sale instead of one per pair.
"""

import numpy as np

from sim.kernels import kernel
from sim.kernels.membership import attending_slots, current_slots, random_index
from sim.state import HUNTER, S_DIRECT_SALES, W_OTHERS


@kernel
def hunt(rng, p, market, members, slots, club):
    attendees = attending_slots(slots, current_slots(slots))
    member, tie, week_gain, stats = slots.member, slots.tie, slots.week_gain, club.week_stats
    others_row = slots.work_index[W_OTHERS]
    for h in attendees:
        m = member[h]
        if members[m].member_type != HUNTER:
            continue
        n_others = 0  # the other attendees, in slot order
        for a in attendees:
            if a != h:
                others_row[n_others] = a
                n_others += 1
        others = others_row[:n_others]
        buyers = rng.binomial(len(others), p.sale_probability)
        for k in range(buyers):  # partial Fisher-Yates: the first `buyers` of a random order
            pick = k + random_index(rng, len(others) - k)
            others[k], others[pick] = others[pick], others[k]
            buyer = others[k]
            value = market.deal_median[members[m].profession] * np.exp(p.deal_value_sigma * rng.standard_normal())
            members[m].direct_sales += value
            week_gain[h] += value
            stats[S_DIRECT_SALES] += value
            tie[buyer, h] *= 1.0 - p.trust_loss
