"""Shared test set-up: the numba kernels compile (or load from their cache) once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def numba_ready() -> None:
    """Run one tiny numba simulation so that the first test using the engine does not pay the compile alone."""
    from sim.runner import simulate

    simulate({"years": 1, "club": {"capacity": 15}}, seed=0)
