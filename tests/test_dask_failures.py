"""A Dask cluster that fails (issue 17, item 14): a `--scheduler` that is not a Dask scheduler, no worker
while the scheduler lives, a scheduler killed mid-run. Each ends in one line within a bounded time, with
the finished replications kept, a manifest that says the run failed and how many it kept, and the resume
hint; `--resume` then finishes with the replications of an uninterrupted run.

Reproduces failures of the code before the fix: an HTTP server's port as `--scheduler` waited forever
with nothing printed; with every worker gone `compare` waited silently; a scheduler killed mid-run ended
in two tracebacks and `unexpected error: TypeError: 'FutureCancelledError' object is not iterable`.

The scheduler and the worker run in processes of their own (`dask scheduler`, `dask worker`), and so
does clubsim (`python -m sim`); the worker's replications nap (tests/dask_slow.py) so that the test can
kill the worker or the scheduler once some are finished.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sim.errors import InputError

pytest.importorskip("distributed")

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"
RUNS = 24  # one worker: 4 batches of 6 replications, 1.5 s each
SHORT = ["--set", "years=1"]
WAIT = 4.0  # CLUBSIM_DASK_WORKER_WAIT: seconds without a worker before clubsim gives up


@pytest.fixture(autouse=True)
def _kernels(numba_ready: None) -> None:
    """The reference runs here use the numba engine: load (or compile) its kernels once."""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "CLUBSIM_DEBUG")}
    return {**env, **extra}


def _wait_for(condition, what: str, within: float = 60.0, process=None) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if process is not None:
            assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{what} not within {within} s"
        time.sleep(0.05)


class Cluster:
    """A `dask scheduler` and, on demand, a `dask worker` (one thread, napping replications), each in a
    process group of its own; `process_groups` kills what is left at the test's end."""

    def __init__(self, folder: Path, process_groups):
        self.folder, self.groups = folder, process_groups
        self.naps = folder / "naps"
        self.naps.mkdir()
        file = folder / "scheduler.json"
        self.scheduler = process_groups.start(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(file)], cwd=folder, env=_env())
        _wait_for(lambda: file.is_file() and file.stat().st_size > 0, "the scheduler", process=self.scheduler)
        self.address = json.loads(file.read_text())["address"]
        self.worker = None

    def start_worker(self) -> None:
        self.worker = self.groups.start(
            [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--preload", str(TESTS / "dask_slow.py")],
            cwd=self.folder, env=_env(CLUBSIM_TEST_NAPS=str(self.naps), CLUBSIM_TEST_NAP="0.25"))
        _wait_for(lambda: (self.naps / "worker-ready").exists(), "the worker", process=self.worker)

    def finished(self) -> int:
        return len(list(self.naps.glob("done-*")))


def clubsim(process_groups, *args: object, **env: str):
    """Start `python -m sim ARGS` in its own process group."""
    return process_groups.start([sys.executable, "-m", "sim", *map(str, args)], cwd=ROOT, env=_env(**env))


def kept_rows(out: Path) -> int:
    return sum(pq.read_metadata(part).num_rows for part in (out / "parts").glob("part-*.parquet"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> bytes:
    """replications.parquet of the run uninterrupted, on the local backend (its rows are Dask's)."""
    import subprocess

    out = tmp_path_factory.mktemp("uninterrupted") / "out"
    done = subprocess.run([sys.executable, "-m", "sim", "compare", BNI, *SHORT, "--runs", str(RUNS), "--workers",
                           "1", "-q", "--no-figures", "--out", out], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return (out / "replications.parquet").read_bytes()


def assert_resume_finishes_like_an_uninterrupted_run(process_groups, out: Path, uninterrupted: bytes) -> None:
    resumed = clubsim(process_groups, "compare", BNI, *SHORT, "--resume", out, "--workers", "1", "-q",
                      "--no-figures")
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert (out / "replications.parquet").read_bytes() == uninterrupted
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def assert_failed_and_kept(stderr: str, out: Path, reason: str) -> int:
    """The last stderr line is the one error (no traceback anywhere); the manifest says failed, with the
    replications kept in the parts; returns their number."""
    assert "Traceback" not in stderr, stderr
    *before, last = stderr.splitlines()
    kept = kept_rows(out) if (out / "parts").is_dir() else 0
    assert last == (f"clubsim: error: {reason} after {kept} of {RUNS} replications, kept in {out}; finish with: "
                    f"clubsim compare {BNI} --set years=1 --resume {out}"), stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["replications"] == kept, manifest
    assert reason in manifest["error"]
    return kept


# --------------------------------------------------------------------------- not a Dask scheduler


@contextlib.contextmanager
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def silent_port():
    """A port that accepts connections (the kernel's backlog) and never says anything."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as listener:
        yield f"127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("server", [http_server, silent_port], ids=["http-server", "silent-port"])
def test_a_scheduler_address_that_is_not_a_dask_scheduler_fails_in_one_line(tmp_path, process_groups, server):
    out = tmp_path / "out"
    with server() as address:
        started = time.monotonic()
        process = clubsim(process_groups, "compare", BNI, *SHORT, "--runs", 2, "--scheduler", address,
                          "--out", out)
        _, stderr = process.communicate(timeout=60)
        elapsed = time.monotonic() - started
    assert process.returncode == 2, stderr
    assert stderr.splitlines() == [
        f"clubsim: error: --scheduler: {address}: accepts connections but does not answer as a Dask scheduler "
        "within 5 s; expected the address of a Dask scheduler, like tcp://host:8786"]
    assert elapsed < 30
    assert not out.exists()  # refused before the output folder is made


def test_a_dask_worker_address_is_not_a_scheduler_address():
    from distributed import LocalCluster

    from sim.experiments.backends import check_scheduler_reachable

    with LocalCluster(n_workers=1, processes=False, protocol="tcp://", dashboard_address=None) as cluster:
        check_scheduler_reachable(cluster.scheduler_address)
        worker = next(iter(cluster.workers.values())).address
        with pytest.raises(InputError, match=f"--scheduler: {worker}: is a Dask worker, not the scheduler; "
                                             "expected the address of a Dask scheduler"):
            check_scheduler_reachable(worker)


# --------------------------------------------------------------------------- no worker


def test_a_scheduler_without_workers_says_it_waits_then_fails_in_one_line(tmp_path, process_groups, uninterrupted):
    cluster = Cluster(tmp_path, process_groups)
    out = tmp_path / "out"
    process = clubsim(process_groups, "compare", BNI, *SHORT, "--runs", RUNS, "--scheduler", cluster.address,
                      "-q", "--no-figures", "--out", out, CLUBSIM_DASK_WORKER_WAIT=str(WAIT))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    lines = stderr.splitlines()
    assert len(lines) == 2, lines
    assert re.fullmatch(f"clubsim: waiting for Dask workers at {re.escape(cluster.address)}: none connected for "
                        rf"\d s \(giving up after {WAIT:g} s; CLUBSIM_DASK_WORKER_WAIT=SECONDS waits longer\)",
                        lines[0]), lines
    reason = f"no Dask worker connected to the scheduler at {cluster.address} for {WAIT:g} s"
    assert assert_failed_and_kept(stderr, out, reason) == 0
    process_groups.assert_ended(process)
    assert_resume_finishes_like_an_uninterrupted_run(process_groups, out, uninterrupted)


def test_every_worker_gone_mid_run_keeps_the_finished_replications(tmp_path, process_groups, uninterrupted):
    cluster = Cluster(tmp_path, process_groups)
    cluster.start_worker()
    out = tmp_path / "out"
    process = clubsim(process_groups, "compare", BNI, *SHORT, "--runs", RUNS, "--scheduler", cluster.address,
                      "-q", "--no-figures", "--out", out, CLUBSIM_DASK_WORKER_WAIT=str(WAIT))
    _wait_for(lambda: cluster.finished() >= 8, "8 replications", process=process)
    time.sleep(0.5)  # the first batch's 6 rows reach clubsim
    os.killpg(cluster.worker.pid, signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    reason = f"no Dask worker connected to the scheduler at {cluster.address} for {WAIT:g} s"
    assert assert_failed_and_kept(stderr, out, reason) >= 6
    process_groups.assert_ended(process)
    assert_resume_finishes_like_an_uninterrupted_run(process_groups, out, uninterrupted)


# --------------------------------------------------------------------------- scheduler gone


def test_a_scheduler_killed_mid_run_keeps_the_finished_replications(tmp_path, process_groups, uninterrupted):
    cluster = Cluster(tmp_path, process_groups)
    cluster.start_worker()
    out = tmp_path / "out"
    process = clubsim(process_groups, "compare", BNI, *SHORT, "--runs", RUNS, "--scheduler", cluster.address,
                      "-q", "--no-figures", "--out", out)
    _wait_for(lambda: cluster.finished() >= 8, "8 replications", process=process)
    time.sleep(0.5)
    started = time.monotonic()
    os.killpg(cluster.scheduler.pid, signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    assert time.monotonic() - started < 30
    assert len(stderr.splitlines()) == 1, stderr
    assert assert_failed_and_kept(stderr, out, f"the Dask scheduler at {cluster.address} went away") >= 6
    process_groups.assert_ended(process)
    assert_resume_finishes_like_an_uninterrupted_run(process_groups, out, uninterrupted)


# --------------------------------------------------------------------------- workers that keep dying


def test_workers_that_keep_dying_on_the_same_replications_are_one_line():
    from naps import die  # the local cluster's worker processes get this process's sys.path, tests/ included

    from sim.errors import BackendError
    from sim.experiments.backends import run_tasks

    started = time.monotonic()
    with pytest.raises(BackendError, match=r"^Dask workers died 4 times running the same batch of replications "
                                           r"\(the last at tcp://127\.0\.0\.1:\d+\); see the workers' logs"):
        run_tasks([1, 2], die, backend="dask", workers=1, on_result=print)
    assert time.monotonic() - started < 60
