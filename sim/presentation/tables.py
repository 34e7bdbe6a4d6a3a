"""The tables clubsim prints (issue 18, item 3): laid out for the terminal's width, never cutting a number,
and the same numbers as csv, markdown or json (`--format`).

A table is first built as a `Grid`: key columns (a metric's label; a sweep's parameters), value columns
(a comparison's policies; a sweep's metrics), and rows of `Cell`s, each a value and its CI already
rounded as shown (`sim.model.metric_registry`). `rich_tables` then lays it out for a width: the value and its
CI on one line if the whole table fits, else the CI on a line of its own, else the value columns split
over several tables (the key columns, and a comparison's baseline, repeated in each). Columns holding
numbers get fixed widths, wide enough for their longest line; only labels wrap.

`comparison_report`, `sweep_report` and `summary_report` give a command's `Report`: its grid(s), the
records for csv and json (the numbers as the table shows them, in its units, with a `unit` field), and
the lines printed under it. `emit` prints a report in one of `FORMATS`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sim.model.metric_registry import (
    NONE,
    Estimate,
    finite,
    header,
    is_known,
    metric,
    metric_estimate,
    value_number,
)
from sim.model.metrics import EXIT_REASONS, MEMBER_TYPES, SUMMARY_KEYS

if TYPE_CHECKING:
    from rich.table import Table

    from sim.experiments.experiment import ComparisonResult, SweepResult
    from sim.model.scenario import ScenarioConfig

FORMATS = ("table", "csv", "markdown", "json")
SURVIVORS_HEADER = "survivors (runs)"
MARK, NO_MARK = " *", "  "


# --------------------------------------------------------------------------- grids


@dataclass
class Cell:
    """A value and its CI as shown (`64,200`, `[61,900; 66,500]`); `mark`: a difference whose CI excludes 0
    (bold, `*`); `markable`: a difference cell (padded where unmarked, so the numbers stay aligned)."""

    value: str = ""
    ci: str | None = None
    mark: bool = False
    markable: bool = False

    def text(self, compact: bool) -> str:
        tail = MARK if self.mark else (NO_MARK if self.markable else "")
        if self.ci is None:
            return self.value + tail if self.value else ""
        if compact:
            return f"{self.value}{tail}\n{self.ci}{NO_MARK if self.markable else ''}"
        return f"{self.value} {self.ci}{tail}"

    @classmethod
    def of(cls, found: Estimate | None, markable: bool = False, mark: bool = False) -> Cell:
        if found is None:
            return cls(NONE, None, False, markable)
        value, ci = found.texts()
        return cls(value, ci, mark, markable)


@dataclass
class Column:
    header: str
    wrap: bool = False  # a label: may wrap between words; numbers never do
    style: str | None = None
    justify: str = "right"


@dataclass
class Row:
    keys: list[str]
    cells: list[Cell]
    end_section: bool = False
    dim: bool = False  # a difference row's label
    short: str | None = None  # the first key when the key column is narrower than it (`  Δ`)


@dataclass
class Grid:
    title: str
    caption: str
    keys: list[Column]
    values: list[Column]
    rows: list[Row] = field(default_factory=list)
    pinned: int = 0  # leading value columns repeated in every table of a split (a comparison's baseline)


def _cell_width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.split("\n")), default=0)


def _longest_word(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(word) for word in text.split()), default=0)


def _widths(grid: Grid, values: Sequence[int], compact: bool) -> tuple[list[int], list[int], list[int]]:
    """(key minimum widths, key natural widths, value widths) for these value columns."""
    key_min, key_max = [], []
    for k, column in enumerate(grid.keys):
        texts = [row.short if k == 0 and row.short is not None else row.keys[k] for row in grid.rows]
        longest = max([_cell_width(t) for t in texts] + [_cell_width(column.header)])
        if column.wrap:
            key_min.append(max([_longest_word(t) for t in texts] + [_longest_word(column.header)]))
        else:
            key_min.append(max([_cell_width(t) for t in texts] + [_longest_word(column.header)]))
        key_max.append(longest)
    value_widths = []
    for v in values:
        cells = max((_cell_width(row.cells[v].text(compact)) for row in grid.rows), default=0)
        value_widths.append(max(cells, _longest_word(grid.values[v].header), 1))
    return key_min, key_max, value_widths


def _overhead(columns: int) -> int:
    return 3 * columns + 1  # padding of 1 on each side, and the borders


def _fits(grid: Grid, values: Sequence[int], compact: bool, width: int | None) -> bool:
    key_min, _key_max, value_widths = _widths(grid, values, compact)
    return width is None or sum(key_min) + sum(value_widths) + _overhead(len(key_min) + len(values)) <= width


def _table(grid: Grid, values: Sequence[int], compact: bool, width: int | None, title: str, caption: str
           ) -> Table:
    from rich.table import Table
    from rich.text import Text

    key_min, key_max, value_widths = _widths(grid, values, compact)
    overhead = _overhead(len(key_min) + len(values))
    keys = list(key_max)
    if width is not None:  # labels give way first, down to their longest word
        spare = width - overhead - sum(value_widths) - sum(key_min)
        keys = []
        for low, high in zip(key_min, key_max, strict=True):
            grow = max(0, min(high - low, spare))
            keys.append(low + grow)
            spare -= grow
    headers = [_cell_width(grid.values[v].header) for v in values]
    if width is None:  # as wide as it needs: headers on one line
        value_widths = [max(w, h) for w, h in zip(value_widths, headers, strict=True)]
    else:  # room left: headers on fewer lines
        spare = width - overhead - sum(keys) - sum(value_widths)
        for k, h in enumerate(headers):
            grow = max(0, min(h - value_widths[k], spare))
            value_widths[k] += grow
            spare -= grow
    total = sum(keys) + sum(value_widths) + overhead
    titled = _cell_width(title) if title else 0  # a title wider than the table: widen the table, up to `width`
    table = Table(title=title or None, caption=caption or None, header_style="bold", title_style="bold",
                  caption_justify="left",
                  min_width=min(titled, width) if width is not None and titled > total else
                  (titled if width is None and titled > total else None))
    for column, w in zip(grid.keys, keys, strict=True):
        table.add_column(column.header, style=column.style, justify=column.justify, width=w, overflow="fold",
                         no_wrap=not column.wrap)
    for v, w in zip(values, value_widths, strict=True):
        column = grid.values[v]
        table.add_column(column.header, style=column.style, justify=column.justify, width=w, overflow="fold")
    for i, row in enumerate(grid.rows):
        texts = list(row.keys)
        if row.short is not None and texts and _cell_width(texts[0]) > keys[0]:
            texts[0] = row.short
        keys_shown: list[Any] = [Text(k, style="dim") if row.dim and j == 0 else k for j, k in enumerate(texts)]
        cells: list[Any] = []
        for v in values:
            cell = row.cells[v]
            text = cell.text(compact)
            cells.append(Text(text, style="bold") if cell.mark else text)
        table.add_row(*keys_shown, *cells, end_section=row.end_section and i < len(grid.rows) - 1)
    return table


def rich_tables(grid: Grid, width: int | None = None) -> list[Table]:
    """The grid as rich tables at most `width` wide (None: as wide as it needs): one table with values and
    CIs on one line if it fits, else with the CIs on a line of their own, else split by value columns."""
    everything = list(range(len(grid.values)))
    for compact in (False, True):
        if _fits(grid, everything, compact, width):
            return [_table(grid, everything, compact, width, grid.title, grid.caption)]
    pinned = list(range(min(grid.pinned, len(grid.values))))
    rest = everything[len(pinned):]
    if not _fits(grid, [*pinned, *rest[:1]], True, width):
        pinned = []
        rest = everything
    chunks: list[list[int]] = []
    current: list[int] = []
    for v in rest:
        if current and not _fits(grid, [*pinned, *current, v], True, width):
            chunks.append(current)
            current = []
        current.append(v)
    if current:
        chunks.append(current)
    tables = []
    for k, chunk in enumerate(chunks):
        title = f"{grid.title} ({k + 1} of {len(chunks)})" if grid.title else ""
        caption = grid.caption if k == len(chunks) - 1 else ""
        tables.append(_table(grid, [*pinned, *chunk], True, width, title, caption))
    return tables


def grid_table(grid: Grid, compact: bool = False) -> Table:
    """The whole grid as one rich table, as wide as it needs; `compact`: CIs on a line of their own."""
    return _table(grid, list(range(len(grid.values))), compact, None, grid.title, grid.caption)


def markdown(grid: Grid) -> str:
    """The grid as a Markdown (GitHub) pipe table, values and CIs on one line; title and caption around it."""
    def escape(text: str) -> str:
        return text.replace("|", "\\|").replace("*", "\\*").replace("\n", " ").strip()

    heads = [c.header for c in grid.keys] + [c.header for c in grid.values]
    lines = []
    if grid.title:
        lines += [f"**{escape(grid.title)}**", ""]
    lines.append("| " + " | ".join(escape(h) for h in heads) + " |")
    lines.append("|" + "|".join("---" if c in grid.keys and c.justify == "left" else "---:"
                               for c in [*grid.keys, *grid.values]) + "|")
    for row in grid.rows:
        keys = [escape(k) for k in row.keys]
        if row.dim and keys:
            keys[0] = f"*{keys[0]}*"
        cells = [escape(cell.text(False)) for cell in row.cells]
        lines.append("| " + " | ".join([*keys, *cells]) + " |")
    if grid.caption:
        lines += ["", escape(grid.caption)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- reports


@dataclass
class Report:
    """What a command prints: its grid(s), the records behind them (csv and json), the lines under them."""

    grids: list[Grid]
    records: list[dict[str, Any]]
    columns: list[str]
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def _number(value: Any) -> Any:
    """A number as shown (`'64,200'`, `'+0.66'`) for json: an int or a float (None when it is none)."""
    if value is None or value == "" or value == NONE:
        return None
    text = str(value).replace(",", "").replace("+", "")
    try:
        number = float(text)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in text else number


def _plain_text(value: Any) -> str:
    """A shown number without thousands separators or a leading + (csv)."""
    if value is None or value == NONE:
        return ""
    return str(value).replace(",", "").removeprefix("+") if _number(value) is not value else str(value)


def _estimate_fields(prefix: str, found: Estimate | None) -> dict[str, Any]:
    if found is None:
        return {prefix: None, f"{prefix}_ci_low" if prefix != "mean" else "ci_low": None,
                f"{prefix}_ci_high" if prefix != "mean" else "ci_high": None}
    value, ci = found.texts()
    low = high = None
    if ci is not None:
        low, high = ci[1:-1].split("; ")
    names = ("mean", "ci_low", "ci_high") if prefix == "mean" else (prefix, f"{prefix}_ci_low", f"{prefix}_ci_high")
    return dict(zip(names, (value, low, high), strict=True))


def terminal_width() -> int | None:
    """The width to lay tables out for: the terminal's, or $COLUMNS; None off a terminal (a file, a pipe)
    without $COLUMNS: tables are then as wide as they need."""
    import os

    from rich.console import Console

    if Console().is_terminal or os.environ.get("COLUMNS", "").strip().isdigit():
        return Console().width
    return None


def emit(report: Report, fmt: str, width: int | None, output: str | None = None) -> None:
    """Print `report` to stdout: `table` (rich, at most `width` wide; None: as wide as it needs), `csv` (the
    records), `markdown` (the grids) or `json` (records, notes and `meta`); the output folder goes under a
    table, on stderr otherwise (so stdout stays parseable)."""
    import sys

    from rich.console import Console

    if fmt == "table":
        tables = [t for grid in report.grids for t in rich_tables(grid, width)]
        if width is None:
            from rich.measure import Measurement

            wide = Console(width=100_000)
            needed = max(Measurement.get(wide, wide.options, t).maximum for t in tables)
            console = Console(width=max(80, needed))
        else:
            console = Console(width=width)
        for table in tables:
            console.print(table)
        for line in report.notes:
            console.print(line, highlight=False, soft_wrap=width is None)
        if output is not None:
            console.print(f"output: {output}", highlight=False, soft_wrap=True)
        return
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=report.columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for record in report.records:
            writer.writerow({k: _csv_cell(k, v) for k, v in record.items()})
        sys.stdout.write(buffer.getvalue())
    elif fmt == "markdown":
        text = "\n\n".join(markdown(grid) for grid in report.grids)
        if report.notes:
            text += "\n\n" + "\n\n".join(report.notes)
        sys.stdout.write(text + "\n")
    elif fmt == "json":
        records = [{k: _json_cell(k, v) for k, v in record.items()} for record in report.records]
        document = {**report.meta, "rows": records, "notes": report.notes}
        if output is not None:
            document["output"] = output
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:  # pragma: no cover - checked by the command line
        raise ValueError(fmt)
    sys.stdout.flush()
    if output is not None:
        sys.stderr.write(f"output: {output}\n")


_TEXT_FIELDS = {"policy", "metric", "label", "unit", "point_label"}


def _csv_cell(key: str, value: Any) -> Any:
    if isinstance(value, bool) or key in _TEXT_FIELDS:
        return value
    if isinstance(value, str):
        return _plain_text(value)
    return "" if value is None else value


def _json_cell(key: str, value: Any) -> Any:
    if isinstance(value, bool) or key in _TEXT_FIELDS or not isinstance(value, str):
        return value
    number = _number(value)
    return value if number is value else number


# --------------------------------------------------------------------------- survivors


def survivors_columns(result: ComparisonResult | SweepResult) -> tuple[list[str], list[str], Any]:
    """The rows (or columns) a table adds for clubs that closed: `survived` (when not among the metrics),
    then the survivors-only `<metric>_survivors` ones, and the survival counts
    (`sim.experiments.experiment.survival_counts`). Empty when no survivors rows apply or every replication survived
    (they would repeat the means)."""
    from sim.experiments.experiment import survivor_metrics
    from sim.experiments.spec import SURVIVORS_SUFFIX

    counts = result.survivors
    metrics = [f"{m}{SURVIVORS_SUFFIX}" for m in survivor_metrics(result.metrics)
               if f"{m}{SURVIVORS_SUFFIX}" in set(result.table["metric"])]
    if not metrics or (counts["survived"] == counts["runs"]).all():
        return [], [], counts
    return ([] if "survived" in result.metrics else ["survived"]), metrics, counts


def survivors_caption(result: ComparisonResult | SweepResult, shown: bool, paired: bool) -> str:
    from sim.experiments.experiment import survivor_metrics

    if not survivor_metrics(result.metrics) or "survived" not in result.replications:
        return ""
    if not shown:
        return "\nevery replication survived: the means over survivors are the means above"
    text = f"\n'..., survivors': over the replications whose club survived only ('{SURVIVORS_HEADER}' counts them)"
    if paired:
        text += "; their Δ is paired over the seeds where both policies' clubs survived ('pairs')"
    return text


# --------------------------------------------------------------------------- compare


COMPARISON_COLUMNS = ["policy", "metric", "label", "unit", "n", "mean", "ci_low", "ci_high", "diff", "diff_ci_low",
                      "diff_ci_high", "significant"]


def comparison_report(result: ComparisonResult) -> Report:
    """Metrics as rows, policies as columns: each metric's mean [95 % CI] and, beneath, each policy's paired
    difference with the baseline [95 % CI] (bold, `*`, when the CI excludes 0). When some clubs closed,
    `survived`, the survival counts (`survivors (runs)`: `19 of 20`; beneath, the pairs) and the
    survivors-only rows (`<metric>, survivors`) follow."""
    experiment = result.experiment
    baseline = experiment.baseline
    policies = list(experiment.policy_names)
    order = [baseline, *(p for p in policies if p != baseline)] if baseline in policies else policies
    stats = {(row["policy"], row["metric"]): row for row in result.table.to_dict("records")}
    extra, survivors, counts = survivors_columns(result)
    counted = {row["policy"]: row for row in counts.to_dict("records")}
    several = len(order) > 1
    caption = ("mean [95 % CI]" + (f"; Δ: paired difference with {baseline} [95 % CI]; * bold: the CI excludes 0"
                                    if several else "")
               + survivors_caption(result, bool(survivors), several))
    grid = Grid(
        title=f"{experiment.name}: {result.runs} replications per policy (common random numbers)",
        caption=caption,
        keys=[Column("metric", wrap=True, style="cyan", justify="left")],
        values=[Column(f"{p} (baseline)" if p == baseline and several else p) for p in order],
        pinned=1 if several else 0,
    )
    records: list[dict[str, Any]] = []
    delta = f"  Δ vs {baseline}"
    partial: dict[str, dict[int, list[str]]] = {}  # a metric some runs have no value of: label -> n -> policies

    def add_metric(name: str) -> None:
        entry = metric(name)
        means, diffs = [], []
        for policy in order:
            row = stats.get((policy, name))
            if row is not None and name in experiment.metrics and 0 < int(row["n"]) < result.runs:
                partial.setdefault(entry.label, {}).setdefault(int(row["n"]), []).append(policy)
            found = None if row is None else metric_estimate(name, row["mean"], row["ci_low"], row["ci_high"])
            means.append(Cell.of(found))
            record: dict[str, Any] = {"policy": policy, "metric": name, "label": entry.label, "unit": entry.unit,
                                      "n": None if row is None else int(row["n"]), **_estimate_fields("mean", found)}
            if policy == baseline or row is None or not finite(row.get("diff")):
                diffs.append(Cell("", markable=True) if policy == baseline else Cell(NONE, markable=True))
                record.update(_estimate_fields("diff", None), significant=None)
            else:
                significant = bool(row["significant"])
                found_diff = metric_estimate(name, row["diff"], row["diff_ci_low"], row["diff_ci_high"], sign=True)
                diffs.append(Cell.of(found_diff, markable=True, mark=significant))
                record.update(_estimate_fields("diff", found_diff), significant=significant)
            records.append(record)
        grid.rows.append(Row([header(name)], means, end_section=not several))
        if several:
            grid.rows.append(Row([delta], diffs, end_section=True, dim=True, short="  Δ"))

    for name in [*experiment.metrics, *extra]:
        add_metric(name)
    if survivors:
        runs_cells, pair_cells = [], []
        for policy in order:
            row = counted.get(policy)
            runs_cells.append(Cell(NONE) if row is None else Cell(f"{row['survived']:,} of {row['runs']:,}"))
            pair_cells.append(Cell("", markable=True) if policy == baseline or row is None
                              else Cell(f"{row['pairs']:,} pairs", markable=True))
        grid.rows.append(Row([SURVIVORS_HEADER], runs_cells, end_section=not several))
        if several:
            grid.rows.append(Row([delta], pair_cells, end_section=True, dim=True, short="  Δ"))
        for name in survivors:
            add_metric(name)
    for label, by_count in partial.items():  # a mean over fewer runs than the title says is named
        grid.caption += "\n" + f"{label}: " + "; ".join(
            f"over {n:,} of {result.runs:,} runs for {', '.join(names)}" for n, names in sorted(by_count.items())) \
            + " (the other runs have no value)"
    records.sort(key=lambda r: order.index(r["policy"]))
    meta = {"title": grid.title, "experiment": experiment.name, "runs": result.runs, "baseline": baseline,
            "policies": order}
    return Report([grid], records, list(COMPARISON_COLUMNS), meta=meta)


# --------------------------------------------------------------------------- sweep


def parameter_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def sweep_report(result: SweepResult) -> Report:
    """One row per sweep point (and policy): the swept values, then each metric's mean [95 % CI]; when some
    clubs closed, `survived`, `survivors (runs)` and the survivors-only columns follow."""
    experiment = result.experiment
    stats = {(int(row["point"]), row["policy"], row["metric"]): row for row in result.table.to_dict("records")}
    extra, survivors, counts = survivors_columns(result)
    metrics = [*experiment.metrics, *extra]
    counted = {(int(row["point"]), row["policy"]): row for row in counts.to_dict("records")}
    several = len(result.policies) > 1
    columns = [*metrics, *([SURVIVORS_HEADER] if survivors else []), *survivors]
    grid = Grid(
        title=f"{experiment.name}: {len(experiment.points)} points x {result.runs} replications"
              + (" per policy" if several else ""),
        caption="mean [95 % CI]; every point uses the same seeds" + survivors_caption(result, bool(survivors), False),
        keys=[*(Column(p, style="cyan") for p in result.parameters),
              *([Column("policy", style="cyan", justify="left")] if several else [])],
        values=[Column(SURVIVORS_HEADER if c == SURVIVORS_HEADER else header(c)) for c in columns],
    )
    records: list[dict[str, Any]] = []
    for point, values in experiment.points:
        for j, policy in enumerate(result.policies):
            cells = []
            for name in columns:
                if name == SURVIVORS_HEADER:
                    row = counted.get((point, policy))
                    cells.append(Cell(NONE) if row is None else Cell(f"{row['survived']:,} of {row['runs']:,}"))
                    continue
                row = stats.get((point, policy, name))
                found = None if row is None else metric_estimate(name, row["mean"], row["ci_low"], row["ci_high"])
                cells.append(Cell.of(found))
                entry = metric(name)
                records.append({"point": point, **{p: parameter_text(values[p]) for p in result.parameters},
                                "policy": policy, "metric": name, "label": entry.label, "unit": entry.unit,
                                "n": None if row is None else int(row["n"]), **_estimate_fields("mean", found)})
            head = [parameter_text(values[p]) if j == 0 else "" for p in result.parameters]
            grid.rows.append(Row([*head, *([policy] if several else [])], cells,
                                 end_section=several and j == len(result.policies) - 1))
    record_columns = ["point", *result.parameters, "policy", "metric", "label", "unit", "n", "mean", "ci_low",
                      "ci_high"]
    meta = {"title": grid.title, "experiment": experiment.name, "runs": result.runs,
            "parameters": list(result.parameters), "policies": list(result.policies)}
    return Report([grid], records, record_columns, meta=meta)


# --------------------------------------------------------------------------- one run

_ORDER = (*SUMMARY_KEYS, "joins_total", "exits_by_reason", "business_total", "cross_club_business_total",
          "direct_sales_total", "member_years", "mean_members", "weeks")
SUMMARY_COLUMNS = ["metric", "label", "unit", "value"]


def summary_rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(key, label, value as shown, unit) for every value of a run summary, in the table's order
    (`roi_by_type` and `exits_by_reason` expanded: `roi_giver`, `exits_left`...; a region's clubs left out)."""
    keys = [k for k in _ORDER if k in summary] + sorted(k for k in summary if k not in _ORDER)
    rows = []
    for key in keys:
        if key == "clubs":  # a region's clubs: their own table (clubs_table)
            continue
        value = summary[key]
        if key in ("roi_by_type", "exits_by_reason") and isinstance(value, dict):
            known = MEMBER_TYPES if key == "roi_by_type" else EXIT_REASONS
            prefix = "roi" if key == "roi_by_type" else "exits"
            subs = [s for s in known if s in value] + sorted(s for s in value if s not in known)
            for sub in subs:
                name = f"{prefix}_{sub}"
                rows.append((name, metric(name).label, *value_number(name, value[sub])))
        elif isinstance(value, dict):
            for sub, item in value.items():
                rows.append((f"{key}.{sub}", f"{metric(key).label}: {sub}", *value_number(key, item)))
        else:
            label = "every club survived" if key == "survived" and "clubs" in summary else metric(key).label
            rows.append((key, label, *value_number(key, value)))
    return rows


def summary_report(summary: Mapping[str, Any], title: str) -> Report:
    """The run summary: one row per value, `label | value unit` (`churn | 38.3 % / year`)."""
    grid = Grid(title=title, caption="", keys=[Column("metric", wrap=True, style="cyan", justify="left")],
                values=[Column("value")])
    records = []
    for key, label, text, unit in summary_rows(summary):
        grid.rows.append(Row([label], [Cell(f"{text} {unit}" if unit else text)]))
        # a record carries its unit even where the table leaves it to the label ("members at end | 31")
        base = key.split(".")[0]
        number = text not in ("yes", "no", NONE)
        records.append({"metric": key, "label": label, "unit": unit or (metric(base).unit if number and
                                                                          is_known(base) else ""), "value": text})
    return Report([grid], records, list(SUMMARY_COLUMNS), meta={"title": title})


def summary_table(summary: Mapping[str, Any], title: str, width: int | None = None) -> Table:
    """The run summary as a two-column (metric, value) rich table."""
    return rich_tables(summary_report(summary, title).grids[0], width)[0]


CLUBS_SHOWN = 20


def clubs_grid(summary: Mapping[str, Any], title: str, rows: int = CLUBS_SHOWN) -> Grid:
    """A region's clubs, one row each (the first `rows`; all of them are in clubs.csv)."""
    from sim.model.metric_registry import format_value

    clubs = summary["clubs"]
    names = ("members_final", "business_per_member_year", "cross_club_business_total", "churn_rate_annual",
             "fee_income_total", "survived")
    heads = ("members", "business / member-year", "from other clubs", "churn", "fee income", "survived")
    grid = Grid(title=title, caption=f"first {rows} of {len(clubs):,} clubs; all in clubs.csv" if len(clubs) > rows
                else "", keys=[Column("club", style="cyan", justify="left")], values=[Column(h) for h in heads])
    for club in clubs[:rows]:
        total = club["business_total"]
        cells = []
        for name in names:
            if name == "cross_club_business_total":
                cells.append(Cell(f"{100 * club[name] / total if total > 0 else 0.0:.1f} %"))
            else:
                cells.append(Cell(format_value(name, club[name])))
        grid.rows.append(Row([club["club"]], cells))
    return grid


def clubs_table(summary: Mapping[str, Any], title: str, rows: int = CLUBS_SHOWN) -> Table:
    return grid_table(clubs_grid(summary, title, rows))



def policy_summary(config: ScenarioConfig) -> str:
    """A scenario's policies in a few words, e.g. `weekly, 960 EUR/year, exclusivity, interview, ...`."""
    club = config.club
    frequency = {52: "weekly", 26: "fortnightly", 12: "monthly"}[club.meetings_per_year]
    fees = f"{club.fees.annual:g} EUR/year"
    if club.fees.billing == "monthly":
        fees += " billed monthly"
    if club.fees.entry:
        fees += f" + {club.fees.entry:g} EUR entry"
    parts = [frequency, fees, club.composition.policy]
    parts.append("interview" if club.selection.policy == "interview" else "no selection")
    if club.attendance_rule.enabled:
        rule = club.attendance_rule
        parts.append(f"attendance rule {rule.max_absences}/{rule.window_weeks} weeks")
    if club.contribution_rule.enabled:
        rule = club.contribution_rule
        parts.append(f"contribution rule {rule.min_referrals}/{rule.window_weeks} weeks")
    parts.append(f"capacity {club.capacity}")
    if config.is_region:
        region = config.region
        founders = sum(spec.founders for _, spec in config.region_clubs())
        parts.append(f"region of {region.club_count:,} clubs and {founders:,} founding members"
                     + (f" in areas of {region.area_size}" if region.area_size else ""))
    return ", ".join(parts)


__all__ = ["FORMATS", "Cell", "Column", "Grid", "Report", "Row", "comparison_report", "emit", "markdown",
           "policy_summary", "rich_tables", "summary_report", "summary_rows", "summary_table", "sweep_report"]
