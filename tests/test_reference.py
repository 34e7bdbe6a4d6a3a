"""Fast checks of the plain-Mesa reference engine on its own (short scenarios, a few seeds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.kernels.draws import root_seed, stream_generator, uniform
from sim.kernels.layout import CLUB_STREAMS, R_CANDIDATES
from sim.kernels.week import restart_streams
from sim.model import metrics
from sim.model.engine import ClubEngine
from sim.model.market import make_market
from sim.model.scenario import load_scenario
from sim.reference.club import ClubDraws, ReferenceClubModel


def run(seed: int = 1, years: int = 2, **sections) -> ReferenceClubModel:
    model = ReferenceClubModel(load_scenario({"years": years, **sections}), seed=seed)
    model.run()
    return model


@pytest.fixture(scope="module")
def default_run() -> ReferenceClubModel:
    return run(seed=7, years=3)


def check_invariants(model: ReferenceClubModel) -> None:
    series, members = model.series_frame(), model.members_frame()
    assert list(series.columns) == list(metrics.SERIES_COLUMNS)
    assert list(members.columns) == list(metrics.MEMBER_COLUMNS)
    assert len(series) == model.scenario.config.weeks
    assert not series.isna().any().any() and not members.isna().any().any()
    np.testing.assert_array_equal(series["members"], series["joins"].cumsum() - series["exits"].cumsum())
    exits_by_reason = series[[f"exits_{r}" for r in metrics.EXIT_REASONS]].sum(axis=1)
    np.testing.assert_array_equal(series["exits"], exits_by_reason)
    assert np.isclose(members["business_received"].sum(), members["business_given"].sum())
    assert np.isclose(members["business_received"].sum(), series["business"].sum())
    assert np.isclose(members["direct_sales"].sum(), series["direct_sales"].sum())
    assert np.isclose(members["fees_paid"].sum(), series["fees_collected"].sum())
    assert members["referrals_given"].sum() == members["referrals_received"].sum() == series["referrals"].sum()
    assert members["deals_received"].sum() == series["deals"].sum()
    assert len(members) == series["joins"].sum()
    assert (members["exit_reason"] == metrics.ACTIVE).sum() == series["members"].iloc[-1]
    assert set(members["exit_reason"]) <= {*metrics.EXIT_REASONS, metrics.ACTIVE}
    assert set(members["member_type"]) <= set(metrics.MEMBER_TYPES)
    assert ((members["exit_reason"] == metrics.ACTIVE) == (members["exit_week"] == -1)).all()
    assert series["attendance_rate"].between(0, 1).all() and series["mean_tie"].between(0, 1).all()


def test_columns_and_invariants(default_run):
    check_invariants(default_run)
    series = default_run.series_frame()
    assert series["joins"].iloc[0] >= default_run.scenario.club.founders
    assert series["fees_collected"].iloc[0] >= 12 * 960.0
    summary = default_run.summary()
    assert summary["weeks"] == 156 and summary["joins_total"] == series["joins"].sum()
    # the same column types as the numba engine's: `meeting` is 1 or 0 (timeseries.csv), not True or False
    assert series["meeting"].dtype.kind == "i" and set(series["meeting"]) <= {0, 1}


@pytest.mark.parametrize("sections", [
    {"club": {"fees": {"billing": "monthly", "entry": 300}, "meetings_per_year": 12}},
    {"club": {"composition": {"policy": "complementarity"}, "selection": {"policy": "interview"}}},
    {"club": {"composition": {"policy": "open"}, "contribution_rule": {"enabled": True}}},
])
def test_invariants_under_other_policies(sections):
    check_invariants(run(seed=3, **sections))


def test_same_seed_same_run_other_seed_other_run():
    a, b, c = run(seed=11), run(seed=11), run(seed=12)
    pd.testing.assert_frame_equal(a.series_frame(), b.series_frame())
    pd.testing.assert_frame_equal(a.members_frame(), b.members_frame())
    assert not a.series_frame().equals(c.series_frame())


def test_seed_and_rng_keywords_agree():
    a = ReferenceClubModel({"years": 1}, rng=5)
    b = ReferenceClubModel({"years": 1}, seed=5)
    a.run()
    b.run()
    pd.testing.assert_frame_equal(a.series_frame(), b.series_frame())


def test_exclusivity_never_two_members_with_one_profession():
    scenario = load_scenario({
        "years": 2,
        "market": {"professions": 30, "sectors": 3},
        "club": {"recruitment": {"visitors_per_meeting": 12.0, "application_rate": 1.0}},
    })
    model = ReferenceClubModel(scenario, seed=2)
    for _ in range(scenario.config.weeks):
        model.step()
        professions = [m.profession for m in model.members]
        assert len(professions) == len(set(professions))
    assert model.series_frame()["members"].max() > 20  # the club did fill up the small market


def test_hunters_without_propensity_never_refer():
    model = run(seed=4, population={"referral_propensity": {"hunter": 0.0},
                                    "shares": {"giver": 0.2, "reciprocator": 0.2, "hunter": 0.6}})
    members = model.members_frame()
    hunters = members[members["member_type"] == "hunter"]
    assert len(hunters) > 0 and hunters["referrals_given"].sum() == 0
    assert members["referrals_given"].sum() > 0  # the others still do


def test_no_invitations_no_growth():
    model = run(seed=5, club={"recruitment": {"visitors_per_meeting": 0.0}})
    series = model.series_frame()
    founders = model.scenario.club.founders
    assert series["joins"].sum() == founders == series["joins"].iloc[0]
    assert series["members"].max() == founders and series["visitors"].sum() == 0


def test_attendance_rule_expels_absentees():
    low = {"attendance_mean": 0.5}
    expelled = run(seed=6, population=low, club={"attendance_rule": {"enabled": True}, "min_viable_size": 0})
    assert expelled.series_frame()["exits_expelled_absence"].sum() > 0
    check_invariants(expelled)
    tolerant = run(seed=6, population=low, club={"min_viable_size": 0})
    assert tolerant.series_frame()["exits_expelled_absence"].sum() == 0


def test_club_closes_below_minimum_size():
    model = run(seed=8, club={"founders": 6, "min_viable_size": 6, "recruitment": {"visitors_per_meeting": 0.0}})
    series = model.series_frame()
    check_invariants(model)
    assert series["exits_dissolved"].sum() > 0 and series["members"].iloc[-1] == 0
    closed_from = int(series.index[series["exits_dissolved"] > 0][0])
    assert (series.loc[closed_from + 1:, ["joins", "exits", "referrals", "meeting"]] == 0).all().all()
    assert model.summary()["survived"] is False


def test_monthly_meetings_calendar():
    model = run(seed=9, years=1, club={"meetings_per_year": 12})
    assert model.series_frame()["meeting"].sum() == 12


# --------------------------------------------------------------------------- random streams


def stream_states(model: ReferenceClubModel) -> dict[str, dict]:
    """Each random process's generator state, by process name."""
    return {name: generator.bit_generator.state for name, generator in model.draws._asdict().items()}


def test_each_process_draws_the_stream_of_its_name():
    """For one seed, Mesa's generator builds the market, then draws the root (as the numba engine does), and
    process k's numbers are stream_generator(root, 0, k)'s (keyed on FOUNDING): the founders the first
    candidates of it."""
    seed = 21
    config = load_scenario({"years": 1}).config
    run_generator = np.random.default_rng(seed)
    market = make_market(config.market, run_generator)
    root = root_seed(run_generator)
    model = ReferenceClubModel(config, seed=seed)
    assert ClubDraws._fields == CLUB_STREAMS
    assert model.root == root and model.club_index == 0
    np.testing.assert_array_equal(model.market.deal_median, market.deal_median)
    for k, name in enumerate(CLUB_STREAMS):
        if name != "candidates":  # founding used it
            np.testing.assert_array_equal(getattr(model.draws, name).random(5),
                                          stream_generator(root, 0, k).random(5))
    replay = ReferenceClubModel(config, seed=seed)
    replay.draws = replay.draws._replace(candidates=stream_generator(root, 0, R_CANDIDATES))
    first_candidate, first_founder = replay.draw_candidate(), model.all_members[0]
    assert all(getattr(first_founder, trait) == value for trait, value in vars(first_candidate).items())


def test_both_engines_give_each_process_the_same_numbers():
    seed = 22
    config = load_scenario({"years": 1}).config
    numba_club = ClubEngine(config, np.random.default_rng(seed))
    model = ReferenceClubModel(config, seed=seed)
    assert model.root == numba_club.root_seed
    for k, name in enumerate(CLUB_STREAMS):
        if k != R_CANDIDATES:  # both engines founded their club from it, with different numbers of draws
            stream = numba_club.club.streams[k].copy()
            assert [uniform(stream) for _ in range(3)] == getattr(model.draws, name).random(3).tolist(), name
    # and after each engine's weekly restart (the numba kernel's `rekey`, the reference's `rekey_generator`)
    restart_streams(numba_club.club, 7)
    model.week = 7
    model.restart_streams()
    for k, name in enumerate(CLUB_STREAMS):
        stream = numba_club.club.streams[k].copy()
        assert [uniform(stream) for _ in range(3)] == getattr(model.draws, name).random(3).tolist(), name


RECRUITING = {"visitors_per_meeting": 10.0, "application_rate": 1.0}  # applicants every meeting


@pytest.mark.parametrize("base, change, changed, in_step", [
    # the interview draws in phase 9 only (screening): every other process is in step after week 0
    ({"club": {"recruitment": RECRUITING}},
     {"club": {"recruitment": RECRUITING, "selection": {"policy": "interview"}}},
     "screening", set(CLUB_STREAMS) - {"screening"}),
    # sphere one-to-ones draw more in the meeting; visitors and candidates come after it in the week, and the
    # decisions and admissions do not depend on ties in week 0 (the referrals and hunting do)
    ({"ties": {"sphere_one_to_one": 0.0}, "club": {"recruitment": RECRUITING}},
     {"ties": {"sphere_one_to_one": 1.0}, "club": {"recruitment": RECRUITING}},
     "one_to_ones", {"attendance", "visitors", "candidates", "decisions", "screening", "second_circle"}),
])
def test_a_process_that_draws_more_leaves_the_others_in_step(base, change, changed, in_step):
    """Common random numbers: the week is the same but for one process's number of draws, and no other
    process's numbers move (with one generator for all, every later draw would shift)."""
    runs = []
    for sections in (base, change):
        model = ReferenceClubModel(load_scenario({"years": 1, **sections}), seed=5)
        model.step()
        runs.append(model)
    a, b = (stream_states(model) for model in runs)
    assert a[changed] != b[changed]  # the change did change its process's number of draws
    assert {name for name in CLUB_STREAMS if a[name] == b[name]} >= in_step
    first_week = [model.series_frame().loc[0, ["visitors", "applicants"]].tolist() for model in runs]
    assert first_week[0] == first_week[1]


def test_the_founders_attend_alike_whoever_the_interview_let_in():
    """The interview of week 0 changes who joins, not the founders' attendance draws of week 1: they come
    first in the attendance stream, restarted at (1, 0), (members attend in joining order) in both runs."""
    runs = []
    for selection in ("none", "interview"):
        model = ReferenceClubModel(load_scenario({"years": 1, "club": {"recruitment": RECRUITING,
                                                                       "selection": {"policy": selection}}}), seed=2)
        model.run_to(2)
        runs.append(model)
    open_club, interviewing = runs
    assert open_club.series_frame()["joins"][0] != interviewing.series_frame()["joins"][0]  # the interview refused
    founders = [[m for m in model.all_members if m.founder] for model in runs]
    for a, b in zip(*founders, strict=True):
        assert (a.attendance_habit, list(a.absences), a.profession) == (b.attendance_habit, list(b.absences),
                                                                        b.profession)


def record_at_meeting(model: ReferenceClubModel) -> dict[int, dict[str, dict]]:
    """Each process's generator state as each meeting starts (after the weekly restart), by week."""
    states: dict[int, dict[str, dict]] = {}
    hold_meeting = model.hold_meeting

    def recording() -> None:
        states[model.week] = stream_states(model)
        hold_meeting()

    model.hold_meeting = recording
    return states


def test_every_process_restarts_at_its_stream_each_week():
    """Common random numbers from week to week: two runs on one seed whose fees differ admit different
    applicants (willingness to pay) and then lose, expel and interview different members, so their processes
    draw different amounts of numbers; at the start of week w each process is nonetheless at its stream keyed
    on (w, 0) in both (without the weekly restart it would be wherever the weeks before left it)."""
    week = 20
    runs = []
    for annual in (960.0, 2400.0):
        model = ReferenceClubModel(load_scenario({"years": 1, "club": {
            "fees": {"annual": annual}, "recruitment": RECRUITING, "selection": {"policy": "interview"}}}), seed=5)
        at_meeting = record_at_meeting(model)
        model.run_to(week)
        before = stream_states(model)  # as week w - 1 left them
        model.run_to(week + 1)
        runs.append((model, before, at_meeting[week]))
    (a, before_a, at_a), (b, before_b, at_b) = runs
    assert a.root == b.root
    assert a.series_frame()["members"].tolist() != b.series_frame()["members"].tolist()  # the clubs diverged
    assert before_a != before_b  # and so did their draws in week w - 1: without the restart they would start w apart
    expected = {name: stream_generator(a.root, 0, k, week).bit_generator.state for k, name in enumerate(CLUB_STREAMS)}
    assert at_a == at_b == expected


def test_the_v_th_visitor_who_applies_is_the_same_person_in_both_runs():
    """Common random numbers in recruitment: visitor v of week w, if it applies, is drawn from the candidates
    stream keyed on (w, 1 + v) (checked on the generator's state as each applicant is drawn), so two runs on
    one seed whose clubs differ (the composition policy: other members, other satisfaction, other inviters)
    see the same people apply in the same order. An applicant of its inviter's sector takes a profession of
    that sector, so when the inviters' sectors differ that applicant differs; the next ones of its week, at
    their own keys, do not."""
    weeks, recruitment = 40, {"visitors_per_meeting": 6.0, "application_rate": 0.5, "own_sector_share": 0.5}
    runs = []
    for policy in ("exclusivity", "open"):
        model = ReferenceClubModel(load_scenario({"years": 1, "club": {
            "recruitment": recruitment, "composition": {"policy": policy}}}), seed=9)
        applicants: list[tuple[int, int | None, dict, object]] = []  # (week, sector hint, candidates state, traits)
        draw_candidate = model.draw_candidate  # the founders are drawn: every later candidate is an applicant

        def recording(sector=None, model=model, applicants=applicants, draw_candidate=draw_candidate):
            state = model.draws.candidates.bit_generator.state
            candidate = draw_candidate(sector)
            applicants.append((model.week, sector, state, candidate))
            return candidate

        model.draw_candidate = recording
        model.run_to(weeks)
        runs.append((model, applicants))
    (a, applicants_a), (b, applicants_b) = runs
    assert a.series_frame()["members"].tolist() != b.series_frame()["members"].tolist()
    keys = {stream_generator(a.root, 0, R_CANDIDATES, week, 1 + v).bit_generator.state["state"]["state"]: (week, v)
            for week in range(weeks) for v in range(64)}
    same = differ = same_after_a_difference = 0
    for week in range(weeks):
        first = [x for x in applicants_a if x[0] == week]
        second = [x for x in applicants_b if x[0] == week]
        # every applicant drew from the key of one visitor of its week, in increasing order
        for applicants in (first, second):
            visitors = [keys[state["state"]["state"]] for _, _, state, _ in applicants]
            assert all(w == week for w, _ in visitors) and visitors == sorted(set(visitors))
        differed = False
        for (_, hint_a, state_a, traits_a), (_, hint_b, state_b, traits_b) in zip(first, second, strict=False):
            assert state_a == state_b  # the i-th applicant of the week is the same visitor in both runs
            if hint_a == hint_b:  # any sector (None) in both, or one sector
                assert traits_a == traits_b
                same += 1
                same_after_a_difference += differed
            else:
                differ += 1
                differed = True
    assert same >= 30 and same_after_a_difference > 0, (same, differ, same_after_a_difference)


def test_member_ids_count_from_0_in_joining_order_in_both_engines():
    from pathlib import Path

    from sim.model.runner import simulate

    bni = Path(__file__).resolve().parent.parent / "scenarios" / "bni_chapter.yaml"
    for engine in ("numba", "python"):
        members = simulate(bni, 3, engine=engine, overrides={"years": 2}).members
        assert len(members) > 12, engine  # founders and members who joined later
        assert members["member_id"].tolist() == list(range(len(members))), engine
        assert members["join_week"].is_monotonic_increasing, engine
