"""Figures of one run: members, business, ROI by type, tenure survival.

Figures are drawn on `matplotlib.figure.Figure` objects rendered by the Agg
canvas, never through `pyplot`: no global figure state, no GUI backend, and
matplotlib is imported only when a figure is drawn, so `import sim` stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.model.metric_registry import EXIT_LABELS, header, metric
from sim.model.metrics import ACTIVE, EXIT_REASONS, MEMBER_TYPES, kaplan_meier

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 110
WEEKS_PER_YEAR = 52
FIGURE_FILES = ("members.png", "business.png", "roi_by_type.png", "tenure_survival.png")
CLUBS_FIGURE = "clubs.png"  # a region's per-club panel
CLUB_LINES = 20  # up to this many clubs get a line each; more are drawn as a band of quantiles

TYPE_COLOURS = {"giver": "#2ca02c", "reciprocator": "#1f77b4", "hunter": "#d62728"}
EXIT_COLOURS = {
    "left": "#ff7f0e",
    "expelled_absence": "#9467bd",
    "expelled_contribution": "#8c564b",
    "exogenous": "#7f7f7f",
    "dissolved": "#000000",
}
JOIN_COLOUR = "#17becf"


# --------------------------------------------------------------------------- axes in the registry's units


def axis_formatter(name: str, namespace: str = "metric") -> Any:
    """A matplotlib tick formatter that shows stored values in the display unit as the tables do (x 100 for
    percentages: 0.38 -> 38; thousands grouped for money: 64,000); None when the default will do."""
    entry = metric(name, namespace)
    if entry.scale == 1.0 and entry.kind != "money":
        return None
    from matplotlib.ticker import FuncFormatter

    def show(value: float, _pos: Any = None) -> str:
        return f"{value * entry.scale:,.{_tick_places(value * entry.scale)}f}"

    return FuncFormatter(show)


def _tick_places(value: float) -> int:
    return 0 if abs(value - round(value)) < 1e-9 else (1 if abs(value * 10 - round(value * 10)) < 1e-6 else 2)


def style_axis(axis: Any, name: str, namespace: str = "metric", label: bool = True) -> None:
    """Label a matplotlib axis (ax.yaxis, ax.xaxis) with the metric's header and show its ticks in the
    display unit."""
    if label:
        axis.set_label_text(header(name, namespace))
    formatter = axis_formatter(name, namespace)
    if formatter is not None:
        axis.set_major_formatter(formatter)


# --------------------------------------------------------------------------- helpers


def _figure(width: float = 8.0, height: float = 4.5) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 3})
    return path


def _title(fig: Figure, what: str, title: str) -> None:
    fig.suptitle(f"{title} — {what}" if title else what, fontsize=12)


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _eur(value: float, _pos: Any = None) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.1f} M"
    return f"{value:,.0f}"


def _column(frame: pd.DataFrame, name: str, default: float = 0.0) -> np.ndarray:
    if name in frame.columns:
        return pd.to_numeric(frame[name], errors="coerce").fillna(default).to_numpy(float)
    return np.full(len(frame), default, float)


def _period(weeks: int) -> tuple[float, str]:
    """Weeks per bar and its name: months for runs up to 20 years, else years."""
    if weeks <= 20 * WEEKS_PER_YEAR:
        return WEEKS_PER_YEAR / 12, "month"
    return float(WEEKS_PER_YEAR), "year"


def _bin(week: np.ndarray, values: np.ndarray, per: float) -> tuple[np.ndarray, np.ndarray]:
    """Sum weekly values per period; returns (period start in years, sums)."""
    index = np.floor(week / per + 1e-9).astype(np.int64)
    n = int(index.max()) + 1 if len(index) else 0
    sums = np.bincount(index, weights=values, minlength=n) if n else np.zeros(0)
    starts = np.arange(n) * per / WEEKS_PER_YEAR
    return starts, sums


def _edges(starts: np.ndarray, per: float) -> np.ndarray:
    return np.append(starts, starts[-1] + per / WEEKS_PER_YEAR) if len(starts) else np.zeros(1)


def _closure_week(series: pd.DataFrame) -> float | None:
    dissolved = _column(series, "exits_dissolved")
    hit = np.flatnonzero(dissolved > 0)
    if len(hit) == 0:
        return None
    return float(_column(series, "week")[hit[0]])


def _mark_closure(ax: Axes, series: pd.DataFrame, label: bool = True) -> None:
    week = _closure_week(series)
    if week is not None:
        ax.axvline(week / WEEKS_PER_YEAR, color="black", linestyle=":", linewidth=1.2,
                   label="club closed" if label else None)


def _members_ok(members: pd.DataFrame, *columns: str) -> bool:
    return len(members) > 0 and all(c in members.columns for c in columns)


# --------------------------------------------------------------------------- figures


def plot_members(series: pd.DataFrame, members: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Members over time (top) and joins / exits by reason per month (bottom)."""
    fig = _figure(8.0, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    _title(fig, "members", title)
    if len(series) == 0:
        _empty(top, "no weeks simulated")
        _empty(bottom, "")
        return _save(fig, path)

    week = _column(series, "week")
    years = week / WEEKS_PER_YEAR
    top.step(years, _column(series, "members"), where="post", color="#1f77b4", linewidth=1.6, label="members")
    _mark_closure(top, series)
    top.set_ylabel(header("members", "series"))
    top.set_ylim(bottom=0)
    top.grid(alpha=0.3)

    per, name = _period(len(series))
    joins = _column(series, "joins").copy()
    founders = 0
    if _members_ok(members, "founder"):
        founders = int(members["founder"].astype(bool).sum())
        joins[week == 0] = np.maximum(joins[week == 0] - founders, 0)
    starts, join_sums = _bin(week, joins, per)
    edges = _edges(starts, per)
    join_label = f"joins (excl. {founders} founders)" if founders else "joins"
    bottom.stairs(join_sums, edges, fill=True, color=JOIN_COLOUR, label=join_label)
    base = np.zeros_like(join_sums)
    for reason in EXIT_REASONS:
        _, sums = _bin(week, _column(series, f"exits_{reason}"), per)
        if sums.sum() <= 0:
            continue
        bottom.stairs(base - sums, edges, baseline=base, fill=True, color=EXIT_COLOURS[reason],
                      label=f"exit: {EXIT_LABELS[reason]}")
        base = base - sums
    bottom.axhline(0, color="0.3", linewidth=0.8)
    _mark_closure(bottom, series, label=False)
    bottom.set_ylabel(f"joins (+) / exits (−)\nper {name}")
    bottom.set_xlabel(header("time", "quantity"))
    bottom.set_xlim(0, max(years.max() + 1 / WEEKS_PER_YEAR, edges[-1]))
    bottom.grid(alpha=0.3, axis="y")
    handles, labels = top.get_legend_handles_labels()
    more = bottom.get_legend_handles_labels()
    fig.legend(handles + more[0], labels + more[1], loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    return _save(fig, path)


def plot_business(series: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Referral business (and hunters' direct sales) per month, EUR."""
    from matplotlib.ticker import FuncFormatter

    fig = _figure()
    ax = fig.subplots()
    _title(fig, "business exchanged", title)
    if len(series) == 0:
        _empty(ax, "no weeks simulated")
        return _save(fig, path)

    week = _column(series, "week")
    per, name = _period(len(series))
    starts, business = _bin(week, _column(series, "business"), per)
    _, direct = _bin(week, _column(series, "direct_sales"), per)
    edges = _edges(starts, per)
    ax.stairs(business, edges, fill=True, color="#1f77b4", label="referral business")
    if direct.sum() > 0:
        ax.stairs(business + direct, edges, baseline=business, fill=True, color="#d62728", alpha=0.8,
                  label="hunters' direct sales")
    if name == "month" and len(business) >= 24:
        rolling = np.convolve(business + direct, np.ones(12) / 12, mode="valid")
        ax.plot(edges[12:], rolling, color="black", linewidth=1.3, label="trailing 12-month mean (total)")
    _mark_closure(ax, series)
    ax.yaxis.set_major_formatter(FuncFormatter(_eur))
    ax.set_ylabel(f"EUR per {name}")
    ax.set_xlabel(header("time", "quantity"))
    ax.set_xlim(0, edges[-1])
    top = float((business + direct).max()) if len(business) else 0.0
    ax.set_ylim(0, top * 1.05 if top > 0 else 1.0)
    ax.grid(alpha=0.3, axis="y")
    fig.legend(loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    return _save(fig, path)


def plot_roi_by_type(members: pd.DataFrame, path: Path, title: str = "") -> Path:
    """ROI distribution of every member ever, one box per member type present."""
    fig = _figure()
    ax = fig.subplots()
    _title(fig, "ROI by member type", title)
    groups: list[tuple[str, np.ndarray]] = []
    if _members_ok(members, "member_type", "roi"):
        roi = pd.to_numeric(members["roi"], errors="coerce")
        for member_type in MEMBER_TYPES:
            values = roi[(members["member_type"] == member_type) & np.isfinite(roi)].to_numpy(float)
            if len(values):
                groups.append((member_type, values))
    if not groups:
        _empty(ax, "no members")
        return _save(fig, path)

    positions = np.arange(1, len(groups) + 1)
    boxes = ax.boxplot([v for _, v in groups], positions=positions, widths=0.5, patch_artist=True,
                       showfliers=False, medianprops={"color": "black"})
    rng = np.random.default_rng(0)  # jitter only; fixed so figures are reproducible
    for pos, (member_type, values), patch in zip(positions, groups, boxes["boxes"], strict=True):
        patch.set_facecolor(TYPE_COLOURS[member_type])
        patch.set_alpha(0.35)
        shown = values if len(values) <= 400 else rng.choice(values, 400, replace=False)
        ax.scatter(pos + rng.uniform(-0.15, 0.15, len(shown)), shown, s=7, alpha=0.6,
                   color=TYPE_COLOURS[member_type], linewidths=0)
        ax.scatter([pos], [values.mean()], marker="D", s=28, color="black", zorder=3)
    ax.axhline(0, color="0.3", linestyle="--", linewidth=0.9, label="break-even (ROI = 0)")
    ax.scatter([], [], marker="D", s=28, color="black", label="mean")
    ax.scatter([], [], s=7, color="0.4", label="a member; box: the middle half, whiskers: 1.5 × the box")
    # the axis spans the whiskers and the means, not a few members' outlying ROI (they are counted instead)
    ends = [w.get_ydata() for w in boxes["whiskers"]]
    low = min([0.0, *(float(np.min(e)) for e in ends), *(float(v.mean()) for _, v in groups)])
    high = max([0.0, *(float(np.max(e)) for e in ends), *(float(v.mean()) for _, v in groups)])
    margin = 0.08 * (high - low or 1.0)
    ax.set_ylim(low - margin, high + margin)
    beyond = sum(int(((v < low - margin) | (v > high + margin)).sum()) for _, v in groups)
    if beyond:
        highest = max(float(v.max()) for _, v in groups)
        ax.scatter([], [], s=0, label=f"{beyond} member(s) beyond the axis (highest ROI {100 * highest:,.0f} %)")
    ax.set_xticks(positions, [f"{t}\n(n = {len(v)})" for t, v in groups])
    ax.set_xlim(0.4, len(groups) + 0.6)
    style_axis(ax.yaxis, "roi", "quantity")
    ax.set_xlabel("member type (all members ever)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def plot_tenure_survival(members: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Kaplan-Meier tenure survival by type; active and dissolved members are censored."""
    fig = _figure()
    ax = fig.subplots()
    _title(fig, "tenure survival (Kaplan-Meier)", title)
    if not _members_ok(members, "member_type", "tenure_years", "exit_reason"):
        _empty(ax, "no members")
        return _save(fig, path)

    tenure = pd.to_numeric(members["tenure_years"], errors="coerce").fillna(0.0).to_numpy(float)
    observed = (~members["exit_reason"].isin([ACTIVE, "dissolved"])).to_numpy(bool)
    member_type = members["member_type"].to_numpy()
    curves = [("all members", np.ones(len(members), bool), "black", 2.0)]
    curves += [(t, member_type == t, TYPE_COLOURS[t], 1.5) for t in MEMBER_TYPES if (member_type == t).any()]
    x_max = 0.0
    for label, mask, colour, width in curves:
        x_max = max(x_max, draw_survival_curve(
            ax, tenure[mask], observed[mask], color=colour, linewidth=width,
            label=f"{label} (n = {int(mask.sum())}, exits = {int(observed[mask].sum())})",
        ))
    style_survival_axes(ax, x_max)
    ax.plot([], [], color="0.5", linestyle="--", linewidth=0.8, label="half of the members still in")
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


def draw_survival_curve(ax: Any, tenure: np.ndarray, observed: np.ndarray, **style: Any) -> float:
    """Step plot of the Kaplan-Meier tenure survival; returns the longest tenure drawn."""
    x, y = kaplan_meier(tenure, observed)
    end = float(tenure.max())
    if end > x[-1]:  # carry the last step to the longest (censored) tenure
        x, y = np.append(x, end), np.append(y, y[-1])
    ax.step(x, y, where="post", **style)
    return float(x[-1])


def style_survival_axes(ax: Any, x_max: float) -> None:
    ax.axhline(0.5, color="0.5", linestyle="--", linewidth=0.8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, x_max if x_max > 0 else 1.0)
    ax.set_xlabel(header("tenure", "quantity"))
    style_axis(ax.yaxis, "tenure_survival", "quantity")
    ax.grid(alpha=0.3)


def warm_up() -> None:
    """Import matplotlib's figure and Agg canvas and load the default font (see `sim.presentation.figure_process`)."""
    import io

    fig = _figure(1.0, 1.0)
    fig.text(0.5, 0.5, "clubsim")
    fig.savefig(io.BytesIO(), format="png")


def plot_clubs(clubs: dict[str, Any], path: Path, title: str = "") -> Path:
    """A region's clubs: their members week by week (a line each, or the median and 10-90 % band of
    many), and each club's business per member-year, with the share that came from other clubs."""
    fig = _figure(11.0, 4.5)
    members = np.asarray(clubs["members"], dtype=float)
    names = clubs["names"]
    years = np.arange(members.shape[1]) / WEEKS_PER_YEAR
    size_ax, business_ax = fig.subplots(1, 2, width_ratios=(1.3, 1.0))
    if len(names) <= CLUB_LINES:
        for name, row in zip(names, members, strict=True):
            size_ax.plot(years, row, linewidth=1.0, label=name)
        size_ax.legend(fontsize=7, ncol=2, frameon=False)
    else:
        low, median, high = np.quantile(members, [0.1, 0.5, 0.9], axis=0)
        size_ax.fill_between(years, low, high, alpha=0.3, label="10-90 % of clubs")
        size_ax.plot(years, median, linewidth=1.5, label="median club")
        size_ax.legend(fontsize=8, frameon=False)
    size_ax.set_xlabel(header("time", "quantity"))
    size_ax.set_ylabel(header("members", "series"))
    size_ax.set_title(f"members of each of {len(names):,} clubs", fontsize=10)

    business = np.asarray(clubs["business_per_member_year"], dtype=float)
    crossing = np.asarray(clubs["cross_club_share"], dtype=float)
    if len(names) <= CLUB_LINES:
        positions = np.arange(len(names))
        business_ax.barh(positions, business * (1 - crossing), color="#1f77b4", label="inside the club")
        business_ax.barh(positions, business * crossing, left=business * (1 - crossing), color="#ff7f0e",
                         label="from other clubs")
        business_ax.set_yticks(positions, names, fontsize=7)
        business_ax.invert_yaxis()
        business_ax.set_xlabel(header("business_per_member_year"))
        business_ax.legend(fontsize=8, frameon=False)
    else:
        business_ax.hist(business, bins=40, color="#1f77b4")
        business_ax.set_xlabel(header("business_per_member_year"))
        business_ax.set_ylabel("clubs")
    business_ax.set_title("business per member-year by club", fontsize=10)
    _title(fig, "clubs of the region", title)
    return _save(fig, path)


def plot_run(series: pd.DataFrame, members: pd.DataFrame, out_dir: Path, title: str = "",
             clubs: dict[str, Any] | None = None) -> list[Path]:
    """Write the run's four figures into `out_dir` (five for a region: `clubs`, see
    `sim.experiments.folders.club_panel`); returns their paths, `FIGURE_FILES` order first.

    `series` and `members` are frames or dicts of columns.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    series = series if isinstance(series, pd.DataFrame) else pd.DataFrame(series)
    members = pd.DataFrame() if members is None else members
    members = members if isinstance(members, pd.DataFrame) else pd.DataFrame(members)
    return [
        plot_members(series, members, out_dir / "members.png", title),
        plot_business(series, out_dir / "business.png", title),
        plot_roi_by_type(members, out_dir / "roi_by_type.png", title),
        plot_tenure_survival(members, out_dir / "tenure_survival.png", title),
        *([plot_clubs(clubs, out_dir / CLUBS_FIGURE, title)] if clubs is not None else []),
    ]
