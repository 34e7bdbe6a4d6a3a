"""The `clubsim` command (`sim.interfaces.cli`) and the shipped scenario files (`scenarios/`).

Runs use `--set years=2` (or 1) to stay short; the numba engine compiles its
kernels on first use (tens of seconds, then cached under ~/.cache/clubsim).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.experiments.folders import MANIFEST
from sim.interfaces.cli import app
from sim.model.metrics import SUMMARY_KEYS
from sim.model.scenario import ScenarioConfig, dotted_items, load_config, load_scenario
from sim.presentation.plots import FIGURE_FILES
from sim.presentation.run_folder import DATA_FILES

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BNI = SCENARIOS / "bni_chapter.yaml"
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))

runner = CliRunner()


def clubsim(*args: object, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def run_ok(*args: object):
    result = clubsim("run", *args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def stderr_lines(result) -> list[str]:
    return result.stderr.splitlines()


# --------------------------------------------------------------------------- clubsim run


@pytest.fixture(scope="module")
def two_year_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "bni-seed3"
    result = run_ok(BNI, "--seed", 3, "--out", out, "--set", "years=2")
    assert f"output: {out}" in result.stdout
    return out


def test_run_writes_data_manifest_and_four_figures(two_year_run):
    for name in (*DATA_FILES, MANIFEST, *FIGURE_FILES):
        assert (two_year_run / name).stat().st_size > 0, name
    assert len(FIGURE_FILES) == 4
    assert sorted(p.name for p in two_year_run.glob("*.png")) == sorted(FIGURE_FILES)


def test_run_summary_has_the_fifteen_summary_keys(two_year_run):
    summary = json.loads((two_year_run / "summary.json").read_text())
    assert len(SUMMARY_KEYS) == 15
    assert set(SUMMARY_KEYS) <= set(summary)


def test_run_manifest_records_seed_engine_and_command(two_year_run):
    manifest = json.loads((two_year_run / MANIFEST).read_text())
    assert manifest["seed"] == 3
    assert manifest["engine"] == "numba"
    assert manifest["scenario"]["name"] == "bni_chapter"
    assert manifest["scenario"]["years"] == 2
    assert set(manifest["files"]) == {*DATA_FILES, MANIFEST, *FIGURE_FILES}


def test_same_seed_twice_gives_byte_identical_data_files(two_year_run, tmp_path):
    again = tmp_path / "again"
    run_ok(BNI, "--seed", 3, "--out", again, "--set", "years=2", "--no-figures")
    for name in ("summary.json", "timeseries.csv", "members.csv"):
        assert (again / name).read_bytes() == (two_year_run / name).read_bytes(), name


def test_different_seeds_give_different_timeseries(two_year_run, tmp_path):
    other = tmp_path / "seed4"
    run_ok(BNI, "--seed", 4, "--out", other, "--set", "years=2", "--no-figures", "--quiet")
    assert (other / "timeseries.csv").read_bytes() != (two_year_run / "timeseries.csv").read_bytes()


def test_no_figures_writes_no_png(tmp_path):
    out = tmp_path / "plain"
    run_ok(BNI, "--out", out, "--set", "years=1", "--no-figures", "--quiet")
    assert not list(out.glob("*.png"))
    assert all((out / name).is_file() for name in DATA_FILES)


def test_set_override_reaches_the_manifest_and_default_folder_is_runs_name_seed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_ok(BNI, "--set", "club.fees.annual=1500", "--set", "years=1", "--no-figures", "--quiet")
    out = Path("runs") / "bni_chapter-1"  # default seed 1
    assert result.stdout.strip() == str(out)
    manifest = json.loads((tmp_path / out / MANIFEST).read_text())
    assert manifest["scenario"]["club"]["fees"]["annual"] == 1500
    assert manifest["seed"] == 1


def test_python_engine_runs_one_year(tmp_path):
    out = tmp_path / "python"
    run_ok(BNI, "--engine", "python", "--out", out, "--set", "years=1", "--no-figures", "--quiet")
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["engine"] == "python"
    assert set(SUMMARY_KEYS) <= set(json.loads((out / "summary.json").read_text()))


# --------------------------------------------------------------------------- bad input: one line, exit 2


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    return {
        "malformed": _write(tmp_path / "malformed.yaml", "name: x\nclub: [1, 2\n"),
        "unknown": _write(tmp_path / "unknown.yaml", "club:\n  fess:\n    annual: 900\n"),
        "negative": _write(tmp_path / "negative.yaml", "club:\n  fees:\n    annual: -5\n"),
        "shares": _write(
            tmp_path / "shares.yaml", "population:\n  shares: {giver: 0.5, reciprocator: 0.5, hunter: 0.2}\n"
        ),
        "missing": tmp_path / "missing.yaml",
        "regular_file": _write(tmp_path / "regular_file", "not a folder\n"),
    }


# (case, extra arguments, the scenario file to name, strings the one line must contain)
BAD_INPUTS = [
    ("malformed YAML", [], "malformed", ["malformed.yaml", "malformed YAML", "line 3"]),
    ("unknown key", [], "unknown", ["unknown.yaml", "club.fess", "did you mean 'fees'"]),
    ("negative fee", [], "negative", ["negative.yaml", "club.fees.annual", "greater than or equal to 0"]),
    ("shares not summing to 1", [], "shares", ["shares.yaml", "population.shares", "sum to 1"]),
    ("missing file", [], "missing", ["missing.yaml", "no such file"]),
    ("--set without =", ["--set", "club.fees.annual"], None, ["--set takes KEY=VALUE", "club.fees.annual"]),
    ("--set unknown key", ["--set", "club.fee.annual=3"], None, ["--set: club.fee.annual", "did you"]),
    ("--set wrong type", ["--set", "years=abc"], None, ["--set: years", "integer"]),
    ("--set out of range", ["--set", "club.fees.annual=-1"], None, ["--set: club.fees.annual", "greater than or"]),
]


def _assert_one_line_error(result, *contains: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = stderr_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("clubsim: error: ")
    for text in contains:
        assert text in lines[0], (text, lines[0])
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize(("case", "extra", "file_key", "contains"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_one_line_with_exit_code_2(command, case, extra, file_key, contains, bad_files, tmp_path):
    scenario = bad_files[file_key] if file_key else BNI
    out = ["--out", tmp_path / "out"] if command == "run" else []
    result = clubsim(command, scenario, *out, *extra)
    _assert_one_line_error(result, *contains)
    assert not (tmp_path / "out").exists()


@pytest.fixture
def simulate_must_not_run(monkeypatch):
    import sim.model.runner

    def refuse(*args, **kwargs):
        raise AssertionError("simulate called although the input was bad")

    monkeypatch.setattr(sim.model.runner, "simulate", refuse)


def test_unwritable_output_folder_fails_before_simulating(bad_files, simulate_must_not_run):
    under_a_file = bad_files["regular_file"] / "sub"
    result = clubsim("run", BNI, "--out", under_a_file)
    _assert_one_line_error(result, str(under_a_file), "--out", "cannot write here")


def test_output_folder_that_is_a_file_fails_before_simulating(bad_files, simulate_must_not_run):
    result = clubsim("run", BNI, "--out", bad_files["regular_file"])
    _assert_one_line_error(result, "regular_file", "--out", "not a folder")


def test_unknown_engine_is_one_line_with_exit_code_2(tmp_path, simulate_must_not_run):
    result = clubsim("run", BNI, "--engine", "cuda", "--out", tmp_path / "out")
    _assert_one_line_error(result, "--engine", "cuda", "numba, python")


@pytest.mark.parametrize(
    "args", [["run"], ["run", str(BNI), "--bogus"], ["run", str(BNI), "--seed", "abc"], ["nonsense"]]
)
def test_usage_errors_exit_2_without_traceback(args):
    result = clubsim(*args)
    assert result.exit_code == 2
    assert len(stderr_lines(result)) == 1 and result.stderr.startswith("clubsim: error: ")  # no usage box
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- other failures


def test_unexpected_error_is_one_line_with_exit_code_1(monkeypatch, tmp_path):
    import sim.model.runner

    def broken(*args, **kwargs):
        raise RuntimeError("kernel exploded\nsecond line")

    monkeypatch.setattr(sim.model.runner, "simulate", broken)
    monkeypatch.delenv("CLUBSIM_DEBUG", raising=False)
    result = clubsim("run", BNI, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert stderr_lines(result) == ["clubsim: unexpected error: RuntimeError: kernel exploded second line"]

    debug = clubsim("run", BNI, "--out", tmp_path / "out", env={"CLUBSIM_DEBUG": "1"})
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr
    assert debug.stderr.splitlines()[-1] == "clubsim: unexpected error: RuntimeError: kernel exploded second line"


def test_keyboard_interrupt_exits_130_with_one_line(monkeypatch, tmp_path):
    import sim.model.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.model.runner, "simulate", interrupted)
    result = clubsim("run", BNI, "--out", tmp_path / "out")
    assert result.exit_code == 130
    assert stderr_lines(result) == ["clubsim: interrupted"]


# --------------------------------------------------------------------------- a real process


def _entry_points() -> list[list[str]]:
    commands = [[sys.executable, "-m", "sim"]]
    script = shutil.which("clubsim", path=str(Path(sys.executable).parent)) or shutil.which("clubsim")
    if script:
        commands.append([script])
    return commands


@pytest.mark.parametrize("entry", _entry_points(), ids=lambda e: "clubsim" if len(e) == 1 else "python -m sim")
def test_installed_command_exit_codes_and_no_traceback(entry, bad_files):
    env = {k: v for k, v in os.environ.items() if k != "CLUBSIM_DEBUG"}

    def call(*args: object) -> subprocess.CompletedProcess:
        return subprocess.run([*entry, *map(str, args)], capture_output=True, text=True, env=env, timeout=120)

    good = call("validate", BNI)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith(f"ok: {BNI} (bni_chapter, 10 years, ")
    bad = call("validate", bad_files["unknown"])
    assert bad.returncode == 2
    expected = f"clubsim: error: {bad_files['unknown']}: club.fess: unknown key; did you mean 'fees'?"
    assert bad.stderr.splitlines() == [expected]
    assert call("run", bad_files["missing"]).returncode == 2
    assert call("run").returncode == 2
    assert call("--help").returncode == 0


# --------------------------------------------------------------------------- clubsim validate and the shipped scenarios


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_validate_accepts_every_shipped_scenario(path):
    result = clubsim("validate", path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"ok: {path} ({path.stem}, ")
    assert result.stderr == ""


def test_validate_applies_set_overrides():
    result = clubsim("validate", BNI, "--set", "years=3", "--set", "club.fees.annual=1500")
    assert result.exit_code == 0, result.stderr
    assert "(bni_chapter, 3 years, weekly, 1500 EUR/year" in result.stdout


def _differences(path: Path, base: Path = BNI) -> dict[str, object]:
    mine = dotted_items(load_scenario(path).config.model_dump(mode="json"))
    theirs = dotted_items(load_scenario(base).config.model_dump(mode="json"))
    return {k: v for k, v in mine.items() if theirs[k] != v and k not in ("name", "description")}


DEFAULTS = ScenarioConfig()

CONTRASTS = {
    "bni_complementarity.yaml": {"club.composition.policy": "complementarity"},
    "bni_open.yaml": {"club.composition.policy": "open"},
    "bni_high_entry_fee.yaml": {"club.selection.policy": "none", "club.fees.entry": 1500},
    "bni_no_selection.yaml": {"club.selection.policy": "none"},
    "bni_monthly_billing.yaml": {"club.fees.billing": "monthly"},
    "bni_no_attendance_rule.yaml": {"club.attendance_rule.enabled": False},
    "bni_contribution_rule.yaml": {
        "club.contribution_rule.enabled": True,
        "club.contribution_rule.window_weeks": 52,
        **({} if DEFAULTS.club.contribution_rule.min_referrals == 1 else {"club.contribution_rule.min_referrals": 1}),
    },
    "bni_fortnightly.yaml": {"club.meetings_per_year": 26},
    "bni_monthly_meetings.yaml": {"club.meetings_per_year": 12},
    "bni_small_capacity.yaml": {"club.capacity": 30},
    "bni_more_visitors.yaml": {
        "club.recruitment.visitors_per_meeting": 2 * load_config(BNI).config.club.recruitment.visitors_per_meeting
    },
}


def test_every_bni_contrast_is_tested():
    regions = {"bni_world_2017.yaml"}  # a region of chapters, not a contrast of one (tests/test_region.py)
    shipped = {p.name for p in SHIPPED if p.name.startswith("bni_") and p.name not in {"bni_chapter.yaml", *regions}}
    assert shipped == {*CONTRASTS, "bni_many_hunters.yaml"}


@pytest.mark.parametrize("name", sorted(CONTRASTS))
def test_bni_contrast_changes_only_its_policy(name):
    path = SCENARIOS / name
    assert "extends: bni_chapter.yaml" in path.read_text()
    assert load_scenario(path).config.name == path.stem
    differences = _differences(path)
    assert differences.keys() == CONTRASTS[name].keys()
    for key, value in CONTRASTS[name].items():
        assert differences[key] == pytest.approx(value), f"{name}: {key} is {differences[key]}, expected {value}"


def test_many_hunters_keeps_the_default_giver_reciprocator_ratio():
    path = SCENARIOS / "bni_many_hunters.yaml"
    differences = _differences(path)
    assert set(differences) <= {"population.shares.giver", "population.shares.reciprocator", "population.shares.hunter"}
    shares = load_scenario(path).config.population.shares
    default = DEFAULTS.population.shares
    assert shares.hunter == 0.4
    assert shares.giver + shares.reciprocator + shares.hunter == pytest.approx(1.0)
    assert shares.giver / shares.reciprocator == pytest.approx(default.giver / default.reciprocator, rel=1e-3)


def test_bni_chapter_and_monthly_club_hold_the_published_figures():
    bni = load_scenario(BNI).config
    assert (bni.name, bni.years, bni.club.founders, bni.club.capacity) == ("bni_chapter", 10, 12, 50)
    assert (bni.club.meetings_per_year, bni.club.meeting_hours) == (52, 2)
    assert (bni.club.fees.annual, bni.club.fees.entry) == (960, 0)
    assert bni.club.composition.policy == "exclusivity"
    assert bni.club.selection.policy == "interview"
    rule = bni.club.attendance_rule
    assert (rule.enabled, rule.max_absences, rule.window_weeks) == (True, 2, 26)

    club = load_scenario(SCENARIOS / "business_club_monthly.yaml").config
    assert (club.name, club.club.meetings_per_year, club.club.capacity, club.club.founders) == (
        "business_club_monthly", 12, 120, 12  # about 80 members is the size it settles at, not its cap
    )
    assert (club.club.meeting_hours, club.club.travel_hours, club.club.one_to_one_hours) == (2, 0.5, 0.5)
    assert club.club.fees.annual == 600
    assert club.club.composition.policy == "complementarity"
    assert club.club.selection.policy == "none"
    assert not club.club.attendance_rule.enabled


def test_one_year_is_not_one_years() -> None:
    result = runner.invoke(app, ["validate", str(BNI), "--set", "years=1"])
    assert result.exit_code == 0 and "(bni_chapter, 1 year, " in result.stdout
