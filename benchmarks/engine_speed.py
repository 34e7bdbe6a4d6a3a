"""Engine speed: member-weeks per second of the numba and python engines, and compile time.

    python benchmarks/engine_speed.py --json

One member-week is one member simulated for one week. The workload is the
shipped BNI chapter held at 40 members (40 founders, capacity 40) over its
10-year horizon; a timed run is the engine's whole run (set-up included,
summary statistics excluded, as both engines share them). `compile_s` is the time to compile every kernel from an empty
numba cache, measured in a fresh subprocess; the engine timings run after
compilation. `cli_cached_run_s` is the median wall time (of three) of a whole
`clubsim run` of the chapter (process start, imports, cached kernels, outputs,
figures).

Regions (docs/ODD.md 7.8): `region_1000_member_weeks_per_s` runs 1,000 clubs of
25 members (held at 25) for 10 years on one thread; `region_1000_parallel_speedup`
is its speed on 2 threads over its speed on 1 (`--threads`): the two are timed
alternately (`--alternations`, 3 by default), each alternation gives its own ratio
(`region_1000_parallel_speedup_pairs`), and the speed-up is their median, since on a
shared virtual machine the two threads' speed varies from run to run (up to stop 33 it
was the best 1-thread time over the best 2-thread time of two alternations); both give
the same series to the byte, which is checked. The 1-thread rate is the best of its runs.
`world_seconds_10y` is the shipped `bni_world_2017` scenario
(9,000 chapters, 222,872 members) simulated for 10 years in a fresh process after
compilation (building the region included), on `world_threads` threads (the
default: the usable cores; `world_member_weeks` the member-weeks it simulated, and
`world_member_weeks_per_s` their rate: they grow with the chapters, as the scenario's
222,872 founders are about 412,000 members by year 10), and `world_bytes_per_member`
that process's peak
resident memory during the run (its high-water mark reset as the run starts, where
Linux allows) less its resident memory before, divided by the scenario's members: a
peak left by loading the kernels does not hide the run's. The region's outputs are
streamed (`world_outputs`: its clubs' weekly series and the records of members who
left written to temporary files as it runs, as `clubsim run` does from 1,000 clubs).

`targets` says which of these figures meet the issues' targets; `machine` names the CPU
(`bench.py`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench import CHAPTER_40, REGION_1000, machine, targets  # this folder's own module

from sim.model.metrics import SERIES_COLUMNS
from sim.model.scenario import load_config

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "bni_chapter.yaml"

COMPILE_SNIPPET = """
import time
start = time.perf_counter()
from sim.model.runner import simulate
simulate({scenario!r}, seed=1, overrides={overrides!r})
print(time.perf_counter() - start)
"""


def run_engine(engine: str, config, seed: int) -> float:
    """One whole run of an engine (initialisation included, summaries excluded); its member-weeks."""
    if engine == "numba":
        from sim.model.engine import ClubEngine

        club = ClubEngine(config, np.random.default_rng(seed))
        club.run_to()
        return float(club.series[:, SERIES_COLUMNS.index("members")].sum())
    from sim.reference.club import ReferenceClubModel

    model = ReferenceClubModel(config, rng=seed)
    model.run()
    return float(model.series_frame()["members"].sum())


def time_engine(engine: str, seeds: range, min_seconds: float) -> tuple[float, int]:
    """Member-weeks per second over whole runs (as many seeds as fit in min_seconds, at least one)."""
    config = load_config(SCENARIO, CHAPTER_40).config
    total_member_weeks, elapsed, runs = 0.0, 0.0, 0
    for seed in seeds:
        start = time.perf_counter()
        total_member_weeks += run_engine(engine, config, seed)
        elapsed += time.perf_counter() - start
        runs += 1
        if elapsed >= min_seconds:
            break
    return total_member_weeks / elapsed, runs


WORLD = ROOT / "scenarios" / "bni_world_2017.yaml"
WORLD_SNIPPET = """
import json, resource, time
import numpy as np
from sim.model.region import RegionEngine
from sim.model.scenario import load_config
from sim.model.runner import simulate
simulate({scenario!r}, seed=1, overrides={{"years": 1, "region.clubs": 3}})  # kernels loaded, not timed
config = load_config({world!r}).config
def status(key):  # bytes, from /proc/self/status (Linux); None elsewhere
    try:
        with open("/proc/self/status") as lines:
            return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(key))
    except (OSError, StopIteration):
        return None
try:  # the high-water mark from here on (Linux: "5" resets VmHWM)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
except OSError:
    pass
before = status("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = time.perf_counter()
region = RegionEngine(config, np.random.default_rng(1), outputs="stream")
region.run_to()
seconds = time.perf_counter() - start
after = status("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
members = sum(spec.founders for _, spec in config.region_clubs())
member_weeks = sum(int(np.sum(club["members"])) for club in region.clubs_series())  # read back, after the clock
print(json.dumps({{"seconds": seconds, "bytes_per_member": (after - before) / members, "threads": region.threads,
                  "outputs": region.outputs, "member_weeks": member_weeks}}))
"""


def region_member_weeks_per_second(alternations: int = 3, seed: int = 1) -> tuple[float, float, list[float]]:
    """1,000 clubs of 25 for 10 years: member-weeks per second on one thread (the best of its runs), the speed-up
    of two (the median of the alternations' own), and each alternation's speed-up (how far this machine's noise
    moves it). The region is built and the kernels loaded before the clock starts."""
    import hashlib

    from sim.model.region import RegionEngine

    config = load_config(SCENARIO, REGION_1000).config
    warm_up = load_config(SCENARIO, {**REGION_1000, "region.clubs": 2, "years": 1}).config
    for threads in (1, 2):  # the region's kernels compiled or loaded, both paths
        RegionEngine(warm_up, np.random.default_rng(seed), threads=threads).run_to()
    best: dict[int, float] = {}
    digests: set[str] = set()
    elapsed_by_run = []
    for threads in (1, 2) * alternations:
        region = RegionEngine(config, np.random.default_rng(seed), threads=threads)
        start = time.perf_counter()
        region.run_to()
        elapsed = time.perf_counter() - start
        elapsed_by_run.append(elapsed)
        best[threads] = min(best.get(threads, elapsed), elapsed)
        digests.add(hashlib.sha256(b"".join(series.tobytes() for series in region.SE)).hexdigest())
    if len(digests) != 1:
        raise AssertionError("the region's series differ between 1 and 2 threads")
    member_weeks = sum(float(series[:, SERIES_COLUMNS.index("members")].sum()) for series in region.SE)
    pairs = [elapsed_by_run[k] / elapsed_by_run[k + 1] for k in range(0, len(elapsed_by_run), 2)]
    return member_weeks / best[1], float(np.median(pairs)), pairs


def world_run() -> dict[str, float]:
    """The BNI-world scenario's 10 years in a fresh process: seconds and peak memory per member."""
    code = WORLD_SNIPPET.format(scenario=str(SCENARIO), world=str(WORLD))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def compile_seconds() -> float:
    """First run from an empty numba cache in a fresh process, minus one cached run's time."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        code = COMPILE_SNIPPET.format(scenario=str(SCENARIO), overrides=CHAPTER_40)
        cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(cold.stdout.strip()) - float(warm.stdout.strip())


def cli_cached_run_seconds(repeats: int = 3) -> float:
    """Median wall time of `clubsim run` of the 40-member chapter, kernels cached."""
    clubsim = Path(sys.executable).with_name("clubsim")
    command = [str(clubsim)] if clubsim.exists() else [sys.executable, "-m", "sim"]
    sets = [arg for key, value in CHAPTER_40.items() for arg in ("--set", f"{key}={value}")]
    times = []
    with tempfile.TemporaryDirectory() as out:
        args = [*command, "run", str(SCENARIO), "--seed", "7", *sets, "--out", out]  # the table printed too
        subprocess.run(args, check=True, capture_output=True)  # make sure the kernels are cached
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timed seconds per engine")
    parser.add_argument("--skip-compile", action="store_true", help="do not measure the cold compile")
    parser.add_argument("--skip-world", action="store_true", help="do not run the BNI-world scenario (minutes)")
    parser.add_argument("--alternations", type=int, default=3,
                        help="1- and 2-thread region runs timed in turn, for the speed-up's median (default 3)")
    args = parser.parse_args()

    compile_s = None if args.skip_compile else compile_seconds()
    time_engine("numba", range(1, 2), 0.0)  # load the cached kernels
    numba_rate, numba_runs = time_engine("numba", range(1, 10_000), args.seconds)
    python_rate, python_runs = time_engine("python", range(1, 10_000), args.seconds)
    region_rate, region_speedup, region_speedup_pairs = region_member_weeks_per_second(args.alternations)
    figures = {  # unrounded, for the targets
        "numba_member_weeks_per_s": numba_rate,
        "ratio": numba_rate / python_rate,
        "compile_s": compile_s,
        "cli_cached_run_s": cli_cached_run_seconds(),
        "region_1000_member_weeks_per_s": region_rate,
        "region_1000_parallel_speedup": region_speedup,
    }
    report = {
        "workload": "bni_chapter held at 40 members, 10 years",
        "numba_member_weeks_per_s": round(numba_rate),
        "python_member_weeks_per_s": round(python_rate),
        "ratio": round(figures["ratio"], 1),
        "compile_s": None if compile_s is None else round(compile_s, 2),
        "numba_runs_timed": numba_runs,
        "python_runs_timed": python_runs,
        "cli_cached_run_s": round(figures["cli_cached_run_s"], 2),
        "region_1000_member_weeks_per_s": round(figures["region_1000_member_weeks_per_s"]),
        "region_1000_parallel_speedup": round(region_speedup, 2),
        "region_1000_parallel_speedup_pairs": [round(pair, 2) for pair in region_speedup_pairs],
    }
    if not args.skip_world:
        world = world_run()
        figures["world_seconds_10y"], figures["world_bytes_per_member"] = world["seconds"], world["bytes_per_member"]
        report["world_seconds_10y"] = round(world["seconds"], 1)
        report["world_member_weeks"] = world["member_weeks"]
        report["world_member_weeks_per_s"] = round(world["member_weeks"] / world["seconds"])
        report["world_bytes_per_member"] = round(world["bytes_per_member"])
        report["world_threads"] = world["threads"]
        report["world_outputs"] = world["outputs"]
    report["targets"] = targets(figures)
    report["machine"] = machine()
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
