"""Survivors-only means (issue 16): comparison and sweep tables give size, business and referral metrics
over the replications whose club survived too, as `<metric>_survivors` rows, with paired differences
over the seeds where both policies' clubs survived; in comparison.csv, sweep.csv and the printed tables.

Workloads stay tiny (`years: 2`, a dozen replications, in-process). Chapters founded with 8 members and
a minimum of 8 often close within two years; without visitors every one of them does.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from sim import compare, sweep
from sim.experiments.experiment import COMPARISON_FILE, SWEEP_FILE, load_experiment, statistics_table
from sim.experiments.spec import METRIC_BOUNDS, SURVIVOR_METRICS
from sim.experiments.statistics import metric_ci
from sim.interfaces.cli import comparison_table, metric_header, sweep_table

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"
METRICS = ["business_per_member_year", "referrals_per_member_year", "members_final", "mean_members",
           "sphere_share", "visitors_per_meeting", "churn_rate_annual"]

# `eight` is fragile (a third of its chapters close), `no_visitors` always closes, `nine` in between
MIXED = f"""
name: fragile
scenario: {BNI}
overrides: {{years: 2, club.founders: 8, club.min_viable_size: 8}}
policies:
  eight: {{}}
  nine: {{club.founders: 9}}
  no_visitors: {{club.recruitment.visitors_per_meeting: 0}}
metrics: [{", ".join(METRICS)}]
runs: 12
seed: 12
"""


@pytest.fixture(autouse=True)
def _kernels(numba_ready: None) -> None:
    """Every test here runs the numba engine: load (or compile) its kernels once."""


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory, numba_ready: None):
    folder = tmp_path_factory.mktemp("fragile")
    (folder / "exp.yaml").write_text(MIXED, encoding="utf-8")
    return compare(load_experiment(folder / "exp.yaml"), workers=1, figures=False, out=folder / "out")


def rows_of(result, policy: str) -> pd.DataFrame:
    frame = result.replications
    return frame[frame["policy"] == policy].set_index("replication").sort_index()


def stat(result, policy: str, metric: str) -> pd.Series:
    table = result.table
    return table[(table["policy"] == policy) & (table["metric"] == metric)].iloc[0]


def render(table) -> str:
    console = Console(record=True, width=600, color_system=None)
    console.print(table)
    return console.export_text()


def test_the_experiment_has_survivors_and_deaths(fragile) -> None:
    survived = {p: rows_of(fragile, p)["survived"] for p in fragile.policies}
    assert 0 < survived["eight"].sum() < len(survived["eight"])
    assert 0 < survived["nine"].sum() < len(survived["nine"])
    assert not survived["no_visitors"].any()
    # the pairing below would prove nothing if both policies lost the same chapters
    assert (survived["eight"] != survived["nine"]).any()


def test_survivors_means_exclude_the_clubs_that_closed(fragile) -> None:
    for policy in ("eight", "nine"):
        rows = rows_of(fragile, policy)
        alive = rows[rows["survived"]]
        for metric in METRICS:
            if metric not in SURVIVOR_METRICS:
                continue
            row = stat(fragile, policy, f"{metric}_survivors")
            values = alive[metric].to_numpy(float)
            assert row["n"] == np.isfinite(values).sum(), (policy, metric)
            assert row["mean"] == pytest.approx(np.nanmean(values)), (policy, metric)
            n, mean, _sd, lo, hi = metric_ci(alive[metric], metric)
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi)), (policy, metric)
        # a closed chapter ends empty: the survivors' mean is larger than the mean over every run
        assert stat(fragile, policy, "members_final_survivors")["mean"] > stat(fragile, policy, "members_final")["mean"]
        assert stat(fragile, policy, "members_final_survivors")["n"] == rows["survived"].sum()
        assert stat(fragile, policy, "business_per_member_year_survivors")["mean"] \
            != pytest.approx(stat(fragile, policy, "business_per_member_year")["mean"])


def test_only_the_size_business_and_referral_metrics_get_survivors_rows(fragile) -> None:
    metrics = list(fragile.table[fragile.table["policy"] == "eight"]["metric"])
    wanted = [m for m in METRICS if m in SURVIVOR_METRICS]
    assert metrics == [*METRICS, "survived", *(f"{m}_survivors" for m in wanted)]
    assert "churn_rate_annual_survivors" not in metrics


def test_a_policy_whose_clubs_all_closed_has_no_survivors_mean(fragile) -> None:
    row = stat(fragile, "no_visitors", "business_per_member_year_survivors")
    assert row["n"] == 0 and math.isnan(row["mean"])
    assert math.isnan(row["diff"])  # no seed where both survived
    assert stat(fragile, "no_visitors", "survived")["mean"] == 0.0


def test_survivors_differences_are_paired_on_seeds_where_both_clubs_survived(fragile) -> None:
    base, other = rows_of(fragile, "eight"), rows_of(fragile, "nine")
    both = base.index[base["survived"] & other["survived"]]
    assert 0 < len(both) < min(base["survived"].sum(), other["survived"].sum()) + 1
    for metric in ("business_per_member_year", "members_final"):
        d = other.loc[both, metric].to_numpy(float) - base.loc[both, metric].to_numpy(float)
        row = stat(fragile, "nine", f"{metric}_survivors")
        assert row["diff"] == pytest.approx(d.mean())
        half = row["diff_ci_high"] - row["diff"]
        from scipy import stats

        assert half == pytest.approx(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))
        # not the difference of the two survivors' means (other seeds), nor the all-runs difference
        unpaired = other.loc[other["survived"], metric].mean() - base.loc[base["survived"], metric].mean()
        assert row["diff"] != pytest.approx(unpaired)
        assert row["diff"] != pytest.approx(stat(fragile, "nine", metric)["diff"])
    counts = fragile.survivors.set_index("policy")
    assert counts.loc["nine", "pairs"] == len(both)
    assert counts.loc["nine", "survived"] == other["survived"].sum()
    assert counts.loc["eight", "runs"] == 12


def test_comparison_csv_has_the_survivors_rows(fragile) -> None:
    table = pd.read_csv(fragile.out_dir / COMPARISON_FILE)
    assert list(table.columns) == list(fragile.table.columns)
    survivors = table[table["metric"].str.endswith("_survivors")]
    assert set(survivors["metric"]) == {f"{m}_survivors" for m in METRICS if m in SURVIVOR_METRICS}
    assert len(survivors) == 3 * 6
    row = survivors[(survivors["policy"] == "eight") & (survivors["metric"] == "members_final_survivors")].iloc[0]
    assert row["n"] == rows_of(fragile, "eight")["survived"].sum()
    assert (table[table["metric"] == "survived"]["n"] == 12).all()


def test_compare_table_prints_survivors_columns_counts_and_pairs(fragile) -> None:
    text = render(comparison_table(fragile))
    counts = fragile.survivors.set_index("policy")
    assert "survivors (runs)" in text
    assert "business / member-year (EUR), survivors" in text
    assert f"{counts.loc['eight', 'survived']} of 12" in text
    assert f"{counts.loc['nine', 'pairs']} pairs" in text
    assert "both policies' clubs survived" in text
    assert "survived (% of runs)" in text  # a row, although not among the metrics
    assert "members at end, survivors" in text


def test_compare_table_omits_survivors_columns_when_every_club_survived(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text(f"""
scenario: {BNI}
overrides: {{years: 2, club.min_viable_size: 0}}    # 0: a chapter never closes
policies: {{a: {{}}, b: {{club.composition.policy: complementarity}}}}
metrics: [business_per_member_year, members_final]
runs: 4
seed: 3
""", encoding="utf-8")
    result = compare(load_experiment(tmp_path / "exp.yaml"), workers=1, figures=False)
    assert result.replications["survived"].all()
    table = result.table
    for metric in ("business_per_member_year", "members_final"):  # kept in the table, equal to the means
        alive = table[table["metric"] == f"{metric}_survivors"].reset_index(drop=True)
        every = table[table["metric"] == metric].reset_index(drop=True)
        pd.testing.assert_frame_equal(alive.drop(columns="metric"), every.drop(columns="metric"))
    text = render(comparison_table(result))
    assert "survivors (runs)" not in text
    assert "every replication survived" in text


def test_sweep_table_and_csv_give_survivors_per_point(tmp_path: Path) -> None:
    (tmp_path / "sweep.yaml").write_text(f"""
scenario: {BNI}
overrides: {{years: 2, club.min_viable_size: 8}}
metrics: [members_final, business_per_member_year]
runs: 8
seed: 11
sweep:
  parameters:
    club.founders: {{values: [8, 12]}}
""", encoding="utf-8")
    result = sweep(load_experiment(tmp_path / "sweep.yaml"), workers=1, figures=False, out=tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / SWEEP_FILE)
    rows = result.replications
    for point in (0, 1):
        at = rows[rows["point"] == point]
        alive = at[at["survived"]]
        got = table[(table["point"] == point) & (table["metric"] == "members_final_survivors")].iloc[0]
        assert got["n"] == len(alive)
        assert got["mean"] == pytest.approx(alive["members_final"].mean())
    fragile = rows[rows["point"] == 0]
    assert not fragile["survived"].all()
    text = render(sweep_table(result))
    assert "members at end, survivors" in text
    assert f"{int(fragile['survived'].sum())} of 8" in text
    assert "survived (% of runs)" in text  # shown although not among the metrics


def test_statistics_without_a_survived_column_have_no_survivors_rows() -> None:
    frame = pd.DataFrame({"point": -1, "policy": ["a"] * 3, "replication": range(3),
                          "members_final": [1.0, 2.0, 3.0]})
    assert list(statistics_table(frame, ["members_final"], ["a"], "a")["metric"]) == ["members_final"]


def test_new_metrics_have_bounds() -> None:
    assert METRIC_BOUNDS["sphere_share"] == (0.0, 1.0)
    assert METRIC_BOUNDS["visitors_per_meeting"] == (0.0, math.inf)
    _n, _mean, _sd, lo, hi = metric_ci(np.array([0.98, 1.0, 1.0, 0.9]), "sphere_share")
    assert 0.0 <= lo and hi == 1.0
    _n, _mean, _sd, lo, _hi = metric_ci(np.array([0.0, 0.0, 0.0, 2.0]), "visitors_per_meeting")
    assert lo == 0.0


def test_survivors_headers_name_the_metric_and_the_subset() -> None:
    assert metric_header("business_per_member_year_survivors") == "business / member-year (EUR), survivors"
    assert metric_header("sphere_share") == "referrals in the sphere (%)"


def test_a_club_its_members_all_left_did_not_survive() -> None:
    """A club with no minimum size never closes, so no member is dissolved; emptied by its members' own exits
    (every member leaves within weeks, no visitor comes), it still did not survive."""
    from sim.model.runner import simulate

    result = simulate(BNI, 1, overrides={"years": 2, "club.min_viable_size": 0,
                                         "club.recruitment.visitors_per_meeting": 0,
                                         "behaviour.exogenous_exit_rate": 0.999})
    assert result.summary["members_final"] == 0
    assert result.summary["exits_by_reason"]["dissolved"] == 0
    assert result.summary["survived"] is False
