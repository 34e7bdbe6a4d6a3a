"""Interruptions (issue 17, item 10): Ctrl-C or SIGTERM at any moment of an experiment stops it in one
line with the resume hint (exit 130, or 143 for SIGTERM), a manifest that tells the truth, and no
worker left behind.

Each test reproduces a failure of the code before the fix: pool workers born with Python's Ctrl-C
handler (a Ctrl-C while they start killed them with tracebacks and broke the pool: exit 1), a Ctrl-C
while figures are drawn leaving "running" and 0 replications in the manifest and no resume hint, a
SIGTERM killing the command outright while its workers ran on.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import sim.experiments.backends
import sim.presentation.experiment_plots
from sim.interfaces.cli import app

sys.path.insert(0, str(Path(__file__).resolve().parent))
import signal_probe  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"
SHORT = ["--set", "years=1"]

runner = CliRunner()


@pytest.fixture(autouse=True)
def _kernels(numba_ready: None) -> None:
    """The runs here use the numba engine: load (or compile) its kernels once."""


def _born_with(monkeypatch, initializer: str, probe) -> list:
    """What each of four pool tasks' `probe` sees in a worker whose `initializer` step does nothing: what the
    worker was born with, before its initializer would run."""
    monkeypatch.setattr(sim.experiments.backends, initializer, signal_probe.nothing)
    sim.experiments.backends.shutdown_pool()
    seen: list = []
    try:
        sim.experiments.backends.run_tasks(list(range(4)), probe, workers=2, on_result=seen.append)
    finally:
        sim.experiments.backends.shutdown_pool()
    return seen


def test_pool_workers_are_born_ignoring_ctrl_c(monkeypatch):
    # a Ctrl-C before the initializer runs (while the interpreter starts) must not raise KeyboardInterrupt there
    assert _born_with(monkeypatch, "_ignore_sigint", signal_probe.sigint_handler) == [repr(signal.SIG_IGN)] * 4


def test_pool_workers_are_born_with_a_groups_sigterm_held_back(monkeypatch):
    # a SIGTERM sent to the whole group while a worker's interpreter starts must wait (blocked), not kill it
    # and break the pool, until `_pool_worker_start` ignores it
    assert _born_with(monkeypatch, "_pool_worker_start", signal_probe.sigterm_blocked) == [True] * 4
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, set())  # not here, once started


def test_ctrl_c_while_figures_are_drawn_keeps_the_replications_says_how_to_resume(tmp_path, monkeypatch):
    out = tmp_path / "out"

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(sim.presentation.experiment_plots, "save_figures", interrupted)
        result = runner.invoke(app, ["compare", str(BNI), *SHORT, "--runs", "3", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 130, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("clubsim: interrupted: 3 replications kept in"), lines
    assert f"finish with: clubsim compare {BNI} --set years=1 --resume {out}" in lines[0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["replications"] == 3
    resumed = runner.invoke(app, ["compare", str(BNI), *SHORT, "--resume", str(out), "--workers", "1", "-q"])
    assert resumed.exit_code == 0, resumed.stderr
    fresh = tmp_path / "fresh"
    runner.invoke(app, ["compare", str(BNI), *SHORT, "--runs", "3", "--workers", "1", "--no-figures", "-q",
                        "--out", str(fresh)])
    assert (out / "replications.parquet").read_bytes() == (fresh / "replications.parquet").read_bytes()
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_sigterm_stops_the_workers_keeps_the_replications_and_says_how_to_resume(tmp_path, process_groups):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "sim", "compare", str(BNI), "--runs", "2000", "--workers", "2",
               "--no-figures", "-q", "--out", str(out)]
    process = process_groups.start(command, cwd=tmp_path)
    deadline = time.monotonic() + 300  # the first part is written once 50 replications (or 2 s) are done
    while not any((out / "parts").glob("part-*.parquet")) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    assert any((out / "parts").glob("part-*.parquet")), "no part written"
    os.kill(process.pid, signal.SIGTERM)  # to the command alone, as a scheduler or `kill` sends it
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("clubsim: terminated: "), lines
    assert f"finish with: clubsim compare {BNI} --resume {out}" in lines[0]
    process_groups.assert_ended(process)
    manifest = json.loads((out / "manifest.json").read_text())
    kept = sum(pq.read_metadata(part).num_rows for part in (out / "parts").glob("part-*.parquet"))
    assert manifest["status"] == "interrupted" and manifest["replications"] == kept > 0


def _started_with_a_part(process_groups, out: Path, tmp_path: Path):
    command = [sys.executable, "-m", "sim", "compare", str(BNI), "--runs", "2000", "--workers", "2",
               "--no-figures", "-q", "--out", str(out)]
    process = process_groups.start(command, cwd=tmp_path)
    deadline = time.monotonic() + 300
    while not any((out / "parts").glob("part-*.parquet")) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    assert any((out / "parts").glob("part-*.parquet")), "no part written"
    return process


def test_sigterm_to_the_whole_group_is_a_termination_not_a_broken_pool(tmp_path, process_groups):
    # `timeout`, a batch scheduler or systemd signal the whole group: the workers died of it first, and the
    # command exited 1 with "unexpected error: BrokenProcessPool" (6 times in 7)
    out = tmp_path / "out"
    process = _started_with_a_part(process_groups, out, tmp_path)
    os.killpg(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert stderr.startswith("clubsim: terminated: ") and len(stderr.splitlines()) == 1, stderr
    assert f"--resume {out}" in stderr
    process_groups.assert_ended(process)
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"


def test_pool_workers_exit_when_the_command_is_killed_outright(tmp_path, process_groups):
    # kill -9 of the command left its two workers (some 245 MB each) running for ever, re-parented to init
    out = tmp_path / "out"
    process = _started_with_a_part(process_groups, out, tmp_path)
    workers = [pid for pid in _live_in_group(process.pid) if pid != process.pid]
    assert workers, "the pool's workers"
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers), "a worker outlived its parent"


def _live_in_group(group: int) -> list[int]:
    from conftest import live_processes_in_group

    return live_processes_in_group(group)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
