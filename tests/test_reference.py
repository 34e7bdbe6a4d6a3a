"""Fast checks of the plain-Mesa reference engine on its own (short scenarios, a few seeds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.model import metrics
from sim.model.scenario import load_scenario
from sim.reference.club import ReferenceClubModel


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
