"""Calibration (`sim.experiments.targets`, `sim.experiments.calibration`, `clubsim calibrate`): the targets file, the
statistics
it names, the search, the calibrated scenario file, and the shipped scenarios against their real figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sim.errors import InputError
from sim.experiments.calibration import calibrate, evaluate
from sim.experiments.targets import (
    HAZARD_EXITS,
    HAZARD_EXPOSURE,
    estimate,
    load_targets,
    measure_run,
    paired_difference,
    replicate,
    statistics,
)
from sim.interfaces.cli import app
from sim.model.scenario import load_config

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BNI = SCENARIOS / "bni_chapter.yaml"
MONTHLY = SCENARIOS / "business_club_monthly.yaml"
BNI_TARGETS = SCENARIOS / "targets" / "bni_2018.yaml"
MONTHLY_TARGETS = SCENARIOS / "targets" / "business_club_monthly.yaml"

runner = CliRunner()


def clubsim(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def targets_data(**changes) -> dict:
    data = {
        "name": "tiny",
        "runs": 30,
        "check_runs": 40,
        "seed": 5,
        "targets": [{"metric": "business_per_member_year", "value": 30000, "tolerance": "25%",
                     "source": "a figure made up for the test"}],
        "parameters": {"market.deal_value_median": {"low": 500, "high": 4000}},
        "optimiser": {"method": "differential_evolution", "max_evaluations": 40, "population": 5},
    }
    data.update(changes)
    return data


# --------------------------------------------------------------------------- the targets file


def test_shipped_targets_files_load_with_sources_and_bounds():
    for path in (BNI_TARGETS, MONTHLY_TARGETS):
        targets = load_targets(path)
        assert targets.targets and targets.parameters
        assert all(len(t.source) > 20 for t in targets.targets), "every target says where its figure comes from"
    bni = {t.metric: t for t in load_targets(BNI_TARGETS).targets}
    business = bni["business_per_member_year_survivors"]
    assert (business.value, business.low, business.high) == (66000, pytest.approx(56100), pytest.approx(75900))
    assert (bni["members_settled_survivors"].low, bni["members_settled_survivors"].high) == (25, 35)
    assert (bni["sphere_share_survivors"].low, bni["sphere_share_survivors"].high) == (0.6, 0.75)
    assert (bni["visitors_per_meeting_survivors"].low, bni["visitors_per_meeting_survivors"].high) == (2, 4)
    assert (bni["exit_hazard_peak_year"].low, bni["exit_hazard_peak_year"].high) == (1, 2)


@pytest.mark.parametrize("changes, field, words", [
    ({"targts": []}, "targts", "did you mean 'targets'"),
    ({"targets": [{"metric": "business_per_member_year", "value": 1, "tolerance": "10%", "source": "x",
                   "sorce": "y"}]}, "targets.0.sorce", "did you mean 'source'"),
    ({"targets": [{"metric": "busines_per_member_year", "value": 1, "tolerance": "10%", "source": "x"}]},
     "targets.0.metric", "unknown statistic 'busines_per_member_year'; did you mean 'business_per_member_year'"),
    ({"targets": [{"metric": "members_final", "value": 30, "tolerance": "ten", "source": "x"}]},
     "targets.0.tolerance", "percentage such as '15%'"),
    ({"targets": [{"metric": "members_final", "value": 30, "range": [35, 50], "source": "x"}]},
     "targets.0", "must contain the value 30"),
    ({"targets": [{"metric": "members_final", "value": 30, "tolerance": 5, "range": [25, 50], "source": "x"}]},
     "targets.0", "either tolerance"),
    ({"targets": [{"metric": "members_final", "value": 30, "tolerance": 5}]}, "targets.0.source", "missing"),
    ({"parameters": {"club.fees.anual": {"low": 1, "high": 2}}}, "parameters.club.fees.anual",
     "did you mean 'annual'"),
    ({"parameters": {"club.composition.policy": {"low": 1, "high": 2}}}, "parameters.club.composition.policy",
     "not a numeric scenario parameter"),
    ({"parameters": {"club.fees.annual": {"low": 2, "high": 1}}}, "parameters.club.fees.annual", "must be below"),
    ({"optimiser": {"method": "grid"}}, "optimiser.method", "differential_evolution"),
])
def test_a_bad_targets_file_is_one_line_naming_the_field(tmp_path, changes, field, words):
    path = write(tmp_path / "t.yaml", targets_data(**changes))
    with pytest.raises(InputError) as info:
        load_targets(path)
    assert info.value.source == str(path)
    assert info.value.field == field
    assert words in info.value.message
    assert "\n" not in str(info.value)


def test_calibrate_command_reports_bad_input_in_one_line_with_exit_2(tmp_path):
    bad = write(tmp_path / "t.yaml", targets_data(parameters={"club.fees.annual": {"low": -10, "high": 500}}))
    result = clubsim("calibrate", BNI, "--targets", bad, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "parameters.club.fees.annual: bound -10" in result.stderr
    missing = clubsim("calibrate", BNI, "--targets", tmp_path / "nope.yaml")
    assert missing.exit_code == 2 and "nope.yaml: no such file" in missing.stderr


# --------------------------------------------------------------------------- statistics


def test_hazard_counts_exits_and_member_years_at_risk_by_year_of_membership():
    series = pd.DataFrame({"members": [2] * 104 + [1] * 52 + [0] * 52, "hunter_share": 0.0})
    members = pd.DataFrame({
        "tenure_years": [0.5, 2.5, 4.0, 1.0],
        "exit_reason": ["left", "expelled_absence", "active", "dissolved"],
        "roi": [-0.5, 2.0, 3.0, 0.0],
        "member_type": ["giver", "hunter", "reciprocator", "giver"],
    })
    members["business_received"] = 0.0
    summary = {"business_per_member_year": 1.0, "referrals_per_member_year": 0.0, "sphere_share": None,
               "visitors_per_meeting": None, "survived": True}
    series["referrals"] = 0
    record = measure_run(series, members, summary)
    assert record[HAZARD_EXPOSURE] == pytest.approx([0.5 + 1 + 1 + 1, 1 + 1, 0.5 + 1, 1])
    assert record[HAZARD_EXITS] == [1, 0, 1, 0]  # the active and the dissolved member are censored
    assert record["roi_median_long_stayers"] == 2.5  # tenures 2.5 and 4.0
    assert record["roi_median_first_year_leavers"] == -0.5
    assert record["members_settled"] == pytest.approx((52 * 1 + 52 * 0) / 104)
    assert (record["non_hunter_exits"], record["non_hunter_member_years"]) == (1, 0.5 + 4.0 + 1.0)


def test_pooled_hazard_peak_and_its_bootstrap_interval():
    early = {HAZARD_EXITS: [21, 0, 0, 0], HAZARD_EXPOSURE: [100, 60, 50, 40]}
    late = {HAZARD_EXITS: [0, 0, 0, 8], HAZARD_EXPOSURE: [100, 60, 50, 40]}
    peak = estimate([early] * 20, "exit_hazard_peak_year")
    assert (peak.value, peak.low, peak.high) == (1, 1, 1)
    mixed = estimate([early] * 10 + [late] * 10, "exit_hazard_peak_year")
    assert (mixed.value, mixed.low, mixed.high) == (1, 1, 4)  # pooled 0.105 vs 0.1; the resamples disagree
    ratio = estimate([early] * 10 + [late] * 10, "exit_hazard_early_to_late")
    assert ratio.value == pytest.approx((210 / 2000) / (80 / 1800))  # years 3-4 after the first two


def test_paired_difference_uses_the_pairs():
    base = [{"x": v} for v in (1.0, 5.0, 9.0, 13.0)]
    shifted = [{"x": v + 2.0} for v in (1.0, 5.0, 9.0, 13.0)]
    diff = paired_difference(shifted, base, "x")
    assert (diff.value, diff.low, diff.high) == (2.0, 2.0, 2.0)  # no sampling error left in the pairs
    assert estimate(base, "x").low < 1.0


def test_a_proportion_has_wilsons_interval_inside_0_and_1():
    """1 chapter at capacity in 200: a t interval would start below 0 (it showed [-0.49; 1.49] %)."""
    records = [{"at_capacity": float(k == 0), "survived": 1.0} for k in range(200)]
    at_capacity, survived = estimate(records, "at_capacity"), estimate(records, "survived")
    assert at_capacity.value == pytest.approx(0.005)
    assert 0.0 < at_capacity.low < 0.005 < at_capacity.high < 0.03
    assert survived.value == 1.0 and 0.97 < survived.low < 1.0 and survived.high == pytest.approx(1.0)


def test_every_summary_metric_and_series_statistic_can_be_a_target():
    names = statistics()
    assert {"business_per_member_year", "members_final", "roi_giver", "exit_hazard_peak_year",
            "members_settled", "hunter_share_mean"} <= set(names)
    assert names["exit_hazard_peak_year"].pooled and not names["members_final"].pooled


def test_replicate_runs_identical_scenarios_once_with_common_seeds():
    config = load_config(BNI, {"years": 1}).config
    records = replicate({"a": config, "b": config, "c": load_config(BNI, {"years": 1, "club.fees.annual": 500}).config},
                        3, 11, workers=1)
    assert records["a"] == records["b"]
    assert [r["business_total"] for r in records["a"]] != [r["business_total"] for r in records["c"]]
    again = replicate({"a": config}, 2, 11, first=1, workers=1)["a"]
    # replication r has the same seed whatever the batch
    assert [r["business_total"] for r in again] == [r["business_total"] for r in records["a"][1:]]


# --------------------------------------------------------------------------- the search


@pytest.fixture(scope="module")
def tiny_calibration(tmp_path_factory):
    """Find the deal value that gives a 2-year chapter 30,000 EUR of business per member-year."""
    folder = tmp_path_factory.mktemp("calib")
    scenario = write(folder / "short.yaml", {"extends": str(BNI), "name": "short", "years": 2})
    targets = write(folder / "t.yaml", targets_data())
    result = clubsim("calibrate", scenario, "--targets", targets, "--out", folder / "out", "--workers", 1)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return folder, result


def test_calibrate_lands_the_target_and_prints_the_fit(tiny_calibration):
    folder, result = tiny_calibration
    fit = pd.read_csv(folder / "out" / "fit.csv")
    assert fit["metric"].tolist() == ["business_per_member_year"]
    row = fit.iloc[0]
    assert row["within"] and 22500 <= row["simulated"] <= 37500
    assert row["ci_low"] < row["simulated"] < row["ci_high"] and row["n"] == 40
    assert "business_per_member_year" in result.stdout and "1 of 1 targets within tolerance" in result.stdout
    evaluations = pd.read_csv(folder / "out" / "evaluations.csv")
    assert 10 <= len(evaluations) <= 40
    assert evaluations["loss"].min() <= 1.0
    # the search explored the bounds, it did not just sit at the start
    assert evaluations["market.deal_value_median"].max() - evaluations["market.deal_value_median"].min() > 1000


def test_calibrated_scenario_extends_the_input_and_carries_the_values(tiny_calibration):
    folder, _ = tiny_calibration
    path = folder / "out" / "short_calibrated.yaml"
    text = path.read_text()
    data = yaml.safe_load(text)
    assert data["extends"] == "../short.yaml"
    assert data["name"] == "short_calibrated"
    assert "business_per_member_year" in text.split("extends:")[0], "the fit is recorded in the header"
    value = data["market"]["deal_value_median"]
    assert 500 <= value <= 4000
    config = load_config(path).config
    assert config.years == 2 and config.market.deal_value_median == value
    manifest = json.loads((folder / "out" / "manifest.json").read_text())
    assert manifest["parameters"] == {"market.deal_value_median": value}
    assert manifest["scenario"]["years"] == 2 and manifest["calibrated"]["market"]["deal_value_median"] == value
    assert len(manifest["search_seeds"]) == 30 and len(manifest["check_seeds"]) == 40
    assert not set(manifest["search_seeds"]) & set(manifest["check_seeds"])
    assert {"numba", "numpy", "clubsim"} <= set(manifest["versions"])
    assert manifest["files"] == sorted(["short_calibrated.yaml", "fit.csv", "evaluations.csv", "manifest.json"])


def test_the_fit_of_the_calibrated_file_is_what_calibrate_reported(tiny_calibration):
    folder, _ = tiny_calibration
    fit = evaluate(folder / "out" / "short_calibrated.yaml", folder / "t.yaml", workers=1)
    reported = pd.read_csv(folder / "out" / "fit.csv")
    assert fit["simulated"].iloc[0] == pytest.approx(reported["simulated"].iloc[0], rel=1e-9)


def test_nelder_mead_starts_from_the_scenario_and_improves_on_it(tmp_path):
    scenario = write(tmp_path / "short.yaml", {"extends": str(BNI), "name": "short", "years": 2})
    optimiser = {"method": "nelder_mead", "max_evaluations": 12}
    targets = write(tmp_path / "t.yaml", targets_data(runs=8, optimiser=optimiser))
    result = calibrate(scenario, targets, workers=1)
    start = result.evaluations.iloc[0]
    assert start["market.deal_value_median"] == load_config(scenario).config.market.deal_value_median
    assert result.loss < start["loss"]
    assert result.parameters["market.deal_value_median"] != start["market.deal_value_median"]


# --------------------------------------------------------------------------- the shipped scenarios


@pytest.fixture(scope="module")
def shipped_fits():
    return {path.name: evaluate(path, targets) for path, targets in ((BNI, BNI_TARGETS), (MONTHLY, MONTHLY_TARGETS))}


@pytest.mark.parametrize("name", ["bni_chapter.yaml", "business_club_monthly.yaml"])
def test_shipped_scenario_lands_every_target_on_fresh_seeds(shipped_fits, name):
    fit = shipped_fits[name]
    outside = fit.loc[~fit["within"], ["metric", "simulated", "low", "high"]]
    assert outside.empty, f"{name} misses its targets:\n{outside}"


def test_bni_chapter_reproduces_the_published_figures(shipped_fits):
    fit = shipped_fits["bni_chapter.yaml"].set_index("metric")
    # among surviving chapters: 66,000 EUR +- 15 %, a settled size of 25-35
    assert 56100 <= fit.loc["business_per_member_year_survivors", "simulated"] <= 75900
    assert 25 <= fit.loc["members_settled_survivors", "simulated"] <= 35
    peak = fit.loc["exit_hazard_peak_year"]
    assert peak["simulated"] <= 2 and peak["ci_high"] <= 2, "the exit hazard peaks in the first two years"


def test_monthly_club_gives_markedly_less_business_per_member_for_lower_fees():
    bni, club = load_config(BNI).config, load_config(MONTHLY).config
    assert club.club.fees.annual < bni.club.fees.annual
    records = replicate({"bni": bni, "club": club}, 100, 3)
    ratio = estimate(records["club"], "business_per_member_year").value / \
        estimate(records["bni"], "business_per_member_year").value
    diff = paired_difference(records["club"], records["bni"], "business_per_member_year")
    # markedly: at least a fifth less, with the paired CI below 0
    assert diff.high < 0 and ratio < 0.8, f"monthly club at {ratio:.0%} of the chapter's business per member"


@pytest.mark.parametrize("scenario, targets", [(BNI, BNI_TARGETS), (MONTHLY, MONTHLY_TARGETS)])
def test_shipped_scenario_carries_calibrated_values_inside_their_bounds(scenario, targets):
    text = scenario.read_text()
    assert f"targets/{targets.name}" in text, "the scenario file names its targets file"
    config = load_config(scenario).config.model_dump(mode="json")
    for name, (low, high) in load_targets(targets).parameters.items():
        node = config
        for part in name.split("."):
            node = node[part]
        assert low <= node <= high, name
        assert name.split(".")[-1] in text, f"{name} is set in {scenario.name}"


def test_the_monthly_club_lives_in_the_bni_chapters_market():
    bni, club = load_config(BNI).config, load_config(MONTHLY).config
    assert club.market == bni.market
    assert club.population.needs_per_week_median == bni.population.needs_per_week_median
    assert math.isclose(club.population.margin_low, bni.population.margin_low)
    assert np.isfinite(club.market.deal_value_median)


def test_validation_doc_states_the_current_targets_and_calibrated_values():
    """docs/validation.md is generated: its targets and calibrated values are those of the files today."""
    from sim.presentation.validation_report import DOC, calibrated_values_section, targets_section

    text = DOC.read_text(encoding="utf-8")
    hint = "regenerate with: python -m sim.presentation.validation_report"
    assert targets_section() in text, hint
    assert calibrated_values_section() in text, hint


def test_a_statistics_t_interval_is_cut_where_the_statistic_lies_whatever_the_runs() -> None:
    # the fit table showed members_settled_survivors 31 [-51; 113] and sphere_share 0.66 [-0.09; 1.41]
    records = [{"members_settled_survivors": v, "sphere_share": s, "roi_mean": r}
               for v, s, r in [(0.5, 0.95, -0.9), (60.0, 0.99, 5.0), (1.0, 0.2, -0.95)]]
    size, share, roi = (estimate(records, name) for name in ("members_settled_survivors", "sphere_share", "roi_mean"))
    assert size.low == 0.0 and size.high > 60 and size.value == pytest.approx(20.5)
    assert (share.low, share.high) == (0.0, 1.0)
    assert roi.low == -1.0 and roi.high > 5  # ROI: at least -100 %
    assert np.isnan(estimate(records[:1], "sphere_share").low)  # one run: no CI, and none made up by the cut


def test_the_validation_page_checks_where_chapters_settle_when_run_twice_as_long(monkeypatch, tmp_path,
                                                                                 numba_ready) -> None:
    """The calibrated size is a mean over years 6-10; the out-of-sample table also shows the chapters of a run
    twice as long, survivors apart, with a verdict, so that a size still creeping up past year 10 shows."""
    from sim.presentation import validation_report

    monkeypatch.setattr(validation_report, "FIGURES", tmp_path)
    monkeypatch.setattr(validation_report, "WORLD_SAMPLE_CHAPTERS", 2)
    monkeypatch.setattr(validation_report, "LONG_RUN_YEARS", 4)
    options = {"workers": 1}
    _, records = validation_report._distribution_section(6, 11, options)
    section = validation_report._out_of_sample_section(records, 6, 11, options)
    row = next(line for line in section.splitlines() if "run for 4 years" in line)
    assert "mean size over years 3-4" in row and "within 10 % of capacity" in row and " of 6 survive" in row
    assert row.endswith("| within |") or row.endswith("| **misses** |")
