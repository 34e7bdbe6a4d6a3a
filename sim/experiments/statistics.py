"""The statistics of replications: means with t (or Wilson) 95 % CIs cut at each metric's bounds, paired
differences under common random numbers and their variance ratio, Welch's test, survivors' rows, the statistics
table of a comparison or a sweep, and the stopping rules of precision mode (Law 2015, section 9.4.1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.experiments.spec import (
    _BOOL_METRICS,
    CRN_COLUMN,
    METRIC_BOUNDS,
    SURVIVOR_METRICS,
    SURVIVORS_SUFFIX,
    TABLE_COLUMNS,
    Experiment,
)

# --------------------------------------------------------------------------- statistics


def _t975(df: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, df))


def _as_float(values: Any) -> np.ndarray:
    return np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)


def _mean_ci(x: np.ndarray, proportion: bool = False) -> tuple[int, float, float, float, float]:
    """n, mean, sd and the 95 % CI of the mean: t-based, or Wilson's score interval for a proportion
    (a yes/no metric such as `survived`), which stays inside [0, 1]."""
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n < 2:
        return n, mean, math.nan, math.nan, math.nan
    sd = float(x.std(ddof=1))
    if proportion:
        from scipy import stats

        interval = stats.binomtest(int(round(x.sum())), n).proportion_ci(confidence_level=0.95, method="wilson")
        return n, mean, sd, float(interval.low), float(interval.high)
    half = _t975(n - 1) * sd / math.sqrt(n)
    return n, mean, sd, mean - half, mean + half


def metric_ci(values: Any, metric: str) -> tuple[int, float, float, float, float]:
    """n, mean, sd and 95 % CI of a metric's mean over replications, as the comparison table and its
    figures show it: t-based, or Wilson's for a yes/no metric (`survived`, or any boolean column), then
    cut at the metric's bounds (`METRIC_BOUNDS`). Non-finite values are skipped."""
    proportion = metric in _BOOL_METRICS or np.asarray(values).dtype.kind == "b"
    n, mean, sd, lo, hi = _mean_ci(_as_float(values), proportion=proportion)
    if metric in METRIC_BOUNDS:
        lo, hi = (float(bound) for bound in np.clip((lo, hi), *METRIC_BOUNDS[metric]))  # NaN stays NaN
    return n, mean, sd, lo, hi


def _paired(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Mean of x - y over pairs, its t-based 95 % CI and the paired t-test p (scipy.stats.ttest_rel)."""
    d = x - y
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(d.mean())
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(d.std(ddof=1))
    if sd == 0.0:  # every pair differs by the same amount: no sampling error
        return mean, mean, mean, (math.nan if mean == 0.0 else 0.0)
    from scipy import stats

    se = sd / math.sqrt(n)
    half = _t975(n - 1) * se
    p = float(2 * stats.t.sf(abs(mean / se), n - 1))
    return mean, mean - half, mean + half, p


def _welch(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """95 % CI of mean(x) - mean(y) for independent samples (Welch)."""
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if len(x) < 2 or len(y) < 2:
        return math.nan, math.nan
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    diff = float(x.mean() - y.mean())
    se2 = vx + vy
    if se2 == 0:
        return diff, diff
    df = se2**2 / ((vx**2 / (len(x) - 1)) + (vy**2 / (len(y) - 1)))
    half = _t975(df) * math.sqrt(se2)
    return diff - half, diff + half


def survivor_metrics(metrics: Sequence[str]) -> list[str]:
    """Those of `metrics` that the tables also give over the surviving replications (`SURVIVOR_METRICS`):
    size, business, referrals, contact-sphere share and visitors, which a closed club drags toward 0."""
    return [metric for metric in metrics if metric in SURVIVOR_METRICS]


def _survived(group: pd.DataFrame) -> np.ndarray:
    """Which replications' clubs survived (False where unknown)."""
    return _as_float(group["survived"]) == 1.0


def _statistics_row(group: pd.DataFrame, base: pd.DataFrame | None, metric: str, is_baseline: bool,
                    with_diff: bool) -> dict[str, Any]:
    """n, mean, sd and 95 % CI of `metric` in `group` and, with `with_diff`, its paired difference with
    `base` over the replications both hold (both frames indexed by replication)."""
    column = group[metric] if metric in group else np.full(len(group), math.nan)
    n, mean, sd, lo, hi = metric_ci(column, metric)
    row: dict[str, Any] = {"n": n, "mean": mean, "sd": sd, "ci_low": lo, "ci_high": hi}
    if not with_diff:
        return row
    if base is not None and metric in base:
        common = group.index.intersection(base.index)
        diff, dlo, dhi, p = _paired(_as_float(group.loc[common, metric]), _as_float(base.loc[common, metric]))
        ulo, uhi = _welch(_as_float(column), _as_float(base[metric]))
        ratio = crn_variance_ratio(_as_float(group.loc[common, metric]), _as_float(base.loc[common, metric]))
    else:
        diff = dlo = dhi = p = ulo = uhi = ratio = math.nan
    significant = bool(np.isfinite(dlo) and np.isfinite(dhi) and (dlo > 0 or dhi < 0))
    if is_baseline:  # the baseline against itself: no difference to estimate
        significant = False
        ulo = uhi = ratio = math.nan
    row.update(diff=diff, diff_ci_low=dlo, diff_ci_high=dhi, diff_p=p, significant=significant,
               unpaired_ci_low=ulo, unpaired_ci_high=uhi, crn_variance_ratio=ratio)
    return row


def crn_variance_ratio(x: np.ndarray, y: np.ndarray) -> float:
    """What common random numbers saved on the difference x - y, over the pairs where both are finite:
    (var x + var y) / var(x - y), the variance of the difference had the runs been independent over
    its variance paired (> 1: CRN helped; inf: the pairs differ by a constant; NaN: no variance)."""
    both = np.isfinite(x) & np.isfinite(y)
    x, y = x[both], y[both]
    if len(x) < 2:
        return math.nan
    unpaired = float(x.var(ddof=1) + y.var(ddof=1))
    paired = float((x - y).var(ddof=1))
    if paired == 0.0:
        return math.inf if unpaired > 0.0 else math.nan
    return unpaired / paired


def statistics_table(
    replications: pd.DataFrame,
    metrics: Sequence[str],
    policies: Sequence[str] | None = None,
    baseline: str | None = None,
    parameters: Sequence[str] = (),
) -> pd.DataFrame:
    """Long-form statistics per (point, policy, metric): n, mean, sd, 95 % CI, and versus the baseline
    (same point, same replication): paired difference with CI and p, `significant` (CI excludes 0),
    and the unpaired (Welch) CI of the difference. A mean's CI stays within its metric's bounds
    (`METRIC_BOUNDS`); differences have none. Without `parameters` (a comparison) there is no
    `point` column and the columns are `TABLE_COLUMNS`.

    When the replications have a `survived` column, every policy's rows end with `survived` (if not
    among `metrics`) and, for each of `survivor_metrics(metrics)`, a `<metric>_survivors` row over the
    replications whose club survived: `n` counts them, and the paired difference is over the seeds
    where both this policy's and the baseline's clubs survived (the unpaired CI over each one's
    survivors). Every replication surviving, these rows equal the metric's own.
    """
    if policies is None:
        policies = list(dict.fromkeys(replications["policy"]))
    baseline = baseline if baseline is not None else (policies[0] if policies else None)
    sweep = bool(parameters)
    with_diff = not sweep or len(policies) > 1
    frame = replications
    survivors = survivor_metrics(metrics) if "survived" in frame.columns else []
    shown = [*metrics, *(["survived"] if survivors and "survived" not in metrics else [])]
    rows = []
    points = sorted(frame["point"].unique()) if len(frame) else []
    for point in points:
        at_point = frame[frame["point"] == point]
        by_policy = {p: g.set_index("replication").sort_index() for p, g in at_point.groupby("policy", sort=False)}
        base = by_policy.get(baseline)
        base_alive = base[_survived(base)] if base is not None and survivors else None
        values = at_point.iloc[0][list(parameters)].to_dict() if sweep and len(at_point) else {}
        for policy in policies:
            group = by_policy.get(policy)
            if group is None:
                continue
            head: dict[str, Any] = {"point": int(point), **values} if sweep else {}
            is_baseline = policy == baseline
            for metric in shown:
                rows.append({**head, "policy": policy, "metric": metric,
                             **_statistics_row(group, base, metric, is_baseline, with_diff)})
            alive = group[_survived(group)] if survivors else group
            for metric in survivors:
                rows.append({**head, "policy": policy, "metric": f"{metric}{SURVIVORS_SUFFIX}",
                             **_statistics_row(alive, base_alive, metric, is_baseline, with_diff)})
    columns = list(TABLE_COLUMNS if with_diff else TABLE_COLUMNS[:7])
    if sweep:
        columns = ["point", *parameters, *(c for c in columns if c != CRN_COLUMN)]
    table = pd.DataFrame(rows, columns=columns)
    table["n"] = table["n"].astype(np.int64)
    if with_diff:
        table["significant"] = table["significant"].astype(bool)
    return table


def survival_counts(
    replications: pd.DataFrame,
    policies: Sequence[str] | None = None,
    baseline: str | None = None,
) -> pd.DataFrame:
    """Per (point, policy): `runs` (replications), `survived` (those whose club survived, the n of the
    `_survivors` rows) and `pairs` (seeds where both this policy's and the baseline's clubs survived,
    at the same point: the n of the survivors' paired differences)."""
    if policies is None:
        policies = list(dict.fromkeys(replications["policy"]))
    baseline = baseline if baseline is not None else (policies[0] if policies else None)
    rows = []
    frame = replications
    points = sorted(frame["point"].unique()) if len(frame) else []
    for point in points:
        at_point = frame[frame["point"] == point]
        alive = {p: set(g["replication"][_survived(g)]) if "survived" in g else set()
                 for p, g in at_point.groupby("policy", sort=False)}
        runs = at_point.groupby("policy", sort=False).size()
        for policy in policies:
            if policy not in alive:
                continue
            rows.append({"point": int(point), "policy": policy, "runs": int(runs[policy]),
                         "survived": len(alive[policy]), "pairs": len(alive[policy] & alive.get(baseline, set()))})
    return pd.DataFrame(rows, columns=["point", "policy", "runs", "survived", "pairs"])


def _precision_met(key_values: Mapping[tuple[int, str, int], float], cells: Sequence[tuple[int, str]], n: int,
                   precision: float, key_metric: str) -> bool:
    """Whether, in every cell, half the width of the key metric's 95 % CI (the table's: `metric_ci`) is at
    most `precision` x |mean|."""
    by_cell: dict[tuple[int, str], list[float]] = {cell: [] for cell in cells}
    for (point, policy, replication), value in key_values.items():
        if replication < n and (point, policy) in by_cell:
            by_cell[(point, policy)].append(value)
    for values in by_cell.values():
        count, mean, _sd, lo, hi = metric_ci(np.asarray(values, float), key_metric)
        if count < 2 or not np.isfinite(lo):
            return False
        half = (hi - lo) / 2
        if half > precision * abs(mean):
            return False
    return True


def _difference_precision_met(key_values: Mapping[tuple[int, str, int], float], experiment: Experiment, n: int,
                               precision: float) -> bool:
    """Whether, at every point and for every policy but the baseline, the 95 % CI of the key metric's paired
    difference with the baseline (over replications < n where both are finite) has a half-width of at
    most gamma / (1 + gamma) x |difference|, gamma = `precision` (Law's relative-precision rule)."""
    target = precision / (1.0 + precision)
    for point, _values in experiment.points:
        base = {r: v for (p, name, r), v in key_values.items()
                if p == point and name == experiment.baseline and r < n}
        for policy in experiment.policies:
            if policy == experiment.baseline:
                continue
            pairs = [(v, base[r]) for (p, name, r), v in key_values.items()
                     if p == point and name == policy and r < n and r in base]
            if len(pairs) < 2:
                return False
            x, y = np.asarray(pairs, float).T
            diff, lo, hi, _p = _paired(x, y)
            if not (np.isfinite(lo) and np.isfinite(hi)) or (hi - lo) / 2 > target * abs(diff):
                return False
    return True
