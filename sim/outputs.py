"""A run's output folder: summary, series, members, manifest and figures.

    summary.json      the run summary (`sim.metrics.summarize`), keys sorted
    timeseries.csv    the weekly series, one row per week
    members.csv       one row per member ever (a region's: with its club first)
    clubs.csv         a region's clubs, one row each: their own summaries (regions only)
    manifest.json     resolved scenario, seed, engine, versions, command, files, created
    *.png             figures (`sim.plots.plot_run`), unless figures=False

summary.json, timeseries.csv and members.csv hold no timestamps and are
byte-identical for the same scenario, seed and engine; only manifest.json
records when the run was written.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shlex
import sys
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.errors import InputError
from sim.metrics import EXIT_REASONS, MEMBER_COLUMNS, MEMBER_TYPES, SERIES_COLUMNS, SUMMARY_KEYS, Columns

if TYPE_CHECKING:
    from rich.table import Table

    from sim.figure_process import FigureProcess
    from sim.scenario import LoadedScenario

DATA_FILES = ("summary.json", "timeseries.csv", "members.csv")
CLUBS_FILE = "clubs.csv"
# a club's row in clubs.csv: its name, then the summary's numbers (roi_by_type and exits_by_reason flattened)
CLUB_COLUMNS = (
    "club", "members_final", "mean_members", "member_years", "joins_total", "churn_rate_annual",
    "retention_first_year", "median_tenure_years", "business_per_member_year", "referrals_per_member_year",
    "business_total", "cross_club_business_total", "direct_sales_total", "fee_income_total", "roi_mean",
    "roi_median", *(f"roi_{t}" for t in MEMBER_TYPES), "share_positive_roi", "hunter_share_final", "survived",
    *(f"exits_{r}" for r in EXIT_REASONS),
)
MANIFEST = "manifest.json"
FLOAT_FORMAT = "%.10g"
OUT_OPTION = "--out"


# --------------------------------------------------------------------------- folder


def _reason(err: OSError) -> str:
    text = err.strerror or str(err)
    return text[:1].lower() + text[1:]


def prepare_out_dir(out_dir: Path) -> Path:
    """Create `out_dir` (and its parents) and check a file can be written there.

    Call it before running a model so a bad `--out` fails fast. Raises
    `InputError(out_dir, "--out", "cannot write here: <reason>")`.
    """
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(out_dir, OUT_OPTION, "cannot write here: exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(out_dir, OUT_OPTION, "cannot write here: a parent exists and is not a folder") from None
    except OSError as err:
        raise InputError(out_dir, OUT_OPTION, f"cannot write here: {_reason(err)}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".clubsim-probe-", dir=out_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise InputError(out_dir, OUT_OPTION, f"cannot write here: {_reason(err)}") from None
    return out_dir


# --------------------------------------------------------------------------- files


def _columns(table: Columns, canonical: Sequence[str]) -> dict[str, np.ndarray]:
    """A table's columns (a frame or a dict of arrays): known ones in their documented order, then the others."""
    names = list(table.columns) if hasattr(table, "columns") else list(table)
    ordered = [c for c in canonical if c in names] + [c for c in names if c not in canonical]
    return {name: np.asarray(table[name]) for name in ordered}


def _csv_cells(values: np.ndarray) -> list[str]:
    """One column as CSV text, as pandas' to_csv(float_format=FLOAT_FORMAT) writes it (missing: empty)."""
    kind = values.dtype.kind
    if kind == "f":
        return ["" if np.isnan(v) else FLOAT_FORMAT % v for v in values.tolist()]
    if kind in "iub":
        return [str(v) for v in values.tolist()]
    return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else
            (FLOAT_FORMAT % v if isinstance(v, float) else str(v)) for v in values.tolist()]


def write_text(path: Path, text: str) -> None:
    """UTF-8 text with \\n line ends on every platform."""
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def _write_csv(path: Path, table: Columns, canonical: Sequence[str]) -> None:
    """CSV of a frame or a dict of columns, without pandas (the same bytes as pandas' to_csv, tested)."""
    columns = _columns(table, canonical)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*(_csv_cells(values) for values in columns.values()), strict=True))
    write_text(path, buffer.getvalue())


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        module = sys.modules.get(distribution.lower())
        return getattr(module, "__version__", None)


def versions() -> dict[str, str]:
    """Versions of clubsim, its main dependencies and Python (without importing numba)."""
    import sim

    clubsim = _version("clubsim") or getattr(sim, "__version__", None) or "0+unknown"
    found = {name: _version(dist) or "unknown" for name, dist in
             (("mesa", "mesa"), ("numba", "numba"), ("numpy", "numpy"), ("pandas", "pandas"))}
    return {"clubsim": clubsim, **found, "python": platform.python_version()}


def command_text(command: str | Sequence[str] | None) -> str | None:
    """A command (a string or an argv list) as one shell-quoted line, for a manifest."""
    if command is None or isinstance(command, str):
        return command
    return shlex.join(str(part) for part in command)


def provenance(command: str | Sequence[str] | None) -> dict[str, Any]:
    """What every manifest records about how it was made: versions, command line, time (UTC, seconds)."""
    return {
        "versions": versions(),
        "command": command_text(command),
        "created": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }


def write_manifest(out_dir: Path, manifest: Mapping[str, Any]) -> Path:
    """Write `out_dir/manifest.json` (keys sorted) atomically: a reader never sees half a manifest."""
    path = Path(out_dir) / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.tmp")
    write_text(tmp, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def write_run(
    out_dir: Path,
    *,
    series: Columns,
    members: Columns,
    summary: dict,
    scenario: LoadedScenario,
    seed: int,
    engine: str,
    figures: bool = True,
    command: str | Sequence[str] | None = None,
    title: str | None = None,
    figure_process: FigureProcess | None = None,
    clubs: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write one run's output folder; returns {file name: path}, manifest.json included.

    `command` (a string or an argv list) is recorded in the manifest; `title`
    heads the figures (default: scenario name, seed and engine). With a
    `figure_process` (`sim.figure_process`) the figures are drawn there, while
    the data files are written here. A region's run passes `clubs` (`club_panel`): its
    clubs.csv is written from `summary["clubs"]` and its figures gain the clubs panel.
    """
    out_dir = prepare_out_dir(out_dir)
    files: dict[str, Path] = {}
    if title is None:
        title = f"{scenario.config.name}, seed {seed} ({engine})"
    if figures and figure_process is not None:
        figure_process.draw(series, members, out_dir, title, clubs)

    path = out_dir / "summary.json"
    write_text(path, json.dumps(summary, indent=2, sort_keys=True) + "\n")
    files[path.name] = path
    path = out_dir / "timeseries.csv"
    _write_csv(path, series, SERIES_COLUMNS)
    files[path.name] = path
    path = out_dir / "members.csv"
    _write_csv(path, members, ("club", *MEMBER_COLUMNS))
    files[path.name] = path
    path = out_dir / CLUBS_FILE
    if "clubs" in summary:
        _write_csv(path, club_rows(summary["clubs"]), CLUB_COLUMNS)
        files[path.name] = path
    else:  # a region's clubs.csv from an earlier run in this folder would not match
        path.unlink(missing_ok=True)

    if figures and figure_process is not None:  # drawn there: this process never imports matplotlib
        drawn = figure_process.result()
    elif figures:
        from sim.plots import plot_run

        drawn = plot_run(series, members, out_dir, title, clubs)
    else:  # figures of an earlier run in this folder would no longer match its data
        from sim.plots import CLUBS_FIGURE, FIGURE_FILES

        drawn = []
        for name in (*FIGURE_FILES, CLUBS_FIGURE):
            (out_dir / name).unlink(missing_ok=True)
    for path in drawn:
        files[path.name] = path

    files[MANIFEST] = out_dir / MANIFEST
    source = getattr(scenario, "source", None)
    manifest = {
        "scenario": scenario.config.model_dump(mode="json"),
        "scenario_source": str(source) if source is not None else None,
        "seed": int(seed),
        "engine": engine,
        **provenance(command),
        "files": sorted(files),
    }
    write_manifest(out_dir, manifest)
    return files


def club_rows(clubs: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """clubs.csv's columns from a region summary's per-club summaries (missing values: empty)."""
    def cell(club: Mapping[str, Any], column: str) -> Any:
        if column.startswith("roi_") and column[4:] in MEMBER_TYPES:
            return club["roi_by_type"].get(column[4:])
        if column.startswith("exits_") and column[6:] in EXIT_REASONS:
            return club["exits_by_reason"][column[6:]]
        return club[column]

    rows: dict[str, np.ndarray] = {}
    for column in CLUB_COLUMNS:
        values = [cell(club, column) for club in clubs]
        rows[column] = np.array(values, dtype=object if column == "club" or None in values else None)
    return rows


def club_panel(names: Sequence[str], club_series: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]
               ) -> dict[str, Any]:
    """What the clubs figure needs: names, members by club and week, business per member-year by club."""
    return {
        "names": list(names),
        "members": np.stack([np.asarray(series["members"]) for series in club_series]),
        "business_per_member_year": np.array([club["business_per_member_year"] for club in summary["clubs"]]),
        "cross_club_share": np.array([
            club["cross_club_business_total"] / club["business_total"] if club["business_total"] > 0 else 0.0
            for club in summary["clubs"]]),
    }


def clubs_table(summary: Mapping[str, Any], title: str, rows: int = 20) -> Table:
    """A region's clubs, one row each (the first `rows`; all of them are in clubs.csv)."""
    from rich.table import Table

    table = Table(title=title, show_header=True, header_style="bold", title_style="bold")
    table.add_column("club", style="cyan", no_wrap=True, min_width=min(24, max(len(c["club"]) for c in
                                                                           summary["clubs"])))
    for name in ("members", "business /member-yr", "from other clubs", "churn", "fee income", "survived"):
        table.add_column(name, justify="right")
    clubs = summary["clubs"]
    for club in clubs[:rows]:
        total = club["business_total"]
        table.add_row(
            club["club"], _plain(club["members_final"]),
            format_value("business_per_member_year", club["business_per_member_year"]),
            f"{100 * club['cross_club_business_total'] / total if total > 0 else 0.0:.1f} %",
            format_value("churn_rate_annual", club["churn_rate_annual"]),
            format_value("fee_income_total", club["fee_income_total"]), format_value("survived", club["survived"]),
        )
    if len(clubs) > rows:
        table.caption = f"first {rows} of {len(clubs):,} clubs; all in {CLUBS_FILE}"
    return table


# --------------------------------------------------------------------------- console table

_LABELS = {
    "members_final": "members at end",
    "churn_rate_annual": "churn (exits per member-year, excl. closure)",
    "retention_first_year": "first-year retention",
    "median_tenure_years": "median tenure (Kaplan-Meier)",
    "business_per_member_year": "business per member-year",
    "referrals_per_member_year": "referrals per member-year",
    "roi_mean": "ROI, mean",
    "roi_median": "ROI, median",
    "roi_by_type": "ROI, mean",
    "share_positive_roi": "members with positive ROI",
    "hunter_share_final": "hunter share at end",
    "fee_income_total": "fee income, total",
    "survived": "club survived",
    "joins_total": "joins, total (incl. founders)",
    "exits_by_reason": "exits",
    "business_total": "business, total",
    "direct_sales_total": "hunters' direct sales, total",
    "member_years": "member-years",
    "mean_members": "members, mean",
    "weeks": "weeks simulated",
    "cross_club_business_total": "business from other clubs, total",
    "clubs_total": "clubs",
    "clubs_survived": "clubs that survived",
}
_EUR = {"business_per_member_year", "fee_income_total", "business_total", "direct_sales_total",
        "cross_club_business_total"}
_PERCENT = {"churn_rate_annual", "retention_first_year", "share_positive_roi", "hunter_share_final"}
_ROI = {"roi_mean", "roi_median"}
_ORDER = (*SUMMARY_KEYS, "joins_total", "exits_by_reason", "business_total", "cross_club_business_total",
          "direct_sales_total", "member_years", "mean_members", "weeks")
NONE = "—"


def _plain(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def format_value(key: str, value: Any) -> str:
    """A summary value as shown to people: EUR, %, years, yes/no, '—' for None."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return _plain(value)
    if key in _EUR:
        return f"{value:,.0f} EUR"
    if key in _PERCENT:
        return f"{100 * value:.1f} %"
    if key in _ROI or key.startswith("roi_by_type"):
        return f"{100 * value:+.1f} %"
    if key == "median_tenure_years":
        return f"{value:.2f} years"
    if key == "weeks":
        years = value / 52
        return f"{value:,} ({years:g} year{'' if years == 1 else 's'})"
    if key in ("member_years", "mean_members", "referrals_per_member_year"):
        return f"{value:,.1f}"
    return _plain(value)


def summary_table(summary: dict, title: str) -> Table:
    """The run summary as a two-column (metric, value) rich table."""
    from rich.table import Table

    table = Table(title=title, show_header=True, header_style="bold", title_style="bold")
    table.add_column("metric", style="cyan", no_wrap=True)
    table.add_column("value", justify="right")
    keys = [k for k in _ORDER if k in summary] + sorted(k for k in summary if k not in _ORDER)
    for key in keys:
        if key == "clubs":  # a region's clubs: their own table (clubs_table)
            continue
        value = summary[key]
        label = _LABELS.get(key, key.replace("_", " "))
        if key == "survived" and "clubs" in summary:
            label = "every club survived"
        if key == "roi_by_type" and isinstance(value, dict):
            types = [t for t in MEMBER_TYPES if t in value] + sorted(t for t in value if t not in MEMBER_TYPES)
            for member_type in types:
                table.add_row(f"{label}, {member_type}", format_value("roi_by_type", value[member_type]))
        elif key == "exits_by_reason" and isinstance(value, dict):
            reasons = [r for r in EXIT_REASONS if r in value] + sorted(r for r in value if r not in EXIT_REASONS)
            for reason in reasons:
                table.add_row(f"{label}: {reason.replace('_', ' ')}", _plain(value[reason]))
        elif isinstance(value, dict):
            for sub, item in value.items():
                table.add_row(f"{label}: {sub}", format_value(key, item))
        else:
            table.add_row(label, format_value(key, value))
    return table
