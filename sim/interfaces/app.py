"""The web page for club founders (`clubsim app`): policies as controls, a live run, a Monte Carlo comparison.

A Solara page (`Page`) served by `solara run sim/interfaces/app.py`, which `clubsim app` starts (`serve`). The
sidebar holds the starting scenario and the policies a founder can change. Run builds a `ClubModel`
from them and steps it week by week in a background task, redrawing members by type, business
exchanged, the network of ties and the members table every quarter. Compare replicates the current
settings and the starting scenario under common random numbers (`sim.experiments.experiment.compare`) and shows
the paired differences. Controls only offer allowed values; a combination the scenario schema refuses
is explained on the page and Run stays disabled.

`ClubModel` also runs under Mesa's own `SolaraViz` (tests/test_solaraviz.py). This page keeps
SolaraViz's layout (controls in the sidebar, the model's views in cards) but has its own Run button
(a whole run, redrawn as it goes) and the Compare panel, which SolaraViz's Step/Play/Reset lack.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast, get_type_hints

import numpy as np
import pandas as pd
import solara
import solara.lab
import yaml
from pydantic import Field, TypeAdapter, ValidationError

from sim.errors import InputError
from sim.interfaces.app_server import HOSTS_ENV, allowed_hosts
from sim.model.metrics import MEMBER_TYPES
from sim.model.scenario import ScenarioConfig, dotted_items, load_config

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.experiments.experiment import ComparisonResult, SweepResult
    from sim.model.club import ClubModel

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
SCENARIOS_ENV = "CLUBSIM_APP_SCENARIOS"  # extra scenario files from `clubsim app FILE...`, os.pathsep-separated
DEFAULT_START = "bni_chapter"
WEEKS_PER_YEAR = 52
QUARTER = 13                # the live run redraws every quarter, or every half-year or so on long horizons
MAX_REDRAWS = 24            # redrawing costs ~0.3 s: a 10-year run redraws every 26 weeks
SECONDS_PER_REDRAW = 0.1    # at least this long between redraws, so a person can watch the club grow
COMPARE_RUNS = (20, 50, 100, 200)
COMPARE_METRICS = ("members_final", "churn_rate_annual", "fee_income_total", "business_per_member_year",
                   "roi_mean", "share_positive_roi", "hunter_share_final", "survived")
YOURS = "your_settings"
TIE_SHOWN = 0.2             # ties weaker than this are not drawn
DPI = 90
TYPE_COLOURS = {"giver": "#2ca02c", "reciprocator": "#1f77b4", "hunter": "#d62728"}
MEETINGS = {"weekly": 52, "fortnightly": 26, "monthly": 12}
TITLE = "clubsim: what your club's rules do"
COMPOSITION_HELP = {
    "exclusivity": "one member per profession",
    "complementarity": "a few members per profession and per sector",
    "open": "no limit per profession",
}


# --------------------------------------------------------------------------- settings


NonNegative = Annotated[int, Field(ge=0)]
Share = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


@dataclass(frozen=True)
class Settings:
    """The policies on the page's controls; `overrides` turns them into dotted scenario keys.

    The types and the bounds that are not the scenario schema's are checked on the server
    (`checked`): a browser can send any value over the websocket, whatever the controls offer.
    """

    annual_fee: int  # its bounds are the schema's (`_resolve` explains a refused fee)
    entry_fee: int
    billing: Literal["annual", "monthly"]
    composition: Literal["exclusivity", "complementarity", "open"]
    selection: Literal["interview", "none"]
    accuracy: Share
    attendance_rule: bool
    max_absences: NonNegative
    absence_window: Annotated[int, Field(ge=1)]
    contribution_rule: bool
    min_referrals: Annotated[int, Field(ge=1)]
    contribution_window: Annotated[int, Field(ge=1)]
    meetings_per_year: Annotated[int, Field(ge=1)]
    hunter_share: Share
    years: Annotated[int, Field(ge=1)]
    seed: NonNegative = 1

    @classmethod
    def of(cls, config: ScenarioConfig, seed: int = 1) -> Settings:
        """The settings a scenario starts from."""
        club = config.club
        return cls(
            annual_fee=round(club.fees.annual), entry_fee=round(club.fees.entry), billing=club.fees.billing,
            composition=club.composition.policy, selection=club.selection.policy,
            accuracy=float(club.selection.accuracy), attendance_rule=club.attendance_rule.enabled,
            max_absences=club.attendance_rule.max_absences, absence_window=club.attendance_rule.window_weeks,
            contribution_rule=club.contribution_rule.enabled, min_referrals=club.contribution_rule.min_referrals,
            contribution_window=club.contribution_rule.window_weeks, meetings_per_year=club.meetings_per_year,
            hunter_share=float(config.population.shares.hunter), years=config.years, seed=seed,
        )

    def checked(self) -> Settings:
        """These settings, or ValueError naming the first control whose value is not allowed."""
        for name, value in dataclasses.asdict(self).items():
            try:  # strict: a value of another type is refused, not converted ("1200", 1.5 for an int, True)
                _FIELD_TYPES[name].validate_python(value, strict=True)
            except ValidationError as err:
                raise ValueError(f"{CONTROL_LABELS[name]}: {_in_words(err.errors()[0])}, not {value!r}") from None
        return self

    def overrides(self, start: ScenarioConfig) -> dict[str, Any]:
        """The dotted scenario keys these settings change in `start` (only those that differ)."""
        wanted: dict[str, Any] = {key: getattr(self, name) for key, name in CONTROL_KEYS.items()}
        shares = start.population.shares
        if not math.isclose(self.hunter_share, shares.hunter, abs_tol=1e-9):
            # givers and reciprocators share the rest in the starting scenario's proportions
            others = shares.giver + shares.reciprocator
            giver = (1.0 - self.hunter_share) * (shares.giver / others if others > 0 else 0.5)
            wanted["population.shares.hunter"] = self.hunter_share
            wanted["population.shares.giver"] = giver
            wanted["population.shares.reciprocator"] = 1.0 - self.hunter_share - giver
        current = dotted_items(start.model_dump(mode="json"))
        return {key: value for key, value in wanted.items() if current.get(key) != value}


def _in_words(error: Mapping[str, Any]) -> str:
    """A pydantic error as a founder reads it ("must be 0 or more", "a whole number")."""
    ctx = error.get("ctx") or {}
    return {
        "greater_than_equal": f"must be {ctx.get('ge')} or more", "less_than_equal": f"must be {ctx.get('le')} or less",
        "int_type": "must be a whole number", "float_type": "must be a number", "bool_type": "must be on or off",
        "finite_number": "must be a number", "literal_error": f"must be {ctx.get('expected', 'an offered value')}",
    }.get(error.get("type", ""), str(error.get("msg", "not allowed")))


# the scenario key each control sets (the hunters' share also rescales the other two shares)
CONTROL_KEYS = {
    "club.fees.annual": "annual_fee", "club.fees.entry": "entry_fee", "club.fees.billing": "billing",
    "club.composition.policy": "composition", "club.selection.policy": "selection",
    "club.selection.accuracy": "accuracy", "club.attendance_rule.enabled": "attendance_rule",
    "club.attendance_rule.max_absences": "max_absences", "club.attendance_rule.window_weeks": "absence_window",
    "club.contribution_rule.enabled": "contribution_rule", "club.contribution_rule.min_referrals": "min_referrals",
    "club.contribution_rule.window_weeks": "contribution_window", "club.meetings_per_year": "meetings_per_year",
    "years": "years",
}
# globals(): `solara run` loads this file under another module name
_FIELD_TYPES = {name: TypeAdapter(hint)
                for name, hint in get_type_hints(Settings, globals(), include_extras=True).items()}
CONTROL_LABELS = {
    "annual_fee": "Annual fee", "entry_fee": "Entry fee", "billing": "Billing", "composition": "Composition",
    "selection": "Selection of candidates", "accuracy": "Interview catches hunters",
    "attendance_rule": "Attendance rule", "max_absences": "Absences allowed", "absence_window": "Absence window",
    "contribution_rule": "Contribution rule", "min_referrals": "Referrals required",
    "contribution_window": "Contribution window", "meetings_per_year": "Meetings",
    "hunter_share": "Hunters among candidates", "years": "Years", "seed": "Seed",
}


def available_scenarios() -> dict[str, Path]:
    """Scenarios the page can start from: files given to `clubsim app`, then the shipped ones, by name."""
    paths = [Path(p) for p in os.environ.get(SCENARIOS_ENV, "").split(os.pathsep) if p]
    paths += sorted(SCENARIO_DIR.glob("*.yaml"))
    found: dict[str, Path] = {}
    for path in paths:
        if path.stem not in found and not _is_region(path):  # the page runs one club
            found[path.stem] = path
    return found


def _is_region(path: Path) -> bool:
    try:
        return load_config(path).config.is_region
    except InputError:
        return False  # the page explains a bad file when it is chosen


@lru_cache(maxsize=64)
def _starting_config(path: Path, mtime: float) -> ScenarioConfig:
    return load_config(path).config


def starting_config(path: Path) -> ScenarioConfig:
    """A scenario file's validated config (re-read when the file changes)."""
    return _starting_config(path, path.stat().st_mtime)


def describe(settings: Settings) -> str:
    """The settings in a few words, e.g. `annual fee 2,000 EUR, exclusivity, interview, seed 1`."""
    parts = [f"annual fee {settings.annual_fee:,} EUR" + (", billed monthly" if settings.billing == "monthly" else "")]
    if settings.entry_fee:
        parts.append(f"entry fee {settings.entry_fee:,} EUR")
    parts.append(settings.composition)
    parts.append("interview" if settings.selection == "interview" else "no selection")
    parts.append(next((k for k, v in MEETINGS.items() if v == settings.meetings_per_year), "?") + " meetings")
    parts.append(f"{settings.hunter_share:.0%} hunters among candidates")
    parts.append(f"seed {settings.seed}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- a live run's state


@dataclass(frozen=True)
class Snapshot:
    """What the page shows of a run at one week; taken in the run's thread, read by the page."""

    week: int
    weeks: int
    capacity: int
    title: str
    series: pd.DataFrame
    members: pd.DataFrame           # every member ever (`ClubModel.members_frame`)
    current: pd.DataFrame           # current members, from the Mesa agents
    tie_ids: np.ndarray             # member ids of the tie matrix's rows
    ties: np.ndarray                # symmetric: mean trust of the two members in each other
    strong_threshold: float
    positions: dict[int, tuple[float, float]]
    summary: dict[str, Any]
    settings: Settings = field(compare=False)
    start: str = ""

    @property
    def finished(self) -> bool:
        return self.week >= self.weeks


def _current_members(model: ClubModel) -> tuple[pd.DataFrame, list[Any]]:
    agents = sorted(model.agents, key=lambda a: a.member_id)
    market = model.engine.market
    rows = [{
        "member": a.member_id,
        "type": a.member_type,
        "profession": market.names[a.profession],
        "sector": market.sector_names[a.sector],
        "joined (year)": a.join_week // WEEKS_PER_YEAR + 1,
        "tenure (years)": a.tenure_weeks / WEEKS_PER_YEAR,
        "attendance habit": a.attendance_habit,
        "business received (EUR)": a.business_received,
        "referrals given": int(a.referrals_given),
        "fees paid (EUR)": a.fees_paid,
        "ROI so far": a.roi,
    } for a in agents]
    return pd.DataFrame(rows), agents


def _layout(ids: np.ndarray, ties: np.ndarray, previous: Mapping[int, tuple[float, float]],
            seed: int) -> dict[int, tuple[float, float]]:
    """Spring layout weighted by ties, started from the previous quarter's positions so the picture moves smoothly."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(int(i) for i in ids)
    rows, cols = np.nonzero(np.triu(ties, 1) >= TIE_SHOWN)
    graph.add_weighted_edges_from((int(ids[r]), int(ids[c]), float(ties[r, c])) for r, c in zip(rows, cols,
                                                                                                 strict=True))
    if not len(ids):
        return {}
    rng = np.random.default_rng(seed)
    tied = [node for node in graph if graph.degree(node) > 0]
    start = {node: tuple(previous[node]) if node in previous else tuple(rng.uniform(-1, 1, 2)) for node in tied}
    positions = {node: (float(x), float(y)) for node, (x, y) in nx.spring_layout(
        graph.subgraph(tied), pos=start, weight="weight", iterations=30, seed=seed).items()} if tied else {}
    # members without a drawn tie (newcomers) wait on a ring around the club: left to the spring layout,
    # they would fly off and squeeze everyone else into a dot
    lonely = [node for node in graph if graph.degree(node) == 0]
    for k, node in enumerate(lonely):
        angle = 2 * math.pi * k / len(lonely)
        positions[node] = (1.25 * math.cos(angle), 1.25 * math.sin(angle))
    return positions


def take_snapshot(model: ClubModel, settings: Settings, start: str,
                  previous: Mapping[int, tuple[float, float]] | None = None) -> Snapshot:
    """The page's view of `model` now: frames, the current members (Mesa agents) and their ties."""
    config = model.scenario.config
    current, agents = _current_members(model)
    n = len(agents)
    trust = np.array([[a.tie_to(b) if a is not b else 0.0 for b in agents] for a in agents]).reshape(n, n)
    ties = (trust + trust.T) / 2.0
    ids = np.array([a.member_id for a in agents], dtype=np.int64)
    return Snapshot(
        week=model.week, weeks=config.weeks, capacity=config.club.capacity,
        title=f"{start}: {describe(settings)}",
        series=model.series_frame(), members=model.members_frame(), current=current,
        tie_ids=ids, ties=ties, strong_threshold=config.ties.strong_threshold,
        positions=_layout(ids, ties, previous or {}, settings.seed),
        summary=model.summary() if model.week > 0 else {}, settings=settings, start=start,
    )


# --------------------------------------------------------------------------- figures


def _figure(width: float, height: float, margins: Mapping[str, float] | None = None) -> Figure:
    from matplotlib.figure import Figure

    # fixed margins, not a layout engine: a live run redraws often and constrained layout doubles the cost
    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.subplots_adjust(**(margins or {"left": 0.1, "right": 0.98, "top": 0.97, "bottom": 0.15}))
    return fig


def png(fig: Figure) -> bytes:
    """A figure as PNG bytes (Agg canvas: no pyplot, safe in the run's thread)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _members_by_type(snapshot: Snapshot) -> dict[str, np.ndarray]:
    """Members of each type in the club, week by week, from join and exit weeks."""
    weeks = max(snapshot.week, 1)
    members = snapshot.members
    counts = {}
    for member_type in MEMBER_TYPES:
        group = members[members["member_type"] == member_type]
        change = np.zeros(weeks + 1)
        np.add.at(change, np.clip(group["join_week"].to_numpy(), 0, weeks), 1)
        exits = group["exit_week"].to_numpy()
        np.add.at(change, np.clip(exits[exits >= 0], 0, weeks), -1)
        counts[member_type] = np.cumsum(change)[:weeks]
    return counts


def members_figure(snapshot: Snapshot) -> Figure:
    fig = _figure(6.4, 3.4)
    ax = fig.subplots()
    counts = _members_by_type(snapshot)
    years = np.arange(len(next(iter(counts.values())))) / WEEKS_PER_YEAR
    ax.stackplot(years, *counts.values(), labels=[f"{t}s" for t in counts],
                 colors=[TYPE_COLOURS[t] for t in counts], alpha=0.8, step="post")
    ax.axhline(snapshot.capacity, color="#555", linestyle="--", linewidth=1, label="capacity")
    ax.set_xlim(0, snapshot.weeks / WEEKS_PER_YEAR)
    ax.set_ylim(0, snapshot.capacity * 1.1)
    ax.set_xlabel("year")
    ax.set_ylabel("members")
    ax.legend(loc="upper left", fontsize=8, ncols=4)
    ax.grid(alpha=0.3)
    return fig


def business_figure(snapshot: Snapshot) -> Figure:
    fig = _figure(6.4, 3.4)
    ax = fig.subplots()
    series = snapshot.series
    if len(series):
        quarter = series["week"].to_numpy() // QUARTER
        business = np.bincount(quarter, weights=series["business"].to_numpy())
        direct = np.bincount(quarter, weights=series["direct_sales"].to_numpy())
        edges = np.arange(len(business) + 1) * QUARTER / WEEKS_PER_YEAR
        ax.stairs(business / 1000, edges, fill=True, color="#1f77b4", label="referral business")
        ax.stairs((business + direct) / 1000, edges, baseline=business / 1000, fill=True, color="#d62728",
                  label="hunters' direct sales")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlim(0, snapshot.weeks / WEEKS_PER_YEAR)
    ax.set_xlabel("year")
    ax.set_ylabel("thousand EUR per quarter")
    ax.grid(alpha=0.3, axis="y")
    return fig


def network_figure(snapshot: Snapshot) -> Figure:
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    fig = _figure(6.4, 5.0, {"left": 0.02, "right": 0.98, "top": 0.93, "bottom": 0.08})
    ax = fig.subplots()
    ax.set_axis_off()
    ids, ties = snapshot.tie_ids, snapshot.ties
    strong = weak = 0
    if len(ids):
        xy = np.array([snapshot.positions[int(i)] for i in ids])
        rows, cols = np.nonzero(np.triu(ties, 1) >= TIE_SHOWN)
        is_strong = ties[rows, cols] >= snapshot.strong_threshold
        strong, weak = int(is_strong.sum()), int((~is_strong).sum())
        segments = np.stack([xy[rows], xy[cols]], axis=1)
        ax.add_collection(LineCollection(segments[~is_strong], linewidths=0.4, colors="#bbbbbb", zorder=1))
        ax.add_collection(LineCollection(segments[is_strong], linewidths=1.8, colors="#444444", alpha=0.35,
                                         zorder=2))
        types = snapshot.current["type"].to_numpy()
        business = snapshot.current["business received (EUR)"].to_numpy()
        sizes = 25 + 120 * np.sqrt(business / max(business.max(), 1.0))
        ax.scatter(xy[:, 0], xy[:, 1], s=sizes, c=[TYPE_COLOURS[t] for t in types], edgecolors="white",
                   linewidths=0.8, zorder=3)
        ax.margins(0.05)
    pairs = len(ids) * (len(ids) - 1) // 2
    ax.set_title(f"Ties between the {len(ids)} members: {strong:,} strong, {weak:,} weaker (of {pairs:,} pairs)",
                 fontsize=10)
    handles = [Line2D([], [], marker="o", linestyle="", color=c, label=f"{t}") for t, c in TYPE_COLOURS.items()]
    handles += [Line2D([], [], color="#444444", linewidth=1.8, alpha=0.6, label="strong tie"),
                Line2D([], [], color="#bbbbbb", linewidth=0.6, label="weaker tie")]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.08), ncols=5, fontsize=8, frameon=False)
    return fig


# --------------------------------------------------------------------------- tables and numbers


def closure_week(series: pd.DataFrame) -> int | None:
    """The week the club closed (fell below its minimum size), or None if it is still open."""
    closed = series.loc[series["exits_dissolved"] > 0, "week"] if len(series) else []
    return int(closed.iloc[0]) if len(closed) else None


def _eur(value: float) -> str:
    return f"{value:,.0f} EUR"


def kpis(snapshot: Snapshot) -> list[tuple[str, str, str]]:
    """(key, value, label) of the headline numbers of a run so far."""
    s = snapshot.summary
    if not s:
        members = len(snapshot.current)
        return [("members_final", f"{members}", f"members (capacity {snapshot.capacity})")]

    def percent(key: str) -> str:
        value = s.get(key)
        return "—" if value is None else f"{100 * value:.0f} %"

    roi_mean = s.get("roi_mean")
    return [
        ("members_final", f"{s['members_final']}", f"members now (capacity {snapshot.capacity})"),
        ("churn_rate_annual", percent("churn_rate_annual"), "churn per year"),
        ("fee_income_total", _eur(s["fee_income_total"]), "fee income so far"),
        ("business_total", _eur(s["business_total"]), "business exchanged so far"),
        ("business_per_member_year", _eur(s["business_per_member_year"]), "business per member-year"),
        ("roi_mean", "—" if roi_mean is None else f"{100 * roi_mean:+.0f} %", "members' mean ROI"),
        ("share_positive_roi", percent("share_positive_roi"), "members with ROI > 0"),
        ("hunter_share_final", percent("hunter_share_final"), "hunters now"),
    ]


def kpis_html(snapshot: Snapshot) -> str:
    cells = "".join(f'<div class="kpi" data-key="{key}"><div class="kpi-value">{escape(value)}</div>'
                    f'<div class="kpi-label">{escape(label)}</div></div>' for key, value, label in kpis(snapshot))
    return f'<div class="kpis">{cells}</div>'


def members_table_html(snapshot: Snapshot) -> str:
    shown = snapshot.current.copy()
    if len(shown):
        shown["tenure (years)"] = shown["tenure (years)"].map(lambda v: f"{v:.1f}")
        shown["attendance habit"] = shown["attendance habit"].map(lambda v: f"{100 * v:.0f} %")
        for money in ("business received (EUR)", "fees paid (EUR)"):
            shown[money] = shown[money].map(lambda v: f"{v:,.0f}")
        shown["ROI so far"] = shown["ROI so far"].map(lambda v: f"{100 * v:+.0f} %")
    table = shown.to_html(index=False, border=0, classes="members")
    return f'<div class="members-scroll">{table}</div>'


# --------------------------------------------------------------------------- the comparison


def comparison_spec(start_path: Path, start: str, overrides: Mapping[str, Any], seed: int, runs: int) -> dict:
    """The experiment the Compare panel runs: the starting scenario (baseline) and your settings."""
    return {
        "name": f"your_settings_vs_{start}",
        "description": f"The page's settings against {start}, replicated with common random numbers.",
        "scenario": str(Path(start_path).resolve()),
        "policies": {start: {}, YOURS: {key: _plain(value) for key, value in overrides.items()}},
        "baseline": start,
        "metrics": list(COMPARE_METRICS),
        "runs": int(runs),
        "seed": int(seed),
    }


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def run_comparison(spec: Mapping[str, Any], progress: Any = None) -> ComparisonResult:
    """Replicate both policies of `spec` in this process (a few seconds for 50 runs each)."""
    from sim.experiments.experiment import compare, load_experiment

    with tempfile.TemporaryDirectory(prefix="clubsim-app-") as folder:
        path = Path(folder) / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(dict(spec), sort_keys=False), encoding="utf-8")
        experiment = load_experiment(path)
    return compare(experiment, spec["runs"], backend="local", workers=1, figures=False, progress=progress)


# --------------------------------------------------------------------------- the price curve

PRICE_POINTS = (4, 6, 8, 10)             # fees tried between the two ends, ends included
PRICE_RUNS = (20, 50, 100)               # replications per fee
PRICE_METRICS = ("fee_income_total", "members_final", "churn_rate_annual", "survived")
MAX_FEE = 100_000                        # the schema's bound on club.fees.annual


@dataclass(frozen=True)
class PriceRange:
    """The fees the pricing view tries and the survival a founder insists on (checked on the server)."""

    low: int = 300
    high: int = 3000
    points: int = 6
    runs: int = 20
    min_survival: int = 90  # percent of runs whose club is still open at the horizon

    def checked(self) -> PriceRange:
        """This range, or ValueError saying which field is wrong and what is allowed."""
        for name in ("low", "high", "points", "runs", "min_survival"):
            if type(getattr(self, name)) is not int:
                raise ValueError(f"{PRICE_LABELS[name]}: a whole number, not {getattr(self, name)!r}")
        if not 0 <= self.low < self.high <= MAX_FEE:
            raise ValueError(f"Fees: from a lower to a higher annual fee, 0 to {MAX_FEE:,} EUR "
                             f"(got {self.low:,} to {self.high:,})")
        if self.points not in PRICE_POINTS or self.runs not in PRICE_RUNS:
            raise ValueError(f"Fees tried: one of {PRICE_POINTS}; runs per fee: one of {PRICE_RUNS}")
        if not 0 <= self.min_survival <= 100:
            raise ValueError(f"Survival at least: 0 to 100 %, not {self.min_survival}")
        return self

    @property
    def fees(self) -> list[int]:
        """Evenly spaced annual fees from low to high, rounded to 10 EUR."""
        return sorted({int(round(fee, -1)) for fee in np.linspace(self.low, self.high, self.points)})


PRICE_LABELS = {"low": "From", "high": "To", "points": "Fees tried", "runs": "Runs per fee",
                "min_survival": "Survival at least"}


def pricing_spec(start_path: Path, start: str, overrides: Mapping[str, Any], seed: int,
                 prices: PriceRange) -> dict:
    """The sweep the pricing view runs: your settings at every fee of the range, common random numbers."""
    policy = {key: _plain(value) for key, value in overrides.items() if key != "club.fees.annual"}
    return {
        "name": f"price_curve_{start}",
        "description": f"Your settings on {start} at annual fees from {prices.low} to {prices.high} EUR.",
        "scenario": str(Path(start_path).resolve()),
        "policies": {YOURS: policy},
        "metrics": list(PRICE_METRICS),
        "runs": prices.runs,
        "seed": int(seed),
        "sweep": {"design": "grid", "parameters": {"club.fees.annual": {"values": prices.fees}}},
    }


def run_pricing(spec: Mapping[str, Any], progress: Any = None) -> SweepResult:
    """Replicate every fee of `spec` in this process."""
    from sim.experiments.experiment import load_experiment, sweep

    with tempfile.TemporaryDirectory(prefix="clubsim-app-") as folder:
        path = Path(folder) / f"{spec['name']}.yaml"
        path.write_text(yaml.safe_dump(dict(spec), sort_keys=False), encoding="utf-8")
        experiment = load_experiment(path)
    return sweep(experiment, spec["runs"], backend="local", workers=1, figures=False, progress=progress)


def price_curve(result: SweepResult) -> pd.DataFrame:
    """Per annual fee: mean and 95 % CI of fee income per year, members at the end, churn and survival.

    Fee income is the club's over the run divided by its years; churn is exits per member-year; both
    and survival are over every run, closed clubs included (a closed club earns nothing after it closes).
    """
    years = next(iter(result.experiment.configs.values())).years  # every fee shares the horizon
    table = result.table[result.table["metric"].isin(PRICE_METRICS)]
    curve = table.pivot_table(index="club.fees.annual", columns="metric", values=["mean", "ci_low", "ci_high"])
    curve.columns = [f"{metric}_{stat}" for stat, metric in curve.columns]
    for stat in ("mean", "ci_low", "ci_high"):
        curve[f"fee_income_per_year_{stat}"] = curve[f"fee_income_total_{stat}"] / years
    curve.index.name = "annual_fee"
    return curve.sort_index()


def best_fee(curve: pd.DataFrame, min_survival: float) -> float | None:
    """The annual fee with the highest mean fee income among those whose clubs survive at least
    `min_survival` (a share, 0..1) of the runs; None when no fee of the curve keeps survival there."""
    kept = curve[curve["survived_mean"] >= min_survival - 1e-12]
    return None if kept.empty else float(kept["fee_income_per_year_mean"].idxmax())


def pricing_figure(curve: pd.DataFrame, best: float | None, min_survival: float) -> Figure:
    """Four small multiples against the annual fee: mean (line) and 95 % CI (band) over the runs."""
    fig = _figure(9.6, 5.8, {"left": 0.09, "right": 0.98, "top": 0.93, "bottom": 0.13, "hspace": 0.45,
                             "wspace": 0.25})
    panels = (("fee_income_per_year", "fee income, EUR per year", 1.0),
              ("members_final", "members at the horizon", 1.0),
              ("churn_rate_annual", "churn, % of members per year", 100.0),
              ("survived", "clubs still open, % of runs", 100.0))
    fees = curve.index.to_numpy(float)
    for ax, (key, label, scale) in zip(fig.subplots(2, 2, sharex=True).flat, panels, strict=True):
        ax.fill_between(fees, curve[f"{key}_ci_low"] * scale, curve[f"{key}_ci_high"] * scale, color="#1f77b4",
                        alpha=0.2, linewidth=0)
        ax.plot(fees, curve[f"{key}_mean"] * scale, marker="o", markersize=3, color="#1f77b4")
        ax.set_title(label, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_formatter(lambda value, _pos: f"{value:,.0f}")
        ax.yaxis.set_major_formatter(lambda value, _pos: f"{value:,.0f}")
        if best is not None:
            ax.axvline(best, color="#2ca02c", linestyle="--", linewidth=1)
        if key == "survived":
            ax.axhline(100 * min_survival, color="#d62728", linestyle=":", linewidth=1)
            ax.set_ylim(-2, 102)
        if ax.get_subplotspec().is_last_row():
            ax.set_xlabel("annual fee, EUR")
    fig.text(0.5, 0.005, "Line: mean over the runs of each fee (the same seeds at every fee); band: 95 % CI; dashed "
                         "green: the fee that earns most with enough clubs open; dotted red: the survival asked.",
             ha="center", va="bottom", fontsize=7.5, color="0.3")
    return fig


def pricing_caption(curve: pd.DataFrame, best: float | None, min_survival: float, runs: int) -> str:
    base = (f"Line: mean over {runs} runs per fee; band: 95 % confidence interval. Dotted red: the survival you "
            f"ask for ({min_survival:.0%}).")
    if best is None:
        return f"No fee tried keeps {min_survival:.0%} of clubs open: lower the fees or the survival asked. " + base
    row = curve.loc[best]
    return (f"Dashed green: {best:,.0f} EUR a year earns the most fee income while at least {min_survival:.0%} "
            f"of clubs stay open: {row['fee_income_per_year_mean']:,.0f} EUR a year "
            f"[{row['fee_income_per_year_ci_low']:,.0f}; {row['fee_income_per_year_ci_high']:,.0f}], "
            f"{row['members_final_mean']:.0f} members at the horizon, {row['survived_mean']:.0%} of clubs open. "
            + base)


# --------------------------------------------------------------------------- page state (one per browser tab)

def _first_scenario() -> str:
    """Where a new page starts: the first file given to `clubsim app`, else the BNI chapter."""
    given = [p for p in os.environ.get(SCENARIOS_ENV, "").split(os.pathsep) if p]
    scenarios = available_scenarios()
    if given:
        return Path(given[0]).stem
    return DEFAULT_START if DEFAULT_START in scenarios else next(iter(scenarios))


# module-level reactive variables are per browser tab (Solara scopes them to the tab's kernel)
start_name = solara.reactive(_first_scenario())
settings_state = solara.reactive(Settings.of(starting_config(available_scenarios()[start_name.value])))
compare_runs = solara.reactive(50)
price_range = solara.reactive(PriceRange())


def _settings() -> Settings:
    return settings_state.value


refused_control = solara.reactive(cast(str | None, None))  # the last control value the server refused, and why
refused_price = solara.reactive(cast(str | None, None))


def _update(**changes: Any) -> None:
    """Apply a control's new value, if the server allows it (else keep the settings, say why)."""
    try:
        settings_state.value = dataclasses.replace(settings_state.value, **changes).checked()
    except (TypeError, ValueError) as err:
        refused_control.value = str(err)
    else:
        refused_control.value = None


def set_compare_runs(runs: Any) -> None:
    """Runs per policy of the Compare panel: only the offered counts (each one's cost is known)."""
    if type(runs) is int and runs in COMPARE_RUNS:
        compare_runs.value = runs
    else:
        refused_control.value = f"Runs per policy: one of {', '.join(map(str, COMPARE_RUNS))}, not {runs!r}"


def set_meetings(frequency: Any) -> None:
    if frequency in MEETINGS:
        _update(meetings_per_year=MEETINGS[frequency])
    else:
        refused_control.value = f"Meetings: one of {', '.join(MEETINGS)}, not {frequency!r}"


def _rounded(value: Any, digits: int = 2) -> Any:
    return round(value, digits) if isinstance(value, float) else value


def start_run() -> None:
    """Run pressed: check the settings again on the server (a disabled button can still be sent a click)."""
    path, overrides, problem = _resolve()
    if problem is None and not live_run.pending:
        live_run(start_name.value, str(path), overrides, _settings())


def start_comparison() -> None:
    """Compare pressed: the same checks, and a run count the panel offers."""
    path, overrides, problem = _resolve()
    runs = compare_runs.value
    if problem is None and runs in COMPARE_RUNS and not comparison_task.pending:
        settings = _settings()
        comparison_task(comparison_spec(path, start_name.value, overrides, settings.seed, runs), settings)


def redraw_weeks(weeks: int) -> int:
    """Weeks between two redraws of a live run: whole quarters, at most MAX_REDRAWS redraws."""
    return QUARTER * max(1, math.ceil(weeks / QUARTER / MAX_REDRAWS))


@solara.lab.task(prefer_threaded=True)
def live_run(start: str, path: str, overrides: dict[str, Any], settings: Settings):
    """Build the club and step it week by week (Mesa steps), yielding a snapshot every few quarters."""
    from sim.model.club import ClubModel

    model = ClubModel(path, rng=settings.seed, agent_reporters=False, **overrides)
    every = redraw_weeks(model.scenario.config.weeks)
    positions: dict[int, tuple[float, float]] = {}
    while True:
        began = time.monotonic()
        snapshot = take_snapshot(model, settings, start, positions)
        positions = snapshot.positions
        yield snapshot
        if snapshot.finished or not live_run.is_current():
            return
        for _ in range(every):
            model.step()
        time.sleep(max(0.0, SECONDS_PER_REDRAW - (time.monotonic() - began)))


@solara.lab.task(prefer_threaded=True)
def pricing_task(spec: dict[str, Any], settings: Settings, prices: PriceRange):
    def progress(done: int, total: int) -> None:
        pricing_task.progress = 100.0 * done / max(total, 1)

    return settings, prices, run_pricing(spec, progress)


def set_price_range(**changes: Any) -> None:
    """A pricing control's new value, if the server allows it (else the range stays, and says why)."""
    try:
        price_range.value = dataclasses.replace(price_range.value, **changes).checked()
    except (TypeError, ValueError) as err:
        refused_price.value = str(err)
    else:
        refused_price.value = None


def start_pricing() -> None:
    """Price pressed: the settings and the range checked again on the server."""
    path, overrides, problem = _resolve()
    if problem is None and refused_price.value is None and not pricing_task.pending:
        prices, settings = price_range.value.checked(), _settings()
        pricing_task(pricing_spec(path, start_name.value, overrides, settings.seed, prices), settings, prices)


@solara.lab.task(prefer_threaded=True)
def comparison_task(spec: dict[str, Any], settings: Settings):
    def progress(done: int, total: int) -> None:
        comparison_task.progress = 100.0 * done / max(total, 1)

    return settings, run_comparison(spec, progress)


# --------------------------------------------------------------------------- components

CSS = """
.kpis { display: flex; flex-wrap: wrap; gap: 8px; margin: 4px 0 12px 0; }
.kpi { border: 1px solid #ddd; border-radius: 6px; padding: 6px 12px; min-width: 150px; background: #fafbfc; }
.kpi-value { font-size: 1.35em; font-weight: 600; } .kpi-label { color: #555; font-size: 0.85em; }
.members-scroll { max-height: 420px; overflow-y: auto; }
table.members, table.comparison { border-collapse: collapse; font-size: 0.85em; }
table.members th, table.members td, table.comparison th, table.comparison td {
  border: 1px solid #ddd; padding: 2px 6px; text-align: right; white-space: nowrap; }
table.members th { position: sticky; top: 0; background: #f3f5f7; }
table.comparison th { background: #f3f5f7; }
table.comparison tr.diff td { background: #fafafa; } table.comparison td.significant { font-weight: bold; }
table.comparison .ci { display: block; font-size: 0.85em; color: #666; }
table.comparison th { white-space: normal; max-width: 9em; }
table.members td:nth-child(2), table.comparison td:first-child { text-align: left; }
.clubsim-figure { max-width: 100%; height: auto; }
.clubsim-heading { font-weight: 600; margin: 14px 0 2px 0; display: block; }
.clubsim-settings { display: block; color: #444; font-size: 0.85em; margin-bottom: 8px; }
.clubsim-caption { color: #555; font-size: 0.85em; margin-top: -4px; }
table.pricing tr.best td { background: #eaf6ea; font-weight: 600; }
table.pricing .ci { color: #666; font-size: 0.85em; }
"""


def _slider_bounds(value: float, low: float, high: float) -> tuple[float, float]:
    return min(low, value), max(high, value)


@solara.component
def Controls(refused: str | None = None, problem: str | None = None) -> None:
    """The policies a founder sets; `refused` names the control whose value `problem` explains."""
    scenarios = available_scenarios()
    s = _settings()

    def at(name: str) -> None:  # a refused value is explained under its own control
        if refused == name and problem:
            solara.Error(problem, dense=True, classes=["clubsim-field-problem", f"clubsim-problem-{name}"])

    def choose_start(name: str | None) -> None:
        if name and name in scenarios:
            start_name.value = name
            settings_state.value = Settings.of(starting_config(scenarios[name]), seed=s.seed)
            refused_control.value = None

    solara.Select("Starting scenario", values=list(scenarios), value=start_name.value, on_value=choose_start)
    Heading("Fees")
    solara.InputInt("Annual fee (EUR per year)", value=s.annual_fee, on_value=lambda v: _update(annual_fee=v),
                    classes=["clubsim-annual-fee"])
    at("annual_fee")
    solara.Select("Billing", values=["annual", "monthly"], value=s.billing, on_value=lambda v: _update(billing=v))
    solara.Text("annual: the whole fee on each anniversary of joining, a member decides yearly whether to stay; "
                "monthly: a twelfth every month, decided monthly", style={"color": "#666", "font-size": "0.85em"})
    solara.InputInt("Entry fee (EUR, once)", value=s.entry_fee, on_value=lambda v: _update(entry_fee=v))
    at("entry_fee")
    Heading("Who may join")
    solara.Select("Composition", values=list(COMPOSITION_HELP), value=s.composition,
                  on_value=lambda v: _update(composition=v))
    solara.Text(COMPOSITION_HELP.get(s.composition, ""), style={"color": "#666", "font-size": "0.85em"})
    solara.Select("Selection of candidates", values=["interview", "none"], value=s.selection,
                  on_value=lambda v: _update(selection=v))
    if s.selection == "interview":
        solara.SliderFloat(f"Interview catches hunters: {s.accuracy:.0%}", value=s.accuracy, min=0.0,
                           max=1.0, step=0.05, on_value=lambda v: _update(accuracy=_rounded(v)))
    low, high = _slider_bounds(s.hunter_share, 0.0, 0.6)
    solara.SliderFloat(f"Hunters among candidates: {s.hunter_share:.0%}", value=s.hunter_share, min=low, max=high,
                       step=0.01, on_value=lambda v: _update(hunter_share=_rounded(v)))
    at("hunter_share")
    Heading("Rules")
    solara.Switch(label="Attendance rule", value=s.attendance_rule, on_value=lambda v: _update(attendance_rule=v))
    if s.attendance_rule:
        low, high = _slider_bounds(s.max_absences, 0, 10)
        solara.SliderInt(f"Absences allowed: {s.max_absences}", value=s.max_absences, min=low, max=high,
                         on_value=lambda v: _update(max_absences=v))
        low, high = _slider_bounds(s.absence_window, 4, 52)
        solara.SliderInt(f"... in any {s.absence_window} weeks", value=s.absence_window, min=low, max=high,
                         on_value=lambda v: _update(absence_window=v))
    solara.Switch(label="Contribution rule", value=s.contribution_rule,
                  on_value=lambda v: _update(contribution_rule=v))
    if s.contribution_rule:
        low, high = _slider_bounds(s.min_referrals, 1, 10)
        solara.SliderInt(f"Referrals required: {s.min_referrals}", value=s.min_referrals, min=low, max=high,
                         on_value=lambda v: _update(min_referrals=v))
        low, high = _slider_bounds(s.contribution_window, 4, 52)
        solara.SliderInt(f"... in any {s.contribution_window} weeks", value=s.contribution_window, min=low,
                         max=high, on_value=lambda v: _update(contribution_window=v))
    Heading("Meetings and horizon")
    frequency = next((k for k, v in MEETINGS.items() if v == s.meetings_per_year), "weekly")
    solara.ToggleButtonsSingle(value=frequency, values=list(MEETINGS),
                               on_value=set_meetings)
    low, high = _slider_bounds(s.years, 1, 20)
    solara.SliderInt(f"Years: {s.years}", value=s.years, min=low, max=high, on_value=lambda v: _update(years=v))
    at("years")
    solara.InputInt("Seed (another draw of luck)", value=s.seed, on_value=lambda v: _update(seed=v))
    at("seed")
    solara.Button("Back to the starting scenario", text=True,
                  on_click=lambda: choose_start(start_name.value))


def _resolve() -> tuple[Path, dict[str, Any], str | None]:
    """The starting file, the overrides of the current settings, and what is wrong with them (or None)."""
    path, overrides, problem, _control = _resolve_controls()
    return path, overrides, problem


def _resolve_controls() -> tuple[Path, dict[str, Any], str | None, str | None]:
    """`_resolve`, and the control (a Settings field) whose value the problem is about, if one is."""
    path = available_scenarios()[start_name.value]
    if refused_control.value:
        control = next((name for name, label in CONTROL_LABELS.items()
                        if refused_control.value.startswith(f"{label}:")), None)
        return path, {}, refused_control.value, control
    settings = _settings()
    overrides = settings.overrides(starting_config(path))
    try:
        load_config(path, overrides)
    except InputError as err:
        key = str(err.field or "")
        control = "hunter_share" if key.startswith("population.shares") else CONTROL_KEYS.get(key)
        if control is None:
            return path, overrides, f"These settings are not allowed: {key} {err.message}".strip(), None
        return path, overrides, f"{CONTROL_LABELS[control]}: {_allowed(key, err.message)}, " \
                                f"not {getattr(settings, control)!r}", control
    return path, overrides, None, None


def _allowed(key: str, message: str) -> str:
    """What the schema allows for a scenario key, in words ("0 to 100,000"), from its field's description."""
    from pydantic import BaseModel

    model: Any = ScenarioConfig
    info = None
    for part in key.split("."):
        info = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if info is None:
            return message
        model = info.annotation
    found = re.search(r"\((-?[\d.]+)\.\.(-?[\d.]+)\)\s*$", (info.description or "") if info else "")
    if not found:
        return message
    low, high = (float(v) for v in found.groups())
    return f"must be from {low:,.10g} to {high:,.10g}"


@solara.component
def FigureImage(fig_bytes: bytes, name: str, caption: str) -> None:
    solara.Image(fig_bytes, format="png", classes=["clubsim-figure", f"clubsim-figure-{name}"])
    solara.Text(caption, classes=["clubsim-caption"])


@solara.component
def RunView() -> None:
    snapshot: Snapshot | None = live_run.latest
    if snapshot is not None and (snapshot.settings != _settings() or snapshot.start != start_name.value):
        solara.Warning("The controls changed since this run: press Run to see your new settings.")
    if live_run.error:
        solara.Error(f"The run failed: {live_run.exception}")
    if snapshot is None:
        if live_run.pending:
            solara.Info("Building the club...")
        else:
            solara.Info("Set the club's policies on the left, then press Run: the club is simulated week by week "
                        "and these figures follow it. Compare (below) repeats your settings and the starting "
                        "scenario many times to tell a real difference from luck.")
        return
    RunDetails(snapshot, "running" if live_run.pending else ("finished" if snapshot.finished else "stopped"))


@solara.component
def RunDetails(snapshot: Snapshot, state: str) -> None:
    year = snapshot.week / WEEKS_PER_YEAR
    closed = closure_week(snapshot.series)
    if closed is not None:
        state_text = f"{state}; the club closed in week {closed} (year {closed // WEEKS_PER_YEAR + 1}), " \
                     "too few members were left"
    else:
        state_text = state
    solara.Text(snapshot.title, classes=["clubsim-heading"])
    solara.HTML(tag="div", classes=["clubsim-status"],
                unsafe_innerHTML=f'<span data-week="{snapshot.week}" data-state="{state}" '
                                 f'data-settings="{escape(describe(snapshot.settings))}">Week {snapshot.week} of '
                                 f"{snapshot.weeks} (year {year:.1f}): {escape(state_text)}</span>")
    solara.ProgressLinear(100.0 * snapshot.week / max(snapshot.weeks, 1) if state == "running" else False)
    solara.HTML(tag="div", unsafe_innerHTML=kpis_html(snapshot))
    caption = f"{snapshot.start}, annual fee {snapshot.settings.annual_fee:,} EUR, seed {snapshot.settings.seed}, " \
              f"week {snapshot.week}"
    figures = solara.use_memo(
        lambda: (png(members_figure(snapshot)), png(business_figure(snapshot)), png(network_figure(snapshot))),
        [snapshot.week, snapshot.title, id(snapshot)],
    )
    with solara.Columns([1, 1]):
        with solara.Card("Members by type"):
            FigureImage(figures[0], "members", caption)
        with solara.Card("Business exchanged"):
            FigureImage(figures[1], "business", caption)
    with solara.Columns([1, 1]):
        with solara.Card("Network of ties", subtitle="strong ties drawn thicker; dot size: business received"):
            FigureImage(figures[2], "network", caption)
        with solara.Card(f"Members now ({len(snapshot.current)})"):
            solara.HTML(tag="div", classes=["clubsim-members"], unsafe_innerHTML=members_table_html(snapshot))


@solara.component
def ComparePanel(path: Path, overrides: dict[str, Any], problem: str | None) -> None:
    settings = _settings()
    start = start_name.value
    runs = compare_runs.value
    with solara.Card("Compare with the starting scenario",
                     subtitle=f"your settings and {start}, {runs} runs each with the same seeds (common random "
                              "numbers): the paired difference shows what your settings change"):
        with solara.Row():
            solara.Select("Runs per policy", values=list(COMPARE_RUNS), value=runs, on_value=set_compare_runs)
            solara.Button(f"Compare ({runs} runs each)", color="primary", classes=["clubsim-compare"],
                          disabled=problem is not None or comparison_task.pending,
                          on_click=start_comparison)
        if comparison_task.pending:
            solara.ProgressLinear(comparison_task.progress or True)
        if comparison_task.error:
            solara.Error(f"The comparison failed: {comparison_task.exception}")
        result = comparison_task.latest
        if result is None:
            return
        compared, comparison = result
        if not comparison.experiment.spec.get("policies", {}).get(YOURS):
            solara.Info("Your settings are the starting scenario's, so every difference is 0: change a policy "
                        "on the left and compare again.")
        from sim.presentation.report import comparison_html

        experiment = comparison.experiment
        if compared != settings or experiment.baseline != start:
            solara.Warning("The settings changed since this comparison: press Compare again to update it.")
        labels = {YOURS: "your settings"}
        solara.HTML(tag="div", classes=["clubsim-comparison"], unsafe_innerHTML=comparison_html(
            comparison.table, experiment.metrics, experiment.policy_names, experiment.baseline, labels))
        solara.Text(f"{comparison.runs} replications per policy. Each cell: mean [95 % CI]. Δ: your settings minus "
                    f"{experiment.baseline}, paired run by run [95 % CI]; bold with * when the CI excludes 0.",
                    classes=["clubsim-caption"])
        with solara.Details("The experiment file (run it with clubsim compare FILE --runs 500)"):
            solara.Preformatted(yaml.safe_dump(experiment.spec, sort_keys=False))


@solara.component
def PricingPanel(path: Path, overrides: dict[str, Any], problem: str | None) -> None:
    prices = price_range.value
    settings = _settings()
    with solara.Card("Price the club",
                     subtitle="your settings at a range of annual fees, the same seeds at every fee: fee income, "
                              "members, churn and survival against the fee, and the fee that earns the most while "
                              "enough clubs stay open"):
        with solara.Row():
            solara.InputInt("From (EUR per year)", value=prices.low, on_value=lambda v: set_price_range(low=v),
                            classes=["clubsim-price-low"])
            solara.InputInt("To (EUR per year)", value=prices.high, on_value=lambda v: set_price_range(high=v),
                            classes=["clubsim-price-high"])
            solara.Select("Fees tried", values=list(PRICE_POINTS), value=prices.points,
                          on_value=lambda v: set_price_range(points=v))
            solara.Select("Runs per fee", values=list(PRICE_RUNS), value=prices.runs,
                          on_value=lambda v: set_price_range(runs=v))
        solara.SliderInt(f"Keep at least {prices.min_survival} % of clubs open", value=prices.min_survival, min=50,
                         max=100, step=5, on_value=lambda v: set_price_range(min_survival=v))
        if refused_price.value:
            solara.Error(refused_price.value, dense=True, classes=["clubsim-price-problem"])
        fees = ", ".join(f"{fee:,}" for fee in prices.fees)
        solara.Button(f"Price it ({len(prices.fees)} fees × {prices.runs} runs)", color="primary",
                      classes=["clubsim-price"], on_click=start_pricing,
                      disabled=problem is not None or refused_price.value is not None or pricing_task.pending)
        solara.Text(f"Annual fees tried: {fees} EUR", classes=["clubsim-caption"])
        if pricing_task.pending:
            solara.ProgressLinear(pricing_task.progress or True)
        if pricing_task.error:
            solara.Error(f"The price curve failed: {pricing_task.exception}")
        latest = pricing_task.latest
        shown = solara.use_memo(lambda: _priced(latest), [id(latest)])  # a hook: before any early return
        if latest is None or shown is None:
            return
        priced_settings, priced, result = latest
        curve, best, image = shown
        if priced_settings != settings or priced != prices:
            solara.Warning("The settings or the fees changed since this price curve: press Price it again.")
        solara.HTML(tag="div", classes=["clubsim-pricing"], unsafe_innerHTML=pricing_html(curve, best))
        FigureImage(image, "pricing", pricing_caption(curve, best, priced.min_survival / 100, result.runs))


def _priced(latest: tuple[Settings, PriceRange, SweepResult] | None) -> tuple[pd.DataFrame, float | None, bytes] | None:
    """The price curve of a finished pricing task, its best fee and its figure."""
    if latest is None:
        return None
    _settings_priced, priced, result = latest
    curve = price_curve(result)
    best = best_fee(curve, priced.min_survival / 100)
    return curve, best, png(pricing_figure(curve, best, priced.min_survival / 100))


def pricing_html(curve: pd.DataFrame, best: float | None) -> str:
    """The price curve as a table: one row per fee, mean [95 % CI]; the recommended fee's row marked."""
    def cell(key: str, scale: float = 1.0, digits: int = 0, unit: str = "") -> Any:
        return lambda row: (f"{row[key + '_mean'] * scale:,.{digits}f}{unit} <span class=ci>"
                            f"[{row[key + '_ci_low'] * scale:,.{digits}f}; {row[key + '_ci_high'] * scale:,.{digits}f}]"
                            "</span>")

    columns = {"fee income (EUR per year)": cell("fee_income_per_year"),
               "members at the horizon": cell("members_final"),
               "churn (% per year)": cell("churn_rate_annual", 100.0),
               "clubs open (% of runs)": cell("survived", 100.0)}
    head = "".join(f"<th>{escape(name)}</th>" for name in ["annual fee (EUR)", *columns])
    rows = []
    for fee, row in curve.iterrows():
        marked = ' class="best" data-best="true"' if best is not None and fee == best else ""
        cells = "".join(f"<td>{format(row)}</td>" for format in columns.values())
        rows.append(f'<tr data-fee="{fee:.0f}"{marked}><td>{fee:,.0f}</td>{cells}</tr>')
    return f'<table class="comparison pricing"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


@solara.component
def RunButtons(path: Path, overrides: dict[str, Any], problem: str | None, settings: Settings,
               refused: str | None = None) -> None:
    # its own component: it re-renders with every snapshot of the run, the controls do not
    solara.Text(f"{start_name.value}: {describe(settings)}", classes=["clubsim-settings"])
    if problem:
        text = f"Run and Compare wait for allowed settings: see {CONTROL_LABELS[refused]} below." if refused \
            else problem
        solara.Error(text, dense=True, classes=["clubsim-problem"])
    with solara.Row():
        solara.Button("Run", color="primary", classes=["clubsim-run"],
                      disabled=problem is not None or live_run.pending,
                      on_click=start_run)
        solara.Button("Stop", disabled=not live_run.pending, on_click=live_run.cancel)


@solara.component
def Heading(text: str) -> None:
    solara.Text(text, classes=["clubsim-heading"])


@solara.component
def Page() -> None:
    solara.Style(CSS)
    solara.Title(TITLE)
    path, overrides, problem, refused = _resolve_controls()
    settings = _settings()
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    with solara.Sidebar():
        with solara.Card():  # first, so Run is in view whatever the window's height
            RunButtons(path, overrides, problem, settings, refused)
        with solara.Card("Your club"):
            Controls(refused, problem)
    RunView()
    ComparePanel(path, overrides, problem)
    PricingPanel(path, overrides, problem)


# --------------------------------------------------------------------------- the server


def _check_port(host: str, port: int) -> None:
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as err:
        raise InputError("--port", None, f"cannot listen on {host}:{port} ({err.strerror or err}); "
                                         f"choose another port, e.g. --port {port + 1}") from None


def serve(scenarios: Sequence[Path], *, host: str, port: int, open_browser: bool,
          allow_hosts: Sequence[str] = ()) -> None:
    """Replace this process with the page's Solara server on host:port (Ctrl-C stops it).

    Scenario files are validated first, so a bad one fails with one line before the server starts.
    The server answers only requests for host:port (and the loopback names, for a loopback host;
    `allow_hosts` adds names, e.g. the machine's name behind --host 0.0.0.0): see sim.interfaces.app_server.
    """
    for path in scenarios:
        config = load_config(path).config
        if config.is_region:  # the page starts from the first file given: a region there failed its start-up
            raise InputError(path, "region", f"a region of {config.region.club_count} clubs: the page simulates "
                                             "one club (run a region with clubsim run)")
    for name in allow_hosts:
        if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]", name):
            raise InputError("--allow-host", name, "must be a host name or address as a browser sends it "
                                                   "(club.example, 192.0.2.7, [2001:db8::7]), without a port")
    if not host.strip():  # an empty shell variable: the server would listen on every interface
        raise InputError("--host", repr(host), "empty: give the address to listen on, 127.0.0.1 for this computer "
                                               "only (0.0.0.0 for every interface, if that is what you want)")
    if not 0 < port < 65536:
        raise InputError("--port", None, f"must be between 1 and 65535, got {port}")
    _check_port(host, port)
    env = dict(os.environ)
    env[SCENARIOS_ENV] = os.pathsep.join(str(Path(p).resolve()) for p in scenarios)
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "false")  # no calls home from a founder's machine
    env["SOLARA_THEME_TITLE"] = TITLE  # the tab's title before the page's own Title arrives
    env[HOSTS_ENV] = ",".join(sorted(allowed_hosts(host, port, allow_hosts)))
    argv = [sys.executable, "-m", "sim.interfaces.app_server", "run", str(Path(__file__).resolve()), "--host", host,
            "--port", str(port), "--production", "--open" if open_browser else "--no-open",
            "--log-level", "warning", "--no-access-log"]
    print(f"clubsim app: http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
    os.execve(sys.executable, argv, env)


__all__ = ["Page", "Settings", "Snapshot", "available_scenarios", "comparison_spec", "describe", "kpis",
           "run_comparison", "serve", "take_snapshot"]
