"""Where a region's week goes: each phase's time a member-week, on 1 and 2 threads.

    python benchmarks/region_phases.py --json
    python benchmarks/region_phases.py --workload world_slice --json

The region is run to `--warm-weeks` in numba as usual, then `--timed-weeks` more are run phase by phase from
Python, in `RegionEngine._run_week_threaded`'s order (on a pool of the engine's lanes: one lane is the whole
region on one thread), with `time.perf_counter` around each kernel call. A phase's time in a week is the wall
time from its first lane's start to its last lane's end; `busy` adds up its lanes' own times, so that
busy / (wall x lanes) is how well its lanes share the work (each includes the call's unboxing of the state
from Python, some tens of µs). `week` is the whole week so timed (the pool's dispatch included), `run` the
same weeks of a second engine of the same seed run by `RegionEngine.run_to` (outputs in memory; on one thread
the fused `run_region_weeks`, on several the same thread pool), both per member-week (the members each week's
series records, as `engine_speed.py` counts them). The two engines must end with the same weekly series, to
the byte.

Workloads: `region_1000` is the engine benchmark's region (`engine_speed.py`: 1,000 clubs of 25 held at 25,
one area, so every interclub event draws partners across the whole region); `world_slice` is 1,000 BNI
chapters of 25 founders (capacity 50) in areas of 10, as the world scenario groups them.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from bench import REGION_1000, machine  # this folder's own module

import sim.model.region as region_module
from sim.model.metrics import SERIES_COLUMNS
from sim.model.region import RegionEngine
from sim.model.scenario import load_config

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "bni_chapter.yaml"
WORKLOADS = {
    "region_1000": REGION_1000,
    "world_slice": {"club.founders": 25, "region.clubs": 1000, "region.area_size": 10},
}
# the kernels `_run_week_threaded` calls, in its order: lane phases run on every lane, region phases on one thread
PHASES = ("lane_meet_and_refer", "region_meet_entry", "lane_areas_meet", "lane_second_circle", "lane_deliver",
          "region_deliver_entry", "lane_settle_and_decide", "region_transfer_and_untie_entry", "lane_close_week")


class PhaseClock:
    """Wraps the phase kernels where `_run_week_threaded` looks them up (the module's names) and records each
    call's start and end; put back on exit."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self._originals: dict[str, object] = {}

    def __enter__(self) -> PhaseClock:
        self._originals = {name: getattr(region_module, name) for name in PHASES}  # all found before any is wrapped
        for name, kernel in self._originals.items():

            def timed(*args, _kernel=kernel, _calls=self.calls[name]):
                start = time.perf_counter()
                result = _kernel(*args)
                _calls.append((start, time.perf_counter()))
                return result

            setattr(region_module, name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        for name, kernel in self._originals.items():
            setattr(region_module, name, kernel)

    def week_done(self) -> dict[str, tuple[float, float]]:
        """This week's (wall, busy) seconds by phase; the calls are cleared."""
        week = {}
        for name, calls in self.calls.items():
            if calls:
                week[name] = (max(end for _, end in calls) - min(start for start, _ in calls),
                              sum(end - start for start, end in calls))
                calls.clear()
        return week


def phase_breakdown(config, threads: int, seed: int, warm_weeks: int, timed_weeks: int) -> dict:
    """The timed weeks of one engine, phase by phase (ns a member-week), and the same weeks run whole."""
    engine = RegionEngine(config, np.random.default_rng(seed), threads=threads)
    engine.run_to(warm_weeks)
    wall, busy = defaultdict(float), defaultdict(float)
    week_seconds = 0.0
    # `RegionEngine._run_weeks`' threaded loop, here on one lane too (its one-thread path is the fused kernel,
    # which calls no phase from Python), with each week timed
    with ThreadPoolExecutor(engine.threads, thread_name_prefix="clubsim-lane") as pool, PhaseClock() as clock:
        room = region_module.region_has_room(engine.P, engine.M, engine.C)
        for _ in range(timed_weeks):
            if not room:
                engine._make_room()
            start = time.perf_counter()
            room = engine._run_week_threaded(pool)
            week_seconds += time.perf_counter() - start
            engine.week += 1
            for name, (w, b) in clock.week_done().items():
                wall[name] += w
                busy[name] += b
    whole = RegionEngine(config, np.random.default_rng(seed), threads=threads)
    whole.run_to(warm_weeks)
    start = time.perf_counter()
    whole.run_to(warm_weeks + timed_weeks)
    whole_seconds = time.perf_counter() - start
    if not all(np.array_equal(a, b) for a, b in zip(engine._rings, whole._rings, strict=True)):
        raise AssertionError("the weeks run phase by phase and the same weeks run whole disagree")
    members = SERIES_COLUMNS.index("members")
    member_weeks = int(sum(ring[warm_weeks:warm_weeks + timed_weeks, members].sum() for ring in engine._rings))
    per = 1e9 / member_weeks
    phases = {name: {"wall_ns": round(wall[name] * per, 1), "busy_ns": round(busy[name] * per, 1)}
              for name in PHASES if name in wall}
    timed = sum(wall.values())
    return {
        "lanes": engine.threads,
        "member_weeks": member_weeks,
        "phases": phases,
        "week_ns": round(week_seconds * per, 1),
        "outside_phases_ns": round((week_seconds - timed) * per, 1),  # the pool's dispatch, Python between phases
        "one_thread_phases_share": round(sum(wall[n] for n in PHASES if n.startswith("region_")) / week_seconds, 3),
        "run_ns": round(whole_seconds * per, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="region_1000")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to time, in turn")
    parser.add_argument("--warm-weeks", type=int, default=104, help="weeks run before timing (the clubs settle)")
    parser.add_argument("--timed-weeks", type=int, default=104, help="weeks timed phase by phase")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.threads = list(dict.fromkeys(args.threads))  # each count once, in the order given
    if args.warm_weeks < 0 or args.timed_weeks < 1 or min(args.threads) < 1:
        parser.error("--warm-weeks must be >= 0, --timed-weeks and --threads >= 1")

    years = -(-(args.warm_weeks + args.timed_weeks) // 52)
    config = load_config(SCENARIO, {**WORKLOADS[args.workload], "years": years}).config
    warm_up = load_config(SCENARIO, {**WORKLOADS[args.workload], "region.clubs": 2, "years": 1}).config
    for threads in sorted(set(args.threads)):  # the kernels compiled or loaded, both paths, before any clock
        RegionEngine(warm_up, np.random.default_rng(1), threads=threads).run_to()
        phase_breakdown(warm_up, threads, 1, 4, 2)
    report = {
        "workload": args.workload,
        "overrides": WORKLOADS[args.workload],
        "weeks": f"{args.warm_weeks}-{args.warm_weeks + args.timed_weeks - 1}",
        "seed": args.seed,
        "threads": {str(t): phase_breakdown(config, t, args.seed, args.warm_weeks, args.timed_weeks)
                    for t in args.threads},
        "machine": machine(),
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['workload']}, weeks {report['weeks']}, seed {report['seed']} (ns a member-week)")
    for threads, figures in report["threads"].items():
        print(f"  {threads} thread(s): week {figures['week_ns']}, run whole {figures['run_ns']}, "
              f"outside the phases {figures['outside_phases_ns']}")
        for name, phase in figures["phases"].items():
            print(f"    {name:34} wall {phase['wall_ns']:9.1f}   busy {phase['busy_ns']:9.1f}")


if __name__ == "__main__":
    main()
