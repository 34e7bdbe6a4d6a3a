"""Regions of clubs (docs/ODD.md 7.8) on the numba engine: schema, weak ties, second-circle
referrals, transfers, areas, region totals and the CLI's outputs.

Each rule test sets parameters so that the rule decides the outcome: second-circle business
appears only where a club lacks a profession and a weak tie reaches a holder, and disappears
when the ties that carry it are switched off.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.errors import InputError
from sim.interfaces.cli import app
from sim.kernels.layout import NEXT_ID, S_CROSS_BUSINESS
from sim.model.region import RegionEngine
from sim.model.runner import simulate
from sim.model.scenario import load_config
from sim.model.state import weak_ties_of

pytestmark = pytest.mark.usefixtures("numba_ready")

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"
runner = CliRunner()

# a small region: 4 chapters of 20 founders, 3 years
SMALL = {"years": 3, "club.founders": 20, "region.clubs": 4}
TOTALS = ("business_total", "cross_club_business_total", "fee_income_total", "direct_sales_total", "members_final",
          "joins_total", "member_years")


def region(overrides: dict, seed: int = 1) -> RegionEngine:
    engine = RegionEngine(load_config(BNI, {**SMALL, **overrides}).config, np.random.default_rng(seed))
    engine.run_to()
    return engine


def cross_business(overrides: dict, seeds: range = range(3)) -> float:
    return sum(simulate(BNI, seed, overrides={**SMALL, **overrides}).summary["cross_club_business_total"]
               for seed in seeds)


# --------------------------------------------------------------------------- schema


def test_club_groups_inherit_the_scenario_club_and_are_numbered() -> None:
    config = load_config({"club": {"capacity": 40, "fees": {"annual": 900}}, "region": {"clubs": [
        {"name": "caen", "count": 2, "club": {"fees": {"annual": 500}}}, {"name": "bayeux"}]}}).config
    clubs = config.region_clubs()
    assert [name for name, _ in clubs] == ["caen_1", "caen_2", "bayeux"]
    assert [spec.fees.annual for _, spec in clubs] == [500, 500, 900]
    assert all(spec.capacity == 40 for _, spec in clubs)
    assert config.is_region and config.region.club_count == 3
    assert load_config(config).config == config  # the resolved scenario (manifest) loads back the same


@pytest.mark.parametrize(("overrides", "field"), [
    ({"region.clubs": 0}, "region.clubs"),
    ({"region.clubs": [{"name": "a", "cuont": 2}]}, "region.clubs.0.cuont"),
    ({"region.clubs": [{"name": "a", "club": {"fees": {"annual": -5}}}]}, "region.clubs.0.club.fees.annual"),
    ({"region.area_size": -1}, "region.area_size"),
])
def test_bad_region_input_names_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(InputError) as err:
        load_config(BNI, overrides)
    assert err.value.field == field


def test_one_club_is_the_single_club_model_draw_for_draw() -> None:
    """Region parameters do nothing without a region: the run is the club model's."""
    plain = simulate(BNI, 3, overrides={"years": 2})
    with_region_keys = simulate(BNI, 3, overrides={"years": 2, "region.interclub_events_per_year": 12,
                                                   "region.transfer_share": 1.0})
    assert plain.summary == with_region_keys.summary
    assert not plain.club_names and "clubs" not in plain.summary


# --------------------------------------------------------------------------- second-circle referrals


def test_no_interclub_events_no_business_crosses_clubs() -> None:
    engine = region({"region.interclub_events_per_year": 0}, seed=2)
    assert all((weak.club < 0).all() for weak in engine.W)  # no weak ties at all
    assert all(engine.SE[c][:, S_CROSS_BUSINESS].sum() == 0 for c in range(4))
    assert cross_business({"region.interclub_events_per_year": 0}) == 0
    assert cross_business({}) > 0  # the same region with its events


def test_no_business_crosses_into_a_club_that_holds_the_profession() -> None:
    """Two professions and 20 founders a club: every club holds both, so no need ever leaves one."""
    market = {"market.professions": 2, "market.sectors": 1, "club.composition.policy": "open"}
    assert cross_business(market) == 0
    assert cross_business({**market, "market.professions": 150}) > 0  # the same clubs, a real market


def test_second_circle_off_no_business_crosses_clubs() -> None:
    assert cross_business({"region.second_circle": False}) == 0


def test_bridges_through_strong_ties_carry_more_business_than_own_weak_ties_alone() -> None:
    """With ties.strong_threshold 1 no colleague is a bridge (ties stay below 1): only a member's
    own weak ties carry its needs out of the club."""
    assert cross_business({"ties.strong_threshold": 1.0}) < 0.8 * cross_business({})


def test_cross_club_business_is_counted_in_the_receivers_club() -> None:
    result = simulate(BNI, 4, overrides=SMALL)
    clubs = result.summary["clubs"]
    assert sum(c["cross_club_business_total"] for c in clubs) == pytest.approx(
        result.summary["cross_club_business_total"])
    members = result.members
    received = members.groupby("club", sort=False)["business_received"].sum()
    # every EUR of business a club's series counts, its members received (the series are float32,
    # within a cent of these clubs' weekly business; a deal counted wrongly would be ~1,000 EUR off)
    weeks = len(result.series["week"])
    for club in clubs:
        assert received[club["club"]] == pytest.approx(club["business_total"], abs=0.01 * weeks)
    given = members["business_given"].sum()
    assert given == pytest.approx(result.summary["business_total"], abs=0.01 * weeks * len(clubs))


# --------------------------------------------------------------------------- weak ties


def test_weak_ties_are_mutual_bounded_and_between_current_members_of_other_clubs() -> None:
    engine = region({"region.weak_ties_per_member": 3, "region.contacts_per_event": 6,
                     "region.interclub_events_per_year": 12})
    decay = engine.config.ties.decay
    ties = 0
    for c, weak in enumerate(engine.W):
        slots, members = engine.S[c], engine.M[c]
        assert weak.club.shape[1] == 3
        for s in np.flatnonzero(slots.member >= 0):
            assert weak.owner[s] == slots.member[s]
            for e in np.flatnonzero(weak.club[s] >= 0):
                other, member, slot = weak.club[s, e], weak.member[s, e], weak.slot[s, e]
                assert other != c
                assert engine.M[other].exit_week[member] < 0 and engine.S[other].member[slot] == member
                assert weak.profession[s, e] == engine.M[other].profession[member]
                back = weak_ties_of(engine.region, other)
                match = [f for f in range(3) if back.club[slot, f] == c and back.member[slot, f] == slots.member[s]]
                assert len(match) == 1
                f = match[0]
                assert (back.strength[slot, f], back.week[slot, f]) == (weak.strength[s, e], weak.week[s, e])
                assert 0 < weak.strength[s, e] <= 1 and members.exit_week[slots.member[s]] < 0
                ties += 1
    assert ties > 100
    assert decay > 0


def test_events_stay_inside_areas() -> None:
    engine = region({"region.area_size": 2})
    for c, weak in enumerate(engine.W):
        others = set(weak.club[weak.club >= 0].tolist())
        assert others and others <= {c ^ 1}  # clubs 0-1 and 2-3 are the two areas
    assert cross_business({"region.area_size": 1}) == 0  # areas of one club: no events with anybody


# --------------------------------------------------------------------------- transfers


def _joins_into_club_with_room(transfer_share: float) -> int:
    """Club full_1 is full from the start (founders = capacity), open_1 has room: applicants
    refused by the full club can only reach open_1 by a transfer."""
    no_invitations = {"visitors_per_meeting": 0}
    clubs = [{"name": "full", "club": {"founders": 30, "capacity": 30}},
             {"name": "open", "club": {"founders": 12, "capacity": 50, "recruitment": no_invitations}}]
    scenario = {"years": 2, "club": {"recruitment": {"visitors_per_meeting": 12.0}},
                "region": {"transfer_share": transfer_share, "interclub_events_per_year": 0, "clubs": clubs}}
    return sum(simulate(scenario, seed).summary["clubs"][1]["joins_total"] for seed in range(3))


def test_refused_applicants_transfer_to_a_club_with_room() -> None:
    founders = 3 * 12
    assert _joins_into_club_with_room(0.0) == founders  # no invitations, no transfers: only its founders
    assert _joins_into_club_with_room(1.0) > founders + 10


# --------------------------------------------------------------------------- totals and outputs


def test_region_totals_are_the_sums_of_its_clubs() -> None:
    summary = simulate(BNI, 5, overrides=SMALL).summary
    for key in TOTALS:
        assert summary[key] == pytest.approx(sum(club[key] for club in summary["clubs"]), rel=1e-12), key
    exits = summary["exits_by_reason"]
    for reason, count in exits.items():
        assert count == sum(club["exits_by_reason"][reason] for club in summary["clubs"])
    assert summary["survived"] == all(club["survived"] for club in summary["clubs"])
    assert summary["clubs_total"] == 4
    assert summary["clubs_survived"] == sum(club["survived"] for club in summary["clubs"])


def test_a_region_is_a_pure_function_of_scenario_and_seed() -> None:
    first, again = simulate(BNI, 6, overrides=SMALL), simulate(BNI, 6, overrides=SMALL)
    assert first.summary == again.summary
    assert simulate(BNI, 7, overrides=SMALL).summary != first.summary


def _region_bytes(engine: RegionEngine) -> bytes:
    """Every club's series and member records, as bytes."""
    return b"".join(series.tobytes() for series in engine.SE) + b"".join(
        members[:int(club.counters[NEXT_ID])].tobytes() for members, club in zip(engine.M, engine.C, strict=True))


@pytest.mark.parametrize("area_size", [0, 3])
def test_a_region_gives_the_same_bytes_on_any_number_of_threads(area_size: int) -> None:
    """Lanes of clubs on a thread pool, their second-circle referrals delivered through outboxes, and with
    areas, each lane holding the event meetings of the areas that start in it: the same series, member records
    and weak ties to the byte for 1, 2 and 3 threads, and for an outbox so small that it is delivered many
    times a week (the lane resumes where it stopped). Seven clubs in areas of three: 3 threads split the
    areas 0-2, 3-5 and 6, their lanes the clubs 0-2, 3-4 and 5-6."""
    config = load_config(BNI, {**SMALL, "region.clubs": 7, "region.interclub_events_per_year": 12,
                               "region.transfer_share": 0.5, "region.area_size": area_size}).config
    runs = []
    for threads, outbox in ((1, None), (2, None), (3, None), (2, 160)):
        engine = RegionEngine(config, np.random.default_rng(11), threads=threads, outbox=outbox)
        engine.run_to()
        assert engine.threads == threads
        weak = engine.region
        runs.append(_region_bytes(engine) + b"".join(array.tobytes() for array in (
            weak.weak_club, weak.weak_member, weak.weak_slot, weak.weak_strength, weak.weak_week)))
    assert sum(float(series[:, S_CROSS_BUSINESS].sum()) for series in engine.SE) > 0  # the outboxes carried deals
    assert all(run == runs[0] for run in runs[1:])


@pytest.mark.parametrize("clubs", [1, 7, 23])
@pytest.mark.parametrize("area_size", [0, 1, 3, 10, 50])
def test_the_lanes_hold_each_area_s_event_meetings_once(clubs: int, area_size: int) -> None:
    """`areas_from` gives each lane the areas that start in it: over any split of the clubs into lanes, the
    spans are consecutive, cover every club once and cut only between areas."""
    from sim.kernels import region as region_kernels
    from sim.model.state import make_region_params

    areas_from = getattr(region_kernels.areas_from, "py_func", region_kernels.areas_from)  # compiled: no Python entry

    params = make_region_params(load_config(BNI, {"region.clubs": clubs, "region.area_size": area_size}).config)
    one_area = area_size == 0 or area_size >= clubs
    for cuts in ([], [1], [clubs // 2], [1, 2, clubs - 1], list(range(1, clubs))):
        bounds = [0, *sorted({c for c in cuts if 0 < c < clubs}), clubs]
        spans = [(areas_from(params, clubs, first), areas_from(params, clubs, last))
                 for first, last in zip(bounds, bounds[1:], strict=False)]
        assert spans[0][0] == 0 and spans[-1][1] == clubs
        assert all(end == start for (_, end), (start, _) in zip(spans, spans[1:], strict=False))
        for start, end in spans:
            assert start <= end
            if one_area:
                assert (start, end) in ((0, clubs), (clubs, clubs))
            else:
                assert all(cut % area_size == 0 or cut == clubs for cut in (start, end))


def _bridge_index(region, c: int) -> dict[str, np.ndarray]:
    """Club c's part of the region's bridge index (its bridged professions, bridges and sector grouping)."""
    entries = region.weak_club.shape[1]
    base, n = int(region.slot_start[c]) * entries, int(region.n_bridged[c])
    bridges = int(region.bridge_start[base + c + n])
    index = {"bridged": region.bridged[base:base + n], "bridge_start": region.bridge_start[base + c:base + c + n + 1],
             "bridge_row": region.bridge_row[base:base + bridges],
             "bridge_column": region.bridge_column[base:base + bridges],
             "by_sector": region.by_sector[base:base + n], "by_sector_cdf": region.by_sector_cdf[base:base + n],
             "by_sector_start": region.by_sector_start[c], "sector_weight": region.sector_weight[c]}
    return {name: array.copy() for name, array in index.items()}


def _bridge_index_by_definition(region, market, profession_count: np.ndarray, c: int) -> dict[str, np.ndarray]:
    """Club c's bridge index as docs/ODD.md defines it, in plain Python: the weak ties of its members' rows (in
    slot order, then entry order) to holders of professions it does not hold, grouped by profession in the order
    the professions are first met; the professions grouped by sector (in that order) with their cumulative
    demand weight."""
    rows = range(int(region.slot_start[c]), int(region.slot_start[c + 1]))
    bridges = [(int(region.weak_profession[r, e]), r, e) for r in rows if region.slot_member[r] >= 0
               for e in range(region.weak_club.shape[1])
               if region.weak_club[r, e] >= 0 and profession_count[region.weak_profession[r, e]] == 0]
    position = {p: b for b, p in enumerate(dict.fromkeys(profession for profession, _, _ in bridges))}
    bridged = list(position)  # in the order first met
    by_profession = sorted(bridges, key=lambda bridge: position[bridge[0]])  # stable: row order kept
    per_profession = Counter(profession for profession, _, _ in bridges)
    sector = market.profession_sector
    sectors = len(region.sector_weight[c])
    by_sector = sorted(range(len(bridged)), key=lambda b: sector[bridged[b]])
    weights = [float(market.demand_weight[bridged[b]]) for b in by_sector]
    sector_weight = np.zeros(sectors)
    for b in by_sector:
        sector_weight[sector[bridged[b]]] += market.demand_weight[bridged[b]]
    counts = np.bincount([sector[profession] for profession in bridged], minlength=sectors)
    return {"bridged": np.array(bridged), "bridge_start": np.cumsum([0] + [per_profession[p] for p in bridged]),
            "bridge_row": np.array([r for _, r, _ in by_profession]),
            "bridge_column": np.array([e for _, _, e in by_profession]),
            "by_sector": np.array(by_sector), "by_sector_cdf": np.cumsum(weights),
            "by_sector_start": np.concatenate([[0], np.cumsum(counts)]), "sector_weight": sector_weight}


def test_a_clubs_bridge_index_is_kept_between_weeks_and_is_the_one_odd_defines() -> None:
    """The bridge index is rebuilt only when a club's weak ties or members change (interclub events, joins,
    exits, untying): in most club-weeks it is kept, and a kept index is always the one docs/ODD.md defines
    (a rebuild that finds the bridged professions unchanged keeps their grouping by sector: a wrong keep
    shows here)."""
    config = load_config(BNI, {**SMALL, "region.clubs": 6, "region.interclub_events_per_year": 12}).config
    engine = RegionEngine(config, np.random.default_rng(4), threads=1)
    kept = checked = 0
    while not engine.finished:
        engine.run_to(engine.week + 1)
        region = engine.region
        for c in range(len(engine.C)):
            if not region.open[c] or region.bridges_stale[c]:
                continue  # rebuilt at its next second circle
            kept += 1
            index = _bridge_index(region, c)
            expected = _bridge_index_by_definition(region, engine.market_arrays, engine.C[c].profession_count, c)
            for name, array in index.items():
                np.testing.assert_array_equal(array, expected[name], err_msg=f"club {c}, week {engine.week}: {name}")
            checked += int(region.n_bridged[c] > 0)
    open_club_weeks = config.weeks * len(engine.C)
    assert checked > 0.2 * open_club_weeks  # kept indexes that bridge something were compared
    assert kept > 0.4 * open_club_weeks  # most weeks keep the index


def test_clubsim_run_threads_changes_nothing_but_the_time(tmp_path: Path) -> None:
    summaries = []
    for threads in ("1", "2"):
        out = tmp_path / f"threads-{threads}"
        result = runner.invoke(app, ["run", str(BNI), "--set", "years=2", "--set", "region.clubs=4", "--threads",
                                     threads, "--no-figures", "--out", str(out)])
        assert result.exit_code == 0, result.output
        summaries.append((out / "summary.json").read_text())
    assert summaries[0] == summaries[1]
    refused = runner.invoke(app, ["run", str(BNI), "--threads", "0", "--out", str(tmp_path / "zero")])
    assert refused.exit_code == 2 and "--threads" in refused.output


@pytest.mark.parametrize("engine", ["numba", "python"])
@pytest.mark.parametrize("clubs", [3, 1])
def test_progress_reports_weeks_and_leaves_the_run_unchanged(engine: str, clubs: int) -> None:
    overrides = {**SMALL, "years": 1 if clubs > 1 else 3, "region.clubs": clubs}  # one club reports yearly
    reports: list[tuple[int, int]] = []
    stepped = simulate(BNI, 8, engine, overrides, progress=lambda done, total: reports.append((done, total)))
    whole = simulate(BNI, 8, engine, overrides)
    weeks = stepped.scenario.config.weeks
    assert reports[0] == (0, weeks) and reports[-1] == (weeks, weeks)
    assert [done for done, _ in reports] == sorted({done for done, _ in reports})  # strictly increasing
    assert len(reports) > 2
    assert stepped.summary == whole.summary
    for column, values in whole.members_columns.items():
        np.testing.assert_array_equal(stepped.members_columns[column], values)


def test_clubsim_run_writes_the_region_outputs(tmp_path: Path) -> None:
    out = tmp_path / "calvados"
    result = runner.invoke(app, ["run", str(ROOT / "scenarios" / "region_calvados.yaml"), "--set", "years=2",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "region of 12 clubs" in result.output and "chapter_10" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert [club["club"] for club in summary["clubs"]] == [f"chapter_{k}" for k in range(1, 11)] + [
        "large_chapter_1", "large_chapter_2"]
    rows = (out / "clubs.csv").read_text().splitlines()
    assert rows[0].startswith("club,members_final,") and len(rows) == 13
    clubs = pd.read_csv(out / "clubs.csv")  # every club's own summary, as summary.json lists it
    for name in ("sphere_share", "visitors_per_meeting", "fee_income_total"):
        assert clubs[name].tolist() == pytest.approx([club[name] for club in summary["clubs"]], rel=1e-9), name
    assert (out / "members.csv").read_text().startswith("club,member_id,")
    assert (out / "clubs.png").stat().st_size > 10_000
    manifest = json.loads((out / "manifest.json").read_text())
    assert "clubs.csv" in manifest["files"] and manifest["scenario"]["region"]["clubs"][0]["count"] == 10

    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    html = (out / "report.html").read_text()
    assert "<h2>Clubs</h2>" in html and "large_chapter_2" in html and "(clubs.png)" in html


def test_shipped_region_scenarios_have_their_published_size() -> None:
    calvados = load_config(ROOT / "scenarios" / "region_calvados.yaml").config
    assert calvados.region.club_count == 12
    assert sum(spec.founders for _, spec in calvados.region_clubs()) == 350
    world = load_config(ROOT / "scenarios" / "bni_world_2017.yaml").config
    assert world.region.club_count == 9000
    assert sum(spec.founders for _, spec in world.region_clubs()) == 222_872


def test_bad_region_file_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {BNI}\nregion: {{clubs: [{{name: a, count: 0}}]}}\n")
    result = runner.invoke(app, ["run", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "region.clubs.0.count" in result.output and len(result.output.strip().splitlines()) == 1


def test_the_mesa_model_refuses_a_region() -> None:
    from sim.model.club import ClubModel

    with pytest.raises(InputError) as err:
        ClubModel(BNI, seed=1, **{"region.clubs": 2})
    assert err.value.field == "region.clubs"


def test_experiments_replicate_the_whole_region(tmp_path: Path) -> None:
    from sim import compare

    experiment = tmp_path / "regions.yaml"
    sets = ", ".join(f"{key}: {value}" for key, value in SMALL.items() if key != "region.clubs")
    experiment.write_text(f"scenario: {BNI}\npolicies:\n  one_club: {{{sets}}}\n"
                          f"  region: {{{sets}, region.clubs: 4}}\nbaseline: one_club\nruns: 2\n")
    rows = compare(experiment, workers=1, figures=False).replications.set_index(["policy", "replication"])
    for replication in range(2):
        region_row, club_row = rows.loc[("region", replication)], rows.loc[("one_club", replication)]
        assert region_row["business_total"] == pytest.approx(
            simulate(BNI, int(region_row["seed"]), overrides=SMALL).summary["business_total"])
        assert region_row["members_final"] > club_row["members_final"]


def test_validate_names_the_region_and_the_web_page_lists_only_single_clubs() -> None:
    result = runner.invoke(app, ["validate", str(ROOT / "scenarios" / "region_calvados.yaml")])
    assert result.exit_code == 0 and "region of 12 clubs and 350 founding members" in result.output
    from sim.interfaces.app import available_scenarios

    names = available_scenarios()
    assert "bni_chapter" in names and "region_calvados" not in names and "bni_world_2017" not in names


REGION_HASH = """
import hashlib, numpy as np
from sim.model.scenario import load_config
from sim.model.region import RegionEngine
config = load_config({bni!r}, {{"years": 1, "club.founders": 10, "region.clubs": 3,
                                "region.interclub_events_per_year": 12}}).config
engine = RegionEngine(config, np.random.default_rng(2), threads={threads})
engine.run_to()
print(hashlib.sha256(b"".join(series.tobytes() for series in engine.SE)).hexdigest())
"""


def test_the_threaded_region_runs_as_plain_python_with_the_same_numbers() -> None:
    """NUMBA_DISABLE_JIT=1 (debugging) runs the region's kernels, lanes and outboxes as Python: the same
    series to the byte as the compiled region."""
    import os
    import subprocess
    import sys

    def digest(threads: int, disable_jit: bool) -> str:
        env = {**os.environ, "NUMBA_DISABLE_JIT": "1" if disable_jit else "0"}
        done = subprocess.run([sys.executable, "-c", REGION_HASH.format(bni=str(BNI), threads=threads)], env=env,
                              capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert digest(2, True) == digest(1, False)


TYPED_LIST_PROBE = """
import numpy as np
from numba.typed import typedlist
from sim.model.region import RegionEngine
from sim.model.scenario import load_config
config = load_config({scenario!r}, {{"years": 8, "club.founders": 25, "region.clubs": 12}}).config
grown = 0
for threads, outputs in ((1, "memory"), (2, "stream")):  # every path: growing records, compacting, the pool
    region = RegionEngine(config, np.random.default_rng(1), threads=threads, outputs=outputs)
    first = [len(records) for records in region._records]
    region.run_to()
    grown += sum(len(records) > size for records, size in zip(region._records, first))
assert grown > 0, "no club's records grew"
methods = (typedlist._make_list, typedlist._append, typedlist._getitem, typedlist._setitem)
print(sum(len(method.overloads) for method in methods))
"""


def test_a_region_compiles_none_of_numbas_typed_list_methods() -> None:
    """numba compiles the typed list's methods that Python calls anew in every process (about 5 s a region
    run); a region builds and updates its lists with cached kernels (`sim.kernels.lists`) instead."""
    import subprocess
    import sys

    code = TYPED_LIST_PROBE.format(scenario=str(BNI))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "0"


@pytest.mark.parametrize("engine", ["numba", "python"])
def test_a_regions_visitors_per_meeting_is_per_meeting_a_club_held_not_the_clubs_sum(engine) -> None:
    # the region's series adds its clubs' visitors up each week: its own mean over the weeks gave the clubs' sum
    from sim.model.metrics import _settled_meeting_visitors

    result = simulate(BNI, 3, engine=engine, overrides={"years": 2, "region.clubs": 4})
    clubs = [club["visitors_per_meeting"] for club in result.summary["clubs"]]
    assert min(clubs) <= result.summary["visitors_per_meeting"] <= max(clubs)
    settled = [_settled_meeting_visitors(series) for series in result.club_series_columns]
    assert result.summary["visitors_per_meeting"] == pytest.approx(sum(s.sum() for s in settled)
                                                                   / sum(len(s) for s in settled))


def test_a_regions_hunter_share_is_its_hunters_over_its_members_to_the_last_bit() -> None:
    """The clubs' series are float32; the region counts their hunters instead of adding rounded shares."""
    for seed in (1, 2, 3):
        result = simulate(BNI, seed, overrides={**SMALL, "population.shares": {
            "giver": 0.4, "reciprocator": 0.3, "hunter": 0.3}})
        members = result.members
        present = members[members["exit_week"] < 0]
        hunters = int((present["member_type"] == "hunter").sum())
        assert 0 < hunters < len(present) == result.summary["members_final"]
        assert result.summary["hunter_share_final"] == hunters / len(present)
        weekly, size = result.series["hunter_share"].to_numpy(), result.series["members"].to_numpy()
        counts = np.rint(weekly * size)  # every week's share is a count of hunters over the members, exactly
        assert np.array_equal(weekly, np.divide(counts, size, out=np.zeros(len(size)), where=size > 0))
