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

A region (docs/ODD.md 7.8) is docked the same way: three small clubs (two with the default
policies, one with the interview and the attendance rule) with interclub events, second-circle
referrals and transfers, on the region's summary metrics, the business that crossed clubs and the
joins (which transfers add to). The reference region is `sim/reference/region.py`.

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

from sim.model.runner import simulate

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
    "sphere_share",
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
REGION_SEEDS = 120  # the reference region is slower than a club: 3 clubs and the region's phases
REGION_METRICS = (*METRICS, "cross_club_business_total", "joins_total")
REGION_SCENARIO = {
    "years": 3,
    "club": {"capacity": 15, "founders": 10},  # small clubs, full early: refusals for capacity, transfers
    "region": {
        "clubs": [
            {"name": "default_policies", "count": 2},
            {"name": "interview_and_attendance_rule",
             "club": {"selection": {"policy": "interview"}, "attendance_rule": {"enabled": True}}},
        ],
        "interclub_events_per_year": 4,
        "second_circle": True,
        "transfer_share": 0.5,
    },
}
KS_LEVEL = 0.001
MEAN_LEVEL = 0.99

Samples = dict[str, np.ndarray]


def summaries(results, metrics: tuple[str, ...] = METRICS) -> Samples:
    rows = [result.summary for result in results]
    return {metric: np.array([row[metric] for row in rows], dtype=float) for metric in metrics}


def run_engines(scenario: dict, seeds: int, metrics: tuple[str, ...]) -> tuple[Samples, Samples]:
    """Each engine's summary metrics over `seeds` runs, on disjoint seed sets."""
    numba = summaries((simulate(scenario, seed) for seed in range(seeds)), metrics)
    python_seeds = range(PYTHON_SEED_OFFSET, PYTHON_SEED_OFFSET + seeds)
    # the reference engine is plain Python: two processes; "spawn" whatever start method another test set
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        python = summaries(pool.map(partial(simulate, scenario, engine="python"), python_seeds, chunksize=10),
                           metrics)
    return numba, python


@pytest.fixture(scope="module", params=list(SCENARIOS))
def engines(request) -> tuple[str, Samples, Samples]:
    return request.param, *run_engines(SCENARIOS[request.param], SEEDS, METRICS)


@pytest.fixture(scope="module")
def region_engines() -> tuple[str, Samples, Samples]:
    return "region_of_3_clubs", *run_engines(REGION_SCENARIO, REGION_SEEDS, REGION_METRICS)


@pytest.mark.parametrize("metric", METRICS)
def test_engines_agree_in_distribution(engines, metric):
    assert_same_distribution(*engines, metric)


@pytest.mark.parametrize("metric", METRICS)
def test_engines_agree_in_mean(engines, metric):
    assert_same_mean(*engines, metric, len(METRICS))


@pytest.mark.parametrize("metric", REGION_METRICS)
def test_region_engines_agree_in_distribution(region_engines, metric):
    assert_same_distribution(*region_engines, metric)


@pytest.mark.parametrize("metric", REGION_METRICS)
def test_region_engines_agree_in_mean(region_engines, metric):
    assert_same_mean(*region_engines, metric, len(REGION_METRICS))


def assert_same_distribution(name: str, numba: Samples, python: Samples, metric: str) -> None:
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


def assert_same_mean(name: str, numba: Samples, python: Samples, metric: str, n_metrics: int) -> None:
    a, b = numba[metric], python[metric]
    se_a2, se_b2 = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(se_a2 + se_b2)
    if se == 0:
        assert a.mean() == b.mean()
        return
    # Welch-Satterthwaite degrees of freedom; two-sided, simultaneous over the metrics
    dof = (se_a2 + se_b2) ** 2 / (se_a2**2 / (len(a) - 1) + se_b2**2 / (len(b) - 1))
    half_width = stats.t.ppf(1 - (1 - MEAN_LEVEL) / (2 * n_metrics), dof) * se
    gap = abs(a.mean() - b.mean())
    assert gap <= half_width, (
        f"{name}: {metric} means differ: numba {a.mean():.4g}, python {b.mean():.4g} "
        f"(gap {gap:.3g} > {half_width:.3g}, {MEAN_LEVEL:.0%} interval over {len(a)} + {len(b)} seeds)"
    )
