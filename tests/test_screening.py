"""What screening does for the givers (issue 16): the policies against hunters raise givers' ROI.

In a market where 40 % of candidates are hunters (experiments/hunter_tolerance.yaml's h40), the BNI
interview and a contribution rule (one referral a year) each raise the givers' mean ROI among the
chapters that survive under both policies (paired by seed), against no screening; the contribution rule
also over every run. The interview rejects candidates, so fewer chapters survive it: its gain is in the
quality of the room, not its size (docs/validation.md, "Screening"). With 'hunters' who behave like
givers there is nothing for a screen to protect.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.model.runner import simulate

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"
RUNS = 600
HUNTER_MARKET = {"population.shares.giver": 0.2118, "population.shares.reciprocator": 0.3882,
                 "population.shares.hunter": 0.4}
SCREENS = {
    "none": {"club.selection.policy": "none"},
    "interview": {"club.selection.policy": "interview"},
    "contribution": {"club.selection.policy": "none", "club.contribution_rule.enabled": True,
                     "club.contribution_rule.min_referrals": 1, "club.contribution_rule.window_weeks": 52},
}


def givers(screen: str, extra: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: the givers' mean ROI and whether the chapter survived."""
    roi, survived = np.full(RUNS, np.nan), np.zeros(RUNS, bool)
    for seed in range(1, RUNS + 1):
        summary = simulate(BNI, seed, overrides={**HUNTER_MARKET, **SCREENS[screen], **(extra or {})}).summary
        value = summary["roi_by_type"]["giver"]
        roi[seed - 1] = np.nan if value is None else value
        survived[seed - 1] = summary["survived"]
    return roi, survived


def paired_gain(screen: str, base: tuple[np.ndarray, np.ndarray],
                extra: dict | None = None) -> tuple[float, float, float, float]:
    """(mean gain among seeds where both survived, its 95 % half-width; the same over every seed)."""
    roi, survived = givers(screen, extra)
    both = survived & base[1] & np.isfinite(roi) & np.isfinite(base[0])
    every = np.isfinite(roi) & np.isfinite(base[0])
    gain, all_gain = (roi - base[0])[both], (roi - base[0])[every]
    return (gain.mean(), 1.96 * gain.std(ddof=1) / np.sqrt(len(gain)),
            all_gain.mean(), 1.96 * all_gain.std(ddof=1) / np.sqrt(len(all_gain)))


@pytest.fixture(scope="module")
def unscreened(numba_ready):
    return givers("none")


@pytest.mark.parametrize("screen", ["interview", "contribution"])
def test_a_screen_raises_givers_roi_among_surviving_chapters(unscreened, screen):
    gain, half_width, _all, _all_half = paired_gain(screen, unscreened)
    assert gain - half_width > 0, (screen, gain, half_width)  # the paired 95 % CI is clear of 0


def test_the_contribution_rule_raises_givers_roi_over_every_run(unscreened):
    _gain, _half, gain, half_width = paired_gain("contribution", unscreened)
    assert gain - half_width > 0, (gain, half_width)


def test_when_hunters_do_not_defect_the_interview_protects_nothing(numba_ready):
    """The mechanism off: 'hunters' who refer like givers and never sell to the room. The interview then
    only turns good candidates away, and the givers gain nothing from it."""
    cooperative = {"hunting.sale_probability": 0.0, "population.referral_propensity.hunter": 0.9}
    base = givers("none", cooperative)
    gain, half_width, _all, _all_half = paired_gain("interview", base, cooperative)
    assert gain - half_width <= 0, (gain, half_width)
