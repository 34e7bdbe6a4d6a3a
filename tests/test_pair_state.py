"""The club's pair matrices kept small (issue 20): tie ceilings as sale counts read through a table, referral
counts in 16 bits held at their maximum, and rows and columns past the highest slot ever taken left unwritten."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from resident import PAGE, resident_bytes  # this folder's helpers
from schema_bounds import schema_bound

from sim.kernels.layout import RECEIVED_MAX, S_REFERRALS, SLOTS_USED
from sim.model.engine import ClubEngine
from sim.model.scenario import ReferralsSpec, load_config
from sim.model.state import allocate_clubs_pairs, ceilings_after_sales

SELLING = {"years": 3, "club": {"capacity": 60}, "population": {"shares": {"giver": 0.5, "reciprocator": 0.2,
                                                                          "hunter": 0.3}},
           "hunting": {"sale_probability": 0.5, "trust_loss": 0.05, "gossip": 0.0}}


@pytest.mark.parametrize("trust_loss", [0.0, 0.05, 0.3, 0.5, 1.0])
def test_the_ceiling_after_k_sales_is_k_cuts_to_the_bit(trust_loss: float) -> None:
    table = ceilings_after_sales(trust_loss, 520)
    ceiling = 1.0
    for k in range(521):
        assert table[k] == ceiling
        ceiling *= 1.0 - trust_loss


def test_pair_counts_stay_consistent_and_referral_counts_never_wrap() -> None:
    engine = ClubEngine(load_config(SELLING).config, np.random.default_rng(4))
    engine.run_to(52)
    slots, members = engine.slots, engine.members
    present = np.flatnonzero(slots.member >= 0)
    slots.received_from[np.ix_(present, present)] = RECEIVED_MAX
    engine.run_to(104)
    stayed = [s for s in present if slots.member[s] >= 0 and members.join_week[slots.member[s]] <= 52]
    pairs = slots.received_from[np.ix_(stayed, stayed)]
    assert len(stayed) >= 10 and engine.series[52:104, S_REFERRALS].sum() > 100  # referrals were passed among them
    assert (pairs[~np.eye(len(stayed), dtype=bool)] == RECEIVED_MAX).all()  # held, not wrapped to 0
    assert (slots.sellers == np.count_nonzero(slots.sales, axis=1)).all()
    assert slots.sellers.sum() > 0  # hunters sold, and their buyers' ceilings were cut
    used = engine.club.counters[SLOTS_USED]
    assert used > np.flatnonzero(slots.member >= 0).max()
    for pair in (slots.tie, slots.sales, slots.received_from):  # slots never taken: never written
        assert not pair[used:, :].any() and not pair[:, used:].any()


def test_a_referral_count_held_at_its_largest_decides_as_the_true_count() -> None:
    """`received_from` is held at RECEIVED_MAX (one byte): a reciprocator's credit saturates at
    reciprocity_saturation (at most 100) with a prior of at least 0, so a held count gives the pass probability
    of the true one. Raising the schema's bound on the saturation past the held count fails here."""
    import numba

    from sim.kernels.referrals import pass_probability as kernel

    pass_probability = numba.njit(lambda *args: kernel(*args))  # a helper has no entry from Python

    saturation = schema_bound(ReferralsSpec, "reciprocity_saturation", "le")
    prior = schema_bound(ReferralsSpec, "reciprocity_prior", "ge")
    assert prior >= 0 and RECEIVED_MAX >= saturation - prior
    for true_count in (RECEIVED_MAX, RECEIVED_MAX + 1, 1_000, 65_535):
        for tie in (0.0, 0.4, 1.0):
            assert pass_probability(0.7, True, tie, RECEIVED_MAX, 0.2, prior, saturation) == \
                pass_probability(0.7, True, tie, np.int64(true_count), 0.2, prior, saturation)
    assert pass_probability(0.7, True, 0.4, saturation - 1, 0.2, prior, saturation) < \
        pass_probability(0.7, True, 0.4, RECEIVED_MAX, 0.2, prior, saturation)  # below saturation, counts count


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="resident pages read with mincore")
def test_a_regions_pair_matrices_take_memory_only_for_the_slots_taken() -> None:
    (tie, sales, received), _ = allocate_clubs_pairs([200, 200])
    assert resident_bytes(tie) == resident_bytes(sales) == resident_bytes(received) == 0
    tie[:20, :20] = 0.5  # a club of 20 members in a room of 200
    assert resident_bytes(tie) <= 20 * 200 * 8 + 2 * PAGE
    assert tie.dtype == np.float64 and sales.dtype == np.uint16 and received.dtype == np.uint8
