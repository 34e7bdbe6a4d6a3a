"""A run's output folder (summary, series, members, manifest, figures), written by `clubsim run`.

    summary.json      the run summary (`sim.model.metrics.summarize`), keys sorted
    timeseries.csv    the weekly series, one row per week
    members.csv       one row per member ever (a region's: with its club first)
    clubs.csv         a region's clubs, one row each: their own summaries (regions only)
    manifest.json     resolved scenario, seed, engine, versions, command, files with sizes and SHA-256, created
    *.png             figures (`sim.presentation.plots.plot_run`), unless figures=False

summary.json, timeseries.csv and members.csv hold no timestamps and are byte-identical for the same scenario,
seed and engine; only manifest.json records when the run was written. The folder follows every output folder's
rules (`sim.experiments.folders.OutputFolder`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from sim.errors import OutputError
from sim.experiments.folders import (
    FLOAT_FORMAT,
    MANIFEST,
    STATUS_COMPLETE,
    STATUS_WRITING,
    OutputFolder,
    os_reason,
    provenance,
)
from sim.model.metrics import EXIT_REASONS, MEMBER_COLUMNS, MEMBER_TYPES, SERIES_COLUMNS, Columns

if TYPE_CHECKING:
    from sim.model.scenario import LoadedScenario
    from sim.presentation.figure_process import FigureProcess

DATA_FILES = ("summary.json", "timeseries.csv", "members.csv")
CLUBS_FILE = "clubs.csv"
# a club's row in clubs.csv: its name, then the summary's numbers (roi_by_type and exits_by_reason flattened)
CLUB_COLUMNS = (
    "club", "members_final", "mean_members", "member_years", "joins_total", "churn_rate_annual",
    "retention_first_year", "median_tenure_years", "business_per_member_year", "referrals_per_member_year",
    "business_total", "cross_club_business_total", "direct_sales_total", "fee_income_total", "roi_mean",
    "roi_median", *(f"roi_{t}" for t in MEMBER_TYPES), "share_positive_roi", "hunter_share_final", "survived",
    *(f"exits_{r}" for r in EXIT_REASONS), "sphere_share", "visitors_per_meeting",
)
# the figures sim.presentation.plots.plot_run draws (FIGURE_FILES, CLUBS_FIGURE; a test checks they agree), named here
# so that a run drawing them in its figure process never imports sim.presentation.plots, and with it pandas
RUN_FIGURES = ("members.png", "business.png", "roi_by_type.png", "tenure_survival.png")
RUN_CLUBS_FIGURE = "clubs.png"


# --------------------------------------------------------------------------- csv


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


CSV_ROWS_AT_A_TIME = 20_000  # rows made text together: a region's members.csv is never held whole as text


def _write_csv(handle: TextIO, table: Columns, canonical: Sequence[str]) -> None:
    """CSV of a frame or a dict of columns to `handle`, without pandas (the same bytes as pandas' to_csv,
    tested), `CSV_ROWS_AT_A_TIME` rows at a time: the BNI world's 1.4 million members would take some
    35 million cells at once (about 1.5 GB), more than its simulation."""
    columns = _columns(table, canonical)
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(columns)
    rows = min((len(values) for values in columns.values()), default=0)
    if any(len(values) != rows for values in columns.values()):
        raise ValueError("the table's columns differ in length")
    for start in range(0, rows, CSV_ROWS_AT_A_TIME):
        stop = start + CSV_ROWS_AT_A_TIME
        writer.writerows(zip(*(_csv_cells(values[start:stop]) for values in columns.values()), strict=True))


def _write_csv_file(folder: OutputFolder, name: str, table: Columns, canonical: Sequence[str]) -> Path:
    """`_write_csv` to the folder's file `name`, atomically, UTF-8 with \\n line ends (as `OutputFolder.write_text`)."""
    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            _write_csv(handle, table, canonical)

    return folder.write_with(name, write)


# --------------------------------------------------------------------------- the folder


def write_run(
    out_dir: Path | OutputFolder,
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

    `out_dir` is a path (held as an `OutputFolder` while writing) or a folder the caller holds already.
    `command` (a string or an argv list) is recorded in the manifest; `title` heads the figures
    (default: scenario name, seed and engine). With a `figure_process` (`sim.presentation.figure_process`) the
    figures are drawn there, while the data files are written here. A region's run passes `clubs`
    (`club_panel`): its clubs.csv is written from `summary["clubs"]` and its figures gain the clubs panel.

    The manifest is first marked `writing` (listing the earlier run's files and this one's, so all stay
    clubsim's), each file is replaced atomically, the earlier run's files this one does not write are
    removed, and the manifest comes last with every file's size and SHA-256.
    """
    if not isinstance(out_dir, OutputFolder):
        with OutputFolder(out_dir) as folder:
            return write_run(folder, series=series, members=members, summary=summary, scenario=scenario,
                             seed=seed, engine=engine, figures=figures, command=command, title=title,
                             figure_process=figure_process, clubs=clubs)
    folder = out_dir
    if title is None:
        title = f"{scenario.config.name}, seed {seed} ({engine})"
    region = "clubs" in summary
    names = [*DATA_FILES, *([CLUBS_FILE] if region else [])]
    figure_names = [*RUN_FIGURES, *([RUN_CLUBS_FIGURE] if clubs is not None else [])] if figures else []
    folder.check_free([*names, *figure_names, MANIFEST])
    source = getattr(scenario, "source", None)
    manifest: dict[str, Any] = {
        "scenario": scenario.config.model_dump(mode="json"),
        "scenario_source": str(source) if source is not None else None,
        "seed": int(seed),
        "engine": engine,
        **provenance(command),
    }
    earlier = folder.owned - {MANIFEST}
    folder.write_manifest({**manifest, "status": STATUS_WRITING,
                           "files": sorted({*earlier, *names, *figure_names, MANIFEST})})

    staging = folder.staging() if figures else None
    try:
        if staging is not None and figure_process is not None:
            figure_process.draw(series, members, staging, title, clubs)
        files: dict[str, Path] = {}
        files["summary.json"] = folder.write_text("summary.json", json.dumps(summary, indent=2, sort_keys=True)
                                                  + "\n")
        files["timeseries.csv"] = _write_csv_file(folder, "timeseries.csv", series, SERIES_COLUMNS)
        files["members.csv"] = _write_csv_file(folder, "members.csv", members, ("club", *MEMBER_COLUMNS))
        if region:
            files[CLUBS_FILE] = _write_csv_file(folder, CLUBS_FILE, club_rows(summary["clubs"]), CLUB_COLUMNS)
        if staging is not None:
            try:
                if figure_process is not None:  # drawn there: this process never imports matplotlib
                    drawn = figure_process.result()
                else:
                    from sim.presentation.plots import plot_run

                    drawn = plot_run(series, members, staging, title, clubs)
            except RuntimeError as err:
                raise OutputError(folder.path, "figures", f"cannot draw: {err}") from None
            except OSError as err:  # named as the folder will hold it (drawn into its staging folder first)
                name = Path(err.filename).name if err.filename else "figures"
                raise OutputError(folder.path, name, f"cannot write: {os_reason(err)}") from None
            files.update(folder.adopt(drawn))
    finally:
        if staging is not None:
            folder.discard(staging)

    # an earlier run's files that this one does not write (clubs.csv, figures) would not match its data
    folder.remove(earlier - set(files))
    files[MANIFEST] = folder.path / MANIFEST
    folder.write_manifest({**manifest, "status": STATUS_COMPLETE, "files": sorted(files)})
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
