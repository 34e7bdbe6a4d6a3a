"""Common random numbers (CRN): how much pairing the replications' seeds narrows a policy difference.

    python benchmarks/crn.py --json [--runs 400] [--workers 2]

`sim.experiments.experiment.compare` already pairs the replications: replication r of every policy
runs with the same seed, the r-th spawned from the experiment's seed (`replication_seeds`), and a
run is a pure function of (scenario, seed). This benchmark runs two such paired contrasts on the
shipped BNI chapter, `--runs` replications each (a local pool of `--workers` processes; weekly
series not kept), and reads the per-replication summaries:

- business: the two composition policies `exclusivity` (the baseline, A) and `complementarity` (B)
  of experiments/exclusivity_vs_complementarity.yaml (its base scenario, overrides and seed; its
  third policy, open, is left out); metric `business_per_member_year` (EUR per member-year).
- fee income: the chapter at an annual fee (`club.fees.annual`) of 300 EUR (A) and of 1,200 EUR
  (B), same seed; metric `fee_income_total` (EUR of fees over the 10 years).

`crn_variance_reduction_business`, `crn_variance_reduction_fee_income`: over the N pairs,
(Var(A) + Var(B)) / Var(A_i - B_i), the variance of the difference had the two policies run on
independent seeds over its variance on paired seeds (`sim.experiments.statistics.crn_variance_ratio`,
comparison.csv's `crn_variance_ratio`): above 1, CRN helped; 1, no better than independent seeds.
`..._ci` is its 95 % percentile bootstrap interval (`--bootstrap` resamples of the pairs).
`crn_variance_reduction` is the smaller of the two, `..._ci` its interval, `..._from` which one.
`..._ceiling`: (Var(A) + Var(B)) / (sd(A) - sd(B))^2, the reduction the pairs would give were A and B
perfectly correlated (Var(A_i - B_i) >= (sd(A) - sd(B))^2): no pairing of seeds can do better for two
outputs of these spreads, so a target above it asks for another contrast, not a better engine.
`..._survivors`: the same over the pairs in which both clubs survived (neither fell below its
minimum size and closed), the bootstrap resampling those pairs: a club that closes ends its business
and its fees early, and such runs dominate the variance.

`replications_to_decide`: the paired replications n needed for the 95 % CI half-width of the
business difference A - B to be within 5 % of A's mean, n = ceil((1.96 sd(A_i - B_i) / (0.05
mean(A)))^2), with sd and mean from the N pairs (`..._ci`: bootstrap interval);
`replications_to_decide_unpaired`, the replications per policy on independent seeds,
sd(A_i - B_i)^2 replaced by Var(A) + Var(B). `seconds_per_replication` is one replication of both
policies (a pair), measured on one core in this process after warm-up (kernels loaded): the steady
state of `compare(workers=1)` over `--timing-runs` pairs. `seconds_to_decide` (and `..._unpaired`)
is replications x seconds_per_replication, on one core. `simulated_s` is the wall time of both
contrasts' N pairs on the pool (its start and the kernels' loading included).

`contrasts` gives, for each contrast, the pairs, how many had both clubs survive, only A's, only
B's or neither; each policy's mean, the mean of A - B and its paired 95 % CI, the correlation of
A and B over the pairs (and over the surviving ones), quantiles of A - B over all pairs, the
surviving ones and those where exactly one club closed, the share of the sum of squared deviations
of A - B that those last pairs hold (`variance_share_one_closed`), and comparison.csv's own
`crn_variance_ratio` for the metric (the same figure, from `compare`'s statistics table).
`targets` judges `crn_variance_reduction` and `seconds_to_decide` against issue 20's (`bench.py`);
`machine` names the CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from bench import machine, targets  # this folder's own module

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENT = ROOT / "experiments" / "exclusivity_vs_complementarity.yaml"
COMPOSITION = ("exclusivity", "complementarity")  # (A, B): A is the baseline
BUSINESS = "business_per_member_year"
FEE_INCOME = "fee_income_total"
FEES = (300, 1200)  # EUR a year, (A, B)
HALF_WIDTH = 0.05  # of A's mean
Z = 1.96
QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


def _experiment_file(folder: Path, name: str, scenario: Path, policies: dict[str, dict[str, Any]],
                     baseline: str, metrics: list[str], seed: int, overrides: dict[str, Any]) -> Path:
    path = folder / f"{name}.yaml"
    spec = {"name": name, "scenario": str(scenario), "overrides": overrides, "policies": policies,
            "baseline": baseline, "metrics": metrics, "key_metric": metrics[0], "seed": seed,
            "keep_series": False}
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def experiments(folder: Path, seed: int | None) -> tuple[Any, Any]:
    """The two paired contrasts as experiments: composition (from the shipped file) and the annual fee."""
    from sim.experiments.experiment import load_experiment

    shipped = yaml.safe_load(EXPERIMENT.read_text(encoding="utf-8"))
    scenario = (EXPERIMENT.parent / shipped["scenario"]).resolve()
    seed = int(shipped.get("seed", 1)) if seed is None else seed
    overrides = shipped.get("overrides") or {}
    metrics = [BUSINESS, FEE_INCOME, "survived"]
    composition = _experiment_file(folder, "composition", scenario,
                                   {p: shipped["policies"][p] or {} for p in COMPOSITION}, COMPOSITION[0],
                                   metrics, seed, overrides)
    fee = {f"fee_{f}": {"club.fees.annual": f} for f in FEES}
    fees = _experiment_file(folder, "annual_fee", scenario, fee, f"fee_{FEES[0]}", [FEE_INCOME, BUSINESS, "survived"],
                            seed, overrides)
    return load_experiment(composition), load_experiment(fees)


def paired(result: Any, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(A, B, A survived, B survived) by replication, A the baseline and B the other policy."""
    frame = result.replications
    a_name = result.experiment.baseline
    b_name = next(p for p in result.policies if p != a_name)
    a = frame[frame["policy"] == a_name].set_index("replication").sort_index()
    b = frame[frame["policy"] == b_name].set_index("replication").sort_index()
    assert (a.index == b.index).all() and (a["seed"] == b["seed"]).all(), "replications not paired by seed"
    return (a[metric].to_numpy(float), b[metric].to_numpy(float), a["survived"].to_numpy(bool),
            b["survived"].to_numpy(bool))


def _ratios(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(Var a + Var b) / Var(a - b) along the last axis (ddof 1)."""
    unpaired = a.var(axis=-1, ddof=1) + b.var(axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return unpaired / (a - b).var(axis=-1, ddof=1)


def reduction_ceiling(a: np.ndarray, b: np.ndarray) -> float:
    """(Var a + Var b) / (sd a - sd b)^2 over the pairs where both are finite: the CRN variance ratio of
    perfectly correlated pairs, the largest any pairing gives for these spreads (inf when they are equal)."""
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    spread_gap = (a.std(ddof=1) - b.std(ddof=1)) ** 2
    unpaired = a.var(ddof=1) + b.var(ddof=1)
    return float(unpaired / spread_gap) if spread_gap > 0 else math.inf


def ratio_with_ci(a: np.ndarray, b: np.ndarray, draws: int, rng: np.random.Generator
                  ) -> tuple[float, list[float], np.ndarray]:
    """The CRN variance ratio, its 95 % percentile bootstrap CI over the pairs, and the resampled indices."""
    from sim.experiments.statistics import crn_variance_ratio

    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    ratio = crn_variance_ratio(a, b)
    if len(a) < 3:
        return ratio, [math.nan, math.nan], np.empty((0, 0), int)
    index = rng.integers(0, len(a), size=(draws, len(a)))
    low, high = np.nanpercentile(_ratios(a[index], b[index]), [2.5, 97.5])
    return ratio, [float(low), float(high)], index


def replications_needed(sd2: float | np.ndarray, mean_a: float | np.ndarray) -> Any:
    """ceil((1.96 sd / (0.05 mean_A))^2), sd^2 given."""
    return np.ceil(Z**2 * np.asarray(sd2) / (HALF_WIDTH * np.asarray(mean_a)) ** 2)


def describe(a: np.ndarray, b: np.ndarray, alive_a: np.ndarray, alive_b: np.ndarray) -> dict[str, Any]:
    """Survival of the pairs, the policies' means, the paired difference and its distribution."""
    from scipy import stats

    d = a - b
    both = alive_a & alive_b
    one_closed = alive_a != alive_b
    half = float(stats.t.ppf(0.975, len(d) - 1)) * d.std(ddof=1) / math.sqrt(len(d))
    centred = (d - d.mean()) ** 2

    def quantiles(x: np.ndarray) -> dict[str, float] | None:
        return dict(zip(map(str, QUANTILES), np.quantile(x, QUANTILES).tolist(), strict=True)) if len(x) else None

    return {
        "pairs": len(a),
        "both_survived": int(both.sum()),
        "only_a_closed": int((~alive_a & alive_b).sum()),
        "only_b_closed": int((alive_a & ~alive_b).sum()),
        "both_closed": int((~alive_a & ~alive_b).sum()),
        "mean_a": float(a.mean()),
        "mean_b": float(b.mean()),
        "mean_a_minus_b": float(d.mean()),
        "mean_a_minus_b_ci": [float(d.mean() - half), float(d.mean() + half)],
        "sd_a": float(a.std(ddof=1)),
        "sd_b": float(b.std(ddof=1)),
        "sd_a_minus_b": float(d.std(ddof=1)),
        "corr_a_b": float(np.corrcoef(a, b)[0, 1]),
        "corr_a_b_survivors": float(np.corrcoef(a[both], b[both])[0, 1]) if both.sum() > 2 else None,
        "a_minus_b_quantiles": quantiles(d),
        "a_minus_b_quantiles_survivors": quantiles(d[both]),
        "a_minus_b_quantiles_one_closed": quantiles(d[one_closed]),
        "variance_share_one_closed": float(centred[one_closed].sum() / centred.sum()),
    }


def table_ratio(result: Any, metric: str) -> float:
    """comparison.csv's `crn_variance_ratio` of `metric` for the non-baseline policy (a cross-check)."""
    table = result.table
    other = next(p for p in result.policies if p != result.experiment.baseline)
    row = table[(table["policy"] == other) & (table["metric"] == metric)]
    return float(row["crn_variance_ratio"].iloc[0]) if len(row) else math.nan


def seconds_per_pair(experiment: Any, runs: int) -> float:
    """Steady-state seconds of one replication of both policies, in this process (one core)."""
    from sim.experiments.experiment import compare

    compare(experiment, 2, workers=1, figures=False)  # warm-up: the kernels loaded
    marks: list[tuple[float, int]] = []

    def progress(done: int, total: int) -> None:
        marks.append((time.perf_counter(), done))

    start = time.perf_counter()
    compare(experiment, runs, workers=1, figures=False, progress=progress)
    wall = time.perf_counter() - start
    started = [(t, d) for t, d in marks if d > 0]
    (t0, d0), (t1, d1) = started[0], started[-1]
    per_replication = (t1 - t0) / (d1 - d0) if d1 > d0 else wall / (runs * len(experiment.policies))
    return per_replication * len(experiment.policies)


def _round(value: Any, digits: int = 3) -> Any:
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v, digits) for v in value]
    if isinstance(value, float | np.floating):
        value = float(value)
        if not math.isfinite(value):
            return None
        return round(value, digits) if abs(value) < 1000 else round(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--runs", type=int, default=400, help="paired replications per contrast (default 400)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the local pool (default 2)")
    parser.add_argument("--timing-runs", type=int, default=100, help="pairs timed on one core (default 100)")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=None,
                        help="experiment seed of both contrasts (default: the shipped experiment's)")
    args = parser.parse_args()
    report = measure(args)
    report["targets"] = targets(report)
    report["machine"] = machine()
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:45s} {value}")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """The report's figures (every key above but `targets` and `machine`), rounded."""
    from sim.experiments.experiment import compare

    with tempfile.TemporaryDirectory() as folder:
        composition, fees = experiments(Path(folder), args.seed)
    start = time.perf_counter()
    composition_result = compare(composition, args.runs, workers=args.workers, figures=False)
    fees_result = compare(fees, args.runs, workers=args.workers, figures=False)
    simulated_s = time.perf_counter() - start
    per_pair = seconds_per_pair(composition, args.timing_runs)

    rng = np.random.default_rng(0)  # the bootstrap's, fixed: the output is a function of the replications
    report: dict[str, Any] = {}
    contrasts: dict[str, Any] = {}
    for key, result, metric in (("business", composition_result, BUSINESS),
                                ("fee_income", fees_result, FEE_INCOME)):
        a, b, alive_a, alive_b = paired(result, metric)
        both = alive_a & alive_b
        ratio, ci, _ = ratio_with_ci(a, b, args.bootstrap, rng)
        ratio_s, ci_s, _ = ratio_with_ci(a[both], b[both], args.bootstrap, rng)
        report[f"crn_variance_reduction_{key}"] = ratio
        report[f"crn_variance_reduction_{key}_ci"] = ci
        report[f"crn_variance_reduction_{key}_survivors"] = ratio_s
        report[f"crn_variance_reduction_{key}_survivors_ci"] = ci_s
        report[f"crn_variance_reduction_{key}_ceiling"] = reduction_ceiling(a, b)
        a_name = result.experiment.baseline
        b_name = next(p for p in result.policies if p != a_name)
        contrasts[key] = {"metric": metric, "a": a_name, "b": b_name, **describe(a, b, alive_a, alive_b),
                          "comparison_table_crn_variance_ratio": table_ratio(result, metric)}

    for suffix in ("", "_survivors"):
        name = min(("business", "fee_income"), key=lambda k, s=suffix: report[f"crn_variance_reduction_{k}{s}"])
        report[f"crn_variance_reduction{suffix}"] = report[f"crn_variance_reduction_{name}{suffix}"]
        report[f"crn_variance_reduction{suffix}_ci"] = report[f"crn_variance_reduction_{name}{suffix}_ci"]
        report[f"crn_variance_reduction{suffix}_from"] = name

    a, b, _, _ = paired(composition_result, BUSINESS)
    d = a - b
    needed = int(replications_needed(d.var(ddof=1), a.mean()))
    needed_unpaired = int(replications_needed(a.var(ddof=1) + b.var(ddof=1), a.mean()))
    index = rng.integers(0, len(a), size=(args.bootstrap, len(a)))
    boot = replications_needed(d[index].var(axis=1, ddof=1), a[index].mean(axis=1))
    report.update({
        "replications_to_decide": needed,
        "replications_to_decide_ci": [int(np.floor(q)) if i == 0 else int(np.ceil(q))
                                       for i, q in enumerate(np.percentile(boot, [2.5, 97.5]))],
        "seconds_per_replication": per_pair,
        "seconds_to_decide": needed * per_pair,
        "replications_to_decide_unpaired": needed_unpaired,
        "seconds_to_decide_unpaired": needed_unpaired * per_pair,  # n runs of each policy
        "runs": args.runs,
        "workers": args.workers,
        "timing_runs": args.timing_runs,
        "seed": composition.seed,
        "simulated_s": simulated_s,
        "contrasts": contrasts,
    })
    return _round(report)


if __name__ == "__main__":
    main()
