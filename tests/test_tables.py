"""Tables that fit (issue 18, item 3): laid out for the terminal's width, never cutting a number, and the same
numbers as csv, markdown or json with `--format`."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from sim.interfaces.cli import app
from sim.presentation.tables import Cell, Column, Grid, Row, rich_tables

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "experiments" / "exclusivity_vs_complementarity.yaml"  # what `make demo` compares
PRICING = ROOT / "experiments" / "pricing.yaml"
BNI = ROOT / "scenarios" / "bni_chapter.yaml"
DEMO_ARGS = ["compare", str(DEMO), "--runs", "10", "--set", "years=3", "--workers", "1", "--no-figures"]
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
runner = CliRunner()


def ok(*args: object, columns: int | None = None) -> object:
    env = {"COLUMNS": str(columns)} if columns is not None else {}
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "out"
    ok(*DEMO_ARGS, "--out", out, "--quiet")
    return out


def shown(demo: Path, fmt: str = "table", columns: int | None = None) -> object:
    """The comparison again, from the folder's replications (--resume of a complete folder runs nothing)."""
    return ok(*DEMO_ARGS, "--resume", demo, "--format", fmt, columns=columns)


def assert_fits(text: str, width: int) -> None:
    """No line wider than `width` (but the output folder's: a path is not broken), nothing cut with `…`."""
    lines = [line for line in text.rstrip("\n").splitlines() if not line.startswith("output: ")]
    assert lines
    too_long = [line for line in lines if cell_len(line.rstrip()) > width]
    assert not too_long, too_long
    assert "…" not in text


def assert_numbers_whole(csv_text: str, table_text: str) -> int:
    """Every number of the csv appears in the table text as a whole number (not cut, not part of another)."""
    frame = pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False)
    text = table_text.replace(",", "")
    numeric = [c for c in frame.columns if c not in ("point", "policy", "metric", "label", "unit", "significant")]
    checked = 0
    for column in numeric:
        for value in frame[column]:
            if not value:
                continue
            assert NUMBER.fullmatch(value), (column, value)
            assert re.search(rf"(?<![\d.]){re.escape(value)}(?![\d.])", text), (column, value)
            checked += 1
    return checked


@pytest.mark.parametrize("width", [80, 120])
def test_the_demo_comparison_fits_the_terminal_and_cuts_no_number(demo: Path, width: int) -> None:
    table = shown(demo, columns=width).stdout
    assert_fits(table, width)
    assert "exclusivity" in table and "(baseline)" in table and "complementarity" in table
    assert "Δ" in table and "survived (%" in table
    csv_text = shown(demo, "csv", columns=width).stdout
    assert assert_numbers_whole(csv_text, table) > 50


def test_at_120_columns_each_value_and_its_ci_share_a_line(demo: Path) -> None:
    table = shown(demo, columns=120).stdout
    assert re.search(r"business / member-year \(EUR\) +│ +[\d,]+ \[[\d,]+; [\d,]+\] │", table)
    assert "(1 of " not in table  # one table


def test_at_80_columns_the_ci_goes_under_the_value(demo: Path) -> None:
    table = shown(demo, columns=80).stdout
    assert re.search(r"│ +\[[\d,.]+; [\d,.]+\] │", table)  # a CI alone on its line


def test_the_formats_parse_and_hold_the_same_numbers(demo: Path) -> None:
    csv_text = shown(demo, "csv").stdout
    frame = pd.read_csv(io.StringIO(csv_text))
    assert list(frame.columns[:4]) == ["policy", "metric", "label", "unit"]
    churn = frame[frame["metric"] == "churn_rate_annual"]
    assert set(churn["unit"]) == {"% / year"} and (churn["mean"] > 1).all()  # percent, as the table shows it
    assert frame.loc[frame["policy"] == "exclusivity", "diff"].isna().all()  # the baseline has no Δ
    assert frame.loc[frame["policy"] == "open", "diff"].notna().any()

    result = shown(demo, "json")
    document = json.loads(result.stdout)
    assert document["baseline"] == "exclusivity" and document["runs"] == 10
    assert len(document["rows"]) == len(frame)
    first = document["rows"][0]
    assert first["unit"] and isinstance(first["n"], int)
    assert [row["mean"] for row in document["rows"]] == pytest.approx(frame["mean"].tolist(), nan_ok=True)
    assert document["output"] == str(demo)
    assert result.stderr.strip() == f"output: {demo}"  # stdout stays parseable

    lines = shown(demo, "markdown").stdout.splitlines()
    rows = [line for line in lines if line.startswith("|")]
    assert rows[0].startswith("| metric | exclusivity (baseline) | complementarity | open |")
    assert re.fullmatch(r"\|(-+:?\|)+", rows[1])
    assert any(row.startswith("| churn (% / year) |") for row in rows)


def test_a_bad_format_is_one_line() -> None:
    result = runner.invoke(app, ["compare", str(DEMO), "--format", "xml"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("clubsim: error: --format: 'xml': unknown format; use one of: table, csv, "
                                     "markdown, json")


def test_many_policies_split_into_tables_that_repeat_the_baseline() -> None:
    policies = ["baseline", *(f"policy_{i}" for i in range(7))]
    grid = Grid("many", "caption", [Column("metric", wrap=True, justify="left")],
                [Column(p) for p in policies], pinned=1)
    for label in ("business / member-year (EUR)", "churn (% / year)"):
        grid.rows.append(Row([label], [Cell("64,200", "[61,900; 66,500]") for _ in policies]))
        grid.rows.append(Row(["  Δ vs baseline"], [Cell("", markable=True)] + [
            Cell("-12,300", "[-14,600; -10,000]", mark=True, markable=True) for _ in policies[1:]],
                             end_section=True, dim=True, short="  Δ"))
    for width in (60, 80, 120):
        tables = rich_tables(grid, width)
        assert len(tables) > 1
        texts = []
        for table in tables:
            console = Console(record=True, width=width, color_system=None)
            console.print(table)
            texts.append(console.export_text())
        for text in texts:
            assert_fits(text, width)
            assert "baseline" in text and text.count("[61,900; 66,500]") >= 2
        assert all(any(p in t for t in texts) for p in policies[1:])
        assert "caption" in texts[-1] and "caption" not in texts[0]


def test_sweep_fits_and_prints_csv(tmp_path: Path) -> None:
    args = ["sweep", PRICING, "--runs", 2, "--set", "years=1", "--workers", 1, "--no-figures", "--out", tmp_path]
    table = ok(*args, columns=80).stdout
    assert_fits(table, 80)
    csv_text = ok(*args[:-2], "--resume", tmp_path, "--format", "csv").stdout
    frame = pd.read_csv(io.StringIO(csv_text))
    assert sorted(frame["club.fees.annual"].unique()) == list(range(300, 2401, 300))
    assert_numbers_whole(csv_text.replace("club.fees.annual", "fee"), table)


def test_run_prints_its_summary_in_every_format(tmp_path: Path) -> None:
    args = ["run", BNI, "--set", "years=1", "--no-figures", "--out", tmp_path / "run"]
    table = ok(*args, columns=60).stdout
    assert_fits(table, 60)
    assert "% / year" in table and "EUR" in table
    document = json.loads(ok(*args, "--format", "json").stdout)
    rows = {row["metric"]: row for row in document["rows"]}
    assert rows["churn_rate_annual"]["unit"] == "% / year" and rows["roi_giver"]["unit"] == "%"
    assert isinstance(rows["members_final"]["value"], int)
    assert rows["members_final"]["unit"] == "members"  # the table leaves it to the label; a record carries it
    frame = pd.read_csv(io.StringIO(ok(*args, "--format", "csv").stdout))
    assert list(frame.columns) == ["metric", "label", "unit", "value"]
    assert "| metric | value |" in ok(*args, "--format", "markdown").stdout
