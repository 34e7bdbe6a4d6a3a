"""Docking: the numba engine and the plain-Mesa reference engine give the same distributions.

Both engines implement docs/ODD.md but draw their random numbers in different orders, so they
cannot give the same runs; over many seeds they must give the same distribution of every main
summary metric. For three small scenarios (the default policies, an interview with the
attendance rule, and complementarity with its team work) each engine runs SEEDS seeds
(disjoint seed sets, so the samples are independent), and for each metric:

- the two-sample Kolmogorov-Smirnov test does not reject at a strict level (p > 0.001);
- each engine's mean lies within a 99% t-interval around the other's. The interval is that of
  the difference of the two means (Welch), since the mean being placed is itself an estimate:
  a one-sample interval around one mean ignores the other's error and, with 7 metrics x 3
  scenarios, would flag identical engines most of the time. The 99% is simultaneous over a
  scenario's metrics (Bonferroni).

A failure is deterministic for given code (every run is a pure function of scenario and
seed). Before suspecting chance, rerun with more seeds (SEEDS = 1000 takes a few minutes):
a rule difference keeps failing, chance does not.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import numpy as np
import pytest
from scipy import stats

from sim.runner import simulate

pytestmark = pytest.mark.usefixtures("numba_ready")

SEEDS = 200
PYTHON_SEED_OFFSET = 1_000_000  # python runs use other seeds than numba runs: independent samples
METRICS = (
    "members_final",
    "business_per_member_year",
    "referrals_per_member_year",
    "churn_rate_annual",
    "roi_mean",
    "fee_income_total",
    "hunter_share_final",
)
SCENARIOS = {
    "default_policies": {"years": 3, "club": {"capacity": 30}},
    "interview_and_attendance_rule": {
        "years": 3,
        "club": {"capacity": 30, "selection": {"policy": "interview"}, "attendance_rule": {"enabled": True}},
    },
    # sector synergy high enough that follow-on needs and complementarity's team work (joint deals) count
    "complementarity_team_work": {
        "years": 3,
        "club": {"capacity": 30, "composition": {"policy": "complementarity"}},
        "market": {"sector_synergy": 0.6},
    },
}
KS_LEVEL = 0.001
MEAN_LEVEL = 0.99


def summaries(results) -> dict[str, np.ndarray]:
    rows = [result.summary for result in results]
    return {metric: np.array([row[metric] for row in rows], dtype=float) for metric in METRICS}


@pytest.fixture(scope="module", params=list(SCENARIOS))
def engines(request) -> tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]:
    scenario = SCENARIOS[request.param]
    numba = summaries(simulate(scenario, seed) for seed in range(SEEDS))
    python_seeds = range(PYTHON_SEED_OFFSET, PYTHON_SEED_OFFSET + SEEDS)
    # the reference engine is plain Python: two processes; "spawn" whatever start method another test set
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        python = summaries(pool.map(partial(simulate, scenario, engine="python"), python_seeds, chunksize=10))
    return request.param, numba, python


@pytest.mark.parametrize("metric", METRICS)
def test_engines_agree_in_distribution(engines, metric):
    name, numba, python = engines
    a, b = numba[metric], python[metric]
    assert np.isfinite(a).all() and np.isfinite(b).all()
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # a constant metric (e.g. a club always full) must be the same constant
        assert a[0] == b[0], f"{name}: {metric} is {a[0]} (numba) vs {b[0]} (python)"
        return
    p_value = stats.ks_2samp(a, b).pvalue
    assert p_value > KS_LEVEL, (
        f"{name}: {metric} distributions differ (KS p={p_value:.2g}); numba mean {a.mean():.4g}, "
        f"python mean {b.mean():.4g}"
    )


@pytest.mark.parametrize("metric", METRICS)
def test_engines_agree_in_mean(engines, metric):
    name, numba, python = engines
    a, b = numba[metric], python[metric]
    se_a2, se_b2 = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(se_a2 + se_b2)
    if se == 0:
        assert a.mean() == b.mean()
        return
    # Welch-Satterthwaite degrees of freedom; two-sided, simultaneous over the metrics
    dof = (se_a2 + se_b2) ** 2 / (se_a2**2 / (len(a) - 1) + se_b2**2 / (len(b) - 1))
    half_width = stats.t.ppf(1 - (1 - MEAN_LEVEL) / (2 * len(METRICS)), dof) * se
    gap = abs(a.mean() - b.mean())
    assert gap <= half_width, (
        f"{name}: {metric} means differ: numba {a.mean():.4g}, python {b.mean():.4g} "
        f"(gap {gap:.3g} > {half_width:.3g}, {MEAN_LEVEL:.0%} interval over {len(a)} + {len(b)} seeds)"
    )
