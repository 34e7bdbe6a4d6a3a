"""Phase 6 (docs/ODD.md 7.4): ties decay when not refreshed."""

from sim.kernels import kernel


@kernel
def decay_ties(p, slots):
    """Every tie loses a share `tie_decay`. A free slot's row holds zeros (`remove_member`), so it is
    skipped: clubs below capacity decay only their members' rows (whole rows: they vectorise)."""
    keep = 1.0 - p.tie_decay
    tie, member = slots.tie, slots.member
    for i in range(tie.shape[0]):
        if member[i] < 0:
            continue
        for j in range(tie.shape[1]):
            tie[i, j] *= keep
