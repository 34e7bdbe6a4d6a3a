"""The summary metrics: Kaplan-Meier against scipy, and one summary from frames or plain columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sim.model.engine import ClubEngine
from sim.model.metrics import kaplan_meier, km_median, summarize
from sim.model.scenario import load_config

tenures = st.lists(
    st.tuples(st.integers(0, 30).map(lambda weeks: weeks / 4.0), st.booleans()), min_size=1, max_size=60
)


@settings(max_examples=200, deadline=None)
@given(tenures)
def test_kaplan_meier_is_scipy_ecdf_survival(sample: list[tuple[float, bool]]) -> None:
    tenure = np.array([t for t, _ in sample])
    observed = np.array([o for _, o in sample])
    times, survival = kaplan_meier(tenure, observed)
    assert times[0] == 0.0 and survival[0] == 1.0
    if not observed.any():
        np.testing.assert_array_equal(survival, [1.0, 1.0])
        return
    data = tenure if observed.all() else stats.CensoredData(uncensored=tenure[observed], right=tenure[~observed])
    sf = stats.ecdf(data).sf
    np.testing.assert_array_equal(times[1:], sf.quantiles)
    np.testing.assert_array_equal(survival[1:], sf.probabilities)  # same arithmetic, so exactly equal


def test_km_median_is_first_time_at_or_below_one_half() -> None:
    times, survival = kaplan_meier(np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4, bool))
    assert km_median(times, survival) == 2.0  # survival 0.5 at 2 years
    times, survival = kaplan_meier(np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, False, False, False]))
    assert km_median(times, survival) is None  # 0.75 at most lost: the median is never reached


def test_summary_from_plain_columns_equals_summary_from_frames() -> None:
    config = load_config("scenarios/bni_chapter.yaml", {"years": 3}).config
    club = ClubEngine(config, np.random.default_rng(5))
    club.run_to()
    series, members = club.series_columns(), club.members_columns()
    assert summarize(series, members) == summarize(pd.DataFrame(series), pd.DataFrame(members))
