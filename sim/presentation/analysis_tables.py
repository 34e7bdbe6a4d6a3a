"""Console tables of the analyses built on experiments: a calibration's fit (`fit_rich_table`), the stylized facts
(`facts_rich_table`, with `format_figure` for a fact's figure as text) and a sensitivity analysis's ranked indices
(`indices_rich_table`). The experiments layer computes them as DataFrames and results; `clubsim calibrate`,
`validate-model` and `sensitivity` lay them out with these, and docs/validation.md quotes `format_figure`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from sim.experiments.calibration import short_number
from sim.model.metric_registry import format_estimate, header, metric

if TYPE_CHECKING:
    from rich.table import Table

    from sim.experiments.sensitivity import SensitivityResult
    from sim.experiments.stylized import Figure, ValidationResult


def fit_rich_table(fit: pd.DataFrame, title: str) -> Table:
    """The fit table for the console: target, band, simulated mean [95 % CI], within or not."""
    from rich.table import Table

    table = Table(title=title, header_style="bold", title_style="bold", caption_justify="left",
                  caption="simulated: mean over replications [95 % CI] (pooled statistics: bootstrap CI)")
    for column, justify in (("target", "left"), ("real value", "right"), ("accepted", "right"),
                            ("simulated [95 % CI]", "right"), ("within", "center")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in fit.itertuples(index=False):
        table.add_row(row.metric, short_number(row.value), f"{short_number(row.low)} to {short_number(row.high)}",
                      format_estimate(row.simulated, row.ci_low, row.ci_high),
                      "[green]yes[/green]" if row.within else "[red]no[/red]")
    return table


def format_figure(figure: Figure) -> str:
    """`23.7 [22.0; 25.4]` (percentages x 100), signed for differences."""
    est = figure.estimate
    text = format_estimate(est.value, est.low, est.high, percent=figure.percent, sign=figure.difference)
    return text + (" %" if figure.percent and text != "—" else "")


HOLDS_CELL = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "[yellow]cannot judge[/yellow]"}


def facts_rich_table(result: ValidationResult) -> Table:
    """The facts for the console: statement, figures with 95 % CIs, holds or not."""
    from rich.table import Table

    off = " (mechanisms switched off)" if result.mechanisms_off else ""
    table = Table(title=f"stylized facts, {result.scenario.config.name}{off}: {result.runs} replications per "
                        f"variant (common random numbers)",
                  caption="value [95 % CI]; hazards and ratios pooled over replications with bootstrap CIs",
                  header_style="bold", title_style="bold", caption_justify="left", show_lines=True)
    table.add_column("fact")
    table.add_column("figures")
    table.add_column("value [95 % CI]", justify="right")
    table.add_column("holds", justify="center")
    for r in result.results:
        table.add_row(f"{r.fact.statement}\n[dim]{r.fact.criterion}[/dim]",
                      "\n".join(f.label for f in r.figures),
                      "\n".join(format_figure(f) for f in r.figures),
                      HOLDS_CELL[r.holds])
    return table


def indices_rich_table(result: SensitivityResult) -> Table:
    """Ranked parameters per metric with their indices and 95 % CIs."""
    from rich.table import Table

    morris = result.method == "morris"
    table = Table(title=f"{result.experiment.name}: {result.method}, {len(result.samples)} points x {result.runs} "
                        "replications (common random numbers)",
                  caption=("μ*: mean absolute elementary effect [95 % CI], σ: its spread (interactions, "
                           "non-linearity)") if morris else
                  "ST: total Sobol' index, S1: first-order index [95 % CI]",
                  header_style="bold", title_style="bold", caption_justify="left")
    for column, justify in (("metric", "left"), ("rank", "right"), ("parameter", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    if morris:
        table.add_column("μ* [95 % CI]", justify="right")
        table.add_column("σ", justify="right")
    else:
        table.add_column("ST [95 % CI]", justify="right")
        table.add_column("S1 [95 % CI]", justify="right")
    last = None
    for row in result.indices.to_dict("records"):
        first = row["metric"] != last
        if first and last is not None:
            table.add_section()
        last = row["metric"]
        if morris:  # effects in the metric's display unit (percent for shares and rates), as the other tables
            scale = metric(row["metric"]).scale
            cells = [f"{effect_text(row['mu_star'] * scale)} ± {effect_text(row['mu_star_conf'] * scale)}",
                     effect_text(row["sigma"] * scale)]
        else:
            cells = [f"{row['ST']:.3f} ± {row['ST_conf']:.3f}", f"{row['S1']:.3f} ± {row['S1_conf']:.3f}"]
        table.add_row(header(row["metric"]) if first else "", str(row["rank"]), row["parameter"], *cells)
    return table


def effect_text(value: float) -> str:
    """An effect for the sensitivity table: whole and grouped from 100 (48,670), 3 significant digits below
    (9.45, 0.0312), an exponent only below 0.001."""
    if not math.isfinite(value):
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


__all__ = ["effect_text", "facts_rich_table", "fit_rich_table", "format_figure", "indices_rich_table"]
