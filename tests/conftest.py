"""Shared test set-up: the numba kernels compile (or load from their cache) once per session."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def numba_ready() -> None:
    """Run one tiny numba simulation so that the first test using the engine does not pay the compile alone."""
    from sim.model.runner import simulate

    simulate({"years": 1, "club": {"capacity": 15}}, seed=0)


def live_processes_in_group(group: int) -> list[int]:
    """The live (not zombie) processes of a process group, read from /proc (Linux)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (command)": state, ppid, pgrp
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


def _default_sigint() -> None:
    """In the child, before exec: Ctrl-C's default action. A shell starts background jobs with SIGINT
    ignored, which the child would inherit, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class ProcessGroups:
    """Commands run in their own process group. Whatever is left of a group is killed at the test's end,
    so a failing test cannot leave workers holding the pipes that `communicate()` waits on."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, command: list[str], **options: Any) -> subprocess.Popen:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True, preexec_fn=_default_sigint, **options)
        self.started.append(process)
        return process

    def assert_ended(self, process: subprocess.Popen, within: float = 10.0) -> None:
        """No process of the command's group outlives it (its workers included)."""
        deadline = time.monotonic() + within
        while live_processes_in_group(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not live_processes_in_group(process.pid), "no worker outlives the command"

    def kill_all(self) -> None:
        for process in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            if process.returncode is None:
                process.communicate(timeout=60)


@pytest.fixture
def process_groups() -> Iterator[ProcessGroups]:
    """Start commands in their own process group (`.start`), check that a group ended (`.assert_ended`,
    read from /proc: skipped elsewhere); what is left is killed at teardown."""
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc (Linux)")
    groups = ProcessGroups()
    yield groups
    groups.kill_all()
