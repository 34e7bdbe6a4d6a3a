"""Special values in scenario and experiment files (issue 17, item 8): each one is one line, exit 2.

Each test reproduces a failure of the code before the fix: an infinite fee or deal value accepted,
a second `club:` block silently dropping the first, a RecursionError, an OSError for a long name, an
empty list of clubs run as one club, a line of a file that is not a scenario echoed in the error.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.errors import InputError
from sim.interfaces.cli import app
from sim.model.scenario import load_config

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"

runner = CliRunner()


def clubsim(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result, *contains: str) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("clubsim: error: "), lines[0]
    for text in contains:
        assert text in lines[0], (text, lines[0])
    return lines[0]


@pytest.mark.parametrize("key", ["market.deal_value_median", "population.hourly_value_median",
                                 "behaviour.social_value_per_strong_tie"])
@pytest.mark.parametrize("value", [".inf", "1e309"])
def test_a_non_finite_number_is_refused_where_a_field_has_only_a_lower_bound(tmp_path, key, value):
    one_error_line(clubsim("validate", BNI, "--set", f"{key}={value}"), key)
    section, leaf = key.split(".")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"extends: {BNI}\n{section}:\n  {leaf}: {value}\n")
    one_error_line(clubsim("validate", scenario), str(scenario), key, "finite")


def test_a_non_finite_sweep_range_is_refused(tmp_path):
    experiment = tmp_path / "e.yaml"
    experiment.write_text(f"scenario: {BNI}\nsweep:\n  parameters:\n"
                          "    market.deal_value_median: {low: 100, high: .inf, steps: 3}\n")
    one_error_line(clubsim("sweep", experiment, "--out", tmp_path / "o"), "sweep.parameters", "finite")
    assert not (tmp_path / "o").exists()


def test_a_key_given_twice_is_refused_not_silently_dropped(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"extends: {BNI}\nclub:\n  capacity: 40\nyears: 2\nclub:\n  founders: 20\n")
    one_error_line(clubsim("validate", scenario), str(scenario), "'club' is given twice (lines 2 and 5)")
    experiment = tmp_path / "e.yaml"
    experiment.write_text(f"scenario: {BNI}\nruns: 5\nruns: 6\n")
    one_error_line(clubsim("compare", experiment, "--out", tmp_path / "o"), "'runs' is given twice")
    one_error_line(clubsim("validate", BNI, "--set", "club.fees={annual: 1, annual: 2}"), "'annual' is given twice")


def test_very_deep_nesting_is_one_line(tmp_path):
    scenario = tmp_path / "deep.yaml"
    scenario.write_text("name: " + "[" * 100_000 + "]" * 100_000 + "\n")
    one_error_line(clubsim("validate", scenario), "nested too deeply")
    moderate = tmp_path / "moderate.yaml"
    moderate.write_text("description: " + "[" * 500 + "]" * 500 + "\n")
    one_error_line(clubsim("validate", moderate), "nested too deeply")


def test_a_ten_megabyte_name_is_one_short_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"extends: {BNI}\nname: {'x' * 10_000_000}\nyears: 1\n")
    line = one_error_line(clubsim("run", scenario, "--no-figures"), "name", "10,000,000 characters")
    assert len(line) < 300
    assert not (tmp_path / "runs").exists()


def test_an_empty_list_of_clubs_is_refused(tmp_path):
    one_error_line(clubsim("validate", BNI, "--set", "region.clubs=[]"), "region.clubs", "at least one")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"extends: {BNI}\nregion:\n  clubs: []\n")
    one_error_line(clubsim("run", scenario, "--out", tmp_path / "o"), "region.clubs")
    assert not (tmp_path / "o").exists()


def test_extends_of_a_file_that_is_not_a_scenario_echoes_none_of_it(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$s3cr3t-hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"extends: {secret}\n")
    line = one_error_line(clubsim("validate", scenario), "extends", ".yaml")
    assert "s3cr3t" not in line and "daemon" not in line
    # the same content in a .yaml file: the error shows the key's length, not the key
    disguised = tmp_path / "shadow.yaml"
    disguised.write_text(secret.read_text())
    line = one_error_line(clubsim("validate", disguised), "unknown key")
    assert "s3cr3t" not in line and "daemon" not in line


@pytest.mark.parametrize("text", [
    "\n".join(["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
              + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]) + "\n",
    "club: &a [*a]\n",
])
def test_aliases_that_expand_without_end_are_refused_at_once(tmp_path, text):
    # nine levels of aliases, ten references each ("billion laughs"): validate ran on for minutes, growing
    path = tmp_path / "laughs.yaml"
    path.write_text(text)
    started = time.monotonic()
    with pytest.raises(InputError, match=r"holds more than 100,000 values once its aliases \(\*name\) are expanded"):
        load_config(path)
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("text", ["", "\n", "# a scenario to write tomorrow\n"])
def test_an_empty_file_is_refused_not_run_as_every_default(tmp_path, text):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(text)
    one_error_line(clubsim("validate", scenario), str(scenario), "the file is empty")
    one_error_line(clubsim("run", scenario, "--out", tmp_path / "o"), "the file is empty")
    assert not (tmp_path / "o").exists()
    experiment = tmp_path / "e.yaml"
    experiment.write_text(text)
    one_error_line(clubsim("compare", experiment, "--out", tmp_path / "o"), str(experiment), "the file is empty")


def test_yaml_merge_keys_are_read_as_yaml_defines_them(tmp_path):
    """`<<: *anchor` (YAML's merge key) was called malformed YAML: the duplicate-key check could not read it."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"extends: {BNI}\nclub:\n  fees: &fees\n    annual: 900\n    entry: 100\n"
                        "region:\n  clubs:\n    - name: dear\n      club:\n        fees:\n          <<: *fees\n"
                        "          annual: 1200\n    - name: plain\n")
    result = clubsim("validate", scenario)
    assert result.exit_code == 0, result.stderr
    dear, plain = load_config(scenario).config.region.clubs
    assert (dear.club.fees.annual, dear.club.fees.entry) == (1200, 100)  # merged, the mapping's own key winning
    assert (plain.club.fees.annual, plain.club.fees.entry) == (900, 100)
    scenario.write_text(f"extends: {BNI}\nclub:\n  fees: &fees\n    annual: 900\n  capacity: 40\n"
                        "region:\n  clubs:\n    - name: dear\n      club:\n        fees:\n          <<: *fees\n"
                        "          entry: 1\n          entry: 2\n")
    one_error_line(clubsim("validate", scenario), "'entry' is given twice")


def test_too_many_replications_say_the_cap_and_why(tmp_path):
    one_error_line(clubsim("compare", BNI, "--runs", 10**12, "--out", tmp_path / "o"),
                   "runs", "1 to 10,000,000", "days")
    experiment = tmp_path / "e.yaml"
    experiment.write_text(f"scenario: {BNI}\nruns: 1000000000000\n")
    one_error_line(clubsim("compare", experiment, "--out", tmp_path / "o"), str(experiment), "runs",
                   "1 to 10,000,000", "days")
    assert not (tmp_path / "o").exists()
