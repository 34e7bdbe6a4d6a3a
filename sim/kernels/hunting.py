"""Phase 5 (docs/ODD.md 7.3): hunters sell to the room and lose the buyers' trust."""

import numpy as np

from sim.kernels import kernel
from sim.kernels.membership import current_slots
from sim.state import HUNTER, S_DIRECT_SALES


@kernel
def hunt(rng, p, market, members, slots, club):
    present = current_slots(slots)
    for h in present:
        m = slots.member[h]
        if members.member_type[m] != HUNTER or not slots.attending[h]:
            continue
        for i in present:
            if i == h or not slots.attending[i] or rng.random() >= p.sale_probability:
                continue
            value = market.deal_median[members.profession[m]] * np.exp(p.deal_value_sigma * rng.standard_normal())
            members.direct_sales[m] += value
            slots.week_gain[h] += value
            club.week_stats[S_DIRECT_SALES] += value
            slots.tie[i, h] *= 1.0 - p.trust_loss
