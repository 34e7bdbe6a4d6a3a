"""Limits (issue 17, item 7): what would not fit is refused before it starts, with its estimate.

Each test reproduces a failure of the code before the fix: a billion runs spawning seeds for minutes
then `MemoryError`, a manifest listing a million seeds, a thousand worker processes, a sweep grid
enumerated until memory runs out, a region at the schema's maxima failing after its folder was made.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import sim.experiments.experiment
import sim.model.runner
from sim import compare
from sim.experiments.backends import default_workers
from sim.experiments.experiment import load_experiment, manifest_seeds, replication_seeds
from sim.interfaces.cli import app

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"
EXCLUSIVITY = ROOT / "experiments" / "exclusivity_vs_complementarity.yaml"
SHORT = ["--set", "years=1"]
GIB = 1 << 30

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


@pytest.fixture
def small_machine(monkeypatch):
    """A machine with 4 GiB available, whatever this one has; seeds for more than a million
    replications are never spawned (the code before the fix spent minutes there)."""
    monkeypatch.setattr(sim.model.runner, "available_memory", lambda: 4 * GIB, raising=False)
    spawn = sim.experiments.experiment.replication_seeds

    def guarded(seed: int, n: int) -> list[int]:
        assert n <= 1_000_000, f"spawned {n:,} seeds before refusing"
        return spawn(seed, n)

    monkeypatch.setattr(sim.experiments.experiment, "replication_seeds", guarded)


def test_a_billion_runs_are_refused_at_once_with_the_estimate_and_no_folder(tmp_path, small_machine):
    out = tmp_path / "out"
    line = one_error_line(clubsim("compare", EXCLUSIVITY, "--runs", 10**9, "--out", out),
                          "3,000,000,000 replications", "memory", "4.0 GB this machine has available", "--max-memory")
    assert "take about" in line
    assert not out.exists()


def test_max_memory_refuses_what_the_machine_would_allow(tmp_path):
    out = tmp_path / "out"
    one_error_line(clubsim("compare", EXCLUSIVITY, "--runs", 100_000, "--max-memory", "1G", "--out", out),
                   "300,000 replications", "--max-memory of 1.0 GB", "ask for less, or raise --max-memory")
    assert not out.exists()
    one_error_line(clubsim("compare", EXCLUSIVITY, "--max-memory", "lots", "--out", out), "--max-memory", "4G")


def test_a_thousand_workers_are_refused_and_a_few_more_than_the_cores_warn(tmp_path):
    one_error_line(clubsim("compare", BNI, *SHORT, "--runs", 1, "--workers", 1000, "--out", tmp_path / "a"),
                   "--workers", "1,000 worker processes", f"{default_workers()} usable cores")
    assert not (tmp_path / "a").exists()
    result = clubsim("compare", BNI, *SHORT, "--runs", 2, "--workers", default_workers() + 1, "--no-figures",
                     "-q", "--out", tmp_path / "b")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stderr.splitlines() == [
        f"clubsim: warning: --workers {default_workers() + 1} is more than the {default_workers()} usable cores: "
        "the workers share them (no faster, more memory)"]


def test_a_huge_sweep_grid_is_refused_before_it_is_enumerated(tmp_path):
    experiment = tmp_path / "grid.yaml"
    experiment.write_text(f"scenario: {BNI}\nsweep:\n  parameters:\n"
                          "    club.fees.annual: {low: 100, high: 2000, steps: 10000}\n"
                          "    club.fees.entry: {low: 0, high: 2000, steps: 10000}\n"
                          "    population.promised_business: {low: 1000, high: 100000, steps: 10000}\n")

    def two_gib() -> None:  # the code before the fix enumerates 10^12 points until memory runs out
        resource.setrlimit(resource.RLIMIT_AS, (4 * GIB, 4 * GIB))

    done = subprocess.run([sys.executable, "-m", "sim", "sweep", str(experiment), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=300, preexec_fn=two_gib, cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.splitlines() == [
        f"clubsim: error: {experiment}: sweep: a grid of 10,000 x 10,000 x 10,000 = 1,000,000,000,000 points; "
        "at most 10,000 points (x policies): use fewer values or steps, or design: lhs"]
    assert not (tmp_path / "o").exists()


def test_a_region_at_the_schemas_maxima_is_refused_before_its_folder_is_made(tmp_path, small_machine):
    out = tmp_path / "world"
    one_error_line(clubsim("run", BNI, "--set", "region.clubs=100000", "--set", "club.capacity=1000",
                           "--set", "years=100", "--out", out),
                   "this run (100,000 clubs) would need about", "TB of memory")
    assert not out.exists()


def test_a_manifest_records_the_root_seed_and_a_count_and_old_lists_still_read(tmp_path):
    experiment = load_experiment(EXCLUSIVITY, {"years": 1})
    out = tmp_path / "out"
    compare(experiment, 5, workers=1, out=out, figures=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seeds"]["root"] == experiment.seed and manifest["seeds"]["count"] == 5
    assert manifest_seeds(manifest) == replication_seeds(experiment.seed, 5)
    assert manifest_seeds({"seeds": [3, 1, 2]}) == [3, 1, 2]  # an older manifest's list
    stored = pq.read_table(out / "replications.parquet").column("seed").to_pylist()
    assert stored == [s for _ in experiment.policies for s in replication_seeds(experiment.seed, 5)]


def test_a_streamed_regions_estimate_holds_a_year_of_series_not_all_its_years(tmp_path, small_machine, monkeypatch):
    """The world streamed measured 4,600 bytes a member against 7,700 in memory: its estimate counts the
    weekly series of about one year (and every year's member records), so that a machine that can run it
    is not told it cannot."""
    from sim.model.runner import SERIES_YEAR_BYTES, run_cost
    from sim.model.scenario import load_config

    def not_run(*args, **kwargs):
        raise AssertionError("the world was simulated: --in-memory did not reach the estimate")

    monkeypatch.setattr(sim.model.runner, "simulate", not_run)

    world = load_config(ROOT / "scenarios" / "bni_world_2017.yaml", {}).config
    streamed, in_memory = run_cost(world), run_cost(world, outputs="memory")
    assert run_cost(world, outputs="stream") == streamed  # 9,000 clubs: streamed by default
    capacity_years = sum(club.capacity for _, club in world.region_clubs()) * (world.years - 1)
    assert in_memory.bytes - streamed.bytes == pytest.approx(SERIES_YEAR_BYTES * capacity_years)
    longer = load_config(ROOT / "scenarios" / "bni_world_2017.yaml", {"years": 40}).config
    assert run_cost(longer).bytes > streamed.bytes  # the members' table still grows with the years
    assert run_cost(world, "python", "stream").bytes > in_memory.bytes  # the reference engine holds it all
    chapter = load_config(BNI, {}).config
    assert run_cost(chapter, outputs="stream") == run_cost(chapter)  # a chapter's outputs are its own
    limit = f"{(streamed.bytes + 400 * 2**20 + in_memory.bytes + 400 * 2**20) / 2 / 2**20:.0f}M"
    one_error_line(clubsim("run", ROOT / "scenarios" / "bni_world_2017.yaml", "--in-memory", "--max-memory", limit,
                           "--out", tmp_path / "w"), "this run (9,000 clubs) would need about", "GB of memory")
