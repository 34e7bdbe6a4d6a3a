"""Figures of an experiment: metrics by policy, member trajectories, tenure survival, ROI by type, sweeps.

Drawn on `matplotlib.figure.Figure` objects (Agg canvas, no pyplot), imported on first use, like
`sim.presentation.plots`. Each function takes a `ComparisonResult` or `SweepResult` (`sim.experiments.experiment`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.experiments.folders import save_figures
from sim.model.metric_registry import bounds, header
from sim.model.metrics import MEMBER_TYPES
from sim.presentation.plots import draw_survival_curve, style_axis, style_survival_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sim.experiments.experiment import ComparisonResult, Experiment, SweepResult

DPI = 110
WEEKS_PER_YEAR = 52
COMPARISON_FIGURES = ("metrics.png", "trajectories.png", "survival.png", "roi_by_type.png")
ALL_FIGURE_PATTERNS = (*COMPARISON_FIGURES, "sweep_*.png")
TYPE_COLOURS = {"giver": "#2ca02c", "reciprocator": "#1f77b4", "hunter": "#d62728"}
MAX_CATEGORIES = 25  # a swept parameter with more distinct values (a Latin hypercube) is drawn point by point

# --------------------------------------------------------------------------- helpers


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _colours(names: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def caption(fig: Figure, text: str, fontsize: float = 8.0) -> None:
    """A line (or a few) under the figure saying what its marks are, wrapped to the figure's width."""
    import textwrap

    width = int(fig.get_figwidth() * 72 / (0.52 * fontsize))
    fig.supxlabel(textwrap.fill(text, max(width, 30)), fontsize=fontsize, color="0.3")


def parameter_label(key: str) -> str:
    """A swept scenario key in words, with its unit, from the schema's description (`club.fees.annual` ->
    `annual membership fee, EUR per year`); the key itself when the schema has no description."""
    import re

    from pydantic import BaseModel

    from sim.model.scenario import ScenarioConfig

    model: Any = ScenarioConfig
    info = None
    for part in key.split("."):
        fields = model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else {}
        info = fields.get(part)
        if info is None:
            return key
        model = info.annotation
    text = re.sub(r"\s*\([^()]*\)\s*$", "", (info.description or "") if info else "").strip()
    return f"{text} ({key})" if text else key


def _label(metric: str) -> str:
    """A metric's label with its display unit, as the tables head it (`sim.model.metric_registry.header`)."""
    return header(metric)


def _values(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.zeros(0)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
    return values[np.isfinite(values)]


def _mean_and_errors(values: np.ndarray, metric: str) -> tuple[float, float, float]:
    """Mean and its 95 % CI's distance below and above it, as the comparison table has them
    (`sim.experiments.experiment.metric_ci`: t-based or Wilson's, cut at the metric's bounds); 0 where undefined."""
    from sim.experiments.statistics import metric_ci

    _n, mean, _sd, low, high = metric_ci(values, metric)
    below, above = (mean - low, high - mean) if np.isfinite(low) and np.isfinite(high) else (0.0, 0.0)
    return mean, below, above


def _error_bars(stats: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """matplotlib's `yerr` (2 x N: below, above) from `_mean_and_errors` results."""
    return np.array([[s[1] for s in stats], [s[2] for s in stats]])


def _grid(count: int, ncols: int = 3) -> tuple[int, int]:
    ncols = max(1, min(ncols, count))
    return math.ceil(count / ncols), ncols


def _policy_ticks(ax: Axes, policies: Sequence[str]) -> None:
    long = len(policies) > 4 or max((len(p) for p in policies), default=0) > 12
    ax.set_xticks(np.arange(len(policies)), list(policies), rotation=45 if long else 0,
                  ha="right" if long else "center", fontsize=8)


def _is_bool(frame: pd.DataFrame, column: str) -> bool:
    return column in frame.columns and frame[column].dtype == bool


def _policies_in(result: ComparisonResult | SweepResult) -> list[str]:
    present = set(result.replications["policy"]) if len(result.replications) else set()
    return [p for p in result.policies if p in present]


# --------------------------------------------------------------------------- comparisons


def plot_metrics(result: ComparisonResult) -> Figure:
    """One panel per metric: distribution over replications by policy, mean and its 95 % CI marked."""
    metrics = list(result.metrics)
    policies = _policies_in(result)
    rows, cols = _grid(len(metrics))
    fig = _figure(4.2 * cols, 3.4 * rows + 0.9)
    fig.suptitle(f"{result.experiment.name}: metrics by policy, {result.runs} runs each", fontsize=11)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    colours = _colours(policies)
    frame = result.replications
    for ax, metric in zip(axes, metrics, strict=False):
        ax.set_title(_label(metric), fontsize=9)
        style_axis(ax.yaxis, metric, label=False)  # ticks in the table's unit (x 100 for percentages)
        groups = [_values(frame[frame["policy"] == p], metric) for p in policies]
        if not any(len(g) for g in groups):
            _empty(ax, "no values")
            continue
        x = np.arange(len(policies))
        stats = [_mean_and_errors(g, metric) for g in groups]
        means = np.array([s[0] for s in stats])
        if _is_bool(frame, metric):
            ax.bar(x, means, color=[colours[p] for p in policies], alpha=0.5)
            ax.set_ylim(0, 1.05)
        else:
            shown = [g if len(g) else np.array([np.nan]) for g in groups]
            boxes = ax.boxplot(shown, positions=x, widths=0.55, patch_artist=True, showfliers=True,
                               medianprops={"color": "0.2"},
                               flierprops={"marker": "o", "markersize": 2.5, "alpha": 0.5,
                                           "markeredgewidth": 0, "markerfacecolor": "0.3"})
            for patch, policy in zip(boxes["boxes"], policies, strict=True):
                patch.set_facecolor(colours[policy])
                patch.set_alpha(0.35)
        ax.errorbar(x, means, yerr=_error_bars(stats), fmt="D", color="black", markersize=4, capsize=3, linewidth=1.2)
        base = policies.index(result.baseline) if result.baseline in policies else None
        if base is not None and np.isfinite(means[base]):
            ax.axhline(means[base], color="0.5", linestyle=":", linewidth=0.9)
        _policy_ticks(ax, policies)
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    baseline = f" ({result.baseline})" if result.baseline in policies else ""
    caption(fig, "Every run counts, closed clubs included. Box: the middle half of the runs, line: median, "
                 "whiskers: 1.5 times the box's height, dots: runs beyond them; diamond and bar: mean and its "
                 f"95 % CI; dotted line: the baseline's mean{baseline}. Survived: share of runs whose club is "
                 "still open at the horizon, with Wilson's 95 % CI.")
    return fig


def plot_trajectories(result: ComparisonResult) -> Figure:
    """Members over time, one panel per policy: the median run, the middle half and 10-90 % of runs, and
    the baseline's median on every panel for reference."""
    frame = result.replications
    policies = _policies_in(result)
    if "members_weekly" not in frame.columns or not len(frame) or not policies:
        fig = _figure(8.5, 4.8)
        _empty(fig.subplots(), "no weekly series stored (keep_series: false)")
        return fig
    rows, cols = _grid(len(policies))
    fig = _figure(4.0 * cols + 0.5, 3.0 * rows + 1.2)
    fig.suptitle(f"{result.experiment.name}: members over time, {result.runs} runs per policy", fontsize=11)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True).ravel())
    colours = _colours(policies)
    quantiles: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for policy in policies:
        series = [np.asarray(s, float) for s in frame.loc[frame["policy"] == policy, "members_weekly"]]
        if not series:
            continue
        weeks = max(len(s) for s in series)
        stacked = np.zeros((len(series), weeks))  # a closed club's missing weeks count 0 members
        for i, s in enumerate(series):
            stacked[i, : len(s)] = s
        quantiles[policy] = (np.arange(weeks) / WEEKS_PER_YEAR, np.percentile(stacked, [10, 25, 50, 75, 90], axis=0))
    top = max((q[1][-1].max() for q in quantiles.values()), default=1.0)
    for ax, policy in zip(axes, policies, strict=False):
        ax.set_title(policy + (" (baseline)" if policy == result.baseline else ""), fontsize=9)
        ax.grid(alpha=0.3)
        if policy not in quantiles:
            _empty(ax, "no runs")
            continue
        years, (p10, p25, p50, p75, p90) = quantiles[policy]
        colour = colours[policy]
        ax.fill_between(years, p10, p90, color=colour, alpha=0.12, linewidth=0, step="post")
        ax.fill_between(years, p25, p75, color=colour, alpha=0.3, linewidth=0, step="post")
        if result.baseline in quantiles and policy != result.baseline:
            base_years, base = quantiles[result.baseline]
            ax.step(base_years, base[2], where="post", color="0.35", linestyle="--", linewidth=1.0)
        ax.step(years, p50, where="post", color=colour, linewidth=1.6)
        ax.set_ylim(0, top * 1.05)
        ax.set_xlim(0, years[-1] if len(years) > 1 else 1.0)
    for index, ax in enumerate(axes):
        if index >= len(policies):
            ax.set_visible(False)
            continue
        if index % cols == 0:
            ax.set_ylabel(header("members", "series"))
        if index >= len(policies) - cols:
            ax.set_xlabel(header("time", "quantity"))
            ax.xaxis.set_tick_params(labelbottom=True)
    caption(fig, "Line: the median run, week by week; dark band: the middle half of the runs (25-75 %); light "
                 "band: 10-90 % of the runs; grey dashed: the baseline's median. A closed club counts 0 members.")
    return fig


def plot_survival(result: ComparisonResult) -> Figure:
    """Kaplan-Meier tenure survival by policy, pooled over replications (active and dissolved censored)."""
    fig = _figure(8.5, 4.8)
    ax = fig.subplots()
    ax.set_title(f"{result.experiment.name}: how long members stay, by policy", fontsize=11)
    frame = result.replications
    if "tenure_years" not in frame.columns or not len(frame):
        _empty(ax, "no tenures stored (keep_series: false)")
        return fig
    policies = _policies_in(result)
    colours = _colours(policies)
    x_max = 0.0
    for policy in policies:
        rows = frame[frame["policy"] == policy]
        tenure = np.concatenate([np.asarray(t, float) for t in rows["tenure_years"]] or [np.zeros(0)])
        observed = np.concatenate([np.asarray(o, bool) for o in rows["tenure_observed"]] or [np.zeros(0, bool)])
        if not len(tenure):
            continue
        x_max = max(x_max, draw_survival_curve(
            ax, tenure, observed, color=colours[policy], linewidth=1.5,
            label=f"{policy} (members = {len(tenure):,}, exits = {int(observed.sum()):,})",
        ))
    style_survival_axes(ax, x_max)
    ax.legend(fontsize=8, ncol=2 if len(policies) > 6 else 1, loc="best")
    caption(fig, "Share of members still in the club after each tenure (Kaplan-Meier), the members of all runs "
                 "pooled; members still in at the horizon, or in a club that closed, are censored. Dashed: half.")
    return fig


def plot_roi_by_type(result: ComparisonResult) -> Figure:
    """Mean ROI of each member type by policy (mean over runs of the run's mean), with 95 % CI."""
    policies = _policies_in(result)
    fig = _figure(max(6.5, 0.6 * len(policies) + 3), 5.0)
    ax = fig.subplots()
    ax.set_title(f"{result.experiment.name}: ROI by member type", fontsize=11)
    frame = result.replications
    types = [t for t in MEMBER_TYPES if f"roi_{t}" in frame.columns and len(_values(frame, f"roi_{t}"))]
    if not types or not policies:
        _empty(ax, "no ROI by type")
        return fig
    width = 0.8 / len(types)
    x = np.arange(len(policies))
    for k, member_type in enumerate(types):
        metric = f"roi_{member_type}"
        stats = [_mean_and_errors(_values(frame[frame["policy"] == p], metric), metric) for p in policies]
        means = np.array([s[0] for s in stats])
        ax.bar(x + (k - (len(types) - 1) / 2) * width, means, width, yerr=_error_bars(stats), capsize=2,
               color=TYPE_COLOURS[member_type], alpha=0.8, label=member_type, error_kw={"linewidth": 0.9})
    ax.axhline(0, color="0.3", linestyle="--", linewidth=0.9)
    _policy_ticks(ax, policies)
    style_axis(ax.yaxis, "roi_mean")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    caption(fig, f"Bar: the mean over {result.runs} runs of each run's mean ROI among members of that type "
                 "(every member ever, over its whole membership); whisker: 95 % CI; dashed: break-even.")
    return fig


def comparison_figures(result: ComparisonResult) -> dict[str, Figure]:
    """metrics.png, trajectories.png and survival.png (when series are stored) and roi_by_type.png."""
    figures = {"metrics.png": plot_metrics(result)}
    if "members_weekly" in result.replications.columns:
        figures["trajectories.png"] = plot_trajectories(result)
    if "tenure_years" in result.replications.columns:
        figures["survival.png"] = plot_survival(result)
    figures["roi_by_type.png"] = plot_roi_by_type(result)
    return figures


# --------------------------------------------------------------------------- sweeps


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def plot_sweep(result: SweepResult, metric: str) -> Figure:
    """`metric` against each swept parameter: mean and 95 % CI band (grid), or point means with CIs (lhs)."""
    parameters = list(result.parameters)
    rows, cols = _grid(len(parameters), 2)
    fig = _figure(max(6.5, 5.2 * cols), 3.8 * rows + 1.0)
    fig.suptitle(f"{result.experiment.name}: {_label(metric)}", fontsize=11)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    frame = result.replications
    policies = _policies_in(result)
    colours = _colours(policies)
    lhs = result.experiment.sweep is not None and result.experiment.sweep.design == "lhs"
    low_bound = bounds([metric]).get(metric, (-math.inf, math.inf))[0]
    for ax, parameter in zip(axes, parameters, strict=False):
        ax.set_xlabel(parameter_label(parameter))
        style_axis(ax.yaxis, metric)
        ax.grid(alpha=0.3)
        if metric not in frame.columns or not len(frame):
            _empty(ax, "no values")
            continue
        numeric = _numeric(frame[parameter])
        for policy in policies:
            rows_p = frame[frame["policy"] == policy]
            label = policy if len(policies) > 1 else None
            distinct = list(dict.fromkeys(rows_p[parameter]))
            if len(distinct) <= MAX_CATEGORIES and not (lhs and numeric):
                keys = sorted(distinct) if numeric else distinct
                stats = [_mean_and_errors(_values(rows_p[rows_p[parameter] == k], metric), metric) for k in keys]
                means = np.array([s[0] for s in stats])
                below, above = _error_bars(stats)
                x = np.asarray(keys, float) if numeric else np.arange(len(keys))
                ax.plot(x, means, marker="o", markersize=4, color=colours[policy], label=label)
                ax.fill_between(x, means - below, means + above, color=colours[policy], alpha=0.2, linewidth=0)
                if not numeric:
                    ax.set_xticks(x, [str(k) for k in keys], fontsize=8)
            else:  # a Latin hypercube (or many values): each point's mean and CI, plus a binned trend
                by_point = [(float(g[parameter].iloc[0]), *_mean_and_errors(_values(g, metric), metric))
                            for _, g in rows_p.groupby("point", sort=True)]
                points = np.array(sorted(by_point))
                ax.errorbar(points[:, 0], points[:, 1], yerr=points[:, 2:4].T, fmt="o", markersize=3,
                            color=colours[policy], alpha=0.6, linewidth=0.8, capsize=0, label=label)
                bins = np.quantile(points[:, 0], np.linspace(0, 1, 9))
                index = np.clip(np.searchsorted(bins, points[:, 0], side="right") - 1, 0, len(bins) - 2)
                centres = [points[index == b, 0].mean() for b in range(len(bins) - 1) if (index == b).any()]
                trend = [np.nanmean(points[index == b, 1]) for b in range(len(bins) - 1) if (index == b).any()]
                ax.plot(centres, trend, color=colours[policy], linewidth=1.6)
        if numeric:
            ax.xaxis.set_major_formatter(lambda value, _pos: f"{value:,.10g}")
        if low_bound == 0:  # counts, money and shares: from zero (where they end), not zoomed in
            ax.set_ylim(bottom=0)
        if len(policies) > 1:
            ax.legend(fontsize=8)
    for ax in axes[len(parameters):]:
        ax.set_visible(False)
    caption(fig, f"Line: mean over the {result.runs} runs of each point (the same seeds at every point); band or "
                 "bar: its 95 % CI. Every run counts, closed clubs included.")
    return fig


def sweep_figures(result: SweepResult) -> dict[str, Figure]:
    """sweep_<metric>.png for every metric of the experiment."""
    return {f"sweep_{metric}.png": plot_sweep(result, metric) for metric in result.metrics}


# --------------------------------------------------------------------------- files


class ExperimentFigures:
    """The figures of a comparison or a sweep, as the experiments layer takes them
    (`sim.experiments.experiment.FigureSet`): `sim.compare`, `sim.sweep` and `clubsim compare`/`sweep` pass
    `FIGURES`, so that the figures are written into the output folder with the results and `result.plot()`
    draws them."""

    def names(self, experiment: Experiment, kind: str) -> list[str]:
        return [*COMPARISON_FIGURES] if kind == "compare" else [f"sweep_{metric}.png" for metric in experiment.metrics]

    def draw(self, result: ComparisonResult | SweepResult) -> dict[str, Figure]:
        from sim.experiments.experiment import ComparisonResult

        return comparison_figures(result) if isinstance(result, ComparisonResult) else sweep_figures(result)

    def save(self, figures: Mapping[str, Figure], out_dir: Path) -> dict[str, Path]:
        return save_figures(figures, out_dir)


FIGURES = ExperimentFigures()

__all__ = [
    "ALL_FIGURE_PATTERNS",
    "COMPARISON_FIGURES",
    "FIGURES",
    "ExperimentFigures",
    "caption",
    "comparison_figures",
    "parameter_label",
    "plot_metrics",
    "plot_roi_by_type",
    "plot_survival",
    "plot_sweep",
    "plot_trajectories",
    "save_figures",
    "sweep_figures",
]
