"""A task for the local pool's Ctrl-C tests: a nap that leaves a file when it starts and when it ends.

Imported by the pool's spawned workers, which get the parent's sys.path (the tests folder included).
"""

from __future__ import annotations

import time
from pathlib import Path


def nap(task: tuple[str, int, float]) -> int:
    folder, index, seconds = task
    Path(folder, f"started-{index}").touch()
    time.sleep(seconds)
    Path(folder, f"finished-{index}").touch()
    return index
