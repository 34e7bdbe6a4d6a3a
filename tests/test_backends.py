"""Backends (`sim.experiments.backends`): the local pool and Dask give the same replications, whatever happens to
workers.

Each row depends only on (scenario, seed), so in-process, two local workers, a Dask LocalCluster
and a cluster that loses a worker mid-run must all write the same replications.parquet bytes.
"""

from __future__ import annotations

import operator
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from naps import fail_unpicklably, fail_with_chains, pool_left

from sim import compare
from sim.errors import BackendError, InputError, WorkerFailure
from sim.experiments.backends import _batch_results, run_tasks
from sim.experiments.experiment import load_experiment

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"

EXPERIMENT = """
scenario: {bni}
overrides: {{years: {years}}}
policies:
  exclusivity: {{}}
  open: {{club.composition.policy: open}}
runs: {runs}
seed: 99
"""
SERIES = ["members_weekly", "tenure_years", "tenure_observed", "tenure_type"]


@pytest.fixture(autouse=True)
def _kernels(numba_ready: None) -> None:
    """The engine's kernels are loaded (or compiled) once, before any pool starts."""


def experiment(tmp_path: Path, years: int = 2, runs: int = 8):
    path = tmp_path / f"exp-{years}-{runs}.yaml"
    path.write_text(EXPERIMENT.format(bni=BNI, years=years, runs=runs), encoding="utf-8")
    return load_experiment(path)


def scalars(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in SERIES if c in frame.columns])


# --------------------------------------------------------------------------- run_tasks


@pytest.mark.parametrize("workers", [1, 2])
def test_local_backend_returns_every_result_once(workers: int) -> None:
    results: list[int] = []
    progress: list[tuple[int, int]] = []
    run_tasks(list(range(40)), operator.neg, workers=workers, on_result=results.append,
              progress=lambda done, total: progress.append((done, total)))
    assert sorted(results) == sorted(-i for i in range(40))
    assert progress[-1] == (40, 40) and [d for d, _ in progress] == list(range(1, 41))


def test_an_interrupt_cancels_the_rest_and_the_pool_still_works() -> None:
    seen: list[int] = []

    def stop_after_three(result: int) -> None:
        seen.append(result)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_tasks(list(range(200)), operator.neg, workers=2, on_result=stop_after_three)
    assert len(seen) == 3
    # shut down before the interrupt propagates: nothing left for the interpreter's exit hooks to race with
    assert pool_left()[0] == 0
    again: list[int] = []
    run_tasks(list(range(10)), operator.neg, workers=2, on_result=again.append)
    assert sorted(again) == sorted(-i for i in range(10))


@pytest.mark.parametrize("backend", ["local", "dask"])
@pytest.mark.parametrize("task", [3, 5])
def test_an_exception_that_cannot_travel_back_from_a_worker_says_what_it_was(backend: str, task: int) -> None:
    """Unfixed, the local pool said a worker died (BrokenProcessPool), or that a lock cannot be pickled."""
    with pytest.raises(WorkerFailure, match=r"naps\._(HoldsALock|TwoArguments): task \d") as raised:
        run_tasks([1, task, 2, 4], fail_unpicklably, backend=backend, workers=2, on_result=lambda _: None)
    assert "in fail_unpicklably" in raised.value.worker_traceback
    assert "raised in a worker process" in raised.value.__notes__[0]


@pytest.mark.parametrize("backend", ["local", "dask"])
def test_an_exception_that_travels_keeps_its_type_whatever_its_chain_holds(backend: str) -> None:
    with pytest.raises(InputError, match=r"^exp.yaml: club.fees.annual: must be at least 0$"):
        run_tasks([1, 7, 2], fail_with_chains, backend=backend, workers=2, on_result=lambda _: None)
    with pytest.raises(ValueError, match="^a$"):  # a loop in its chain: no endless walk
        run_tasks([1, 8, 2], fail_with_chains, backend=backend, workers=2, on_result=lambda _: None)


NAPPER = """
import sys
folder, seconds, tests = sys.argv[1], float(sys.argv[2]), sys.argv[3]
sys.path.insert(0, tests)
from naps import nap, pool_left
from sim.experiments.backends import run_tasks
try:
    run_tasks([(folder, i, seconds) for i in range(6)], nap, workers=2, on_result=lambda _: None)
except KeyboardInterrupt:
    print("interrupted; pool threads and workers left:", *pool_left())
    sys.exit(130)
"""


def interrupt_naps(folder: Path, seconds: float, presses: int, process_groups) -> tuple[float, str, str]:
    """Run NAPPER (six naps of `seconds` on two local workers, one nap a batch) in its own process group;
    once both workers nap, press Ctrl-C `presses` times, a second apart: (seconds from the first press
    to the exit, stdout, stderr)."""
    tests = Path(__file__).parent
    process = process_groups.start([sys.executable, "-c", NAPPER, str(folder), str(seconds), str(tests)])
    deadline = time.monotonic() + 120
    while len(list(folder.glob("started-*"))) < 2:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the workers did not start in 120 s"
        time.sleep(0.05)
    pressed = time.monotonic()
    for press in range(presses):
        if press:
            time.sleep(1.0)
            assert process.poll() is None, "the first Ctrl-C waits for the running batches"
        process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    elapsed = time.monotonic() - pressed
    assert process.returncode == 130, (stdout, stderr)
    process_groups.assert_ended(process)
    return elapsed, stdout, stderr


def naps(folder: Path, state: str) -> int:
    return len(list(folder.glob(f"{state}-*")))


def test_ctrl_c_lets_the_running_batches_finish_then_stops_the_workers(tmp_path: Path, process_groups) -> None:
    """One Ctrl-C: the batches not yet handed to a worker are cancelled, those handed over end, and the
    pool is shut down before KeyboardInterrupt propagates, so the interpreter exits silently (nothing
    left running for its exit hooks: CPython's would print `OSError: Bad file descriptor`)."""
    _, stdout, stderr = interrupt_naps(tmp_path, 2.0, presses=1, process_groups=process_groups)
    assert stdout == "interrupted; pool threads and workers left: 0 0\n" and stderr == ""
    assert naps(tmp_path, "finished") == naps(tmp_path, "started")
    assert naps(tmp_path, "started") <= 3  # two running, one in the pool's call queue; three cancelled


def test_a_second_ctrl_c_kills_the_busy_workers(tmp_path: Path, process_groups) -> None:
    elapsed, stdout, stderr = interrupt_naps(tmp_path, 120.0, presses=2, process_groups=process_groups)
    assert stdout == "interrupted; pool threads and workers left: 0 0\n" and stderr == ""
    assert naps(tmp_path, "finished") == 0 and elapsed < 30  # far less than the workers' 120-s naps


def test_unknown_backend_and_bad_worker_counts_are_input_errors() -> None:
    with pytest.raises(InputError, match="--backend: 'spark': unknown backend; use one of: local, dask"):
        run_tasks([1], operator.neg, backend="spark", on_result=print)
    with pytest.raises(InputError, match="--workers: must be at least 1"):
        run_tasks([1], operator.neg, workers=0, on_result=print)


# --------------------------------------------------------------------------- experiments


def test_local_and_dask_backends_write_identical_replications(tmp_path: Path) -> None:
    exp = experiment(tmp_path)
    outputs = {}
    for name, backend, workers in (("local1", "local", 1), ("local2", "local", 2), ("dask", "dask", 2)):
        result = compare(exp, backend=backend, workers=workers, out=tmp_path / name, figures=False)
        outputs[name] = result
        assert len(result.replications) == 16
    reference = (tmp_path / "local1" / "replications.parquet").read_bytes()
    for name in ("local2", "dask"):
        assert (tmp_path / name / "replications.parquet").read_bytes() == reference, name
        pd.testing.assert_frame_equal(scalars(outputs[name].replications), scalars(outputs["local1"].replications))
        assert (tmp_path / name / "comparison.csv").read_text() == (tmp_path / "local1" / "comparison.csv").read_text()


def test_a_batch_fetched_before_its_worker_died_is_kept_and_a_cancelled_one_fails() -> None:
    """CI once failed here: the worker holding a finished batch was killed after the client had fetched its
    results, the future's status turned "lost", and the good results were taken for a cancellation."""
    from distributed.client import FutureCancelledError

    assert _batch_results([1, 2], "running", "tcp://x:1") == [1, 2]
    with pytest.raises(BackendError, match=r"cancelled the replications \(lost\)"):
        _batch_results(FutureCancelledError("k", "lost"), "running", "tcp://x:1")
    with pytest.raises(BackendError, match="went away"):
        _batch_results(FutureCancelledError("k", "scheduler-connection-lost"), "closed", "tcp://x:1")
    failed = (ZeroDivisionError, ZeroDivisionError("in a replication"), None)  # an "error" future's result
    with pytest.raises(ZeroDivisionError, match="in a replication"):
        _batch_results(failed, "closed", "tcp://x:1")


def test_the_dask_loop_keeps_a_batch_whose_future_says_lost_after_its_results_came(monkeypatch) -> None:
    """The loop of `_run_dask` itself, on a client whose every future already says "lost" (its worker died
    after the results were fetched): every result is counted once, nothing is called cancelled."""
    import distributed

    import sim.experiments.backends as backends

    class Future:
        status = "lost"

        def __init__(self, results: list[int]):
            self.results = results

    class Client:
        status = "running"

        def nthreads(self) -> dict[str, int]:
            return {"tcp://w:1": 1, "tcp://w:2": 1}

        def map(self, fn, batches, **options):
            return [Future(fn(batch)) for batch in batches]

        def cancel(self, futures) -> None:
            pass

        def close(self) -> None:
            pass

    class AsCompleted:
        def __init__(self, futures, with_results: bool):
            self.queue = [(future, future.results) for future in futures]

        def is_empty(self) -> bool:
            return not self.queue

        def has_ready(self) -> bool:
            return bool(self.queue)

        def __next__(self):
            return self.queue.pop(0)

    monkeypatch.setattr(backends, "_connect", lambda scheduler, workers: (Client(), None))
    monkeypatch.setattr(distributed, "as_completed", AsCompleted)
    results: list[int] = []
    run_tasks(list(range(30)), operator.neg, backend="dask", scheduler="tcp://fake:1", on_result=results.append)
    assert sorted(results) == sorted(-i for i in range(30))


def test_a_killed_dask_worker_does_not_change_the_result(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    exp = experiment(tmp_path, years=4, runs=40)
    expected = compare(exp, workers=1, figures=False).replications

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:  # closed before compare opens its own: one client at a time
            victim = sorted(client.run(os.getpid).values())[0]
        killed: dict[str, int] = {}

        def kill_once(done: int, total: int) -> None:
            if done > 0 and not killed:
                killed.update(done=done, total=total)
                threading.Thread(target=os.kill, args=(victim, signal.SIGKILL)).start()

        result = compare(exp, backend="dask", scheduler=cluster.scheduler_address, progress=kill_once,
                         figures=False)
        assert killed and killed["done"] < killed["total"], "the worker was not killed mid-run"
        with Client(cluster) as client:
            assert victim not in client.run(os.getpid).values()
    pd.testing.assert_frame_equal(scalars(result.replications), scalars(expected))
    for a, b in zip(result.replications["members_weekly"], expected["members_weekly"], strict=True):
        assert list(a) == list(b)
