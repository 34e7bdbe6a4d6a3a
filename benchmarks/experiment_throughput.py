"""Experiment throughput: replications per second of `sim.experiments.experiment.compare` by backend.

    python benchmarks/experiment_throughput.py --json [--runs 200] [--workers 2]

The workload is the shipped BNI chapter held at 40 members (40 founders, capacity 40, never
closing) over its 10-year horizon, one policy, `--runs` replications, weekly series kept (the
compare default). Rates are steady-state: from the first finished batch to the last, after
warm-up (numba kernels loaded; the local pool, kept between calls, started: `local_pool_start_s`).
`*_wall_s` is the whole call; the Dask one includes starting its LocalCluster, which every call
without a scheduler address does. `per_core` is the local pool's rate divided by its workers, or by the
usable cores if there are fewer.
The common-random-numbers figures of `crn.py` (`crn_variance_reduction`, `seconds_to_decide` and theirs) are
measured too, unless `--skip-crn`: see that script for what they mean.
`targets` says whether `per_core`, `crn_variance_reduction` and `seconds_to_decide` meet their targets;
`machine` names the CPU (`bench.py`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench import CHAPTER_40, machine, targets  # this folder's own module

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "bni_chapter.yaml"


def measure(experiment, runs: int, backend: str, workers: int) -> tuple[float, float]:
    """(steady-state replications per second, wall seconds of the whole call)."""
    from sim.experiments.experiment import compare

    marks: list[tuple[float, int]] = []

    def progress(done: int, total: int) -> None:
        marks.append((time.perf_counter(), done))

    start = time.perf_counter()
    compare(experiment, runs, backend=backend, workers=workers, figures=False, progress=progress)
    wall = time.perf_counter() - start
    started = [(t, d) for t, d in marks if d > 0]
    (t0, d0), (t1, d1) = started[0], started[-1]
    rate = (d1 - d0) / (t1 - t0) if t1 > t0 else runs / wall
    return rate, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--runs", type=int, default=200, help="replications per measurement (default 200)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the local pool and Dask (default 2)")
    parser.add_argument("--skip-crn", action="store_true", help="do not measure common random numbers (crn.py)")
    parser.add_argument("--crn-runs", type=int, default=400, help="paired replications per CRN contrast (default 400)")
    args = parser.parse_args()

    from sim.experiments.experiment import compare, scenario_experiment

    experiment = scenario_experiment([SCENARIO], CHAPTER_40)
    compare(experiment, 5, workers=1, figures=False)  # warm-up: imports, numba kernels from the cache

    local_1, wall_1 = measure(experiment, args.runs, "local", 1)
    start = time.perf_counter()
    compare(experiment, 2 * args.workers, workers=args.workers, figures=False)  # the pool starts, workers load
    pool_start = time.perf_counter() - start
    local_n, wall_n = measure(experiment, args.runs, "local", args.workers)
    dask, wall_dask = measure(experiment, args.runs, "dask", args.workers)
    host = machine()
    per_core = local_n / min(args.workers, host["cores"])
    result = {
        "replications_per_s_local_1": round(local_1, 2),
        f"replications_per_s_local_{args.workers}": round(local_n, 2),
        "replications_per_s_dask_local": round(dask, 2),
        "per_core": round(per_core, 2),
        "local_1_wall_s": round(wall_1, 2),
        f"local_{args.workers}_wall_s": round(wall_n, 2),
        "dask_local_wall_s": round(wall_dask, 2),
        "local_pool_start_s": round(pool_start, 2),
        "runs": args.runs,
        "workers": args.workers,
    }
    if not args.skip_crn:
        from crn import measure as measure_crn  # this folder's own module

        crn = measure_crn(argparse.Namespace(runs=args.crn_runs, workers=args.workers, timing_runs=100,
                                              bootstrap=2000, seed=None))
        renamed = {"runs": "crn_runs", "timing_runs": "crn_timing_runs", "seed": "crn_seed",
                   "simulated_s": "crn_simulated_s"}  # this report's own runs and workers stay
        result.update({renamed.get(key, key): value for key, value in crn.items()
                       if key not in ("contrasts", "workers")})
    result["targets"] = targets({**result, "per_core": per_core})
    result["machine"] = host
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:32s} {value}")


if __name__ == "__main__":
    main()
