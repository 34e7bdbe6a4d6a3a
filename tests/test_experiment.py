"""Experiments (`sim.experiments.experiment`): CRN seeds, statistics, precision mode, sweeps, outputs, resume, bad
files.

Workloads stay tiny (`years: 2`, a dozen or two replications, in-process or two local workers);
the Dask backend and worker counts are in tests/test_backends.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy import stats

from sim import compare, compare_scenarios, sweep
from sim.errors import InputError
from sim.experiments.experiment import (
    METRIC_COLUMNS,
    ComparisonResult,
    ExperimentInterrupted,
    SweepResult,
    is_experiment_file,
    load_experiment,
    manifest_seeds,
    replication_seeds,
    run_replication,
    statistics_table,
    survivor_metrics,
)
from sim.experiments.spec import TABLE_COLUMNS
from sim.model.metrics import flatten_summary
from sim.presentation.experiment_plots import FIGURES

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"
SCENARIOS = ROOT / "scenarios"
BNI = SCENARIOS / "bni_chapter.yaml"
SHIPPED = sorted(p for p in EXPERIMENTS.glob("*.yaml") if not p.name.startswith("sensitivity_"))  # clubsim sensitivity
SHORT = {"years": 2}


@pytest.fixture(autouse=True)
def _kernels(numba_ready: None) -> None:
    """Every test here runs the numba engine: load (or compile) its kernels once."""


def write_experiment(folder: Path, text: str, name: str = "exp.yaml") -> Path:
    path = folder / name
    path.write_text(text.replace("BNI", str(BNI)), encoding="utf-8")
    return path


TWO_POLICIES = """
scenario: BNI
overrides: {years: 2}
policies:
  a: {}
  b: {club.composition.policy: complementarity}
runs: 6
seed: 11
"""


# --------------------------------------------------------------------------- seeds and CRN


def test_replication_seeds_are_prefix_stable_non_negative_int64() -> None:
    ten, twenty = replication_seeds(123, 10), replication_seeds(123, 20)
    assert twenty[:10] == ten
    assert len(set(twenty)) == 20
    assert all(isinstance(s, int) and 0 <= s < 2**63 for s in twenty)
    assert replication_seeds(124, 10) != ten


def test_identical_policies_give_identical_rows_for_each_replication(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, """
scenario: BNI
overrides: {years: 2}
policies: {first: {}, second: {}}
runs: 5
seed: 3
""")
    result = compare(load_experiment(path), workers=1, figures=False)
    rows = result.replications
    first = rows[rows["policy"] == "first"].drop(columns="policy").reset_index(drop=True)
    second = rows[rows["policy"] == "second"].drop(columns="policy").reset_index(drop=True)
    assert list(first["seed"]) == replication_seeds(3, 5)
    scalar = [c for c in first.columns if c not in ("members_weekly", "tenure_years", "tenure_observed", "tenure_type")]
    pd.testing.assert_frame_equal(first[scalar], second[scalar])
    for a, b in zip(first["members_weekly"], second["members_weekly"], strict=True):
        np.testing.assert_array_equal(a, b)
    table = result.table[result.table["policy"] == "second"]
    assert (table["diff"] == 0).all()
    assert table["diff_p"].isna().all()
    assert not table["significant"].any()


def test_a_replication_row_is_the_summary_of_simulate_with_its_seed() -> None:
    from sim.model.runner import simulate

    experiment = load_experiment(EXPERIMENTS / "weekly_vs_monthly.yaml", SHORT)
    from sim.experiments.experiment import Task

    seed = replication_seeds(experiment.seed, 3)[2]
    task = Task(-1, "monthly", 2, seed, experiment.policies["monthly"], keep_series=True)
    row = run_replication(task)
    expected = flatten_summary(simulate(experiment.policies["monthly"], seed).summary)
    for key, value in expected.items():
        assert row[key] == value or (math.isnan(value) and math.isnan(row[key])), key
    assert (row["point"], row["policy"], row["replication"], row["seed"]) == (-1, "monthly", 2, seed)
    assert len(row["members_weekly"]) == 2 * 52
    assert len(row["tenure_years"]) == len(row["tenure_observed"]) == len(row["tenure_type"]) == row["joins_total"]


def test_paired_ci_is_narrower_than_unpaired_under_common_random_numbers() -> None:
    # composition changes whom the chapter admits later on; under CRN the early weeks are shared
    experiment = load_experiment(EXPERIMENTS / "exclusivity_vs_complementarity.yaml", SHORT)
    result = compare(experiment, 20, workers=2, figures=False)
    others = result.table[result.table["policy"] != experiment.baseline]
    paired = others["diff_ci_high"] - others["diff_ci_low"]
    unpaired = others["unpaired_ci_high"] - others["unpaired_ci_low"]
    key = (others["metric"] == experiment.key_metric).to_numpy()
    assert key.sum() == len(experiment.policies) - 1
    assert (paired[key] < unpaired[key]).all(), others[key]
    assert np.nanmedian(paired / unpaired) < 1


# --------------------------------------------------------------------------- statistics


def test_statistics_match_scipy_paired_t_test_and_welch() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(10, 2, 30)
    other = base + rng.normal(0.5, 0.5, 30)
    frame = pd.DataFrame({
        "point": -1, "policy": ["a"] * 30 + ["b"] * 30, "replication": list(range(30)) * 2,
        "x": np.concatenate([base, other]), "flag": [True, False] * 30,
    })
    table = statistics_table(frame, ["x", "flag"], ["a", "b"], "a")
    assert list(table.columns) == list(TABLE_COLUMNS)
    row = table[(table["policy"] == "b") & (table["metric"] == "x")].iloc[0]
    ttest = stats.ttest_rel(other, base)
    ci = ttest.confidence_interval()
    assert row["diff"] == pytest.approx(np.mean(other - base))
    assert row["diff_p"] == pytest.approx(ttest.pvalue)
    assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx((ci.low, ci.high))
    welch = stats.ttest_ind(other, base, equal_var=False).confidence_interval()
    assert (row["unpaired_ci_low"], row["unpaired_ci_high"]) == pytest.approx((welch.low, welch.high))
    assert row["significant"] == (ci.low > 0 or ci.high < 0)
    mean_ci = stats.ttest_1samp(other, 0).confidence_interval()
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((mean_ci.low, mean_ci.high))
    flag = table[(table["policy"] == "a") & (table["metric"] == "flag")].iloc[0]
    assert flag["mean"] == pytest.approx(0.5)  # a boolean's mean is a proportion
    baseline = table[table["policy"] == "a"]
    assert (baseline["diff"] == 0).all() and not baseline["significant"].any()


def test_a_proportions_ci_is_wilsons_and_stays_within_0_and_1() -> None:
    survived = [True] * 47 + [False] * 3
    frame = pd.DataFrame({"point": -1, "policy": "a", "replication": range(50), "survived": survived})
    row = statistics_table(frame, ["survived"], ["a"], "a").iloc[0]
    wilson = stats.binomtest(47, 50).proportion_ci(method="wilson")
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((wilson.low, wilson.high))
    assert 0 <= row["ci_low"] < row["mean"] == 0.94 < row["ci_high"] <= 1  # a t-interval would reach 1.007


def test_a_means_ci_stays_within_its_metrics_bounds() -> None:
    """A t-interval crosses 0 on a count that is mostly 0 (clubs that closed), and 1 on a share that is
    mostly 1; the table cuts both at the bound. Differences keep their sign: they have no bounds."""
    members = [0] * 48 + [18, 0]  # t-interval of the mean: 0.36 +- 0.72
    shares = [1.0] * 48 + [0.2, 1.0]  # 0.984 +- 0.032
    frame = pd.DataFrame({
        "point": -1, "policy": ["a"] * 50 + ["b"] * 50, "replication": list(range(50)) * 2,
        "members_final": members + [20] * 50, "hunter_share_final": shares + [0.5] * 50,
    })
    table = statistics_table(frame, ["members_final", "hunter_share_final"], ["b", "a"], "b")
    rows = table.set_index(["policy", "metric"])
    t_interval = stats.ttest_1samp(members, 0).confidence_interval()
    assert t_interval.low < 0
    count = rows.loc[("a", "members_final")]
    assert (count["ci_low"], count["ci_high"]) == pytest.approx((0.0, t_interval.high))
    share = rows.loc[("a", "hunter_share_final")]
    assert stats.ttest_1samp(shares, 0).confidence_interval().high > 1
    assert share["ci_low"] < share["mean"] < share["ci_high"] == 1.0
    assert count["diff_ci_high"] < 0 and share["diff_ci_low"] > 0  # a versus b: -19.6 members, +0.48 share


def test_statistics_skip_missing_values_pairwise() -> None:
    frame = pd.DataFrame({"point": -1, "policy": ["a"] * 4 + ["b"] * 4, "replication": [0, 1, 2, 3] * 2,
                          "x": [1.0, np.nan, 3.0, 4.0, 2.0, 3.0, np.nan, 6.0]})
    row = statistics_table(frame, ["x"], ["a", "b"], "a").set_index("policy").loc["b"]
    assert row["n"] == 3
    assert row["diff"] == pytest.approx(((2 - 1) + (6 - 4)) / 2)  # pairs 0 and 3 only


# --------------------------------------------------------------------------- precision mode


def relative_half_widths(table: pd.DataFrame, metric: str) -> pd.Series:
    rows = table[table["metric"] == metric]
    return (rows["ci_high"] - rows["ci_low"]) / 2 / rows["mean"].abs()


def test_precision_mode_replicates_in_batches_until_the_key_metric_is_precise(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, TWO_POLICIES + "key_metric: business_per_member_year\nmax_runs: 400\n")
    experiment = load_experiment(path)
    metric = experiment.key_metric
    # a target twice as tight as what 5 runs give: met after a batch or a few (of max(20, 5) runs each)
    target = float(relative_half_widths(compare(experiment, 5, workers=1, figures=False).table, metric).max()) / 2
    result = compare(experiment, 5, precision=target, workers=1, figures=False)
    assert result.precision_met is True
    assert result.runs > 5 and (result.runs - 5) % 20 == 0
    assert (result.replications.groupby("policy").size() == result.runs).all()
    assert (relative_half_widths(result.table, metric) <= target).all()
    # one batch fewer did not meet the target
    fewer = result.replications[result.replications["replication"] < result.runs - 20]
    assert (relative_half_widths(statistics_table(fewer, [metric], ["a", "b"], "a"), metric) > target).any()


def test_precision_mode_stops_at_max_runs(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, TWO_POLICIES + "key_metric: business_per_member_year\nmax_runs: 9\n")
    result = compare(load_experiment(path), 5, precision=0.0001, workers=1, figures=False)
    assert result.precision_met is False
    assert result.runs == 9
    assert len(result.replications) == 18


# --------------------------------------------------------------------------- sweeps


def test_grid_sweep_runs_every_point_with_the_same_seeds(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, """
scenario: BNI
overrides: {years: 2}
metrics: [fee_income_total, members_final]
runs: 3
seed: 5
sweep:
  parameters:
    club.fees.annual: {low: 300, high: 900, steps: 3}
    club.capacity: {values: [20, 30]}
""")
    experiment = load_experiment(path)
    assert [p for _, p in experiment.points] == [
        {"club.fees.annual": a, "club.capacity": c} for a in (300.0, 600.0, 900.0) for c in (20, 30)]
    assert experiment.configs[(5, "base")].club.fees.annual == 900
    assert experiment.configs[(5, "base")].club.capacity == 30
    result = sweep(experiment, workers=1, figures=False)
    assert isinstance(result, SweepResult)
    rows = result.replications
    assert len(rows) == 6 * 3
    assert "members_weekly" not in rows.columns  # sweeps keep no series by default
    assert rows["club.capacity"].dtype == np.int64 and rows["club.fees.annual"].dtype == np.float64
    assert (rows.groupby("point")["seed"].apply(list).map(tuple).nunique()) == 1
    assert (rows["members_final"] <= rows["club.capacity"]).all()
    assert list(result.table.columns[:3]) == ["point", "club.fees.annual", "club.capacity"]
    # fee income and members at end, then survived and members at end over the surviving replications
    assert list(result.table[result.table["point"] == 0]["metric"]) == [
        "fee_income_total", "members_final", "survived", "members_final_survivors"]
    assert len(result.table) == 6 * 4
    assert set(result.plot()) == {"sweep_fee_income_total.png", "sweep_members_final.png"}


def test_latin_hypercube_is_within_bounds_deterministic_and_rounds_integers(tmp_path: Path) -> None:
    text = """
scenario: BNI
overrides: {years: 2}
seed: {seed}
sweep:
  design: lhs
  samples: 12
  parameters:
    club.fees.annual: {low: 300, high: 2400}
    club.capacity: {low: 20, high: 50}
"""
    a = load_experiment(write_experiment(tmp_path, text.replace("{seed}", "7"), "a.yaml"))
    b = load_experiment(write_experiment(tmp_path, text.replace("{seed}", "7"), "b.yaml"))
    c = load_experiment(write_experiment(tmp_path, text.replace("{seed}", "8"), "c.yaml"))
    points = [p for _, p in a.points]
    assert len(points) == 12
    assert points == [p for _, p in b.points]
    assert points != [p for _, p in c.points]
    fees = np.array([p["club.fees.annual"] for p in points])
    capacity = [p["club.capacity"] for p in points]
    assert ((fees >= 300) & (fees <= 2400)).all()
    assert all(isinstance(v, int) and 20 <= v <= 50 for v in capacity)
    # Latin hypercube: one sample in each of the 12 equal strata of every parameter
    assert sorted(np.floor((fees - 300) / (2100 / 12)).astype(int).clip(0, 11)) == list(range(12))


# --------------------------------------------------------------------------- outputs and resume


def test_compare_writes_its_folder(tmp_path: Path) -> None:
    experiment = load_experiment(write_experiment(tmp_path, TWO_POLICIES))
    out = tmp_path / "out"
    result = compare(experiment, workers=1, out=out)
    assert isinstance(result, ComparisonResult)
    names = {p.name for p in out.iterdir()}
    assert {"replications.parquet", "comparison.csv", "manifest.json", "metrics.png", "trajectories.png",
            "survival.png", "roi_by_type.png"} <= names
    assert "parts" not in names
    table = pd.read_csv(out / "comparison.csv")
    assert list(table.columns) == list(TABLE_COLUMNS)
    # every metric, then the size and business ones over the surviving replications (tests/test_survivors.py)
    assert len(table) == 2 * (len(experiment.metrics) + len(survivor_metrics(experiment.metrics)))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest_seeds(manifest) == replication_seeds(11, 6)  # stored as the root seed and a count
    assert set(manifest["resolved"]["policies"]) == {"a", "b"}
    assert manifest["resolved"]["policies"]["b"]["club"]["composition"]["policy"] == "complementarity"
    assert manifest["backend"] == "local" and manifest["replications"] == 12
    stored = pq.read_table(out / "replications.parquet").to_pandas()
    assert stored.columns[:4].tolist() == ["point", "policy", "replication", "seed"]
    assert [c for c in stored.columns if c in METRIC_COLUMNS] == [c for c in METRIC_COLUMNS if c in stored.columns]
    assert stored[["policy", "replication"]].values.tolist() == [[p, r] for p in "ab" for r in range(6)]


def test_resume_after_an_interruption_finishes_exactly_the_full_set(tmp_path: Path) -> None:
    experiment = load_experiment(write_experiment(tmp_path, TWO_POLICIES))
    whole = tmp_path / "whole"
    compare(experiment, workers=1, out=whole, figures=False)

    cut = tmp_path / "cut"
    with pytest.raises(ExperimentInterrupted) as info:
        compare(experiment, workers=1, out=cut, figures=False, stop_after=5)
    assert isinstance(info.value, KeyboardInterrupt)
    assert info.value.kept == 5 and info.value.out_dir == cut
    kept = pq.read_table(cut / "parts").to_pandas()
    assert len(kept) == 5
    assert json.loads((cut / "manifest.json").read_text())["status"] == "interrupted"

    resumed = compare(experiment, workers=1, out=cut, resume=True, figures=False)
    rows = resumed.replications
    assert len(rows) == 12
    assert not rows.duplicated(["point", "policy", "replication"]).any()
    assert (cut / "replications.parquet").read_bytes() == (whole / "replications.parquet").read_bytes()
    assert (cut / "comparison.csv").read_text() == (whole / "comparison.csv").read_text()
    assert not (cut / "parts").exists()


def test_resume_skips_rows_already_done_and_can_extend_the_run(tmp_path: Path) -> None:
    experiment = load_experiment(write_experiment(tmp_path, TWO_POLICIES))
    out = tmp_path / "out"
    compare(experiment, 4, workers=1, out=out, figures=False)
    calls: list[tuple[int, int]] = []
    extended = compare(experiment, 6, workers=1, out=out, resume=True, figures=False,
                       progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (8, 12) and calls[-1] == (12, 12)  # only the 4 new rows were run
    fresh = compare(experiment, 6, workers=1, figures=False)
    pd.testing.assert_frame_equal(extended.replications.drop(columns=["members_weekly", "tenure_years",
                                                                      "tenure_observed", "tenure_type"]),
                                  fresh.replications.drop(columns=["members_weekly", "tenure_years",
                                                                   "tenure_observed", "tenure_type"]))


def test_resume_with_fewer_runs_than_finished_keeps_every_finished_replication(tmp_path: Path) -> None:
    # the replications past --runs were dropped from replications.parquet, silently
    experiment = load_experiment(write_experiment(tmp_path, TWO_POLICIES))
    out = tmp_path / "out"
    compare(experiment, 4, workers=1, out=out, figures=False)
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    with pytest.raises(InputError, match=r"--runs: 2 is fewer than the 4 replications .* already holds; resume with "
                                         r"--runs 4 or more"):
        compare(experiment, 2, workers=1, out=out, resume=True, figures=False)
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == before
    again = compare(experiment, workers=1, out=out, resume=True, figures=False)  # without runs: all 4 kept
    assert again.runs == 4 and len(again.replications) == 8


def test_resume_refuses_a_folder_of_another_experiment(tmp_path: Path) -> None:
    experiment = load_experiment(write_experiment(tmp_path, TWO_POLICIES))
    out = tmp_path / "out"
    compare(experiment, 2, workers=1, out=out, figures=False)
    other = load_experiment(write_experiment(tmp_path, TWO_POLICIES.replace("seed: 11", "seed: 12"), "other.yaml"))
    with pytest.raises(InputError, match=r"--resume: holds a different experiment \(differs in: seed\)"):
        compare(other, out=out, resume=True)
    with pytest.raises(InputError, match="no manifest.json"):
        compare(experiment, out=tmp_path, resume=True)


def test_resume_refuses_replications_of_another_results_format(tmp_path: Path) -> None:
    """A folder written before the random streams changed (results format 1: no `results_format` in its
    manifest) holds other numbers for the same seeds: resuming it would mix them."""
    experiment = load_experiment(write_experiment(tmp_path, TWO_POLICIES))
    out = tmp_path / "out"
    compare(experiment, 2, workers=1, out=out, figures=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["results_format"] == 2
    del manifest["results_format"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="results format 1, and this clubsim gives format 2"):
        compare(experiment, 3, workers=1, out=out, resume=True, figures=False)


def test_compare_scenarios_names_policies_by_stem_with_the_first_as_baseline() -> None:
    result = compare_scenarios([BNI, SCENARIOS / "bni_no_selection.yaml"], 3, overrides=SHORT, workers=1,
                               figures=False)
    assert result.policies == ["bni_chapter", "bni_no_selection"]
    assert result.baseline == "bni_chapter"
    assert result.experiment.policies["bni_no_selection"].club.selection.policy == "none"
    assert len(result.replications) == 6
    assert is_experiment_file(EXPERIMENTS / "pricing.yaml") and not is_experiment_file(BNI)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_experiment_loads_and_runs(path: Path) -> None:
    experiment = load_experiment(path, {"years": 1})
    assert experiment.baseline in experiment.policies
    assert experiment.key_metric in experiment.metrics
    assert 1 <= experiment.runs <= 200
    run = sweep if experiment.sweep is not None else compare
    result = run(experiment, 2, workers=2, figures=False)
    cells = len(experiment.points) * len(experiment.policies)
    assert len(result.replications) == 2 * cells
    assert set(experiment.metrics) <= set(result.replications.columns)


def test_comparison_figures_render(tmp_path: Path) -> None:
    experiment = load_experiment(write_experiment(tmp_path, TWO_POLICIES))
    result = compare(experiment, 3, workers=1, figures=False)
    figures = result.plot(tmp_path / "figs")
    assert set(figures) == {"metrics.png", "trajectories.png", "survival.png", "roi_by_type.png"}
    assert all((tmp_path / "figs" / name).stat().st_size > 1000 for name in figures)


def test_figures_error_bars_are_the_tables_cis(tmp_path: Path) -> None:
    """The metrics figure draws each mean's CI as the table gives it, cut at the metric's bounds."""
    experiment = load_experiment(write_experiment(tmp_path, TWO_POLICIES))
    rows = compare(experiment, 3, workers=1, figures=False).replications.copy()
    rows.loc[rows["policy"] == "a", "members_final"] = [0, 0, 18]  # t-interval 6 +- 25.8
    table = statistics_table(rows, experiment.metrics, experiment.policy_names, experiment.baseline)
    figure = FIGURES.draw(ComparisonResult(experiment, rows, table, 3))["metrics.png"]
    panel = next(ax for ax in figure.axes if ax.get_title() == "members at end")
    bars = panel.containers[-1].lines[2][0].get_segments()  # the errorbar's vertical segments, by policy
    for policy, segment in zip(experiment.policy_names, bars, strict=True):
        row = table[(table["policy"] == policy) & (table["metric"] == "members_final")].iloc[0]
        assert (segment[0][1], segment[1][1]) == pytest.approx((row["ci_low"], row["ci_high"]))
    assert bars[0][0][1] == 0.0  # policy a: cut at 0, not -19.8
    panel = next(ax for ax in figure.axes if ax.get_title() == "survived (% of runs)")  # the table's header
    bars = panel.containers[-1].lines[2][0].get_segments()
    for policy, segment in zip(experiment.policy_names, bars, strict=True):
        row = table[(table["policy"] == policy) & (table["metric"] == "survived")].iloc[0]  # Wilson's
        assert (segment[0][1], segment[1][1]) == pytest.approx((row["ci_low"], row["ci_high"]))


# --------------------------------------------------------------------------- bad experiment files


BAD = {
    "unknown key": ("scenario: BNI\npolcies: {a: {}}\n", r"exp\.yaml: polcies: unknown key; did you mean 'policies'\?"),
    "baseline not a policy": ("scenario: BNI\npolicies: {a: {}, b: {}}\nbaseline: c\n",
                              r"exp\.yaml: baseline: 'c' is not a policy; policies: a, b"),
    "bad override key in a policy": (
        "scenario: BNI\npolicies:\n  a: {}\n  b: {club.composition.polcy: open}\n",
        r"exp\.yaml: policies\.b\.club\.composition\.polcy: unknown key; did you mean 'policy'\?"),
    "bad override value in a policy": (
        "scenario: BNI\npolicies:\n  a: {club.fees.annual: -5}\n",
        r"exp\.yaml: policies\.a\.club\.fees\.annual: Input should be greater than or equal to 0"),
    "shares not summing to 1": (
        "scenario: BNI\npolicies:\n  a: {population.shares: {giver: 0.5, reciprocator: 0.5, hunter: 0.4}}\n",
        r"exp\.yaml: policies\.a\.population\.shares: giver \+ reciprocator \+ hunter must sum to 1"),
    "shares set summing over 1": (
        "scenario: BNI\npolicies:\n  a: {population.shares.hunter: 0.7, population.shares.giver: 0.5}\n",
        r"exp\.yaml: policies\.a\.population\.shares: giver 0\.5 \+ hunter 0\.7 = 1\.2 leaves less than nothing"),
    "missing scenario file": ("scenario: nowhere.yaml\n", r"exp\.yaml: scenario: no such file: nowhere\.yaml"),
    "no scenario key": ("policies: {a: {}}\n", r"exp\.yaml: scenario: missing"),
    "runs zero": ("scenario: BNI\nruns: 0\n", r"exp\.yaml: runs: Input should be greater than or equal to 1"),
    "runs negative": ("scenario: BNI\nruns: -3\n", r"exp\.yaml: runs: Input should be greater than or equal to 1"),
    "precision zero": ("scenario: BNI\nprecision: 0\n", r"exp\.yaml: precision: Input should be greater than 0"),
    "precision one": ("scenario: BNI\nprecision: 1.5\n", r"exp\.yaml: precision: Input should be less than 1"),
    "unknown metric": ("scenario: BNI\nmetrics: [roi_maen]\n", r"exp\.yaml: metrics: unknown metric 'roi_maen'; "
                                                                r"did you mean 'roi_mean'\?"),
    "unknown sweep parameter": (
        "scenario: BNI\nsweep:\n  parameters:\n    club.fees.anual: {values: [1, 2]}\n",
        r"exp\.yaml: sweep\.parameters\.club\.fees\.anual: unknown key; did you mean 'annual'\?"),
    "unknown sweep option": (
        "scenario: BNI\nsweep:\n  desing: grid\n  parameters:\n    club.fees.annual: {values: [1]}\n",
        r"exp\.yaml: sweep\.desing: unknown key; did you mean 'design'\?"),
    "lhs without samples": (
        "scenario: BNI\nsweep:\n  design: lhs\n  parameters:\n    club.fees.annual: {low: 1, high: 2}\n",
        r"exp\.yaml: sweep\.samples: missing"),
    "grid range without steps": (
        "scenario: BNI\nsweep:\n  parameters:\n    club.fees.annual: {low: 1, high: 2}\n",
        r"exp\.yaml: sweep\.parameters\.club\.fees\.annual: a grid over low\.\.high needs steps"),
    "malformed yaml": ("scenario: [BNI\n", r"exp\.yaml: malformed YAML"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_experiment_file_raises_one_line_input_error(tmp_path: Path, case: str) -> None:
    text, pattern = BAD[case]
    path = write_experiment(tmp_path, text)
    with pytest.raises(InputError, match=pattern) as info:
        load_experiment(path)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(str(path))


def test_bad_command_line_options_raise_input_errors(tmp_path: Path) -> None:
    experiment = load_experiment(write_experiment(tmp_path, TWO_POLICIES))
    with pytest.raises(InputError, match="runs: must be a whole number, at least 1"):
        compare(experiment, 0)
    with pytest.raises(InputError, match="precision: must be between 0 and 1"):
        compare(experiment, precision=1.0)
    with pytest.raises(InputError, match="--backend: 'ray': unknown backend"):
        compare(experiment, backend="ray")
    with pytest.raises(InputError, match="club.fees.anual: unknown key; did you mean 'annual'"):
        load_experiment(write_experiment(tmp_path, TWO_POLICIES, "x.yaml"), {"club.fees.anual": "1"})
    with pytest.raises(InputError, match="a scenario, not an experiment"):
        load_experiment(BNI)
    with pytest.raises(InputError, match="this experiment is a sweep"):
        compare(load_experiment(EXPERIMENTS / "pricing.yaml"))


def test_resume_keeps_the_seed_and_runs_the_interrupted_run_was_given(tmp_path: Path) -> None:
    experiment = load_experiment(write_experiment(tmp_path, TWO_POLICIES))
    out = tmp_path / "out"
    with pytest.raises(ExperimentInterrupted):
        compare(experiment, 4, seed=77, workers=1, out=out, figures=False, stop_after=3)
    resumed = compare(experiment, workers=1, out=out, resume=True, figures=False)
    assert resumed.runs == 4
    assert resumed.experiment.seed == 77
    assert list(resumed.replications["seed"][:4]) == replication_seeds(77, 4)


def test_the_manifest_records_the_workers_that_ran_when_none_were_asked(tmp_path: Path) -> None:
    from sim.experiments.backends import default_workers

    experiment = load_experiment(write_experiment(tmp_path, TWO_POLICIES))
    compare(experiment, 1, out=tmp_path / "default", figures=False)
    compare(experiment, 1, workers=1, out=tmp_path / "one", figures=False)
    assert json.loads((tmp_path / "default" / "manifest.json").read_text())["workers"] == default_workers()
    assert json.loads((tmp_path / "one" / "manifest.json").read_text())["workers"] == 1


@pytest.mark.parametrize("runs", [2.5, "5", True, 0])
def test_runs_must_be_a_whole_number(tmp_path: Path, runs) -> None:
    # 2.5 ran 2 replications and wrote "runs": 2.5 in the manifest; "5" failed with a TypeError
    experiment = load_experiment(write_experiment(tmp_path, TWO_POLICIES))
    with pytest.raises(InputError, match="runs: must be a whole number, at least 1"):
        compare(experiment, runs, workers=1, out=tmp_path / "out", figures=False)
    assert not (tmp_path / "out").exists()


def test_compare_scenarios_takes_one_file_as_one_file() -> None:
    result = compare_scenarios(str(BNI), 2, overrides=SHORT, workers=1, figures=False)
    assert result.policies == ["bni_chapter"]


def test_an_unknown_engine_is_an_input_error() -> None:
    from sim.model.runner import simulate

    with pytest.raises(InputError, match="engine: 'cuda': unknown engine; use one of: numba, python"):
        simulate(BNI, 1, engine="cuda")
