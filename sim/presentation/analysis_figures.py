"""Figures of the analyses built on experiments: sensitivity indices, the ABC posterior and its predictive
check, and scenario discovery's boxes.

The experiments layer computes and writes these analyses but draws nothing: `clubsim sensitivity`,
`calibrate --method abc` and `discover`, and the facade (`sim.sensitivity`, `sim.calibrate_abc`, `sim.discover`)
pass it the drawers below (`sensitivity_figures`, `abc_figures`, `discovery_figures`), each a result ->
{file name: figure}; docs/validation.md (`validation_report`) passes `sensitivity_figures`, and draws an ABC
folder's figures with `pairs_figure` and `predictive_figure` when the folder has none. Drawn on
`matplotlib.figure.Figure` objects (Agg canvas, no pyplot), imported on first use, like
`sim.presentation.experiment_plots`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.experiments.abc_calibration import FIGURES as ABC_FIGURE_FILES
from sim.experiments.discovery import FIGURE_FILE as DISCOVERY_FIGURE_FILE
from sim.experiments.sensitivity import figure_file as sensitivity_figure_file

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.experiments.abc_calibration import Posterior
    from sim.experiments.discovery import DiscoveryResult
    from sim.experiments.sensitivity import SensitivityResult


# --------------------------------------------------------------------------- sensitivity


def sensitivity_figures(result: SensitivityResult) -> dict[str, Figure]:
    """`sensitivity_<method>.png`: what `analyse` writes and `SensitivityResult.plot()` returns."""
    return {sensitivity_figure_file(result.method): sensitivity_figure(result)}


def sensitivity_figure(result: SensitivityResult) -> Figure:
    """One panel per metric: parameters ranked by influence, as horizontal bars with 95 % CIs
    (Morris: mu* with sigma marked; Sobol': total index ST with first-order S1)."""
    from matplotlib.figure import Figure

    metrics = [m for m in result.experiment.metrics if (result.indices.get("metric") == m).any()] \
        if not result.indices.empty else []
    n = max(1, len(metrics))
    cols = min(2, n)
    rows = math.ceil(n / cols)
    k = len(result.experiment.parameters)
    fig = Figure(figsize=(6.2 * cols, 0.45 * k * rows + 1.2 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics, strict=False):
        table = result.indices[result.indices["metric"] == metric].sort_values("rank", ascending=False)
        y = np.arange(len(table))
        if result.method == "morris":
            ax.barh(y, table["mu_star"], xerr=table["mu_star_conf"], color="#4878a8", capsize=2, label="μ*")
            ax.plot(table["sigma"], y, "o", color="#d1603d", ms=4, label="σ")
            ax.set_xlabel("Morris μ* (mean |elementary effect|), in the metric's unit")
        else:
            ax.barh(y + 0.2, table["ST"], height=0.4, xerr=table["ST_conf"], color="#4878a8", capsize=2,
                    label="total ST")
            ax.barh(y - 0.2, table["S1"], height=0.4, xerr=table["S1_conf"], color="#9cc0e0", capsize=2,
                    label="first-order S1")
            ax.set_xlabel("Sobol' index (share of the output variance)")
        ax.set_yticks(y, table["parameter"], fontsize=8)
        ax.set_title(metric, fontsize=10)
        ax.axvline(0, color="grey", lw=0.6)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle(f"{result.experiment.name}: {result.method} sensitivity, {len(result.samples)} points x "
                 f"{result.runs} replications", fontsize=11)
    return fig


# --------------------------------------------------------------------------- ABC calibration


def abc_figures(result: Any) -> dict[str, Figure]:
    """pairs.png and predictive.png of an ABC calibration (`calibrate_abc`'s result, which holds the posterior,
    the predictive check and its draws)."""
    bounds = {name: (float(lo), float(hi)) for name, (lo, hi) in result.targets.parameters.items()}
    pairs_file, predictive_file = ABC_FIGURE_FILES
    return {pairs_file: pairs_figure(result.posterior, bounds),
            predictive_file: predictive_figure(result.predictive_draws, result.predictive)}


def pairs_figure(posterior: Posterior, bounds: Mapping[str, tuple[float, float]]) -> Figure:
    """The last generation's particles, parameter against parameter (dot area: weight), the marginals on the
    diagonal (weighted histograms), each axis over the prior's bounds."""
    from matplotlib.figure import Figure

    names = posterior.names
    k = len(names)
    fig = Figure(figsize=(1.9 * k + 1.0, 1.9 * k + 0.6), layout="constrained")
    axes = np.atleast_2d(fig.subplots(k, k, squeeze=False))
    weights = posterior.samples["weight"].to_numpy(float)
    size = 4.0 + 60.0 * weights / weights.max()
    for i, row_name in enumerate(names):
        for j, col_name in enumerate(names):
            ax = axes[i, j]
            x = posterior.samples[col_name].to_numpy(float)
            if i == j:
                ax.hist(x, bins=15, range=bounds[col_name], weights=weights, color="#1f77b4", alpha=0.7)
                ax.set_yticks([])
                ax.set_title(col_name.split(".")[-1], fontsize=7)
            elif i > j:
                ax.scatter(x, posterior.samples[row_name], s=size, color="#1f77b4", alpha=0.5, linewidths=0)
                ax.set_ylim(*bounds[row_name])
            else:
                ax.set_axis_off()
                continue
            ax.set_xlim(*bounds[col_name])
            ax.tick_params(labelsize=6)
            if i == k - 1:
                ax.set_xlabel(col_name.split(".")[-1], fontsize=7)
            if j == 0 and i > 0:
                ax.set_ylabel(row_name.split(".")[-1], fontsize=7)
    fig.suptitle("ABC posterior of the free parameters", fontsize=10)
    fig.supxlabel(_wrapped(f"{len(weights)} particles of the last generation; below the diagonal, one parameter "
                           "against another (dot area: the particle's weight); on it, each parameter's weighted "
                           "histogram. Axes span the prior's bounds.", fig), fontsize=8, color="0.3")
    return fig


def predictive_figure(draws: pd.DataFrame, predictive: pd.DataFrame) -> Figure:
    """Per target: the statistic of each posterior draw (dots) against its accepted band (shaded) and
    the real value (line)."""
    from matplotlib.figure import Figure

    n = len(predictive)
    columns = min(3, n)
    rows = math.ceil(n / columns)
    fig = Figure(figsize=(3.4 * columns, 2.3 * rows + 0.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for ax, row in zip(axes, predictive.itertuples(index=False), strict=False):
        values = draws[row.metric].to_numpy(float)
        ax.axvspan(row.band_low, row.band_high, color="#2ca02c", alpha=0.15)
        ax.axvline(row.value, color="#2ca02c", linewidth=1)
        jitter = np.random.default_rng(0).uniform(-0.3, 0.3, len(values))
        ax.scatter(values, jitter, s=12, color="#1f77b4", alpha=0.7)
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        ax.set_title(f"{row.metric}\n{row.within_share:.0%} of draws within", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_formatter(lambda value, _pos: f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}")
    for ax in axes[n:]:
        ax.set_axis_off()
    fig.suptitle("Posterior predictive check", fontsize=10)
    fig.supxlabel(_wrapped(f"Dots: the target's statistic for each of {len(draws)} posterior draws, each "
                           "replicated on fresh seeds; shaded: the target's accepted band; line: the real figure.",
                           fig), fontsize=8, color="0.3")
    return fig


def _wrapped(text: str, fig: Figure, points: float = 8.0) -> str:
    """`text` broken into lines that fit the figure's width at `points` (about half a point's width a glyph)."""
    width = int(fig.get_figwidth() * 72 / (0.55 * points))
    return textwrap.fill(text, max(width, 20))


# --------------------------------------------------------------------------- scenario discovery


def discovery_figures(result: DiscoveryResult) -> dict[str, Figure]:
    """discovery.png: what `discover` writes and `DiscoveryResult.plot()` returns."""
    return {DISCOVERY_FIGURE_FILE: discovery_figure(result.boxes, result.chosen, result.x, result.outcome)}


def discovery_figure(boxes: pd.DataFrame, chosen: int | None, x: pd.DataFrame, outcome: str) -> Figure:
    """Left: PRIM's coverage-density trade-off (colour: parameters restricted), the chosen box circled.
    Right: the chosen box's limits on each parameter, as a share of its sampled range."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    left, right = figure.subplots(1, 2, width_ratios=[1, 1.2])
    figure.suptitle(f"Scenario discovery: {outcome}")
    if boxes.empty or chosen is None:
        for ax in (left, right):
            ax.text(0.5, 0.5, "the outcome never or always happens: no box", ha="center", va="center")
            ax.set_axis_off()
        return figure
    points = left.scatter(boxes["coverage"], boxes["density"], c=boxes["res_dim"], cmap="viridis", s=18)
    figure.colorbar(points, ax=left, label="parameters restricted")
    pick = boxes[boxes["box"] == chosen].iloc[0]
    left.scatter([pick["coverage"]], [pick["density"]], s=140, facecolors="none", edgecolors="red", linewidths=1.5)
    left.annotate(f"box {chosen}", (pick["coverage"], pick["density"]), textcoords="offset points", xytext=(6, -12),
                  color="red")
    left.set(xlabel="coverage", ylabel="density", title="PRIM trade-off (peeling trajectory)",
             xlim=(0, 1.02), ylim=(0, 1.02))
    left.grid(alpha=0.3)
    numeric = [c for c in x.columns if f"{c}_low" in boxes.columns]
    for i, column in enumerate(numeric):
        low, high = float(x[column].min()), float(x[column].max())
        span = (high - low) or 1.0
        a, b = (pick[f"{column}_low"] - low) / span, (pick[f"{column}_high"] - low) / span
        narrowed = column in str(pick["restricted"]).split()
        right.barh(i, max(b - a, 0.005), left=a, color="tab:red" if narrowed else "tab:gray",
                   alpha=0.8 if narrowed else 0.3)
        right.text(1.01, i, f"{pick[f'{column}_low']:.4g} – {pick[f'{column}_high']:.4g}", va="center", fontsize=8)
    right.set_yticks(range(len(numeric)), numeric, fontsize=8)
    right.set_xlim(0, 1)
    categorical = [c for c in x.columns if f"{c}_in" in boxes.columns]
    title = f"box {chosen}: coverage {pick['coverage']:.0%}, density {pick['density']:.0%}"
    if categorical:
        title += "\n" + "; ".join(f"{c} in {{{pick[f'{c}_in'].replace('|', ', ')}}}" for c in categorical)
    right.set(xlabel="share of the sampled range", title=title)
    return figure


__all__ = ["abc_figures", "discovery_figure", "discovery_figures", "pairs_figure", "predictive_figure",
           "sensitivity_figure", "sensitivity_figures"]
