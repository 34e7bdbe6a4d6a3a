"""What every benchmark adds to its JSON: the machine it ran on, and its targets, met or not; and the workloads
the targets are set on, which the benchmarks share.

Speed figures compare only across like machines, so each report names the CPU, its clock and the
cores this process may use, with the versions that decide the generated code (Python, numpy,
numba). The targets are the issues' own, kept here beside the figures they judge.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from typing import Any

# Issue 20's baselines for its relative targets, measured by benchmarks/crn.py (400 pairs) on this 2-core
# machine at commit a830a0a, before a stream per process: the smaller variance reduction of common random
# numbers (fee income 1.173, business 1.178), and 468 pairs x 0.0175 s to decide exclusivity vs complementarity.
CRN_BASELINE = 1.173
SECONDS_TO_DECIDE_BASELINE = 8.2

# the workloads, held at their size: crowding (model 0.3) off, or a full room would recruit almost no one and
# the 40-member chapter shrink to about 27 members over its ten years (and region_1000's clubs below 25)
CHAPTER_40 = {"club.founders": 40, "club.capacity": 40, "club.min_viable_size": 0, "club.recruitment.crowding": 0}
REGION_1000 = {"club.founders": 25, "club.capacity": 25, "club.min_viable_size": 0, "club.recruitment.crowding": 0,
               "region.clubs": 1000}

# key -> (bound, "min" when the figure must be at least the bound, "max" when it must be under it); the latest
# issue's bound where several set one
TARGETS: dict[str, tuple[float, str]] = {
    # replications of the 40-member, 10-year chapter (the throughput issue's 200, raised by issue 20)
    "per_core": (250.0, "min"),
    # the club model issue: compile and a cached `clubsim run`
    "compile_s": (30.0, "max"),
    "cli_cached_run_s": (3.0, "max"),
    # issue 20 (speed where it now goes); it replaced the regions issue's 20 M member-weeks/s and 15 s
    "numba_member_weeks_per_s": (5e6, "min"),
    "ratio": (250.0, "min"),
    "region_1000_member_weeks_per_s": (3e6, "min"),
    "region_1000_parallel_speedup": (1.7, "min"),
    "world_seconds_10y": (60.0, "max"),
    "world_bytes_per_member": (1024.0, "max"),  # "under 1 KB", read as 1,024 bytes
    "crn_variance_reduction": (2 * CRN_BASELINE, "min"),
    "seconds_to_decide": (SECONDS_TO_DECIDE_BASELINE / 2, "max"),
}


def _cpuinfo(field: str) -> str | None:
    """The first value of `field` in /proc/cpuinfo (Linux); None elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """The CPU, its clock (as Linux reports it), the usable cores, and the versions that shape the code."""
    import numba
    import numpy

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    mhz = _cpuinfo("cpu MHz")
    return {
        "cpu": _cpuinfo("model name") or platform.processor() or platform.machine(),
        "cpu_mhz": round(float(mhz)) if mhz else None,
        "cores": cores,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
    }


def targets(figures: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target whose figure is given: its bound and whether the figure meets it ("at least" a
    minimum, "under" a maximum). Pass the figures before rounding: 15.04 s rounds to 15.0."""
    judged = {}
    for key, (bound, kind) in TARGETS.items():
        value = figures.get(key)
        if value is None:
            continue
        met = value >= bound if kind == "min" else value < bound
        judged[key] = {kind: bound, "met": bool(met)}
    return judged
