"""A run's figures drawn in a forked process, while the parent process simulates.

Importing matplotlib and rendering four figures takes more CPU than loading the
numba kernels and simulating ten years. `clubsim run` forks a `FigureProcess`
before it imports the engine: the child imports matplotlib at once, then draws
the figures (`sim.presentation.plots.plot_run`) when the run's tables arrive, while the parent
writes the data files. On a machine with two cores the wall time of a cached run
drops by about the figures' share. The figures are the same as drawn in-process.

Forking is safe only in a single-threaded process (counting native threads:
numpy's BLAS starts some when imported) on Linux; anywhere else
`start_figure_process` returns None and the caller draws in-process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any


class FigureProcess:
    """A forked child that imports matplotlib now and draws one run's figures when asked."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._connection, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end,), daemon=True, name="clubsim-figures")
        self._process.start()
        child_end.close()

    def draw(self, series: Any, members: Any, out_dir: Path, title: str, clubs: Any = None) -> None:
        """Send a run's weekly series and member table (frames) to be drawn into `out_dir`."""
        self._connection.send((series, members, Path(out_dir), title, clubs))

    def result(self) -> list[Path]:
        """The figure paths, once drawn; the child's OSError (a figure that cannot be written), or RuntimeError
        if it failed otherwise."""
        try:
            status, value = self._connection.recv()
        except EOFError:
            status, value = "error", f"the figure process ended with exit code {self._process.exitcode}"
        self.close()
        if status == "oserror":  # raised here as it was there: the caller names the file
            raise OSError(*value)
        if status != "ok":
            raise RuntimeError(f"drawing the figures failed: {value}")
        return value

    def close(self) -> None:
        """Stop the child if it is still running (a run that failed before its figures)."""
        self._connection.close()
        self._process.join(timeout=0.5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()


def _threads() -> int:
    """This process's native threads (Linux)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def start_figure_process() -> FigureProcess | None:
    """A `FigureProcess` where forking is safe (Linux, one native thread), else None: draw in-process."""
    if sys.platform != "linux" or _threads() > 1:
        return None
    try:
        return FigureProcess()
    except OSError:  # no processes left to fork: draw in-process
        return None


def _serve(connection: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's; it stops this process
    try:
        from sim.presentation.plots import plot_run, warm_up

        warm_up()
        job = connection.recv()
        connection.send(("ok", plot_run(*job)))
    except EOFError:  # the parent failed before its run's tables were ready
        pass
    except OSError as err:  # a file that cannot be written: the parent names it (disk full, permissions)
        connection.send(("oserror", (err.errno, err.strerror, err.filename)))
    except BaseException as err:  # reported by the parent, which owns the exit code
        connection.send(("error", f"{type(err).__name__}: {err}"))
    finally:
        connection.close()
