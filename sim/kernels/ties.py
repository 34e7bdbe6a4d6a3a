"""Phase 6 (docs/ODD.md 7.4): ties decay when not refreshed."""

from sim.kernels import kernel


@kernel
def decay_ties(p, slots):
    keep = 1.0 - p.tie_decay
    tie = slots.tie
    for i in range(tie.shape[0]):
        for j in range(tie.shape[1]):
            tie[i, j] *= keep
