"""Messages for the mistakes a new user makes (issue 18 item 5): a missing file says where the shipped
scenarios and experiments are (and which one it may mean), a sweep parameter written as a bare list
says to write `{values: [...]}`, and `--set KEY VALUE` says that --set takes KEY=VALUE. Each is one
line `clubsim: error: ...`, exit code 2, and names none of the schema's classes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.interfaces.cli import app

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
EXPERIMENTS = ROOT / "experiments"
BNI = SCENARIOS / "bni_chapter.yaml"

runner = CliRunner()


def one_line_error(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("clubsim: error: "), result.stderr
    assert "Traceback" not in result.output and "Spec" not in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- --set KEY VALUE

SET_USAGE = "clubsim: error: --set takes KEY=VALUE, e.g. --set club.fees.annual=1200"


@pytest.mark.parametrize("command", ["run", "validate", "validate-model"])
def test_set_with_a_space_says_that_set_takes_key_equals_value(command, tmp_path) -> None:
    out = [] if command == "validate" else ["--out", tmp_path / "o"]
    line = one_line_error(command, BNI, "--set", "years=1", "--set", "club.fees.annual", "1200", *out)
    assert line == f"{SET_USAGE} (one word: write --set club.fees.annual=1200)"
    assert not (tmp_path / "o").exists()


def test_set_with_a_space_before_files_says_the_same(tmp_path) -> None:
    """compare takes several files: the VALUE of `--set KEY VALUE` is taken for one, and KEY has no `=`."""
    line = one_line_error("compare", BNI, "--set", "years", "2", "--runs", 2, "--out", tmp_path / "o")
    assert line == f"{SET_USAGE} (got --set 'years')"


def test_an_extra_argument_that_is_not_a_set_value_is_still_clicks_error() -> None:
    line = one_line_error("validate", BNI, "other.yaml")
    assert "unexpected extra argument(s) (other.yaml)" in line and "see clubsim validate --help" in line


# --------------------------------------------------------------------------- a file that is not there


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """The current folder is not the repository's."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("given", ["bni_chapter.yaml", "scenarios/bni_chapter.yaml", "bni_chapter", "bni_chaptr.yaml"])
def test_a_shipped_scenario_named_from_another_folder_is_found(elsewhere, command, given) -> None:
    line = one_line_error(command, given)
    assert f"{given}: no such file (relative to the current folder, {elsewhere})" in line
    assert f"the shipped scenarios are in {SCENARIOS}{os.sep}" in line
    assert line.endswith(f"did you mean {BNI}?")
    assert not (elsewhere / "runs").exists()


def test_a_missing_scenario_that_is_not_shipped_says_where_the_shipped_ones_are(elsewhere) -> None:
    line = one_line_error("validate", "my_club/club.yaml")
    assert line.endswith(f"my_club/club.yaml: no such file (relative to the current folder, {elsewhere}); "
                         f"the shipped scenarios are in {SCENARIOS}{os.sep}")


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_a_shipped_experiment_named_from_another_folder_is_found(elsewhere, command) -> None:
    line = one_line_error(command, "pricing.yaml", "--runs", 2)
    assert f"the shipped experiments are in {EXPERIMENTS}{os.sep}" in line
    assert line.endswith(f"did you mean {EXPERIMENTS / 'pricing.yaml'}?")


def test_a_shipped_targets_file_named_from_another_folder_is_found(elsewhere) -> None:
    line = one_line_error("calibrate", BNI, "--targets", "bni_2018.yaml")
    assert line.endswith(f"did you mean {SCENARIOS / 'targets' / 'bni_2018.yaml'}?")


# --------------------------------------------------------------------------- a list where a mapping goes


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_sweep_parameter_given_as_a_list_is_told_to_write_values(tmp_path) -> None:
    experiment = _write(tmp_path / "sweep.yaml", f"scenario: {BNI}\nsweep:\n  parameters:\n"
                                                 "    club.fees.annual: [300, 600]\n")
    line = one_line_error("sweep", experiment, "--runs", 2, "--out", tmp_path / "out")
    assert line == (f"clubsim: error: {experiment}: sweep.parameters.club.fees.annual: a list, not a mapping: "
                    "write {values: [300, 600]} instead, or a range {low: ..., high: ...}")
    assert not (tmp_path / "out").exists()


def test_a_range_given_as_a_list_is_told_to_write_low_and_high(tmp_path) -> None:
    experiment = _write(tmp_path / "sens.yaml", f"scenario: {BNI}\nmetrics: [roi_mean]\nparameters:\n"
                                                "  club.fees.annual: [480, 1920]\n")
    line = one_line_error("sensitivity", experiment)
    assert line.endswith("parameters.club.fees.annual: a list, not a mapping: write {low: 480, high: 1920} instead")


def test_a_scenario_section_that_is_not_a_mapping_names_its_keys(tmp_path) -> None:
    line = one_line_error("validate", _write(tmp_path / "s.yaml", "club:\n  fees: [1, 2]\n"))
    assert line.endswith("s.yaml: club.fees: a list, not a mapping: write a mapping of annual, entry, billing")


# --------------------------------------------------------------------------- true or false where a number goes


@pytest.mark.parametrize(("key", "value"), [("years", "true"), ("club.capacity", "true"),
                                            ("club.fees.annual", "false"), ("club.min_viable_size", "false")])
def test_true_or_false_is_not_taken_for_a_number(key, value) -> None:
    # pydantic would read them as 1 and 0: `years=true` ran one year, `club.capacity=true` made a club of one
    line = one_line_error("validate", BNI, "--set", f"{key}={value}")
    assert line.startswith(f"clubsim: error: --set: {key}: must be a number, not {value}")


def test_true_is_not_a_number_in_a_scenario_or_an_experiment_file(tmp_path) -> None:
    scenario = _write(tmp_path / "s.yaml", f"extends: {BNI}\nyears: true\n")
    assert one_line_error("validate", scenario).startswith(f"clubsim: error: {scenario}: years: must be a number")
    experiment = _write(tmp_path / "e.yaml", f"name: e\nscenario: {BNI}\nruns: true\npolicies: {{a: {{}}, b: {{}}}}\n")
    assert one_line_error("compare", experiment).startswith(f"clubsim: error: {experiment}: runs: must be a number")


@pytest.mark.parametrize(("key", "value"), [("club.fees.annual", ".nan"), ("club.fees.annual", ".inf"),
                                            ("club.fees.annual", "1e309"), ("market.deal_value_median", "-.inf"),
                                            ("club.capacity", ".nan")])
def test_nan_and_inf_are_called_not_finite_not_out_of_bounds(key, value) -> None:
    # they were judged by the field's bounds: "Input should be less than or equal to 100000" for a fee of .nan
    line = one_line_error("validate", BNI, "--set", f"{key}={value}")
    assert line.startswith(f"clubsim: error: --set: {key}: must be a finite number (not .inf, .nan or beyond 1e308)")


def test_nan_is_called_not_finite_in_scenario_experiment_and_targets_files(tmp_path) -> None:
    scenario = _write(tmp_path / "s.yaml", f"extends: {BNI}\nmarket:\n  deal_value_median: .nan\n")
    assert f"{scenario}: market.deal_value_median: must be a finite number" in one_line_error("validate", scenario)
    experiment = _write(tmp_path / "e.yaml", f"name: e\nscenario: {BNI}\nprecision: .nan\n"
                                             "policies: {a: {}, b: {}}\n")
    assert f"{experiment}: precision: must be a finite number" in one_line_error("compare", experiment)


def test_a_problem_in_a_parent_scenario_names_the_parent_not_the_child(tmp_path) -> None:
    # "c.yaml: club.foundrs: unknown key" sent the user to a file that has no such key
    parent = _write(tmp_path / "p.yaml", "club:\n  foundrs: 12\n")
    child = _write(tmp_path / "c.yaml", "extends: p.yaml\nclub:\n  capacity: 30\n")
    assert f"clubsim: error: {parent}: club.foundrs: unknown key" in one_line_error("validate", child)
    parent.write_text("club:\n  fees:\n    annual: -5\n")
    assert f"clubsim: error: {parent}: club.fees.annual:" in one_line_error("validate", child)
    child.write_text("extends: p.yaml\nclub:\n  fees:\n    annual: -7\n")  # the child's own value wins
    assert f"clubsim: error: {child}: club.fees.annual:" in one_line_error("validate", child)
    child.write_text("extends: nothere.yaml\n")
    assert one_line_error("validate", child) == (f"clubsim: error: {child}: extends: nothere.yaml: no such file "
                                                 f"(a parent is found relative to its child's folder, {tmp_path})")


def test_validate_reads_the_professions_csv_as_run_does(tmp_path) -> None:
    # validate said ok to a scenario whose professions CSV is missing, and run then refused it
    scenario = _write(tmp_path / "m.yaml", "market:\n  professions_csv: nothere.csv\n")
    assert one_line_error("validate", scenario) == \
        f"clubsim: error: {tmp_path / 'nothere.csv'}: market.professions_csv: no such file"
    scenario.write_text("market:\n  professions_csv: .\n")
    assert one_line_error("validate", scenario).endswith(": market.professions_csv: not a file")


@pytest.mark.parametrize(("text", "field", "hint"), [
    ("clubs[0]: 1\n", "clubs[0]", "write clubs: as a list of mappings (clubs is not a key here; allowed: name,"),
    ("region:\n  clubs[].count: 3\n", "region.clubs[].count", "write clubs: as a list of mappings"),
    ("region:\n  clubs:\n    - {name: a, \"club[founders]\": 3}\n", "region.clubs.0.club[founders]",
     "write club: and founders: nested under it"),
    ("club.fees.annual: 3\n", "club.fees.annual", "write club: and the rest nested under it"),
])
def test_a_key_written_as_a_path_is_told_to_nest(tmp_path, text, field, hint) -> None:
    # `clubs[0]` crashed with exit 1 (IndexError); `region: clubs[].count` said "region: unknown key"
    scenario = _write(tmp_path / "k.yaml", text)
    line = one_line_error("validate", scenario)
    assert line.startswith(f"clubsim: error: {scenario}: {field}: unknown key: a YAML key is one name; ")
    assert hint in line


@pytest.mark.parametrize("command", ["calibrate", "validate-model"])
def test_runs_below_two_state_the_real_minimum(command, tmp_path) -> None:
    # --runs 0 said "at least 1", and --runs 1 then said "at least 2"
    targets = ["--targets", str(BNI.parent / "targets" / "bni_2018.yaml")] if command == "calibrate" else []
    for runs in (0, 1):
        line = one_line_error(command, BNI, *targets, "--runs", runs, "--out", tmp_path / "never")
        assert line == f"clubsim: error: --runs: must be at least 2, got {runs}"
    assert not (tmp_path / "never").exists()


def test_calibrate_abc_resume_of_no_folder_makes_none_and_method_lists_abc(tmp_path) -> None:
    # the refused --resume left out/none/deep behind; --method ABC was told "use one of: differential_evolution,
    # nelder_mead", without abc
    targets = ["--targets", str(BNI.parent / "targets" / "bni_2018.yaml")]
    line = one_line_error("calibrate", BNI, *targets, "--method", "abc", "--resume", "--out",
                          tmp_path / "none" / "deep")
    assert line.endswith("--resume: no such folder: no calibration to continue; start it without --resume")
    assert not (tmp_path / "none").exists()
    line = one_line_error("calibrate", BNI, *targets, "--method", "ABC", "--out", tmp_path / "never")
    assert line.endswith("use one of: differential_evolution, nelder_mead, abc") and not (tmp_path / "never").exists()


@pytest.mark.parametrize(("groups", "message"), [
    ("{name: a, count: 2}, {name: a, count: 3}", "two clubs would be named 'a_1': give each group a name of its own"),
    ("{name: a, count: 2}, {name: a_1}", "two clubs would be named 'a_1'"),
    ("{name: a, count: 60000}, {name: b, count: 60000}", "120,000 clubs in all; at most 100,000"),
])
def test_club_groups_name_every_club_once_and_stay_under_the_cap(tmp_path, groups, message) -> None:
    # duplicate group names gave clubs.csv two clubs a_1; 2 x 60,000 clubs passed validate
    scenario = _write(tmp_path / "r.yaml", f"region:\n  clubs: [{groups}]\n")
    assert one_line_error("validate", scenario).startswith(f"clubsim: error: {scenario}: region.clubs: {message}")


def test_a_boolean_field_still_takes_true_and_false() -> None:
    from sim.model.scenario import load_config

    config = load_config(BNI, {"region.second_circle": False}).config
    assert config.region.second_circle is False


@pytest.mark.parametrize("name", ["../x", "..", "n" * 101])
def test_validate_refuses_the_names_run_refuses(name) -> None:
    # validate said ok to names `run` then refused: a name names the run's default output folder
    validated = one_line_error("validate", BNI, "--set", f"name={name}")
    ran = one_line_error("run", BNI, "--set", f"name={name}", "--set", "years=1", "--no-figures")
    assert validated == ran and validated.startswith("clubsim: error: --set: name: ")


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_a_bad_set_on_an_experiment_names_set_not_the_file(command) -> None:
    experiment = EXPERIMENTS / ("pricing.yaml" if command == "sweep" else "exclusivity_vs_complementarity.yaml")
    line = one_line_error(command, experiment, "--set", "club.fes=3", "--runs", 2)
    assert line == "clubsim: error: --set: club.fes: unknown key; did you mean 'fees'?"


def test_a_bad_set_on_an_ad_hoc_compare_names_set() -> None:
    line = one_line_error("compare", BNI, SCENARIOS / "bni_fortnightly.yaml", "--set", "years=0", "--runs", 2)
    assert line.startswith("clubsim: error: --set: years: ")


@pytest.mark.parametrize(("command", "experiment", "key"), [("run", "pricing.yaml", "sweep"),
                                                            ("validate", "exclusivity_vs_complementarity.yaml",
                                                             "policies")])
def test_an_experiment_file_given_as_a_scenario_says_so(command, experiment, key) -> None:
    line = one_line_error(command, EXPERIMENTS / experiment)
    assert line == (f"clubsim: error: {EXPERIMENTS / experiment}: {key}: an experiment file, not a scenario: run it "
                    "with clubsim compare, sweep, discover or sensitivity")


@pytest.mark.parametrize(("call", "field"), [
    (lambda sim: sim.load_scenario(None), "scenario"),
    (lambda sim: sim.load_scenario(5), "scenario"),
    (lambda sim: sim.load_scenario(b"years: 2"), "scenario"),
    (lambda sim: sim.load_scenario(BNI, "years=2"), "overrides"),
    (lambda sim: sim.load_scenario(BNI, {5: 2}), "overrides"),
    (lambda sim: sim.simulate(BNI, 1, overrides=5), "overrides"),
    (lambda sim: sim.simulate(BNI, 1, threads=0, overrides={"years": 1}), "threads"),
    (lambda sim: sim.simulate(BNI, 1, threads=1.5, overrides={"years": 1}), "threads"),
    (lambda sim: sim.compare(None), "experiment"),
    (lambda sim: sim.compare([None]), "experiment"),
])
def test_the_api_refuses_wrong_types_with_an_input_error(call, field) -> None:
    # they raised TypeError or ValueError (or, for threads=1.5 on a single club, nothing)
    import sim

    with pytest.raises(sim.InputError) as caught:
        call(sim)
    assert caught.value.source == field and "\n" not in str(caught.value)


def test_shares_that_do_not_sum_to_one_show_the_default_they_added(tmp_path) -> None:
    # "must sum to 1, got 1.15" of a file that set 0.5 and 0.5: the default hunters' 0.15 was not said
    scenario = _write(tmp_path / "s.yaml", "population:\n  shares:\n    giver: 0.5\n    reciprocator: 0.5\n")
    assert one_line_error("validate", scenario).endswith(
        "population.shares: giver + reciprocator + hunter must sum to 1, got 0.5 + 0.5 + 0.15 (the default hunter) "
        "= 1.15")


@pytest.mark.parametrize("tolerance", ["0%", "0", "-15%"])
def test_a_tolerance_of_zero_or_less_is_refused(tmp_path, tolerance) -> None:
    # 0% was taken: no simulated value could ever be within its band, and the calibration's loss was flat
    text = (BNI.parent / "targets" / "bni_2018.yaml").read_text().replace("tolerance: 15%", f"tolerance: {tolerance}",
                                                                          1)
    targets = _write(tmp_path / "t.yaml", text)
    line = one_line_error("calibrate", BNI, "--targets", targets, "--out", tmp_path / "never")
    assert f"{targets}: targets.0.tolerance: " in line and "> 0" in line


@pytest.mark.parametrize(("given", "says"), [
    (EXPERIMENTS / "pricing.yaml", "parameters: missing: this is an experiment file for compare, sweep or discover"),
    (BNI, "scenario: missing: this looks like a scenario, not a sensitivity file"),
])
def test_sensitivity_says_what_the_wrong_file_is(given, says) -> None:
    # it said only "parameters: missing" or "scenario: missing"
    assert one_line_error("sensitivity", given).startswith(f"clubsim: error: {given}: {says}")
