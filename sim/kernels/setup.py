"""A club's set-up before week 0 where Python would cost more than a call into numba: its streams' first words
and its market's sector tables.

`sim.model.state` calls these once a run (`allocate_club`, `make_market_arrays`); they give the arrays its numpy
code gave, bit for bit (the tests compare them), in a few microseconds instead of a hundred each.
"""

import numpy as np

from sim.kernels import kernel
from sim.kernels.draws import FOUNDING, STREAM_WORDS, rekey
from sim.kernels.summary import pairwise_sum


@kernel
def founding_streams(key, count):
    """uint64[count, STREAM_WORDS]: `draws.make_streams(root, club, count)` for key = (root, club), the streams
    of processes 0..count-1 as they are before week 0, hashed in numba instead of on Python integers."""
    streams = np.empty((count, STREAM_WORDS), dtype=np.uint64)
    for process in range(count):
        rekey(streams, key, process, FOUNDING, 0)
    return streams


@kernel
def sector_tables(profession_sector, demand_weight, sectors, own_sector_boost):
    """(need_total, sector_size, sector_professions, sector_need_cdf) of `state.MarketArrays`: the need weight a
    member of each sector sees (its own sector's boosted, summed as numpy sums), each sector's professions in
    profession order (padded with -1), and their cumulative demand weights (carried flat past the last)."""
    professions = len(profession_sector)
    sector_size = np.zeros(sectors, dtype=np.int64)
    for p in range(professions):
        sector_size[profession_sector[p]] += 1
    width = max(1, sector_size.max()) if sectors > 0 else 1
    sector_professions = np.full((sectors, width), -1, dtype=np.int64)
    sector_need_cdf = np.zeros((sectors, width))
    filled = np.zeros(sectors, dtype=np.int64)
    for p in range(professions):
        s = profession_sector[p]
        sector_professions[s, filled[s]] = p
        sector_need_cdf[s, filled[s]] = demand_weight[p]
        filled[s] += 1
    need_total = np.empty(sectors)
    seen = np.empty(professions)
    for s in range(sectors):
        for k in range(1, width):
            sector_need_cdf[s, k] += sector_need_cdf[s, k - 1]
        for p in range(professions):
            seen[p] = demand_weight[p] * (own_sector_boost if profession_sector[p] == s else 1.0)
        need_total[s] = pairwise_sum(seen)
    return need_total, sector_size, sector_professions, sector_need_cdf
