"""For the Dask failure tests: a worker preload (`dask worker ... --preload tests/dask_slow.py`) that makes
every replication nap CLUBSIM_TEST_NAP seconds after it ran, leaving a file `done-*` in CLUBSIM_TEST_NAPS,
so that a test can kill the scheduler or the worker once some replications are finished.

Replications reach a worker as `sim.experiments.experiment.run_replication`, pickled by name: the worker unpickles
the name and finds this wrapper. The rows are the same as without it.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import sim.experiments.experiment

# Dask copies a preload file into the worker's folder and imports it from there: the first import patches
_run_replication = sim.experiments.experiment.run_replication
_replication = getattr(_run_replication, "unpatched", _run_replication)


def napping_replication(task: Any) -> dict[str, Any]:
    row = _replication(task)
    time.sleep(float(os.environ.get("CLUBSIM_TEST_NAP", "0.25")))
    Path(os.environ["CLUBSIM_TEST_NAPS"], f"done-{uuid.uuid4().hex}").touch()
    return row


napping_replication.unpatched = _replication  # type: ignore[attr-defined]
sim.experiments.experiment.run_replication = napping_replication


def dask_setup(worker: Any) -> None:
    """Called as the worker starts: the test waits for this file before it runs clubsim."""
    Path(os.environ["CLUBSIM_TEST_NAPS"], "worker-ready").touch()
