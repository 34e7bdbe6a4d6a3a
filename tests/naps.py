"""For the local pool's Ctrl-C tests: a task, a nap that leaves a file when it starts and when it ends,
and a look at what is left of the pool.

Imported by the pool's spawned workers, which get the parent's sys.path (the tests folder included).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path


def nap(task: tuple[str, int, float]) -> int:
    folder, index, seconds = task
    Path(folder, f"started-{index}").touch()
    time.sleep(seconds)
    Path(folder, f"finished-{index}").touch()
    return index


def pool_left() -> tuple[int, int]:
    """(process-pool manager threads alive, child processes alive) in this process."""
    threads = [t for t in threading.enumerate() if type(t).__name__ == "_ExecutorManagerThread"]
    return len(threads), len(multiprocessing.active_children())


def die(_task: int) -> int:
    """A task that kills the worker process that runs it, every time."""
    import os

    os._exit(1)


class _HoldsALock(Exception):
    """An exception that cannot be pickled (it holds a lock)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.lock = threading.Lock()


class _TwoArguments(Exception):
    """An exception that pickles but cannot be rebuilt from its pickle (Exception pickles as cls(*args))."""

    def __init__(self, task: int, why: str):
        super().__init__(f"task {task}: {why}")


def fail_unpicklably(task: int) -> int:
    """Task 3 raises an exception that cannot be pickled, task 5 one that cannot be unpickled."""
    if task == 3:
        raise _HoldsALock("task 3 holds a lock")
    if task == 5:
        raise _TwoArguments(task, "two arguments")
    return task


def fail_with_chains(task: int) -> int:
    """Exceptions that travel, over chains with links that do not: task 7 an input error raised `from None`
    over one, task 8 a chain that loops (a's context is b, b's cause is a)."""
    from sim.errors import InputError

    if task == 7:
        try:
            raise _HoldsALock("inner")
        except _HoldsALock:
            raise InputError("exp.yaml", "club.fees.annual", "must be at least 0") from None
    if task == 8:
        try:
            raise ValueError("a")
        except ValueError as a:
            try:
                raise _HoldsALock("b") from a
            except _HoldsALock:
                raise a from None
    return task


def die_once(task: tuple[str, int]) -> int:
    """A task that kills the worker process running its first replication, once (a file remembers it)."""
    import os

    folder, index = task
    died = Path(folder, "died")
    if index == 0 and not died.exists():
        died.touch()
        os._exit(1)
    return index
