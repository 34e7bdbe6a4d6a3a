"""The metric registry (issue 18, item 2): one label, unit, bounds and format per metric, used by the tables,
the figures, the report and the files."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from sim import compare
from sim.experiments.experiment import METRIC_COLUMNS, REPLICATIONS_FILE, load_experiment
from sim.experiments.experiment import SERIES_COLUMNS as REPLICATION_SERIES_COLUMNS
from sim.experiments.spec import METRIC_BOUNDS, SURVIVOR_METRICS
from sim.model.metric_registry import (
    METRICS,
    REPLICATION_SERIES,
    SERIES,
    arrow_metadata,
    bounds,
    format_estimate,
    format_value,
    header,
    is_known,
    metric,
    registry_gaps,
    units_markdown,
)
from sim.model.metrics import SERIES_COLUMNS, SUMMARY_KEYS
from sim.presentation.plots import axis_formatter

ROOT = Path(__file__).resolve().parents[1]
EXCLUSIVITY = ROOT / "experiments" / "exclusivity_vs_complementarity.yaml"


def test_every_summary_key_metric_column_and_series_column_has_an_entry() -> None:
    assert registry_gaps() == []  # SUMMARY_KEYS and the weekly series
    for name in (*SUMMARY_KEYS, *METRIC_COLUMNS):
        entry = METRICS[name]
        assert entry.label and entry.unit and entry.stored_unit, name
        assert entry.bounds is not None, name
    for name in SERIES_COLUMNS:
        assert SERIES[name].label and SERIES[name].unit and SERIES[name].stored_unit, name
    for name in REPLICATION_SERIES_COLUMNS:
        assert REPLICATION_SERIES[name].label and REPLICATION_SERIES[name].stored_unit, name
    for name in SURVIVOR_METRICS:
        survivors = metric(f"{name}_survivors")
        assert survivors.label == f"{METRICS[name].label}, survivors"
        assert survivors.unit == METRICS[name].unit and survivors.bounds == METRICS[name].bounds
        assert header(f"{name}_survivors") == f"{header(name)}, survivors"


def test_a_key_without_an_entry_is_caught() -> None:
    assert registry_gaps((*SUMMARY_KEYS, "new_metric"), (*SERIES_COLUMNS, "new_column")) == ["new_metric",
                                                                                            "new_column"]


def test_every_value_of_a_real_run_summary_is_known() -> None:
    from sim.model.runner import simulate

    summary = simulate(ROOT / "scenarios" / "bni_chapter.yaml", 1, overrides={"years": 1}).summary
    prefixes = {"roi_by_type": "roi", "exits_by_reason": "exits"}
    for key, value in summary.items():
        assert is_known(key), key
        if key in prefixes:
            for sub in value:
                assert is_known(f"{prefixes[key]}_{sub}"), (key, sub)


def test_the_statistics_bounds_are_the_registrys() -> None:
    assert METRIC_BOUNDS == bounds(METRIC_COLUMNS)
    assert METRIC_BOUNDS["roi_mean"] == (-1.0, math.inf) and METRIC_BOUNDS["survived"] == (0.0, 1.0)


def test_one_unit_per_metric_in_tables_and_single_values() -> None:
    # ratios in the files, percentages wherever people read them
    for name in ("churn_rate_annual", "roi_mean", "roi_giver", "survived", "share_positive_roi", "sphere_share"):
        assert metric(name).scale == 100.0, name
    assert header("churn_rate_annual") == "churn (% / year)"
    assert format_value("churn_rate_annual", 0.383) == "38.3 % / year"
    assert header("roi_mean") == "ROI, mean (%)"
    assert format_value("roi_mean", 2.66) == "+266.0 %"
    assert header("survived") == "survived (% of runs)"
    assert format_value("business_per_member_year", 64213.4) == "64,213 EUR"
    assert header("members_final") == "members at end" and format_value("members_final", 35) == "35"
    assert format_estimate(0.383, 0.35, 0.41, percent=True) == "38.3 [35.0; 41.0]"


def test_replications_parquet_has_units_in_its_field_metadata(tmp_path: Path) -> None:
    result = compare(load_experiment(EXCLUSIVITY, {"years": 1}), 2, workers=1, figures=False, out=tmp_path / "out")
    schema = pq.read_schema(result.out_dir / REPLICATIONS_FILE)
    for name in (*METRIC_COLUMNS, *REPLICATION_SERIES_COLUMNS):
        meta = schema.field(name).metadata
        assert meta is not None, name
        assert meta[b"unit"].decode() and meta[b"label"].decode() == metric(
            name, "metric" if name in METRICS else "replication_series").label, name
    churn = schema.field("churn_rate_annual").metadata
    assert churn[b"unit"].decode().startswith("exits per member-year")
    assert churn[b"display_unit"] == b"% / year" and churn[b"display_scale"] == b"100"
    assert schema.field("policy").metadata is None
    assert arrow_metadata("roi_mean")["display_unit"] == "%"
    # the stored values stay ratios
    frame = pq.read_table(result.out_dir / REPLICATIONS_FILE).to_pandas()
    assert (frame["churn_rate_annual"] < 5).all()


def test_table_and_figure_show_the_same_unit(tmp_path: Path) -> None:
    from sim.interfaces.cli import comparison_table

    result = compare(load_experiment(EXCLUSIVITY, {"years": 1}), 3, workers=1, figures=False)
    console = Console(record=True, width=400, color_system=None)
    console.print(comparison_table(result))
    text = console.export_text()
    figures = result.plot()
    titles = {ax.get_title(): ax for ax in figures["metrics.png"].axes}
    for name in result.metrics:
        assert header(name) in text, name
        assert header(name) in titles, name  # the panel's title is the table's header, unit included
        ax = titles[header(name)]
        if metric(name).scale == 100.0:  # and its ticks are in that unit: 0.383 is drawn as 38.3
            assert ax.yaxis.get_major_formatter()(0.383, 0) == "38.3"
    roi = figures["roi_by_type.png"].axes[0]
    assert roi.get_ylabel() == header("roi_mean") == "ROI, mean (%)"
    assert roi.yaxis.get_major_formatter()(2.0, 0) == "200"
    assert axis_formatter("members_final") is None
    assert axis_formatter("business_per_member_year")(64000.0, 0) == "64,000"


def test_sweep_figure_axis_has_the_tables_unit(tmp_path: Path) -> None:
    from sim import sweep

    result = sweep(load_experiment(ROOT / "experiments" / "pricing.yaml", {"years": 1}), 2, workers=1,
                   figures=False)
    for name, figure in result.plot().items():
        metric_name = name.removeprefix("sweep_").removesuffix(".png")
        assert {ax.get_ylabel() for ax in figure.axes if ax.get_visible()} == {header(metric_name)}


@pytest.mark.parametrize("name", ["churn_rate_annual", "roi_mean", "members_final_survivors"])
def test_units_table_lists_the_stored_and_shown_units(name: str) -> None:
    table = units_markdown()
    base = name.removesuffix("_survivors")
    assert f"| `{base}` | {METRICS[base].label} | {METRICS[base].stored_unit} |" in table


def test_the_readme_holds_the_units_table() -> None:
    assert units_markdown() in (ROOT / "README.md").read_text(encoding="utf-8")
