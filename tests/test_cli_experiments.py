"""`clubsim compare` and `clubsim sweep` (sim/interfaces/cli.py) on top of sim.experiments.experiment.

Workloads stay tiny: `--set years=2` (or 1), a few replications, `--workers 1` (in-process)
except where the pool itself is the point. One test runs the real command in a subprocess and
interrupts it with SIGINT, as Ctrl-C would.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sim.experiments.experiment import (
    COMPARISON_FILE,
    MANIFEST,
    REPLICATIONS_FILE,
    SWEEP_FILE,
    load_experiment,
    survivor_metrics,
)
from sim.interfaces.cli import app, comparison_table, format_estimate
from sim.presentation.experiment_plots import COMPARISON_FIGURES

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"
SCENARIOS = ROOT / "scenarios"
BNI = SCENARIOS / "bni_chapter.yaml"
NO_SELECTION = SCENARIOS / "bni_no_selection.yaml"
EXCLUSIVITY = EXPERIMENTS / "exclusivity_vs_complementarity.yaml"
PRICING = EXPERIMENTS / "pricing.yaml"
SENSITIVITY = EXPERIMENTS / "sensitivity_bni.yaml"
SHORT = ["--set", "years=2"]
# no progress bar under test whatever the caller's environment (rich treats these as "a terminal")
PLAIN_ENV: dict[str, str | None] = {"FORCE_COLOR": None, "TTY_COMPATIBLE": None}

runner = CliRunner()


@pytest.fixture(autouse=True)
def _kernels(numba_ready: None) -> None:
    """Every command here runs the numba engine: load (or compile) its kernels once."""


def clubsim(*args: object, env: dict[str, str | None] | None = None):
    return runner.invoke(app, [str(a) for a in args], env={**PLAIN_ENV, **(env or {})})


def ok(*args: object, env: dict[str, str | None] | None = None):
    result = clubsim(*args, env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def one_error_line(result, *contains: str) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("clubsim: error: "), lines[0]
    for text in contains:
        assert text in lines[0], (text, lines[0])
    assert "Traceback" not in result.output
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text.replace("BNI", str(BNI)), encoding="utf-8")
    return path


TWO_POLICIES = """
name: two
scenario: BNI
overrides: {years: 2}
policies:
  exclusivity: {}
  open: {club.composition.policy: open}
metrics: [business_per_member_year, members_final, survived]
runs: 4
seed: 5
"""


# --------------------------------------------------------------------------- clubsim compare EXPERIMENT


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("compare") / "exclusivity"
    result = ok("compare", EXCLUSIVITY, "--runs", 6, *SHORT, "--workers", 1, "--out", out)
    return out, result


def test_compare_writes_replications_table_manifest_and_figures(compared) -> None:
    out, _ = compared
    for name in (REPLICATIONS_FILE, COMPARISON_FILE, MANIFEST, *COMPARISON_FIGURES):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "parts").exists()
    rows = pq.read_table(out / REPLICATIONS_FILE).to_pandas()
    assert rows[["policy", "replication"]].values.tolist() == [
        [p, r] for p in ("exclusivity", "complementarity", "open") for r in range(6)
    ]
    table = pd.read_csv(out / COMPARISON_FILE)
    experiment = load_experiment(EXCLUSIVITY)
    # every metric, then the size and business ones over the surviving replications (tests/test_survivors.py)
    survivors = [f"{m}_survivors" for m in survivor_metrics(experiment.metrics)]
    assert list(table[table["policy"] == "open"]["metric"]) == [*experiment.metrics, *survivors]
    assert len(table) == 3 * (len(experiment.metrics) + len(survivors))
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["status"] == "complete" and manifest["replications"] == 18
    assert all(p["years"] == 2 for p in manifest["resolved"]["policies"].values())


def test_compare_prints_means_with_ci_and_paired_differences(compared) -> None:
    out, result = compared
    stdout = result.stdout
    assert "exclusivity_vs_complementarity: 6 replications per policy" in stdout
    assert "exclusivity (baseline)" in stdout
    # metrics as rows, policies as columns; each metric's differences with the baseline beneath it
    experiment = load_experiment(EXCLUSIVITY)
    assert stdout.count("Δ vs exclusivity") >= len(experiment.metrics)
    assert re.search(r"metric +┃ +exclusivity \(baseline\) +┃ +complementarity +┃ +open", stdout)
    assert "business / member-year (EUR)" in stdout
    assert re.search(r"\d[\d,.]* \[-?[\d,.]+; -?[\d,.]+\]", stdout)  # mean [low; high]
    assert stdout.rstrip().splitlines()[-1] == f"output: {out}"
    assert result.stderr == ""  # not a terminal: no progress bar, nothing else


def test_compare_table_shows_every_metric_and_marks_significant_differences(compared) -> None:
    from rich.console import Console

    from sim.experiments.experiment import ComparisonResult, statistics_table

    out, _ = compared
    experiment = load_experiment(EXCLUSIVITY, {"years": 2})
    rows = pq.read_table(out / REPLICATIONS_FILE).to_pandas()
    shifted = rows["policy"] == "open"  # a clear, constant effect: its paired CI excludes 0
    rows.loc[shifted, "business_per_member_year"] = rows.loc[~shifted & (rows["policy"] == "exclusivity"),
                                                             "business_per_member_year"].to_numpy() + 5000
    stats = statistics_table(rows, experiment.metrics, experiment.policy_names, experiment.baseline)
    result = ComparisonResult(experiment, rows, stats, 6)
    console = Console(record=True, width=400, color_system=None)
    console.print(comparison_table(result))
    text = console.export_text()
    assert "+5,000 *" in text, text
    open_diff = stats[(stats["policy"] == "open") & (stats["metric"] == "business_per_member_year")].iloc[0]
    assert open_diff["significant"]
    narrow = Console(record=True, width=100, color_system=None)
    narrow.print(comparison_table(result, compact=True))
    assert "+5,000 *" in narrow.export_text()


def test_estimates_are_rounded_to_three_significant_digits() -> None:
    assert format_estimate(64213.4, 61934.0, 66492.8) == "64,200 [61,900; 66,500]"
    assert format_estimate(0.25, 0.231, 0.269, percent=True) == "25.0 [23.1; 26.9]"
    assert format_estimate(-6050.0, -8870.0, -3240.0, sign=True) == "-6,050 [-8,870; -3,240]"
    assert format_estimate(1.0, 1.0, 1.0, percent=True) == "100"  # no sampling error: no interval
    assert format_estimate(5000.0, 4999.999999999999, 5000.000000000001, sign=True) == "+5,000"  # rounding only
    assert format_estimate(0.0, 0.0, 0.0, sign=True) == "0"
    assert format_estimate(float("nan")) == "—"


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    experiment = write(tmp_path / "two.yaml", TWO_POLICIES)
    result = ok("compare", experiment, "--runs", 2, "--workers", 1, "--no-figures", "--out", tmp_path / "out",
                env={"TTY_COMPATIBLE": "1"})
    assert "compare two" in result.stderr
    assert "4/4" in result.stderr and "replications" in result.stderr


def test_quiet_prints_only_the_folder_and_precision_mode_reports_its_target(tmp_path: Path) -> None:
    experiment = write(tmp_path / "two.yaml", TWO_POLICIES)
    out = tmp_path / "precise"
    result = ok("compare", experiment, "--precision", 0.9, "--runs", 3, "--workers", 1, "--no-figures",
                "--out", out, "--quiet")
    assert result.stdout == f"{out}\n"
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["precision"] == 0.9 and manifest["precision_met"] is not None

    shown = ok("compare", experiment, "--precision", 0.9, "--runs", 3, "--workers", 1, "--no-figures",
               "--out", out)
    assert "precision: business_per_member_year " in shown.stdout
    capped = write(tmp_path / "capped.yaml", TWO_POLICIES + "max_runs: 2\n")
    shown = ok("compare", capped, "--precision", 0.001, "--runs", 3, "--workers", 1, "--no-figures",
               "--out", tmp_path / "capped")  # it said "stopped at 3 replications (max_runs)" of a max_runs of 2
    assert ("did not reach the target; stopped at 3 replications (the first batch: runs above max_runs, 2, make "
            "the cap)") in shown.stdout


# --------------------------------------------------------------------------- ad hoc comparison of scenario files


def test_an_ad_hoc_compare_of_many_scenarios_gets_a_name_that_fits(tmp_path: Path, monkeypatch) -> None:
    # six shipped scenarios joined by _vs_ made a 128-character name, refused as if the user had written it
    monkeypatch.chdir(tmp_path)
    names = ["complementarity", "contribution_rule", "fortnightly", "high_entry_fee", "many_hunters",
             "monthly_billing"]
    scenarios = [ROOT / "scenarios" / f"bni_{name}.yaml" for name in names]
    result = ok("compare", *scenarios, "--runs", 1, "--set", "years=1", "--workers", 1, "--no-figures", "--quiet")
    assert result.stdout.strip() == str(Path("results") / "bni_complementarity_vs_5_more")
    assert len("_vs_".join(f"bni_{name}" for name in names)) > 100


def test_ad_hoc_compare_of_scenario_files_names_policies_by_stem(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = ok("compare", BNI, NO_SELECTION, "--runs", 3, *SHORT, "--seed", 4, "--workers", 1, "--no-figures",
                "--quiet")
    out = Path("results") / "bni_chapter_vs_bni_no_selection"  # the default folder
    assert result.stdout.strip() == str(out)
    rows = pq.read_table(out / REPLICATIONS_FILE).to_pandas()
    assert rows["policy"].unique().tolist() == ["bni_chapter", "bni_no_selection"]
    assert len(rows) == 6
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["baseline"] == "bni_chapter"
    assert manifest["resolved"]["seed"] == 4
    assert manifest["resolved"]["policies"]["bni_no_selection"]["club"]["selection"]["policy"] == "none"
    assert manifest["resolved"]["policies"]["bni_chapter"]["years"] == 2

    shown = ok("compare", BNI, NO_SELECTION, "--runs", 3, *SHORT, "--seed", 4, "--workers", 1, "--no-figures")
    assert "bni_chapter (baseline)" in shown.stdout and "Δ vs bni_chapter" in shown.stdout


# --------------------------------------------------------------------------- clubsim sweep


def test_sweep_writes_its_outputs_and_prints_one_row_per_point(tmp_path: Path) -> None:
    out = tmp_path / "pricing"
    result = ok("sweep", PRICING, "--runs", 2, "--set", "years=1", "--workers", 1, "--out", out)
    experiment = load_experiment(PRICING)
    for name in (REPLICATIONS_FILE, SWEEP_FILE, MANIFEST, *(f"sweep_{m}.png" for m in experiment.metrics)):
        assert (out / name).stat().st_size > 0, name
    rows = pq.read_table(out / REPLICATIONS_FILE).to_pandas()
    assert len(rows) == 8 * 2
    assert sorted(rows["club.fees.annual"].unique()) == list(range(300, 2401, 300))
    assert "pricing: 8 points x 2 replications" in result.stdout
    for fee in ("300", "1,200", "2,400"):
        assert re.search(rf"│ +{fee} │", result.stdout), fee
    assert result.stdout.rstrip().splitlines()[-1] == f"output: {out}"


# --------------------------------------------------------------------------- bad input: one line, exit 2


@pytest.fixture
def replications_must_not_run(monkeypatch):
    import sim.experiments.backends

    def refuse(*args, **kwargs):
        raise AssertionError("replications ran although the input was bad")

    monkeypatch.setattr(sim.experiments.backends, "run_tasks", refuse)


BAD_FILES = {
    "unknown key": ("scenario: BNI\npolcies: {a: {}}\n", ["bad.yaml", "polcies", "did you mean 'policies'"]),
    "baseline not a policy": ("scenario: BNI\npolicies: {a: {}, b: {}}\nbaseline: c\n",
                              ["bad.yaml", "baseline", "'c' is not a policy; policies: a, b"]),
    "bad override in a policy": ("scenario: BNI\npolicies: {a: {}, b: {club.fees.anual: 1}}\n",
                                 ["bad.yaml", "policies.b.club.fees.anual", "did you mean 'annual'"]),
    "missing base scenario": ("scenario: nowhere.yaml\n", ["bad.yaml", "scenario", "no such file"]),
    "runs 0 in the file": ("scenario: BNI\nruns: 0\n", ["bad.yaml", "runs", "greater than or equal to 1"]),
    "malformed YAML": ("scenario: [BNI\n", ["bad.yaml", "malformed YAML"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_experiment_file_is_one_line_with_exit_code_2(case, tmp_path, replications_must_not_run) -> None:
    text, contains = BAD_FILES[case]
    path = write(tmp_path / "bad.yaml", text)
    one_error_line(clubsim("compare", path, "--out", tmp_path / "out"), *contains)
    assert not (tmp_path / "out").exists()


# (case, arguments after the command, strings the one line must contain)
BAD_OPTIONS = [
    ("unknown backend", ["compare", EXCLUSIVITY, "--backend", "ray"], ["--backend", "'ray'", "local, dask"]),
    ("missing file", ["compare", SCENARIOS / "nowhere.yaml"], ["nowhere.yaml", "no such file"]),
    ("runs 0", ["compare", EXCLUSIVITY, "--runs", "0"], ["--runs", "at least 1, got 0"]),
    ("precision 1.5", ["compare", EXCLUSIVITY, "--precision", "1.5"], ["--precision", "between 0 and 1", "1.5"]),
    ("workers 0", ["compare", EXCLUSIVITY, "--workers", "0"], ["--workers", "at least 1"]),
    ("negative seed", ["compare", EXCLUSIVITY, "--seed", "-1"], ["--seed", ">= 0"]),
    ("scheduler without dask", ["compare", EXCLUSIVITY, "--backend", "local", "--scheduler", "tcp://h:8786"],
     ["--scheduler", "needs --backend dask"]),
    ("unreachable scheduler", ["compare", EXCLUSIVITY, "--scheduler", "tcp://127.0.0.1:1"],
     ["--scheduler", "tcp://127.0.0.1:1", "cannot connect"]),
    ("scheduler without a port", ["compare", EXCLUSIVITY, "--scheduler", "tcp://somewhere"],
     ["--scheduler", "tcp://host:8786"]),
    ("--set unknown key", ["compare", EXCLUSIVITY, "--set", "club.fee.annual=3"],
     ["--set: club.fee.annual", "did you mean"]),
    ("--set without =", ["compare", EXCLUSIVITY, "--set", "years"], ["--set takes KEY=VALUE", "'years'"]),
    ("experiment among scenarios", ["compare", BNI, EXCLUSIVITY], ["exclusivity_vs_complementarity.yaml",
                                                                   "an experiment file"]),
    ("compare a sweep", ["compare", PRICING], ["pricing.yaml", "sweep", "clubsim sweep"]),
    ("compare a sensitivity analysis", ["compare", SENSITIVITY], ["sensitivity_bni.yaml", "clubsim sensitivity"]),
    ("sweep without sweep:", ["sweep", EXCLUSIVITY], ["exclusivity_vs_complementarity.yaml", "sweep",
                                                      "clubsim compare"]),
    ("sweep a scenario", ["sweep", BNI], ["bni_chapter.yaml", "a scenario, not an experiment", "clubsim compare"]),
    ("sweep runs 0", ["sweep", PRICING, "--runs", "0"], ["--runs", "at least 1"]),
]


@pytest.mark.parametrize(("case", "args", "contains"), BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS])
def test_bad_options_are_one_line_with_exit_code_2(case, args, contains, tmp_path, replications_must_not_run):
    one_error_line(clubsim(*args, "--out", tmp_path / "out"), *map(str, contains))
    assert not (tmp_path / "out").exists()


def test_dask_backend_without_distributed_installed(tmp_path, monkeypatch, replications_must_not_run) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises ImportError
    result = clubsim("compare", EXCLUSIVITY, "--backend", "dask", "--out", tmp_path / "out")
    one_error_line(result, "--backend", "'dask'", "dask.distributed", "not installed")


def test_unwritable_output_folder(tmp_path, replications_must_not_run) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    one_error_line(clubsim("compare", EXCLUSIVITY, "--out", a_file / "sub"), "--out", "cannot write here")


def test_resume_of_a_folder_that_is_not_an_experiment_output(tmp_path, replications_must_not_run) -> None:
    (tmp_path / "plain").mkdir()
    one_error_line(clubsim("compare", EXCLUSIVITY, "--resume", tmp_path / "plain"),
                   "--resume", "no manifest.json here")
    one_error_line(clubsim("compare", EXCLUSIVITY, "--resume", tmp_path / "absent"), "--resume", "no such folder")
    one_error_line(clubsim("compare", EXCLUSIVITY, "--resume", tmp_path / "plain", "--out", tmp_path / "other"),
                   "--resume", "leave out --out")
    (tmp_path / "plain" / "a.txt").write_text("x")
    one_error_line(clubsim("compare", EXCLUSIVITY, "--resume", tmp_path / "plain" / "a.txt"), "--resume",
                   "not a folder")
    (tmp_path / "plain" / "manifest.json").write_text("[]")  # "holds a None run, not a compare"
    one_error_line(clubsim("compare", EXCLUSIVITY, "--resume", tmp_path / "plain"), "manifest.json",
                   "must be a JSON object")
    (tmp_path / "plain" / "manifest.json").write_text('{"scenario": {}, "seed": 1}')  # a run's manifest
    one_error_line(clubsim("compare", EXCLUSIVITY, "--resume", tmp_path / "plain"), "--resume",
                   "holds the output of clubsim run, not a compare")


def test_resume_of_another_experiments_folder(compared, replications_must_not_run) -> None:
    out, _ = compared
    result = clubsim("compare", EXCLUSIVITY, *SHORT, "--seed", 99, "--resume", out)
    one_error_line(result, "--resume", "holds a different experiment", "seed")
    sweep = clubsim("sweep", PRICING, "--resume", out)
    one_error_line(sweep, "--resume", "not a sweep")


# --------------------------------------------------------------------------- interruption and --resume


@pytest.fixture
def stop_after(monkeypatch):
    """Make the next compare or sweep interrupt itself (as Ctrl-C would) after `n` new replications
    (the `stop_after` hook of sim.experiments.experiment); later calls run normally."""
    import sim.experiments.experiment as experiments

    def install(n: int) -> None:
        armed = [True]
        for name in ("compare", "sweep"):
            real = getattr(experiments, name)

            def once(*args, _real=real, **kwargs):
                if armed and armed.pop():
                    kwargs["stop_after"] = n
                return _real(*args, **kwargs)

            monkeypatch.setattr(experiments, name, once)

    return install


INTERRUPTED = re.compile(r"clubsim: interrupted: (\d+) replications kept in (.+); finish with: (clubsim .+)")


def test_interrupted_compare_exits_130_and_resume_completes_it(compared, tmp_path, stop_after) -> None:
    whole, _ = compared
    out = tmp_path / "cut"
    stop_after(5)
    result = clubsim("compare", EXCLUSIVITY, "--runs", 6, *SHORT, "--workers", 1, "--no-figures", "--out", out)
    assert result.exit_code == 130, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    match = INTERRUPTED.fullmatch(lines[0])
    assert match, lines[0]
    assert match[1] == "5" and match[2] == str(out)
    hint = shlex.split(match[3])
    assert hint == ["clubsim", "compare", str(EXCLUSIVITY), *SHORT, "--resume", str(out)]
    assert json.loads((out / MANIFEST).read_text())["status"] == "interrupted"
    assert pq.read_table(out / "parts").num_rows == 5
    assert result.stdout == ""

    resumed = clubsim(*hint[1:], "--workers", 1, "--no-figures")  # the stop_after hook fired once
    assert resumed.exit_code == 0, (resumed.stdout, resumed.stderr, resumed.exception)
    assert f"output: {out}" in resumed.stdout
    assert (out / REPLICATIONS_FILE).read_bytes() == (whole / REPLICATIONS_FILE).read_bytes()
    assert (out / COMPARISON_FILE).read_text() == (whole / COMPARISON_FILE).read_text()
    assert json.loads((out / MANIFEST).read_text())["status"] == "complete"


def test_ctrl_c_while_the_workers_stop_after_a_finished_compare_exits_130_in_one_line(tmp_path, monkeypatch) -> None:
    # the local pool's workers are stopped inside the command: left to the interpreter's exit, a Ctrl-C there
    # printed a traceback ("Exception ignored in: <module 'threading'>") and the command exited 0
    from sim.experiments import backends

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(backends, "shutdown_pool", interrupted)
    out = tmp_path / "out"
    result = clubsim("compare", EXCLUSIVITY, "--runs", 2, *SHORT, "--workers", 1, "--no-figures", "--out", out)
    assert result.exit_code == 130, (result.stdout, result.stderr, result.exception)
    assert result.stderr.splitlines() == ["clubsim: interrupted"]
    assert json.loads((out / MANIFEST).read_text())["status"] == "complete"  # the files were all written


def test_interrupted_sweep_names_sweep_in_its_resume_command(tmp_path, stop_after) -> None:
    out = tmp_path / "sweep"
    stop_after(3)
    args = ["sweep", PRICING, "--runs", 1, "--set", "years=1", "--seed", 7, "--workers", 1, "--no-figures"]
    result = clubsim(*args, "--out", out)
    assert result.exit_code == 130
    match = INTERRUPTED.fullmatch(result.stderr.strip())
    assert match and match[1] == "3"
    hint = shlex.split(match[3])
    assert hint == ["clubsim", "sweep", str(PRICING), "--set", "years=1", "--seed", "7", "--resume", str(out)]
    resumed = clubsim(*hint[1:], "--workers", 1, "--no-figures")
    assert resumed.exit_code == 0, (resumed.stdout, resumed.stderr, resumed.exception)
    assert pq.read_table(out / REPLICATIONS_FILE).num_rows == 8


def test_ctrl_c_in_a_real_process_keeps_finished_replications(tmp_path, process_groups) -> None:
    """SIGINT to `python -m sim compare` while it replicates on two local workers: exit 130, one line, and
    the replications it reports are in the folder; --resume finishes the run."""
    out = tmp_path / "ctrl-c"
    env = {k: v for k, v in os.environ.items() if k not in ("CLUBSIM_DEBUG", "FORCE_COLOR", "TTY_COMPATIBLE")}
    command = [sys.executable, "-m", "sim", "compare", EXCLUSIVITY, "--runs", 2000, "--set", "years=3",
               "--workers", 2, "--no-figures", "--out", out]
    process = process_groups.start([str(c) for c in command], env=env)
    deadline = time.monotonic() + 120
    while not list((out / "parts").glob("part-*.parquet")):  # replicating, some rows saved
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no replication finished in 120 s"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, (stdout, stderr)
    process_groups.assert_ended(process)  # the pool's workers end with the command, none left blocked on its queue
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    match = INTERRUPTED.fullmatch(lines[0])
    assert match and match[2] == str(out), lines[0]
    kept = int(match[1])
    assert 0 < kept < 3 * 2000
    parts = pq.read_table(out / "parts").to_pandas()
    assert len(parts.drop_duplicates(["policy", "replication"])) == kept
    assert json.loads((out / MANIFEST).read_text())["status"] == "interrupted"

    hint = shlex.split(match[3])
    assert hint[:2] == ["clubsim", "compare"] and hint[-2:] == ["--resume", str(out)]
    runs = int(parts["replication"].max()) + 1  # fewer would drop finished replications: refused
    finished = clubsim(*hint[1:], "--runs", runs, "--workers", 1, "--no-figures", "--quiet")
    assert finished.exit_code == 0, (finished.stdout, finished.stderr, finished.exception)
    assert pq.read_table(out / REPLICATIONS_FILE).num_rows == 3 * runs
