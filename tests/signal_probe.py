"""For the interruption tests: what a pool worker's SIGINT handler is, and an initializer that does nothing.

Imported by the pool's spawned workers, which get the parent's sys.path (the tests folder included).
"""

from __future__ import annotations

import signal


def nothing() -> None:
    """An initializer that leaves SIGINT as the worker was born with it."""


def sigint_handler(_task: int) -> str:
    return repr(signal.getsignal(signal.SIGINT))


def sigterm_blocked(_task: int) -> bool:
    return signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, set())
