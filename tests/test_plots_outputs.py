"""Run figures (`sim.presentation.plots`) and the run output folder (`sim.presentation.run_folder`) on small
synthetic runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from sim.errors import InputError
from sim.experiments.folders import prepare_out_dir
from sim.model.metrics import EXIT_REASONS, MEMBER_COLUMNS, MEMBER_TYPES, SERIES_COLUMNS, summarize
from sim.model.scenario import load_scenario
from sim.presentation.plots import FIGURE_FILES, plot_run
from sim.presentation.run_folder import DATA_FILES, write_run
from sim.presentation.tables import summary_table

ROOT = Path(__file__).resolve().parent.parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_run(
    weeks: int = 104,
    n: int = 30,
    *,
    seed: int = 0,
    types: tuple[str, ...] = MEMBER_TYPES,
    closed: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A consistent synthetic (series, members) pair with exactly the metrics columns."""
    rng = np.random.default_rng(seed)
    founders = min(8, n)
    join = np.concatenate([np.zeros(founders, int), np.sort(rng.integers(1, weeks, n - founders))])
    stay = rng.integers(10, 2 * weeks, n)
    exit_week = join + stay
    reason = rng.choice(["left", "expelled_absence", "expelled_contribution", "exogenous"], n)
    active = exit_week >= weeks
    if closed:  # the club closes at 3/4 of the horizon: everyone still in leaves as "dissolved"
        close = (3 * weeks) // 4
        join = np.minimum(join, close - 1)
        reason = np.where(exit_week >= close, "dissolved", reason)
        exit_week = np.minimum(exit_week, close)
        active = np.zeros(n, bool)
    reason = np.where(active, "active", reason)
    end = np.where(active, weeks, exit_week)
    fees = rng.uniform(500, 1500, n)
    time_cost = rng.uniform(500, 3000, n)
    received = rng.lognormal(8, 1, n)
    members = pd.DataFrame(
        {
            "member_id": np.arange(n),
            "member_type": rng.choice(types, n),
            "profession": rng.integers(0, 150, n),
            "sector": rng.integers(0, 12, n),
            "founder": np.arange(n) < founders,
            "join_week": join,
            "exit_week": np.where(active, np.nan, exit_week),
            "exit_reason": reason,
            "tenure_years": (end - join) / 52.0,
            "business_received": received,
            "business_given": rng.lognormal(8, 1, n),
            "referrals_given": rng.integers(0, 40, n),
            "referrals_received": rng.integers(0, 40, n),
            "deals_received": rng.integers(0, 20, n),
            "direct_sales": rng.uniform(0, 500, n),
            "social_value": rng.uniform(0, 300, n),
            "fees_paid": fees,
            "hours": rng.uniform(20, 200, n),
            "time_cost": time_cost,
            "margin": rng.uniform(0.2, 0.5, n),
            "hourly_value": rng.uniform(30, 80, n),
            "roi": (0.35 * received - fees - time_cost) / (fees + time_cost),
        }
    )[list(MEMBER_COLUMNS)]

    w = np.arange(weeks)
    count = lambda where: np.bincount(where[where < weeks], minlength=weeks)  # noqa: E731
    ended = members["exit_reason"] != "active"
    exits = {r: count(exit_week[(reason == r) & ended.to_numpy()]) for r in EXIT_REASONS}
    joins = count(join)
    total_exits = sum(exits.values())
    size = np.cumsum(joins - total_exits)
    series = pd.DataFrame(
        {
            "week": w,
            "meeting": np.ones(weeks, bool),
            "members": size,
            "joins": joins,
            **{f"exits_{r}": exits[r] for r in EXIT_REASONS},
            "exits": total_exits,
            "visitors": rng.integers(0, 4, weeks),
            "applicants": rng.integers(0, 2, weeks),
            "referrals": rng.integers(0, 30, weeks),
            "deals": rng.integers(0, 15, weeks),
            "business": rng.lognormal(9, 0.5, weeks) * (size > 0),
            "direct_sales": rng.uniform(0, 800, weeks) * (size > 0),
            "attendance_rate": rng.uniform(0.7, 1.0, weeks),
            "mean_tie": np.linspace(0.05, 0.4, weeks),
            "hunter_share": rng.uniform(0, 0.3, weeks),
            "fees_collected": rng.uniform(0, 3000, weeks),
            "cross_club_referrals": np.zeros(weeks, dtype=np.int64),  # one club: nothing from other clubs
            "cross_club_business": np.zeros(weeks),
            "sphere_referrals": np.zeros(weeks),
        }
    )[list(SERIES_COLUMNS)]
    return series, members


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > 1000, path


@pytest.fixture(scope="module")
def scenario():
    return load_scenario({"name": "synthetic", "years": 2})


# --------------------------------------------------------------------------- plots


@pytest.mark.parametrize(
    "case",
    ["default", "weeks_52", "no_hunters", "closed", "empty_members", "one_member", "long"],
)
def test_plot_run_writes_four_pngs(tmp_path: Path, case: str) -> None:
    kwargs = {
        "default": {},
        "weeks_52": {"weeks": 52, "n": 12},
        "no_hunters": {"types": ("giver", "reciprocator")},
        "closed": {"closed": True},
        "one_member": {"n": 1},
        "long": {"weeks": 52 * 30, "n": 200},
        "empty_members": {},
    }[case]
    series, members = make_run(**kwargs)
    if case == "empty_members":
        members = members.iloc[0:0]
    paths = plot_run(series, members, tmp_path / "figs", title=f"test {case}")
    assert [p.name for p in paths] == list(FIGURE_FILES)
    for path in paths:
        assert_png(path)


def test_plot_run_with_columnless_members_frame(tmp_path: Path) -> None:
    series, _ = make_run(weeks=52)
    for path in plot_run(series, pd.DataFrame(), tmp_path):
        assert_png(path)


# --------------------------------------------------------------------------- outputs


def test_write_run_writes_everything(tmp_path: Path, scenario) -> None:
    series, members = make_run()
    summary = summarize(series, members)
    out = tmp_path / "deep" / "run"
    files = write_run(out, series=series, members=members, summary=summary, scenario=scenario, seed=7,
                      engine="fast", command=["clubsim", "run", "x.yaml", "--seed", "7"])
    assert set(files) == {*DATA_FILES, "manifest.json", *FIGURE_FILES}
    for name, path in files.items():
        assert path == out / name and path.is_file()
    for name in FIGURE_FILES:
        assert_png(out / name)

    assert json.loads((out / "summary.json").read_text()) == summary
    back = pd.read_csv(out / "timeseries.csv")
    assert list(back.columns) == list(SERIES_COLUMNS) and len(back) == len(series)
    assert np.allclose(back["business"], series["business"], rtol=1e-9)
    back = pd.read_csv(out / "members.csv")
    assert list(back.columns) == list(MEMBER_COLUMNS) and len(back) == len(members)

    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("scenario", "scenario_source", "seed", "engine", "versions", "command", "files", "created"):
        assert key in manifest, key
    assert manifest["seed"] == 7 and manifest["engine"] == "fast"
    assert manifest["scenario"] == scenario.config.model_dump(mode="json")
    assert manifest["scenario"]["years"] == 2
    assert set(manifest["versions"]) >= {"clubsim", "mesa", "numba", "numpy", "pandas", "python"}
    assert all(isinstance(v, str) and v for v in manifest["versions"].values())
    assert manifest["files"] == sorted(files)
    assert manifest["command"] == "clubsim run x.yaml --seed 7"


def test_write_run_without_figures(tmp_path: Path, scenario) -> None:
    series, members = make_run(weeks=52, n=10)
    files = write_run(tmp_path, series=series, members=members, summary=summarize(series, members),
                      scenario=scenario, seed=1, engine="mesa", figures=False)
    assert set(files) == {*DATA_FILES, "manifest.json"}
    assert not list(tmp_path.glob("*.png"))
    assert json.loads((tmp_path / "manifest.json").read_text())["command"] is None


def test_write_run_is_byte_identical(tmp_path: Path, scenario) -> None:
    series, members = make_run(seed=3)
    summary = summarize(series, members)
    for name in ("a", "b"):
        write_run(tmp_path / name, series=series, members=members, summary=summary, scenario=scenario,
                  seed=3, engine="fast", figures=False)
    for name in DATA_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    text = (tmp_path / "a" / "summary.json").read_text()
    assert text.endswith("}\n") and text == json.dumps(summary, indent=2, sort_keys=True) + "\n"


def test_write_run_overwrites_previous_run(tmp_path: Path, scenario) -> None:
    series, members = make_run(weeks=52, n=10)
    summary = summarize(series, members)
    for _ in range(2):
        write_run(tmp_path, series=series, members=members, summary=summary, scenario=scenario, seed=1,
                  engine="fast", figures=False)
    assert len(pd.read_csv(tmp_path / "members.csv")) == 10


def test_prepare_out_dir_creates_parents(tmp_path: Path) -> None:
    out = prepare_out_dir(tmp_path / "a" / "b" / "c")
    assert out.is_dir() and not list(out.iterdir())


@pytest.mark.parametrize("where", ["under_a_file", "is_a_file"])
def test_unwritable_out_dir_raises_input_error(tmp_path: Path, scenario, where: str) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file\n")
    out = blocker / "run" if where == "under_a_file" else blocker
    with pytest.raises(InputError) as caught:
        prepare_out_dir(out)
    assert caught.value.field == "--out"
    assert "cannot write here" in str(caught.value) and str(out) in str(caught.value)

    series, members = make_run(weeks=52, n=5)
    with pytest.raises(InputError, match="cannot write here"):
        write_run(out, series=series, members=members, summary=summarize(series, members), scenario=scenario,
                  seed=0, engine="fast")


def test_summary_table_renders(scenario) -> None:
    series, members = make_run(types=("giver", "reciprocator"))
    summary = summarize(series, members)
    summary["median_tenure_years"] = None
    console = Console(record=True, width=100)
    console.print(summary_table(summary, "synthetic, seed 7"))
    text = console.export_text()
    assert "synthetic, seed 7" in text
    assert "—" in text  # None, e.g. ROI of the absent hunter type
    assert "hunter" in text and "giver" in text and "reciprocator" in text
    assert "%" in text and "EUR" in text
    assert "yes" in text or "no" in text
    big = f"{summary['fee_income_total']:,.0f}"
    assert big in text


def test_summary_table_handles_unknown_and_odd_values() -> None:
    console = Console(record=True, width=100)
    console.print(summary_table({"survived": False, "roi_by_type": {}, "extra_metric": 3.14159, "note": None}, "odd"))
    text = console.export_text()
    assert "no" in text and "3.142" in text and "—" in text


# --------------------------------------------------------------------------- figures in a forked process

needs_fork = pytest.mark.skipif(sys.platform != "linux", reason="the figure process forks on Linux only")
# pytest's process runs threads; these tests' children only use modules already imported here
forked_here = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


@needs_fork
def test_cli_run_draws_in_a_figure_process_the_same_figures_as_in_process(tmp_path: Path) -> None:
    from sim.model.runner import simulate

    scenario_file, out = "scenarios/bni_chapter.yaml", tmp_path / "cli"
    # the command run in a process that says, once it is done, whether it imported matplotlib itself: it must
    # not, its figures drawn by the forked child (the fork was skipped once numpy's threads ran before it)
    command = ("import sys\nfrom sim.interfaces.cli import app\n"
               "try:\n    app()\nfinally:\n    print('matplotlib' in sys.modules, file=sys.stderr)\n")
    process = subprocess.run([sys.executable, "-c", command, "run", scenario_file, "--seed", "2", "--set",
                              "years=2", "--out", str(out), "--quiet"], capture_output=True, text=True, cwd=ROOT)
    assert process.returncode == 0, process.stderr
    assert process.stderr.splitlines()[-1] == "False", process.stderr
    run = simulate(ROOT / scenario_file, 2, overrides={"years": 2})
    write_run(tmp_path / "here", series=run.series, members=run.members, summary=run.summary,
              scenario=run.scenario, seed=2, engine="numba")
    for name in FIGURE_FILES:
        assert (out / name).read_bytes() == (tmp_path / "here" / name).read_bytes(), name
    assert set(FIGURE_FILES) <= set(json.loads((out / "manifest.json").read_text())["files"])


@needs_fork
@forked_here
def test_figure_process_failure_is_reported_not_lost(tmp_path: Path) -> None:
    from sim.presentation.figure_process import FigureProcess

    process = FigureProcess()
    process.draw("not a series", None, tmp_path, "broken")
    with pytest.raises(RuntimeError, match="drawing the figures failed"):
        process.result()


@needs_fork
@forked_here
def test_figure_process_closed_unused_leaves_no_child() -> None:
    from sim.presentation.figure_process import FigureProcess

    process = FigureProcess()
    process.close()
    assert not process._process.is_alive()


def test_csv_files_are_what_pandas_to_csv_writes(tmp_path: Path, scenario) -> None:
    """sim.experiments.folders writes CSV without pandas; the bytes are pandas' (missing values, text with commas)."""
    series, members = make_run(seed=6)
    members = members.assign(member_type=members["member_type"].where(members.index != 3, "a, quoted \"type\""))
    members.loc[2, "roi"] = np.nan
    columns = {name: members[name].to_numpy() for name in members.columns}
    write_run(tmp_path, series=series, members=columns, summary=summarize(series, members), scenario=scenario,
              seed=6, engine="fast", figures=False)
    for name, frame in (("timeseries.csv", series), ("members.csv", members)):
        expected = frame.to_csv(index=False, float_format="%.10g", lineterminator="\n")
        assert (tmp_path / name).read_text() == expected, name


def test_csv_files_are_made_text_a_few_rows_at_a_time(tmp_path: Path, scenario,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A region's members.csv (1.4 million rows for the BNI world) is never held whole as cells or text: rows
    become text `CSV_ROWS_AT_A_TIME` at a time, and the file is the same."""
    from sim.presentation import run_folder

    series, members = make_run(seed=6)
    columns = {name: members[name].to_numpy() for name in members.columns}
    whole = tmp_path / "whole"
    write_run(whole, series=series, members=columns, summary=summarize(series, members), scenario=scenario,
              seed=6, engine="fast", figures=False)
    cells = run_folder._csv_cells
    longest = []
    monkeypatch.setattr(run_folder, "_csv_cells", lambda values: longest.append(len(values)) or cells(values))
    monkeypatch.setattr(run_folder, "CSV_ROWS_AT_A_TIME", 7)
    assert len(members) > 20 and len(members) % 7 != 0
    chunked = tmp_path / "chunked"
    write_run(chunked, series=series, members=columns, summary=summarize(series, members), scenario=scenario,
              seed=6, engine="fast", figures=False)
    assert max(longest) == 7
    for name in ("timeseries.csv", "members.csv"):
        assert (chunked / name).read_bytes() == (whole / name).read_bytes(), name


def test_a_figure_that_cannot_be_written_is_named_in_the_error(tmp_path: Path, scenario, monkeypatch) -> None:
    # a full disk while the figures were written said "figures: cannot write", naming no file
    from sim.errors import OutputError
    from sim.presentation import plots

    def full_disk(series, members, out_dir, title, clubs=None):
        raise OSError(28, "No space left on device", str(Path(out_dir) / "business.png"))

    monkeypatch.setattr(plots, "plot_run", full_disk)
    series, members = make_run(weeks=52, n=10)
    out = tmp_path / "run"
    with pytest.raises(OutputError) as caught:
        write_run(out, series=series, members=members, summary=summarize(series, members), scenario=scenario,
                  seed=1, engine="fast")
    assert str(caught.value) == f"{out}: business.png: cannot write: no space left on device"


def test_the_figure_process_hands_its_os_error_back_with_the_file(tmp_path: Path, monkeypatch) -> None:
    # the child's side (`_serve`) and the parent's (`result`) over a pipe, without forking this test's threads
    import multiprocessing
    from types import SimpleNamespace

    from sim.presentation import figure_process, plots

    def full_disk(series, members, out_dir, title, clubs=None):
        raise OSError(28, "No space left on device", str(Path(out_dir) / "business.png"))

    monkeypatch.setattr(plots, "plot_run", full_disk)
    monkeypatch.setattr(figure_process.signal, "signal", lambda *args: None)  # the child's own Ctrl-C rule
    parent, child = multiprocessing.Pipe()
    series, members = make_run(weeks=52, n=10)
    parent.send((series, members, tmp_path, "title", None))
    figure_process._serve(child)
    waiting = object.__new__(figure_process.FigureProcess)
    waiting._connection = parent
    waiting._process = SimpleNamespace(join=lambda timeout=None: None, is_alive=lambda: False, exitcode=0)
    with pytest.raises(OSError) as caught:
        waiting.result()
    assert (caught.value.errno, caught.value.filename) == (28, str(tmp_path / "business.png"))
