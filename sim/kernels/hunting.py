"""Phase 5 (docs/ODD.md 7.3): hunters sell to the room and lose the buyers' trust.

Each other attendee i buys with probability `sale_probability` x tie[i][h] x the
hunter's image factor x its reputation: the attendees offered a sale are a
Binomial(attendees - 1, sale_probability) uniform sample, and each of them buys
with probability tie x image x reputation (thinning), which costs a draw per
offer instead of one per pair.
"""

import numpy as np

from sim.kernels import kernel
from sim.kernels.distributions import binomial, standard_normal
from sim.kernels.draws import uniform
from sim.kernels.layout import HUNTER, R_HUNTING, S_DIRECT_SALES, W_OTHERS
from sim.kernels.membership import attending_slots, current_slots, image_factor, random_index


@kernel
def hunt(p, market, members, slots, club, week):
    rng = club.streams[R_HUNTING]
    attendees = attending_slots(slots, current_slots(slots))
    member, tie, sales, sellers, reputation = slots.member, slots.tie, slots.sales, slots.sellers, slots.reputation
    week_gain, stats = slots.week_gain, club.week_stats
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
        image = image_factor(p, slots.referral_weeks, slots.referrals, members[m].join_week, h, week)
        offers = binomial(rng, len(others), p.sale_probability)
        for k in range(offers):  # partial Fisher-Yates: the first `offers` of a random order
            pick = k + random_index(rng, len(others) - k)
            others[k], others[pick] = others[pick], others[k]
            buyer = others[k]
            if uniform(rng) >= tie[buyer, h] * image * reputation[h]:
                continue  # nobody buys from a member it does not trust
            value = market.deal_median[members[m].profession] * np.exp(p.deal_value_sigma * standard_normal(rng))
            members[m].direct_sales += value
            week_gain[h] += value
            stats[S_DIRECT_SALES] += value
            tie[buyer, h] *= 1.0 - p.trust_loss  # the buyer notices, and will not trust it as before:
            if sales[buyer, h] == 0:  # its ceiling is cut by 1 - trust_loss (Slots.ceiling_after)
                sellers[buyer] += 1
            sales[buyer, h] += 1
            reputation[h] *= 1.0 - p.gossip  # and the chapter talks
