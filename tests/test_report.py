"""`clubsim report DIR` (`sim.presentation.report`): one self-contained HTML file from a run, compare or sweep folder.

The folders are made by the real commands on short horizons (`--set years=2`); the HTML is parsed
to check what a reader gets: tables with the folder's numbers, every figure embedded byte for byte,
the scenario and the manifest, and nothing fetched from anywhere else.
"""

from __future__ import annotations

import base64
import html
import json
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.interfaces.cli import app
from sim.model.metric_registry import format_estimate, format_value, is_percent_metric
from sim.presentation.report import REPORT_FILE, build_report

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"
BNI_OPEN = ROOT / "scenarios" / "bni_open.yaml"
PRICING = ROOT / "experiments" / "pricing.yaml"

runner = CliRunner()


def clubsim(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args: object):
    result = clubsim(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


class Page(HTMLParser):
    """The parts of a report a test looks at: tags with their attributes, and every table's cell texts."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: list[tuple[str, list[list[str]]]] = []  # (class, rows of cell texts)
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append((dict(attrs).get("class") or "", []))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def table(self, cls: str) -> list[list[str]]:
        found = [rows for classes, rows in self.tables if cls in classes.split()]
        assert found, f"no table of class {cls}"
        return found[0]

    def images(self) -> list[bytes]:
        sources = [attrs.get("src") or "" for tag, attrs in self.tags if tag == "img"]
        assert all(s.startswith("data:image/png;base64,") for s in sources), "an image is not embedded"
        return [base64.b64decode(s.removeprefix("data:image/png;base64,")) for s in sources]


def report_of(folder: Path) -> tuple[Path, Page]:
    result = ok("report", folder)
    path = Path(result.stdout.strip())
    assert path == folder / REPORT_FILE
    return path, Page(path.read_text(encoding="utf-8"))


def assert_self_contained(page: Page) -> None:
    """No script, stylesheet link, frame or URL: the file opens offline and shows everything."""
    for tag, attrs in page.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed"), tag
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or value.startswith("data:"), (tag, name, value[:40])


def pngs_in(folder: Path, pattern: str = "*.png") -> set[bytes]:
    return {path.read_bytes() for path in folder.glob(pattern)}


# --------------------------------------------------------------------------- folders made by the real commands


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "run"
    ok("run", BNI, "--seed", 3, "--set", "years=2", "--out", out, "-q")
    return out


@pytest.fixture(scope="module")
def compare_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "compare"
    ok("compare", BNI, BNI_OPEN, "--runs", 6, "--set", "years=2", "--workers", 1, "--out", out, "-q")
    return out


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "sweep"
    ok("sweep", PRICING, "--runs", 3, "--set", "years=1", "--workers", 1, "--out", out, "-q")
    return out


# --------------------------------------------------------------------------- a run


def test_run_report_embeds_every_figure_byte_for_byte(run_folder):
    _, page = report_of(run_folder)
    assert_self_contained(page)
    images = page.images()
    assert len(images) == 4
    assert set(images) == pngs_in(run_folder)


def test_run_report_summary_table_holds_the_runs_numbers(run_folder):
    _, page = report_of(run_folder)
    summary = json.loads((run_folder / "summary.json").read_text())
    rows = dict((row[0], row[1]) for row in page.table("summary") if len(row) == 2)
    assert rows["members at end"] == format_value("members_final", summary["members_final"])
    assert rows["fee income"] == format_value("fee_income_total", summary["fee_income_total"])
    assert rows["churn"] == format_value("churn_rate_annual", summary["churn_rate_annual"])
    assert rows["churn"].endswith(" % / year")  # the registry's unit, as in the comparison tables


def test_run_report_tables_follow_the_series_and_members(run_folder):
    _, page = report_of(run_folder)
    series = pd.read_csv(run_folder / "timeseries.csv")
    yearly = page.table("yearly")
    assert [row[0] for row in yearly[1:]] == ["1", "2"]
    header = yearly[0]
    joins = header.index("joins")
    assert [int(row[joins].replace(",", "")) for row in yearly[1:]] == [
        int(series.loc[series["week"] // 52 == year, "joins"].sum()) for year in (0, 1)]
    members = pd.read_csv(run_folder / "members.csv")
    types = page.table("types")
    ever = types[0].index("members ever")
    assert sum(int(row[ever]) for row in types[1:]) == len(members)
    assert len(page.table("members")) == len(members) + 1  # every member, under a header


def test_run_report_shows_scenario_and_manifest(run_folder):
    written = [name for name in json.loads((run_folder / "manifest.json").read_text())["files"]
               if name != REPORT_FILE]
    path, page = report_of(run_folder)
    text = path.read_text(encoding="utf-8")
    manifest = json.loads((run_folder / "manifest.json").read_text())
    assert "annual: 960.0" in text and "policy: exclusivity" in text  # the resolved scenario, as YAML
    assert "years: 2" in text
    provenance = dict((row[0], row[1]) for row in page.table("provenance"))
    assert provenance["seed"] == "3"
    assert provenance["written"] == manifest["created"]
    assert manifest["files"] == sorted([*written, REPORT_FILE])  # the page is listed: a later run removes it
    del manifest["checksums"][REPORT_FILE]
    manifest["files"] = written
    assert html.escape(json.dumps(manifest, indent=2)) in text  # the whole manifest, in a details block
    assert path.read_bytes() == report_of(run_folder)[0].read_bytes()  # the same page however often it is made


def test_the_same_folder_gives_the_same_bytes(run_folder):
    assert build_report(run_folder) == build_report(run_folder)


# --------------------------------------------------------------------------- experiments


def test_compare_report_shows_means_and_paired_differences(compare_folder):
    _, page = report_of(compare_folder)
    assert_self_contained(page)
    assert set(page.images()) == pngs_in(compare_folder)
    table = pd.read_csv(compare_folder / "comparison.csv")
    rows = page.table("comparison")
    labels = [row[0] for row in rows[1:]]
    assert labels == ["bni_chapter (baseline)", "bni_open", "Δ vs bni_chapter"]
    metric = "members_final"
    column = rows[0].index("members at end")
    open_row = table[(table["policy"] == "bni_open") & (table["metric"] == metric)].iloc[0]
    mean = format_estimate(open_row["mean"], open_row["ci_low"], open_row["ci_high"], percent=is_percent_metric(metric))
    diff = format_estimate(open_row["diff"], open_row["diff_ci_low"], open_row["diff_ci_high"], sign=True,
                           percent=is_percent_metric(metric))
    assert rows[2][column] == mean
    assert rows[3][column].replace(" *", "") == diff
    assert (" * " in rows[3][column]) == bool(open_row["significant"])  # the mark sits after the value


def test_compare_report_names_what_differs_between_policies(compare_folder):
    _, page = report_of(compare_folder)
    policies = page.table("policies")
    assert policies[1][0] == "bni_open"
    assert "club.composition.policy = open (baseline exclusivity)" in policies[1][1]
    assert len(page.table("statistics")) == len(pd.read_csv(compare_folder / "comparison.csv")) + 1


def test_sweep_report_has_a_row_per_point_and_every_figure(sweep_folder):
    _, page = report_of(sweep_folder)
    assert_self_contained(page)
    rows = page.table("sweep")
    assert rows[0][0] == "club.fees.annual"
    assert [row[0] for row in rows[1:]] == ["300", "600", "900", "1200", "1500", "1800", "2100", "2400"]
    assert set(page.images()) == pngs_in(sweep_folder, "sweep_*.png")


def test_out_writes_the_report_elsewhere(run_folder, tmp_path):
    target = tmp_path / "shared" / "bni.html"
    result = ok("report", run_folder, "--out", target)
    assert result.stdout.strip() == str(target)
    assert target.read_text(encoding="utf-8") == build_report(run_folder)


# --------------------------------------------------------------------------- bad input: one line, exit 2


def one_line_error(*args: object) -> str:
    result = clubsim(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("clubsim: error: "), lines
    assert "Traceback" not in result.stderr
    return lines[0]


def test_missing_folder_is_one_line(tmp_path):
    line = one_line_error("report", tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in line and "no such folder" in line


def test_a_file_is_not_a_folder(run_folder):
    line = one_line_error("report", run_folder / "summary.json")
    assert "not a folder" in line


def test_a_folder_without_manifest_is_refused(tmp_path):
    line = one_line_error("report", tmp_path)
    assert "manifest.json: missing" in line


def test_a_malformed_manifest_is_named(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    line = one_line_error("report", tmp_path)
    assert "manifest.json: malformed JSON" in line


def test_an_incomplete_run_folder_names_the_missing_file(run_folder, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_bytes((run_folder / "manifest.json").read_bytes())
    line = one_line_error("report", broken)
    assert "summary.json: missing" in line


def test_an_unfinished_experiment_says_how_to_finish(compare_folder, tmp_path):
    folder = tmp_path / "interrupted"
    folder.mkdir()
    manifest = json.loads((compare_folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted"}))
    line = one_line_error("report", folder)
    assert "status: the experiment is interrupted" in line and "--resume" in line


def test_an_unwritable_out_is_one_line(run_folder):
    line = one_line_error("report", run_folder, "--out", run_folder / "summary.json" / "report.html")
    assert line.endswith(f"--out: cannot write here: {run_folder / 'summary.json'} is a file, not a folder")
