"""Where replications run: in this process, a local process pool, or a Dask cluster.

`run_tasks` maps a top-level (picklable) function over tasks in batches and hands each result
to `on_result` as it arrives, in completion order; callers sort. Progress is reported through a
callback `(done, total)`, so the CLI owns the progress bar. A Dask cluster that stops running them
(its scheduler goes away, no worker for DASK_WORKER_WAIT seconds, workers that keep dying) raises
`BackendError`, one line; a `--scheduler` that is not a Dask scheduler is an `InputError`.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import math
import os
import pickle
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Any

from sim.errors import BackendError, InputError, Terminated, WorkerFailure

BACKENDS = ("local", "dask")
MAX_BATCH = 16
BATCHES_PER_WORKER = 4
DASK_RETRIES = 3
DASK_CONNECT_TIMEOUT = "10s"
DASK_HANDSHAKE_SECONDS = 10.0  # how long a --scheduler may take to answer as a Dask scheduler
# How long a run waits with no Dask worker connected (all died, or none started yet) before it gives up;
# a batch system may take longer to start workers: the environment variable sets it (seconds).
DASK_WORKER_WAIT = 60.0
DASK_WORKER_WAIT_ENV = "CLUBSIM_DASK_WORKER_WAIT"
WORKER_CHECK_SECONDS = 1.0  # how often the scheduler is asked how many workers it has
POLL_SECONDS = 0.1  # how soon a counted Ctrl-C is acted on
KILL_GRACE_SECONDS = 10.0  # after a second Ctrl-C, how long the pool may take to notice its killed workers
PARENT_WATCH_SECONDS = 1.0  # how often a local pool worker checks that its parent still lives
# Worker processes of this machine beyond its usable cores only share them (and each holds its own
# interpreter and kernels, about 300 MB); a few more than the cores are allowed, with a warning.
MAX_WORKERS_PER_CORE = 4


def default_workers() -> int:
    """Cores this process may use (os.process_cpu_count on Python 3.13+, else the affinity mask)."""
    counter = getattr(os, "process_cpu_count", None)
    if counter is not None:
        return counter() or 1
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _batches[T](tasks: Sequence[T], workers: int) -> list[list[T]]:
    """A few batches per worker (load balance), at most MAX_BATCH tasks each (progress, memory)."""
    size = max(1, min(MAX_BATCH, math.ceil(len(tasks) / (max(workers, 1) * BATCHES_PER_WORKER))))
    return [list(tasks[i:i + size]) for i in range(0, len(tasks), size)]


def run_batch[T, R](fn: Callable[[T], R], batch: Sequence[T]) -> list[R]:
    """Apply `fn` to every task of a batch (what a worker runs). An exception that would not survive the
    trip back to the parent becomes a `WorkerFailure` saying what it was; one that would keeps its type (an
    `InputError` stays one line, exit 2), its chain cut where a link would not travel."""
    try:
        return [fn(task) for task in batch]
    except Exception as err:
        worker_traceback = traceback.format_exc()
        _cut_links_that_cannot_travel(err)  # first: where tblib is installed (Dask), a pickle holds the chain
        if _travels(err):
            raise
        failure = _worker_failure(err, worker_traceback)
    raise failure  # outside the except: no untravelling __context__ (Dask pickles an exception's chain)


def _travels(err: BaseException) -> bool:
    """Whether an exception pickles and is rebuilt from its pickle (with its chain, where tblib's pickling
    is installed, as in Dask's workers)."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return False
    return True


def _worker_failure(err: BaseException, worker_traceback: str) -> WorkerFailure:
    return WorkerFailure(f"{type(err).__module__}.{type(err).__qualname__}", str(err), worker_traceback)


def _cut_links_that_cannot_travel(err: BaseException) -> None:
    """Along an exception's chain (causes and contexts, each link once): a cause that would not travel is
    replaced by a `WorkerFailure` naming it, a context that would not, or that is suppressed, is dropped."""
    seen: set[int] = set()
    stack = [err]
    while stack:
        link = stack.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        if link.__cause__ is not None and not _travels(link.__cause__):
            link.__cause__ = _worker_failure(link.__cause__, "")
        if link.__context__ is not None and (link.__suppress_context__ or not _travels(link.__context__)):
            link.__context__ = None
        stack += [e for e in (link.__cause__, link.__context__) if e is not None]


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group: only the parent handles it (and shuts the pool down)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _pool_worker_start() -> None:
    """A local pool worker's start: Ctrl-C and SIGTERM sent to the whole process group (a terminal, `timeout`,
    a batch scheduler) are the parent's to handle, which stops the pool and keeps what finished (a worker
    killed by them broke the pool, and the parent exited 1 with `BrokenProcessPool`); and a worker whose
    parent died (`kill -9`) exits rather than run on, holding its memory, for ever."""
    _ignore_sigint()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # born blocked (`_run_pool`); ignored from now on
    parent = os.getppid()

    def exit_when_orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=exit_when_orphaned, name="clubsim-parent-watch", daemon=True).start()


def _sigint_plugin() -> Any:
    """A Dask worker plugin: our LocalCluster's workers (and their restarts) leave Ctrl-C to this process."""
    from distributed.diagnostics.plugin import WorkerPlugin

    # defined here so that importing sim.experiments.backends does not import distributed
    class IgnoreSigint(WorkerPlugin):
        def setup(self, worker: Any) -> None:
            if threading.current_thread() is threading.main_thread():
                _ignore_sigint()

    return IgnoreSigint()


# sent to the whole process group by terminals, `timeout` and batch schedulers
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """While worker processes are spawned, SIGINT is ignored in this process (it is blocked here, by
    `_signals_deferred`): a spawned interpreter that starts with SIGINT ignored keeps it ignored, so a
    Ctrl-C while it starts (before its initializer runs) cannot kill it with a traceback and break the
    pool. A Ctrl-C pending here meanwhile is raised again once the handler is back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:
        yield
        return
    pending = signal.SIGINT in signal.sigpending()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pending or signal.SIGINT in signal.sigpending():
            signal.raise_signal(signal.SIGINT)  # still blocked: delivered when `_signals_deferred` ends


@contextmanager
def _signals_deferred(signals: Sequence[int] = (signal.SIGINT,)) -> Iterator[None]:
    """Block `signals` while a pool or cluster starts its helper threads and processes: threads inherit the
    mask, so Ctrl-C always reaches the main thread, and one sent meanwhile arrives when the block ends.
    Spawned processes inherit it too (through exec): a pool worker is born with SIGTERM blocked, so a
    SIGTERM sent to the whole group while its interpreter starts waits, and is dropped when its initializer
    ignores SIGTERM (`_pool_worker_start`), instead of killing it and breaking the pool."""
    block = getattr(signal, "pthread_sigmask", None)
    if block is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(signals))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def check_scheduler_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast (before output folders are made) when a TCP scheduler address does not answer, or answers
    but not as a Dask scheduler (within `timeout` seconds each).

    Only `tcp://host:port` and `host:port` are accepted (InputError for tls://, inproc://, ...).
    """
    from urllib.parse import urlsplit

    text = address if "://" in address else f"tcp://{address}"
    parts = urlsplit(text)
    if parts.scheme != "tcp":  # tls:// needs certificates clubsim does not pass; inproc:// is another process's
        raise InputError("--scheduler", address, f"{parts.scheme}:// addresses are not supported: give the "
                                                 "scheduler's tcp://host:port address")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise InputError("--scheduler", address, "expected a Dask scheduler address like tcp://host:8786")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        raise InputError("--scheduler", address, f"cannot connect: {err.strerror or err}") from None
    check_dask_scheduler(address, timeout)


async def _identity(address: str, timeout: float) -> Any:
    from distributed.comm import connect
    from distributed.core import send_recv

    comm = await connect(address, timeout=timeout)
    try:
        return await send_recv(comm, op="identity", reply=True)
    finally:
        comm.abort()


def check_dask_scheduler(address: str, timeout: float = DASK_HANDSHAKE_SECONDS) -> None:
    """InputError unless `address` answers as a Dask scheduler within `timeout` seconds.

    Dask's own handshake waits without a limit: a server of another kind (a web server, a port that
    accepts and says nothing) would keep `distributed.Client` waiting forever. The question is asked on
    a thread of its own, with its own event loop (this thread may run one already, as in Jupyter).
    """
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            outcome["identity"] = asyncio.run(asyncio.wait_for(_identity(address, timeout), timeout))
        except BaseException as err:  # reported by the caller's thread
            outcome["error"] = err

    expected = "expected the address of a Dask scheduler, like tcp://host:8786"
    with _dask_logs_quiet():
        thread = threading.Thread(target=ask, name="clubsim-scheduler-check", daemon=True)
        with _signals_deferred():
            thread.start()
        thread.join(timeout + 5.0)
    error = outcome.get("error")
    if thread.is_alive() or isinstance(error, (TimeoutError, asyncio.TimeoutError)):
        raise InputError("--scheduler", address, f"accepts connections but does not answer as a Dask scheduler "
                                                 f"within {timeout:g} s; {expected}")
    if error is not None:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise InputError("--scheduler", address, f"does not answer as a Dask scheduler ({reason}); {expected}")
    identity = outcome.get("identity")
    kind = identity.get("type") if isinstance(identity, dict) else None
    if kind != "Scheduler":
        what = f"is a Dask {kind.lower()}, not the scheduler" if isinstance(kind, str) and kind.isidentifier() \
            else "does not answer as a Dask scheduler"
        raise InputError("--scheduler", address, f"{what}; {expected}")


def check_workers(workers: int | None, backend: str = "local", scheduler: str | None = None) -> str | None:
    """Refuse more local worker processes than MAX_WORKERS_PER_CORE x the usable cores (InputError);
    return a warning when there are more than the cores, else None. Workers of a remote Dask
    scheduler are not this machine's: not checked."""
    if workers is None or (backend == "dask" and scheduler):
        return None
    if workers < 1:
        raise InputError("--workers", None, f"must be at least 1, got {workers}")
    cores = default_workers()
    if workers > MAX_WORKERS_PER_CORE * cores:
        raise InputError("--workers", None, f"{workers:,} worker processes on {cores} usable cores: at most "
                                            f"{MAX_WORKERS_PER_CORE * cores} ({MAX_WORKERS_PER_CORE} per core); "
                                            f"leave it out to use the {cores} cores")
    if workers > cores:
        return (f"--workers {workers} is more than the {cores} usable cores: the workers share them "
                "(no faster, more memory)")
    return None


def _check(backend: str, workers: int | None, scheduler: str | None = None) -> None:
    if backend not in BACKENDS:
        raise InputError("--backend", repr(backend), f"unknown backend; use one of: {', '.join(BACKENDS)}")
    check_workers(workers, backend, scheduler)


def run_tasks[T, R](
    tasks: Sequence[T],
    fn: Callable[[T], R],
    *,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    on_result: Callable[[R], Any],
    progress: Callable[[int, int], Any] | None = None,
) -> None:
    """Run `fn(task)` for every task and call `on_result(result)` as each finishes (completion order).

    backend "local": `workers` processes (default: the usable cores); `workers=1` runs in this
    process. backend "dask": a `distributed.Client` on `scheduler` (e.g. "tcp://host:8786"), or a
    LocalCluster of `workers` single-threaded processes when no scheduler is given; a task whose
    worker dies is rerun elsewhere. `fn` must be importable (top level of a module) for both pools.
    An exception from `fn` or `on_result`, or KeyboardInterrupt, cancels what is left and shuts
    down what was started here, then propagates.
    """
    _check(backend, workers, scheduler)
    total = len(tasks)
    if total == 0:
        return
    counter = _Counter(total, on_result, progress)
    if backend == "dask":
        _run_dask(tasks, fn, workers, scheduler, counter)
    elif (workers or default_workers()) == 1 or total == 1:
        for task in tasks:
            counter.add(fn(task))
    else:
        _run_pool(tasks, fn, workers or default_workers(), counter)


class _Counter:
    def __init__(self, total: int, on_result: Callable[[Any], Any], progress: Callable[[int, int], Any] | None):
        self.total, self.done = total, 0
        self.on_result, self.progress = on_result, progress

    def add(self, result: Any) -> None:
        self.on_result(result)
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


_POOL: tuple[int, Any] | None = None

GUARD_HINT = 'put the code that runs experiments under `if __name__ == "__main__":`'
_starting_worker = threading.local()  # set while this thread starts one of the pool's worker processes
# local Dask clusters this process runs: their nannies spawn workers on their threads, at the start and again
# whenever a worker dies, so the flag lasts as long as a cluster does
_local_dask_clusters = 0
_local_dask_clusters_lock = threading.Lock()


def _preparation_data(name: str, _original: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """multiprocessing's spawn preparation data, without the parent's `__main__` for clubsim's own workers:
    they run only `sim.*` functions, so they need not re-run the user's script (which, without a
    `__main__` guard, would start the experiment again in every worker and break the pool)."""
    data = _original(name)
    if getattr(_starting_worker, "active", False) or _local_dask_clusters > 0:
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


def _install_preparation_data() -> None:
    from multiprocessing import spawn

    current = spawn.get_preparation_data
    if getattr(current, "func", None) is not _preparation_data:  # once; other processes' data is left as it is
        spawn.get_preparation_data = partial(_preparation_data, _original=current)


class _WorkerProcess(SpawnProcess):
    """A worker process of the local pool: spawned without the parent's `__main__`."""

    def start(self) -> None:
        _starting_worker.active = True
        try:
            super().start()
        finally:
            _starting_worker.active = False


class _WorkerContext(SpawnContext):
    Process = _WorkerProcess


def _start_local_cluster(workers: int | None) -> Any:
    """A local Dask cluster whose workers are spawned without the parent's `__main__`, as the local pool's are
    (they run only `sim.*` functions), for as long as it runs: when it starts, and when a nanny restarts a
    worker that died. Without it, a script with no `__main__` guard was re-run by every worker, which asked
    for workers in turn and broke the cluster (some 330 lines of Dask errors). Close it with `_close_local_cluster`."""
    global _local_dask_clusters
    from distributed import LocalCluster

    _install_preparation_data()
    with _local_dask_clusters_lock:
        _local_dask_clusters += 1
    try:
        return LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                            dashboard_address=None, silence_logs=logging.ERROR)
    except BaseException:
        with _local_dask_clusters_lock:
            _local_dask_clusters -= 1
        raise


def _close_local_cluster(cluster: Any) -> None:
    global _local_dask_clusters
    try:
        cluster.close()
    finally:
        with _local_dask_clusters_lock:
            _local_dask_clusters -= 1


def check_not_bootstrapping(source: str | None = None) -> None:
    """Refuse (one line) to start worker processes from a process that is itself starting: a script
    without a `__main__` guard, re-run in each worker of a pool that imports the parent's `__main__`
    (multiprocessing's, EMA Workbench's, a local Dask cluster's; the local pool here does not)."""
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        import __main__

        raise InputError(source or getattr(__main__, "__file__", None), None,
                         "clubsim was asked to start worker processes in a process that is itself starting as "
                         "a worker, which re-runs the script; " + GUARD_HINT)


def _pool(workers: int) -> Any:
    """The local process pool, kept between calls (workers keep their imports and loaded kernels)."""
    global _POOL
    from concurrent.futures import ProcessPoolExecutor

    if _POOL is not None and _POOL[0] == workers:
        return _POOL[1]
    shutdown_pool()
    check_not_bootstrapping()
    _install_preparation_data()
    # spawn: fresh interpreters, safe whatever threads this process runs (progress bars, numba); they
    # do not re-run the caller's script, so scripts, `python -c` and notebooks need no __main__ guard
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_WorkerContext(), initializer=_pool_worker_start)
    _POOL = (workers, pool)
    return pool


def shutdown_pool(interrupts: _Interrupts | None = None) -> None:
    """Stop the local pool's worker processes once the batches they run end (the workers also stop
    when this process exits); with `interrupts` (Ctrl-C presses being counted), a further press kills
    the busy workers instead, and after KILL_GRACE_SECONDS this returns whatever the pool's state.

    `_run_pool` calls it before an exception leaves, not leaving it to interpreter exit: CPython's
    exit hook wakes the pool's manager thread without the pool's lock, and if batches are still
    running then it can write to a pipe the manager has just closed (`OSError: Bad file
    descriptor` printed at exit) or wait on it for as long as those batches run.
    """
    global _POOL
    if _POOL is None:
        return
    pool, _POOL = _POOL[1], None
    if interrupts is None:
        pool.shutdown(wait=True, cancel_futures=True)
        return
    stopper = threading.Thread(target=pool.shutdown, kwargs={"wait": True, "cancel_futures": True},
                               name="clubsim-pool-shutdown", daemon=True)
    stopper.start()
    seen, deadline = interrupts.count, math.inf
    if interrupts.terminated:  # SIGTERM: the workers stop now, not when their batches end
        seen = -1
    while stopper.is_alive() and time.monotonic() < deadline:
        stopper.join(POLL_SECONDS)
        if (interrupts.count > seen or interrupts.terminated) and deadline == math.inf:
            # ProcessPoolExecutor has no public way to stop busy workers; it sees them die and breaks
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                with suppress(OSError, ValueError):
                    process.kill()
            deadline = time.monotonic() + KILL_GRACE_SECONDS


atexit.register(shutdown_pool)


def _run_pool(tasks: Sequence[Any], fn: Callable[[Any], Any], workers: int, counter: _Counter) -> None:
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    batches = _batches(tasks, workers)
    workers = min(workers, len(batches))  # the pool starts a process per batch submitted, up to its size
    pending: set[Any] = set()
    with _sigint_counted() as interrupts:
        try:
            with _signals_deferred(STOP_SIGNALS), _children_ignore_sigint():  # submit starts the workers
                try:
                    pending = {_pool(workers).submit(run_batch, fn, batch) for batch in batches}
                except (BrokenProcessPool, RuntimeError):  # a worker died earlier, or the pool was shut down
                    shutdown_pool()
                    pending = {_pool(workers).submit(run_batch, fn, batch) for batch in batches}
            while pending:
                if interrupts.terminated:
                    raise Terminated
                if interrupts.count:
                    raise KeyboardInterrupt
                finished, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                for future in finished:
                    try:
                        results = future.result()
                    except BrokenProcessPool:  # killed by a signal to the whole group, which reaches us too?
                        time.sleep(POLL_SECONDS)
                        if interrupts.terminated:
                            raise Terminated from None
                        if interrupts.count:
                            raise KeyboardInterrupt from None
                        raise
                    for result in results:
                        counter.add(result)
        except BaseException:
            for future in pending:
                future.cancel()
            shutdown_pool(interrupts)  # the running batches' results are dropped
            raise


class _Interrupts:
    """Counts Ctrl-C presses (a SIGINT handler), and notes a SIGTERM."""

    def __init__(self) -> None:
        self.count = 0
        self.terminated = False

    def __call__(self, signum: int, frame: Any) -> None:
        self.count += 1
        if signum == signal.SIGTERM:
            self.terminated = True


@contextmanager
def _sigint_counted() -> Iterator[_Interrupts]:
    """While the local pool runs, Ctrl-C is counted rather than raised wherever the main thread happens
    to be (inside a lock the pool's threads need, or halfway through writing a result); `_run_pool`
    raises KeyboardInterrupt at one known point instead. Outside the main thread, or when SIGINT is
    ignored, nothing is installed and the count stays 0."""
    interrupts = _Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN or previous is None:
        yield interrupts
        return
    previous_term = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGINT, interrupts)
    if previous_term not in (signal.SIG_IGN, None):
        signal.signal(signal.SIGTERM, interrupts)
    try:
        yield interrupts
    finally:
        signal.signal(signal.SIGINT, previous)
        if previous_term not in (signal.SIG_IGN, None):
            signal.signal(signal.SIGTERM, previous_term)


def dask_worker_wait() -> float:
    """Seconds a Dask run waits with no worker connected: DASK_WORKER_WAIT, or CLUBSIM_DASK_WORKER_WAIT."""
    text = os.environ.get(DASK_WORKER_WAIT_ENV, "").strip()
    if not text:
        return DASK_WORKER_WAIT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise InputError(DASK_WORKER_WAIT_ENV, repr(text), "expected a number of seconds greater than 0, e.g. 600")
    return seconds


def _note(line: str) -> None:
    """A line on stderr while a run goes on (the CLI's progress bar, if any, prints it above itself)."""
    print(f"clubsim: {line}", file=sys.stderr, flush=True)


@contextmanager
def _dask_logs_quiet() -> Iterator[None]:
    """Dask's own log lines (tracebacks of a lost connection, reconnection attempts) are kept off stderr:
    what went wrong reaches the user as one line. CLUBSIM_DEBUG=1 shows them."""
    if os.environ.get("CLUBSIM_DEBUG") == "1":
        yield
        return
    # Dask's configuration gives some of its loggers a level of their own (distributed.client: warning)
    loggers = [logging.getLogger(name) for name in ("distributed", "tornado")]
    loggers += [logger for name, logger in list(logging.root.manager.loggerDict.items())
                if name.startswith(("distributed.", "tornado.")) and isinstance(logger, logging.Logger)
                and logger.level != logging.NOTSET]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class _WorkerWatch:
    """Asks the scheduler every WORKER_CHECK_SECONDS how many workers it has; after `limit` seconds with
    none (all died, or none started), BackendError. Says so on stderr halfway."""

    def __init__(self, client: Any, address: str, limit: float):
        self.client, self.address, self.limit = client, address, limit
        self.next_check = 0.0
        self.none_since: float | None = None
        self.told = False

    def check(self) -> None:
        now = time.monotonic()
        if now < self.next_check or self.client.status != "running":  # reconnecting: its futures are cancelled
            return
        self.next_check = now + WORKER_CHECK_SECONDS
        if self.client.nthreads():
            self.none_since, self.told = None, False
            return
        if self.none_since is None:
            self.none_since = now
        waited = now - self.none_since
        if waited >= self.limit:
            raise BackendError(f"no Dask worker connected to the scheduler at {self.address} for {self.limit:g} s")
        if not self.told and waited >= self.limit / 2:
            self.told = True
            _note(f"waiting for Dask workers at {self.address}: none connected for {waited:.0f} s (giving up "
                  f"after {self.limit:g} s; {DASK_WORKER_WAIT_ENV}=SECONDS waits longer)")


def _connect(scheduler: str | None, workers: int | None) -> tuple[Any, Any]:
    """A client on `scheduler` (checked to be a Dask scheduler first), or on a LocalCluster started here."""
    from distributed import Client

    if scheduler:
        check_dask_scheduler(scheduler)
    with _signals_deferred():
        if scheduler:
            try:
                return Client(scheduler, timeout=DASK_CONNECT_TIMEOUT), None
            except (OSError, TimeoutError) as err:
                raise InputError("--scheduler", scheduler, f"cannot connect: {err}") from None
        cluster = _start_local_cluster(workers)
        try:
            client = Client(cluster)
            client.register_plugin(_sigint_plugin(), name="clubsim-ignore-sigint")
        except BaseException:
            _close_local_cluster(cluster)
            raise
        return client, cluster


@contextmanager
def local_dask_cluster(workers: int | None = None) -> Iterator[str]:
    """A Dask LocalCluster kept across many `run_tasks` calls (a calibration's small batches, one per
    particle, would otherwise each start and stop a cluster): yields its scheduler address, to pass as
    `scheduler`; closed on exit."""
    client, cluster = _connect(None, workers)
    try:
        yield cluster.scheduler_address
    finally:
        with suppress(Exception):
            client.close()
        _close_local_cluster(cluster)


def _batch_results(results: Any, client_status: str, address: str) -> list[Any]:
    """A finished batch's results, as `as_completed(with_results=True)` gave them: the list `run_batch`
    returned. The future's status may already say "lost" when its worker died after the results were
    fetched, and the results are good. A failed batch's (type, exception, traceback), which as_completed
    raises only if the status still says "error" when it is taken, raises its exception."""
    if isinstance(results, list):
        return results
    if isinstance(results, tuple) and len(results) == 3 and isinstance(results[1], BaseException):
        raise results[1].with_traceback(results[2])
    # cancelled: the client lost the scheduler (or someone cancelled our keys there)
    if client_status != "running":
        raise BackendError(f"the Dask scheduler at {address} went away")
    raise BackendError(f"the Dask scheduler at {address} cancelled the replications "
                       f"({getattr(results, 'reason', type(results).__name__)})")


def _run_dask(tasks: Sequence[Any], fn: Callable[[Any], Any], workers: int | None, scheduler: str | None,
              counter: _Counter) -> None:
    import dask
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    wait = dask_worker_wait()
    # the scheduler's replies come over connections opened as needed: one to a scheduler gone fails in
    # DASK_CONNECT_TIMEOUT, not Dask's default 30 s
    with _dask_logs_quiet(), dask.config.set({"distributed.comm.timeouts.connect": DASK_CONNECT_TIMEOUT}):
        client, cluster = _connect(scheduler, workers)
        address = scheduler or cluster.scheduler_address
        gone = f"the Dask scheduler at {address} went away"
        futures: list[Any] = []
        try:
            try:
                n_workers = max(1, len(client.nthreads()))
                batches = _batches(tasks, n_workers)
                token = uuid.uuid4().hex[:12]
                keys = [f"clubsim-replications-{token}-{i}" for i in range(len(batches))]
                futures = client.map(partial(run_batch, fn), batches, key=keys, pure=False, retries=DASK_RETRIES)
                # results fetched by as_completed on the client's own loop: calling future.result() from this
                # thread races with other clients in the process (an asyncio event bound to another loop)
                pending = as_completed(futures, with_results=True)
            except (OSError, asyncio.CancelledError):
                raise BackendError(gone) from None
            watch = _WorkerWatch(client, address, wait)
            while not pending.is_empty():
                try:
                    if not pending.has_ready():
                        if client.status in ("closing", "closed"):
                            raise BackendError(gone)
                        watch.check()
                        time.sleep(POLL_SECONDS)
                        continue
                    future, results = next(pending)
                except KilledWorker as err:
                    raise BackendError(f"Dask workers died {err.allowed_failures + 1} times running the same "
                                       f"batch of replications (the last at {err.last_worker.address}); see "
                                       "the workers' logs (out of memory?)") from None
                except OSError:
                    raise BackendError(gone) from None
                for result in _batch_results(results, client.status, address):
                    counter.add(result)
        finally:
            if futures and client.status == "running":
                with suppress(Exception):  # best effort while shutting down
                    client.cancel(futures)
            with suppress(Exception):
                client.close()
            if cluster is not None:
                _close_local_cluster(cluster)


__all__ = ["BACKENDS", "check_dask_scheduler", "check_scheduler_reachable", "check_workers", "dask_worker_wait",
           "default_workers", "local_dask_cluster", "run_batch", "run_tasks", "shutdown_pool"]
