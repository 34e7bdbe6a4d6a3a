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
