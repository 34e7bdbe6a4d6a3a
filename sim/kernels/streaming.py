"""A streaming region's renumbering of members (`sim.model.region.RegionEngine.compact_members`): the weak
ties' other ends, in every club's rows, follow their members to their new records."""

from sim.kernels import entry


@entry
def remap_weak_members(weak_club, weak_member, offset, renumbered):
    """Entries naming a member of a club c with offset[c] >= 0 take its new index, renumbered[offset[c] +
    old index]; returns how many named a member without one (who left: none should, its ties ended)."""
    lost = 0
    for r in range(weak_club.shape[0]):
        for e in range(weak_club.shape[1]):
            c = weak_club[r, e]
            if c >= 0 and offset[c] >= 0:
                m = renumbered[offset[c] + weak_member[r, e]]
                if m < 0:
                    lost += 1
                weak_member[r, e] = m
    return lost
