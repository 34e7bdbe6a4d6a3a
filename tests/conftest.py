"""Shared test set-up: the numba kernels compile (or load from their cache) once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def numba_ready() -> None:
    """Run one tiny numba simulation so that the first test using the engine does not pay the compile alone."""
    from sim.runner import simulate

    simulate({"years": 1, "club": {"capacity": 15}}, seed=0)


def live_processes_in_group(group: int) -> list[int]:
    """The live (not zombie) processes of a process group, read from /proc (Linux)."""
    from pathlib import Path

    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (command)": state, ppid, pgrp
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


@pytest.fixture
def live_processes() -> object:
    """`live_processes(group)`: the processes of a group still alive (skips where there is no /proc)."""
    from pathlib import Path

    if not Path("/proc").is_dir():
        pytest.skip("needs /proc (Linux)")
    return live_processes_in_group
