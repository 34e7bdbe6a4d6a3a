"""`clubsim report DIR`: one self-contained HTML page from a run, compare or sweep output folder.

It reads what `clubsim run`, `clubsim compare` or `clubsim sweep` wrote (`manifest.json` says which)
and writes the tables, the PNG figures (embedded as base64 data URLs), the scenario and the manifest
into a single file with no external link, script or font, so it opens offline and can be sent on.
It only reads the folder and never reruns a model; the same folder always gives the same bytes.
It reads only a folder whose files match the sizes and SHA-256 its manifest records, and only the
files the manifest lists (never through a symbolic link); the page is written under a temporary
name and renamed, and replaces only a page clubsim wrote. The HTML tables of a comparison are
shared with the web page (`sim.interfaces.app`).
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sim.errors import InputError
from sim.experiments.folders import (
    CHECKSUMS,
    LOCK_FILE,
    MANIFEST,
    STATUS_COMPLETE,
    TEMP_PREFIX,
    FolderLock,
    OutputFolder,
    listed_files,
    verify_files,
    write_text,
)

REPORT_FILE = "report.html"
RUN_FILES = ("summary.json", "timeseries.csv", "members.csv")
RUN_FIGURES = ("members.png", "business.png", "roi_by_type.png", "tenure_survival.png", "clubs.png")
CLUB_ROWS_SHOWN = 200  # a region's clubs listed in full up to this many (all are in clubs.csv)
COMPARISON_FIGURES = ("metrics.png", "trajectories.png", "survival.png", "roi_by_type.png")
WEEKS_PER_YEAR = 52
FOLDER_HINT = "give the output folder of clubsim run, clubsim compare or clubsim sweep"
GENERATOR = '<meta name="generator" content="clubsim report">'  # marks a page clubsim wrote (and may replace)

FIGURE_CAPTIONS = {
    "members.png": "Members over time, joins and exits by reason",
    "business.png": "Business exchanged through the club",
    "roi_by_type.png": "Return on membership by member type",
    "tenure_survival.png": "Tenure survival (Kaplan-Meier)",
    "clubs.png": "The region's clubs: members over time, business per member-year and its part from other clubs",
    "metrics.png": "Each metric by policy: replications, mean and 95 % CI",
    "trajectories.png": "Members over time: median and 10-90 % band of the replications",
    "survival.png": "Tenure survival by policy (Kaplan-Meier)",
}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222;
       max-width: 1200px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.subtitle { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; vertical-align: top; }
th { background: #f3f5f7; } td:first-child, th:first-child { text-align: left; }
tr.diff td { color: #444; background: #fafafa; } tr.diff td:first-child { padding-left: 1.5em; }
td.significant { font-weight: bold; }
table.comparison td, table.sweep td { white-space: nowrap; }
table.text td, table.text th { text-align: left; }
table.statistics td:nth-child(-n+2), table.members td:nth-child(-n+2) { text-align: left; }
.wide { overflow-x: auto; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { color: #555; font-size: 0.9em; } .warning { color: #a15c00; }
"""


# --------------------------------------------------------------------------- reading the folder


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(path, None, f"malformed JSON, line {err.lineno}: {err.msg}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, None, f"cannot read: {err}") from None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputError(path, None, f"cannot read as CSV: {' '.join(str(err).split())}") from None


def folder_kind(folder: Path) -> tuple[str, dict[str, Any]]:
    """("run" | "compare" | "sweep", manifest) of an output folder; anything else is an InputError."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(folder, None, f"no such folder; {FOLDER_HINT}")
    if not folder.is_dir():
        raise InputError(folder, None, f"not a folder; {FOLDER_HINT}")
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise InputError(folder, MANIFEST, f"missing: not an output folder of clubsim; {FOLDER_HINT}")
    manifest = _read_json(manifest_path)
    if not isinstance(manifest, dict):
        raise InputError(manifest_path, None, "must be a JSON object, as clubsim writes it")
    kind = manifest.get("kind")
    if kind is None and isinstance(manifest.get("scenario"), dict) and "seed" in manifest:
        kind = "run"
    if kind not in ("run", "compare", "sweep"):
        raise InputError(manifest_path, "kind", f"unknown output kind {kind!r}; {FOLDER_HINT}")
    status = manifest.get("status")
    if kind == "run":
        needed = RUN_FILES
        if status not in (None, STATUS_COMPLETE):
            raise InputError(folder, "status", f"the run's files were being written ({status}) and that did not "
                                               "finish; run it again, then make the report")
    else:
        if status not in (None, STATUS_COMPLETE):
            raise InputError(folder, "status", f"the experiment is {status}, not complete; finish it with "
                                               f"clubsim {kind} ... --resume {folder}, then make the report")
        needed = ("comparison.csv",) if kind == "compare" else ("sweep.csv",)
    for name in needed:
        if not (folder / name).is_file() or name not in listed_files(manifest):
            raise InputError(folder, name, f"missing: the {kind} folder is incomplete")
    verify_files(folder, manifest, [name for name in listed_files(manifest) if name != REPORT_FILE])
    return kind, _without_report(manifest)


def _without_report(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest as the run or experiment wrote it: without the page an earlier report listed there
    (`write_report`), so that a report of the same folder is the same page, however often it is made."""
    manifest = dict(manifest)
    if isinstance(manifest.get("files"), list):
        manifest["files"] = [name for name in manifest["files"] if name != REPORT_FILE]
    if isinstance(manifest.get(CHECKSUMS), dict):
        manifest[CHECKSUMS] = {name: value for name, value in manifest[CHECKSUMS].items() if name != REPORT_FILE}
    return manifest


# --------------------------------------------------------------------------- HTML pieces


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(header: Sequence[str] | None, rows: Iterable[Sequence[Any]], classes: str = "") -> str:
    """A plain HTML table of escaped text; no header row if `header` is None."""
    head = "" if header is None else "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr></thead>"
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{_e(classes)}"' if classes else ""
    return f'<div class="wide"><table{attr}>{head}<tbody>{body}</tbody></table></div>'


def _number(value: float) -> str:
    """Large numbers with thousands separators, small ones with 4 significant digits."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _frame_table(frame: pd.DataFrame, classes: str = "") -> str:
    return '<div class="wide">' + frame.to_html(index=False, border=0, classes=classes or None, na_rep="—",
                                                   float_format=_number) + "</div>"


def _pre(text: str) -> str:
    return f"<pre>{_e(text)}</pre>"


def _details(summary: str, body: str) -> str:
    return f"<details><summary>{_e(summary)}</summary>{body}</details>"


def png_data_url(data: bytes) -> str:
    """A PNG as a `data:` URL, so the page needs no file beside it."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figures(folder: Path, names: Sequence[str]) -> str:
    parts = []
    for name in names:
        path = folder / name
        caption = FIGURE_CAPTIONS.get(name) or name.removesuffix(".png").replace("_", " ")
        if not path.is_file():
            parts.append(f'<p class="warning">figure {_e(name)} is listed in the manifest but missing</p>')
            continue
        parts.append(f'<figure><img src="{png_data_url(path.read_bytes())}" alt="{_e(caption)}">'
                     f"<figcaption>{_e(caption)} ({_e(name)})</figcaption></figure>")
    return "".join(parts) or '<p class="note">No figures in this folder (made with --no-figures).</p>'


def _figure_names(folder: Path, manifest: Mapping[str, Any], canonical: Sequence[str], pattern: str = "") -> list[str]:
    """Figures to show: the PNGs the manifest lists (checked by `folder_kind`; a PNG that clubsim did not
    write is never shown), canonical ones first."""
    names = [name for name in listed_files(manifest) if name.endswith(".png")
             and (not pattern or Path(name).match(pattern))]
    return [n for n in canonical if n in names] + sorted(n for n in names if n not in canonical)


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _page(title: str, subtitle: str, sections: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<section><h2>{_e(name)}</h2>{content}</section>" for name, content in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"{GENERATOR}<title>{_e(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{_e(title)}</h1><p class=\"subtitle\">{_e(subtitle)}</p>"
            f"{body}</body></html>\n")


def _provenance(manifest: Mapping[str, Any], extra: Sequence[tuple[str, Any]]) -> str:
    versions = manifest.get("versions") or {}
    rows = [*extra, ("command", manifest.get("command") or "—"), ("written", manifest.get("created") or "—"),
            ("versions", ", ".join(f"{k} {v}" for k, v in versions.items()) or "—")]
    return _table(None, rows, "provenance text")


# --------------------------------------------------------------------------- formatting shared with the web page


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def comparison_html(table: pd.DataFrame, metrics: Sequence[str], policies: Sequence[str], baseline: str,
                    labels: Mapping[str, str] | None = None) -> str:
    """Policies x metrics, mean [95 % CI]; under each other policy its paired difference with the baseline
    [95 % CI], bold and marked * when the CI excludes 0 (the same table as `clubsim compare` prints).

    `table` has the columns of comparison.csv; `labels` renames policies for display.
    """
    from sim.model.metric_registry import format_estimate, is_percent_metric
    from sim.model.metric_registry import header as metric_header

    labels = dict(labels or {})
    stats = {(str(row["policy"]), str(row["metric"])): row for row in table.to_dict("records")}

    def cell(text: str, significant: bool = False) -> str:
        # the CI in its own span, so a narrow page can put it under the value
        value, bracket, ci = text.partition(" [")
        ci_html = f' <span class="ci">[{_e(ci)}</span>' if bracket else ""
        mark = " *" if significant else ""
        attr = ' class="significant"' if significant else ""
        return f"<td{attr}>{_e(value)}{mark}{ci_html}</td>"
    header = "<th>policy</th>" + "".join(f"<th>{_e(metric_header(m))}</th>" for m in metrics)
    rows = []
    for policy in policies:
        name = labels.get(policy, policy)
        cells = []
        for metric in metrics:
            row = stats.get((policy, metric))
            text = "—" if row is None else format_estimate(row["mean"], row["ci_low"], row["ci_high"],
                                                          percent=is_percent_metric(metric))
            cells.append(cell(text))
        label = f"{name} (baseline)" if policy == baseline else name
        rows.append(f'<tr class="policy"><td>{_e(label)}</td>{"".join(cells)}</tr>')
        if policy == baseline:
            continue
        diffs = []
        for metric in metrics:
            row = stats.get((policy, metric))
            if row is None or not _finite(row.get("diff")):
                diffs.append("<td>—</td>")
                continue
            text = format_estimate(row["diff"], row["diff_ci_low"], row["diff_ci_high"],
                                   percent=is_percent_metric(metric), sign=True)
            diffs.append(cell(text, significant=str(row.get("significant")).lower() == "true"))
        rows.append(f'<tr class="diff"><td>Δ vs {_e(labels.get(baseline, baseline))}</td>{"".join(diffs)}</tr>')
    return (f'<div class="wide"><table class="comparison"><thead><tr>{header}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _stats_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The long statistics table with readable headers."""
    shown = table.copy()
    renames = {"ci_low": "95 % CI low", "ci_high": "95 % CI high", "diff": "paired Δ", "diff_ci_low": "Δ CI low",
               "diff_ci_high": "Δ CI high", "diff_p": "p (paired t)", "unpaired_ci_low": "unpaired Δ CI low",
               "unpaired_ci_high": "unpaired Δ CI high"}
    return shown.rename(columns=renames)


# --------------------------------------------------------------------------- one run


def _summary_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    from sim.presentation.tables import summary_table

    table = summary_table(dict(summary), "")
    columns = [[str(cell) for cell in column.cells] for column in table.columns]
    return list(zip(*columns, strict=True))


def _yearly(series: pd.DataFrame) -> pd.DataFrame:
    """The weekly series, year by year: members at the year's end, flows and money over the year."""
    frame = series.copy()
    frame["year"] = frame["week"] // WEEKS_PER_YEAR + 1
    grouped = frame.groupby("year", sort=True)
    counts = [c for c in ("joins", "exits", "visitors", "referrals", "deals") if c in frame]
    sums = [*counts, *(c for c in ("business", "direct_sales", "fees_collected") if c in frame)]
    yearly = grouped[sums].sum()
    for count in counts:
        yearly[count] = yearly[count].map(lambda v: f"{int(v):,}")
    yearly.insert(0, "members at year end", grouped["members"].last())
    if "attendance_rate" in frame:
        meetings = frame[frame["meeting"] > 0] if "meeting" in frame else frame
        yearly["attendance"] = meetings.groupby("year")["attendance_rate"].mean().map(lambda v: f"{100 * v:.0f} %")
    if "hunter_share" in frame:
        yearly["hunter share at year end"] = grouped["hunter_share"].last().map(lambda v: f"{100 * v:.0f} %")
    for money in ("business", "direct_sales", "fees_collected"):
        if money in yearly:
            yearly[money] = yearly[money].map(lambda v: f"{v:,.0f}")
    yearly = yearly.rename(columns={"business": "business (EUR)", "direct_sales": "hunters' direct sales (EUR)",
                                    "fees_collected": "fees collected (EUR)"})
    return yearly.reset_index()


def _members_by_type(members: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for member_type, group in members.groupby("member_type", sort=False):
        active = group["exit_reason"] == "active"
        rows.append({
            "type": member_type,
            "members ever": len(group),
            "active at the end": int(active.sum()),
            "mean tenure (years)": f"{group['tenure_years'].mean():.2f}",
            "business received, mean (EUR)": f"{group['business_received'].mean():,.0f}",
            "referrals given, mean": f"{group['referrals_given'].mean():.1f}",
            "fees paid, mean (EUR)": f"{group['fees_paid'].mean():,.0f}",
            "ROI, mean": f"{100 * group['roi'].mean():+.0f} %",
        })
    order = {"giver": 0, "reciprocator": 1, "hunter": 2}
    return pd.DataFrame(sorted(rows, key=lambda r: order.get(str(r["type"]), 9)))


def _config(scenario: Mapping[str, Any]) -> Any:
    """The recorded scenario as a `ScenarioConfig`, or None if this clubsim version cannot read it."""
    from pydantic import ValidationError

    from sim.model.scenario import ScenarioConfig

    try:
        return ScenarioConfig.model_validate(scenario)
    except ValidationError:  # a folder from another clubsim version: show the scenario as recorded
        return None


def _scenario_line(scenario: Mapping[str, Any]) -> str:
    from sim.presentation.tables import policy_summary

    config = _config(scenario)
    return "" if config is None else f"{config.years} years, {policy_summary(config)}"


def _scenario_yaml(scenario: Mapping[str, Any]) -> str:
    """The scenario as YAML in the schema's order (the manifest stores its keys sorted)."""
    config = _config(scenario)
    return _yaml(scenario if config is None else config.model_dump(mode="json"))


def _clubs_section(folder: Path, summary: Mapping[str, Any]) -> str:
    """A region's clubs: the console's clubs table, and clubs.csv in full when it is not too long."""
    from sim.presentation.tables import clubs_table

    table = clubs_table(summary, "")
    columns = [[str(cell) for cell in column.cells] for column in table.columns]
    html = _table([str(column.header) for column in table.columns], zip(*columns, strict=True), "clubs")
    clubs = _read_csv(folder / "clubs.csv") if (folder / "clubs.csv").is_file() else None
    if clubs is not None and len(clubs) <= CLUB_ROWS_SHOWN:
        html += _details(f"All {len(clubs)} clubs (clubs.csv)", _frame_table(clubs, "clubs"))
    elif clubs is not None:
        html += f'<p class="note">{len(clubs):,} clubs: the first 20 above, all of them in clubs.csv.</p>'
    return html


def _run_report(folder: Path, manifest: Mapping[str, Any]) -> str:
    summary = _read_json(folder / "summary.json")
    series = _read_csv(folder / "timeseries.csv")
    members = _read_csv(folder / "members.csv")
    scenario = manifest.get("scenario") or {}
    name = scenario.get("name", folder.name)
    seed = manifest.get("seed")
    provenance = _provenance(manifest, [("scenario", name), ("scenario file", manifest.get("scenario_source") or "—"),
                                        ("seed", seed), ("engine", manifest.get("engine", "—"))])
    sections = [
        ("Summary", _table(("metric", "value"), _summary_rows(summary), "summary")),
        *([("Clubs", _clubs_section(folder, summary))] if "clubs" in summary else []),
        ("Figures", _figures(folder, _figure_names(folder, manifest, RUN_FIGURES))),
        ("Year by year", _frame_table(_yearly(series), "yearly")),
        ("Members by type", _frame_table(_members_by_type(members), "types")
         + _details(f"All {len(members)} members (members.csv)", _frame_table(members, "members"))),
        ("Scenario", '<p class="note">Every parameter of the run, as resolved (file, extends and --set).</p>'
         + _pre(_scenario_yaml(scenario))),
        ("Provenance", provenance + _details("manifest.json", _pre(json.dumps(manifest, indent=2)))),
    ]
    subtitle = _scenario_line(scenario) or str(scenario.get("description", ""))
    return _page(f"clubsim run: {name}, seed {seed}", subtitle, sections)


# --------------------------------------------------------------------------- experiments


def _policy_differences(policies: Mapping[str, Mapping[str, Any]], baseline: str) -> str:
    """Each policy's scenario keys that differ from the baseline's."""
    from sim.model.scenario import dotted_items

    if baseline not in policies:
        return ""
    base = dotted_items(policies[baseline])
    rows = []
    for policy, scenario in policies.items():
        if policy == baseline:
            continue
        flat = dotted_items(scenario)
        changed = [key for key in sorted(set(base) | set(flat)) if base.get(key) != flat.get(key) and key != "name"]
        text = "; ".join(f"{key} = {flat.get(key)} (baseline {base.get(key)})" for key in changed)
        rows.append((policy, text or "same scenario as the baseline"))
    return _table(("policy", f"differences from {baseline}"), rows, "policies text") if rows else ""


def _experiment_sections(folder: Path, manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    resolved = manifest.get("resolved") or {}
    policies = resolved.get("policies") or {}
    baseline = manifest.get("baseline") or (next(iter(policies)) if policies else "")
    scenario_docs = "".join(_details(f"{policy}: resolved scenario", _pre(_scenario_yaml(scenario)))
                            for policy, scenario in policies.items())
    seeds = manifest.get("seeds") or {}
    count = seeds.get("count", 0) if isinstance(seeds, Mapping) else len(seeds)
    provenance = _provenance(manifest, [
        ("experiment", manifest.get("name", folder.name)),
        ("experiment file", manifest.get("experiment_source") or "—"),
        ("replications per policy", manifest.get("runs", "—")),
        ("experiment seed", resolved.get("seed", "—")),
        ("replication seeds", f"{count} (spawned from the experiment seed, as the manifest records)"),
        ("engine", resolved.get("engine", "—")),
        ("backend", f"{manifest.get('backend', '—')} ({manifest.get('workers') or 'all'} workers)"),
        ("status", manifest.get("status", "—")),
    ])
    light = {k: v for k, v in manifest.items() if k not in ("resolved", "seeds")}
    return [
        ("Policies", _policy_differences(policies, baseline) + scenario_docs),
        ("Experiment file", _pre(_yaml(manifest.get("experiment") or {}))),
        ("Provenance", provenance
         + _details("manifest.json (without the resolved scenarios and seeds shown above)",
                    _pre(json.dumps(light, indent=2)))),
    ]


def _discovery_sections(folder: Path, manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A sweep folder that `clubsim discover` added to: its outcome, boxes, robustness and figure."""
    from sim.experiments.discovery import BOXES_FILE, CART_FILE, DISCOVERY_FILE, FIGURE_FILE, ROBUSTNESS_FILE

    listed = set(listed_files(manifest))
    if not isinstance(manifest.get("discovery"), Mapping) or DISCOVERY_FILE not in listed:
        return []
    summary = _read_json(folder / DISCOVERY_FILE)
    if not isinstance(summary, dict):
        raise InputError(folder / DISCOVERY_FILE, None, "must be a JSON object, as clubsim writes it")
    cases, interest = summary.get("cases", 0), summary.get("cases_of_interest", 0)
    facts = _table(None, [
        ("outcome of interest", summary.get("outcome", "—")),
        ("requirement (robustness)", summary.get("requirement") or "—"),
        ("cases", cases),
        ("cases of interest", f"{interest} ({interest / cases:.0%})" if cases else interest),
    ], "provenance")
    box = summary.get("chosen_box")
    chosen = "<h3>The chosen PRIM box</h3>" + (
        _table(["limit", "value"], [(k, f"{v:.4g}" if isinstance(v, float) else v) for k, v in box.items()],
               "box") if isinstance(box, Mapping) else '<p class="note">No box: no case meets the outcome.</p>')
    tables = "".join(f"<h3>{_e(title)}</h3>" + _frame_table(_read_csv(folder / name), name.removesuffix(".csv"))
                     for title, name in (("PRIM boxes (peeling trajectory)", BOXES_FILE),
                                         ("CART leaves", CART_FILE), ("Robustness of the policies", ROBUSTNESS_FILE))
                     if name in listed)
    figure = _figures(folder, [FIGURE_FILE]) if FIGURE_FILE in listed else ""
    return [("Scenario discovery", facts + chosen + tables + figure)]


def _compare_report(folder: Path, manifest: Mapping[str, Any]) -> str:
    table = _read_csv(folder / "comparison.csv")
    metrics = list(manifest.get("metrics") or dict.fromkeys(table["metric"]))
    policies = list(dict.fromkeys(table["policy"]))
    baseline = manifest.get("baseline") or policies[0]
    runs = manifest.get("runs", "?")
    note = (f'<p class="note">{runs} replications per policy with common random numbers: replication r of every '
            f"policy uses the same seed. Each cell: mean [95 % CI]. Δ rows: paired difference with {_e(baseline)} "
            "[95 % CI]; bold with * when the CI excludes 0.</p>")
    sections = [
        ("Comparison", note + comparison_html(table, metrics, policies, baseline)),
        ("Figures", _figures(folder, _figure_names(folder, manifest, COMPARISON_FIGURES))),
        ("Statistics", '<p class="note">comparison.csv: n, mean, sd and 95 % CI per policy and metric; paired '
         "difference with the baseline, its CI and paired t-test p; the unpaired (Welch) CI for contrast.</p>"
         + _frame_table(_stats_frame(table), "statistics")),
        *_experiment_sections(folder, manifest),
    ]
    description = (manifest.get("experiment") or {}).get("description") or ""
    name = manifest.get("name", folder.name)
    return _page(f"clubsim compare: {name}", description or f"{len(policies)} policies, baseline {baseline}",
                 sections)


def _sweep_report(folder: Path, manifest: Mapping[str, Any]) -> str:
    from sim.model.metric_registry import format_estimate, is_percent_metric
    from sim.model.metric_registry import header as metric_header

    table = _read_csv(folder / "sweep.csv")
    metrics = list(manifest.get("metrics") or dict.fromkeys(table["metric"]))
    known = {"point", "policy", "metric", "n", "mean", "sd", "ci_low", "ci_high", "diff", "diff_ci_low",
             "diff_ci_high", "diff_p", "significant", "unpaired_ci_low", "unpaired_ci_high"}
    parameters = [c for c in table.columns if c not in known]
    policies = list(dict.fromkeys(table["policy"]))
    rows = []
    for (_point, policy), group in table.groupby(["point", "policy"], sort=False):
        by_metric = {row["metric"]: row for row in group.to_dict("records")}
        first = group.iloc[0]
        cells = [first[p] for p in parameters] + ([policy] if len(policies) > 1 else [])
        for metric in metrics:
            row = by_metric.get(metric)
            cells.append("—" if row is None else format_estimate(row["mean"], row["ci_low"], row["ci_high"],
                                                                percent=is_percent_metric(metric)))
        rows.append(cells)
    header = [*parameters, *(["policy"] if len(policies) > 1 else []), *(metric_header(m) for m in metrics)]
    runs = manifest.get("runs", "?")
    note = (f'<p class="note">{runs} replications per point, with the same seeds at every point. '
            "Each cell: mean [95 % CI].</p>")
    sections = [
        ("Sweep", note + _table(header, rows, "sweep")),
        ("Figures", _figures(folder, _figure_names(folder, manifest, (), "sweep_*.png"))),
        *_discovery_sections(folder, manifest),
        *_experiment_sections(folder, manifest),
    ]
    name = manifest.get("name", folder.name)
    description = (manifest.get("experiment") or {}).get("description") or ""
    return _page(f"clubsim sweep: {name}", description or f"parameters: {', '.join(parameters)}", sections)


# --------------------------------------------------------------------------- entry points


def build_report(folder: str | Path) -> str:
    """The HTML report of an output folder (raises InputError if it is not one, or does not match its
    manifest). It holds the folder's lock while reading: no clubsim writes it meanwhile."""
    return _read_report(Path(folder))[0]


def _read_report(folder: Path) -> tuple[str, dict[str, Any]]:
    """The page and the manifest it describes, read under the folder's lock."""
    lock = FolderLock(folder, "DIR")
    if folder.is_dir():
        lock.acquire(reading=True)
    try:
        return _report_page(folder)
    finally:
        lock.release()


def _report_page(folder: Path) -> tuple[str, dict[str, Any]]:
    kind, manifest = folder_kind(folder)
    builders = {"run": _run_report, "compare": _compare_report, "sweep": _sweep_report}
    return builders[kind](folder, manifest), manifest


def _is_report(path: Path) -> bool:
    """Whether `path` is a page `clubsim report` wrote (its generator tag near the start)."""
    try:
        with open(path, "rb") as handle:
            return GENERATOR.encode() in handle.read(1024)
    except OSError:
        return False


def write_report(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of `folder` to `out` (default `folder/report.html`); returns the file written.

    The folder's own `report.html` is listed in its manifest, so it is clubsim's there like the data it
    describes: a later run into the folder removes it instead of leaving a page of the earlier run."""
    folder = Path(folder)
    path = Path(out) if out is not None else folder / REPORT_FILE
    if path.is_dir():
        raise InputError(path, "--out", "is a folder; give the HTML file to write, e.g. report.html")
    page, described = _read_report(folder)  # a folder that is not a finished output is refused here
    if path.name == REPORT_FILE and path.parent.resolve() == folder.resolve():
        with OutputFolder(folder, "DIR") as held:  # no clubsim writes the folder between the page and the list
            manifest = dict(held.previous or {})
            if _without_report(manifest) != described:  # rewritten since it was read
                page = _report_page(folder)[0]
            _write_page(path, page)
            held.write_manifest({**manifest, "files": sorted({*listed_files(manifest), path.name})})
        return path
    _write_page(path, page)
    return path


def _write_page(path: Path, page: str) -> None:
    if path.name == LOCK_FILE or path.name.startswith(TEMP_PREFIX):  # names clubsim removes as its own
        raise InputError(path, "--out", f"a name clubsim keeps for its lock and temporary files "
                                        f"({LOCK_FILE}, {TEMP_PREFIX}*): give another file, e.g. report.html")
    if path.is_symlink() or (path.exists() and not _is_report(path)):
        raise InputError(path, "--out", "exists and is not a report clubsim wrote; clubsim does not overwrite it: "
                                        "move it away or give another file")
    file_above = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
    if file_above is not None:
        raise InputError(path, "--out", f"cannot write here: {file_above} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = str(err.strerror or err)
        raise InputError(path, "--out", f"cannot write here: {reason[:1].lower()}{reason[1:]}") from None
    try:
        write_text(path, page)
    except InputError as err:
        raise InputError(path, "--out", err.message.replace("cannot write:", "cannot write here:")) from None


__all__ = ["REPORT_FILE", "build_report", "comparison_html", "folder_kind", "png_data_url", "write_report"]
