"""Phase 6 (docs/ODD.md 7.4): ties decay when not refreshed."""

from sim.kernels import helper, inlined, kernel
from sim.kernels.layout import STRONG_TIES, TIE_TOTAL, TIES_SUMMED


@helper
def row_sum(matrix, i):
    """Sum of row i in four interleaved partial sums: a single running sum waits on each addition."""
    s0 = s1 = s2 = s3 = 0.0
    n = matrix.shape[1]
    n4 = n - n % 4
    for j in range(0, n4, 4):
        s0 += matrix[i, j]
        s1 += matrix[i, j + 1]
        s2 += matrix[i, j + 2]
        s3 += matrix[i, j + 3]
    for j in range(n4, n):
        s0 += matrix[i, j]
    return (s0 + s1) + (s2 + s3)


@inlined
def strong_ties_in_row(tie, i, strong_threshold):
    """Member i's strong ties: its whole row (own and free slots hold tie 0 < threshold)."""
    strong = 0
    for j in range(tie.shape[1]):
        strong += tie[i, j] >= strong_threshold
    return strong


@kernel
def decay_ties(p, slots, club, sum_ties):
    """Every tie loses a share `tie_decay`. A free slot's row holds zeros (`remove_member`), so it is
    skipped: clubs below capacity decay only their members' rows (whole rows: they vectorise).

    With `sum_ties`, each decayed row is read again while it is in the cache: its strong ties are counted and
    the ties summed as `close_week` sums them (`TIES_SUMMED`), for the week's accounts and close. A region
    passes it: the other clubs' weeks push this club's tie matrix out of the cache before its accounts (a
    world-like region on one thread: accounts to rules 132 -> 93 ns a member-week, the close 49 -> 19, the
    decay about 10 more). A chapter's matrix stays in the cache, and there the pass cost 3 % of a run.
    """
    keep = 1.0 - p.tie_decay
    tie, member = slots.tie, slots.member
    total = 0.0
    for i in range(tie.shape[0]):
        if member[i] < 0:
            continue
        for j in range(tie.shape[1]):
            tie[i, j] *= keep
        if sum_ties:
            total += row_sum(tie, i)
            club.counters[STRONG_TIES + i] = strong_ties_in_row(tie, i, p.strong_threshold)
    if sum_ties:
        club.totals[TIE_TOTAL] = total
        club.counters[TIES_SUMMED] = 1
