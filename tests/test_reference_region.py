"""The plain-Mesa reference region (sim/reference/region.py) on its own: the rules of ODD 7.8.

Whole runs check the accounts and what a region of one club is; the rules are checked on a small
hand-set region (two clubs of two members, professions chosen, needs only for chosen professions,
every need passed on, every referral converted), where the rule alone decides who receives what.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.kernels.draws import REGION_KEY, root_seed, stream_generator
from sim.kernels.layout import CLUB_STREAMS, R_CANDIDATES, REGION_STREAMS
from sim.model import metrics
from sim.model.market import make_market
from sim.reference.club import ReferenceClubModel
from sim.reference.region import ReferenceRegionModel, RegionDraws

REGION = {"years": 2, "club": {"capacity": 20}, "region": {"clubs": 3}}


def run(seed: int = 1, **sections) -> ReferenceRegionModel:
    model = ReferenceRegionModel({**REGION, **sections}, rng=seed)
    model.run()
    return model


@pytest.fixture(scope="module")
def region_run() -> ReferenceRegionModel:
    return run(seed=3, years=3)


def test_frames_and_accounts(region_run):
    model = region_run
    series, members = model.club_series_frames(), model.club_members_frames()
    assert model.club_names == ["club_1", "club_2", "club_3"] and len(series) == len(members) == 3
    for club_series, club_members in zip(series, members, strict=True):
        assert list(club_series.columns) == list(metrics.SERIES_COLUMNS)
        assert list(club_members.columns) == list(metrics.MEMBER_COLUMNS)
        assert len(club_series) == 156 and not club_series.isna().any().any()
        np.testing.assert_array_equal(club_series["members"],
                                      club_series["joins"].cumsum() - club_series["exits"].cumsum())
        assert len(club_members) == club_series["joins"].sum()
        # a cross-club referral and its deal count in the receiver's club
        assert np.isclose(club_members["business_received"].sum(), club_series["business"].sum())
        assert club_members["referrals_received"].sum() == club_series["referrals"].sum()
        assert club_members["deals_received"].sum() == club_series["deals"].sum()
        assert np.isclose(club_members["fees_paid"].sum(), club_series["fees_collected"].sum())
        assert (club_series["cross_club_business"] <= club_series["business"] + 1e-9).all()
        assert (club_series["cross_club_referrals"] <= club_series["referrals"]).all()
    every_member, every_week = pd.concat(members), pd.concat(series)
    assert np.isclose(every_member["business_given"].sum(), every_week["business"].sum())
    assert every_member["referrals_given"].sum() == every_week["referrals"].sum()
    assert every_week["cross_club_business"].sum() > 0  # the default region does exchange business


def test_same_seed_same_region():
    a, b = run(seed=5, years=1), run(seed=5, years=1)
    for frames_a, frames_b in [(a.club_series_frames(), b.club_series_frames()),
                               (a.club_members_frames(), b.club_members_frames())]:
        for x, y in zip(frames_a, frames_b, strict=True):
            pd.testing.assert_frame_equal(x, y)


def test_a_region_of_one_club_is_the_single_club_model_draw_for_draw():
    scenario = {"years": 2, "club": {"capacity": 20}}
    region = ReferenceRegionModel({**scenario, "region": {"clubs": 1}}, rng=4)
    club = ReferenceClubModel(scenario, rng=4)
    region.run()
    club.run()
    pd.testing.assert_frame_equal(region.club_series_frames()[0], club.series_frame())
    pd.testing.assert_frame_equal(region.club_members_frames()[0], club.members_frame())


def test_each_club_and_the_region_draw_from_their_own_streams():
    """As in the numba region engine: the run's generator builds the market and draws one root; club c's
    process k draws from stream (root, c, k), the region's own process k from (root, REGION_KEY, k), all at
    their founding key (FOUNDING, 0) when the region is built (the founders are the first candidates)."""
    model = ReferenceRegionModel({**REGION, "years": 1}, rng=4)
    run_generator = np.random.default_rng(4)
    make_market(model.scenario.config.market, run_generator)
    root = root_seed(run_generator)
    assert model.root == root and RegionDraws._fields == REGION_STREAMS
    assert stream_states(model.draws) == {name: stream_generator(root, REGION_KEY, k).bit_generator.state
                                          for k, name in enumerate(REGION_STREAMS)}
    for c, club in enumerate(model.clubs):
        assert club.root == root and club.club_index == c and club.market is model.market
        states = stream_states(club.draws)
        for k, name in enumerate(CLUB_STREAMS):
            if k != R_CANDIDATES:  # founding drew from it
                assert states[name] == stream_generator(root, c, k).bit_generator.state, (c, name)
        club.draws = club.draws._replace(candidates=stream_generator(root, c, R_CANDIDATES))
        first_candidate, first_founder = club.draw_candidate(), club.all_members[0]
        assert all(getattr(first_founder, trait) == value for trait, value in vars(first_candidate).items())


def stream_states(draws) -> dict[str, dict]:
    """Each process's generator state, by process name."""
    return {name: generator.bit_generator.state for name, generator in draws._asdict().items()}


def test_the_region_s_processes_restart_each_week():
    """Common random numbers from week to week, as the numba engine's `region_meet`: with or without
    transfers the region's transfers process draws different amounts of numbers, yet at the interclub event
    of week w both runs' processes are at their streams keyed on (w, 0), as are each open club's processes at
    its meeting."""
    week, runs = 6, []
    for share in (0.0, 1.0):
        model = ReferenceRegionModel({"years": 1, "club": {"capacity": 12, "recruitment": {
            "visitors_per_meeting": 8.0, "application_rate": 1.0}}, "region": {
            "clubs": 3, "interclub_events_per_year": 52, "transfer_share": share}}, rng=6)
        at_event, at_meeting = {}, {}
        hold_interclub_event = model.hold_interclub_event

        def recording(model=model, at_event=at_event, hold_interclub_event=hold_interclub_event):
            at_event[model.week] = stream_states(model.draws)
            hold_interclub_event()

        model.hold_interclub_event = recording
        for club in model.clubs:
            hold_meeting = club.hold_meeting

            def recording_club(club=club, hold_meeting=hold_meeting, at_meeting=at_meeting):
                at_meeting[club.club_index, club.week] = stream_states(club.draws)
                hold_meeting()

            club.hold_meeting = recording_club
        model.run_to(week)
        before = stream_states(model.draws)  # as week w - 1 left them
        model.run_to(week + 1)
        runs.append((model, before, at_event[week], at_meeting))
    (a, before_a, event_a, meeting_a), (b, before_b, event_b, meeting_b) = runs
    assert before_a["transfers"] != before_b["transfers"]  # the transfers drew in week w - 1
    assert event_a == event_b == {name: stream_generator(a.root, REGION_KEY, k, week).bit_generator.state
                                  for k, name in enumerate(REGION_STREAMS)}
    for c in range(3):
        assert meeting_a[c, week] == meeting_b[c, week] == {
            name: stream_generator(a.root, c, k, week).bit_generator.state for k, name in enumerate(CLUB_STREAMS)}


def test_a_transfer_s_interview_leaves_the_receiving_club_s_draws_in_step():
    """Common random numbers: transfers (their interview included) draw from the region's transfers stream
    only, so with or without them every club's processes draw the same numbers in week 0."""
    runs = []
    for share in (0.0, 1.0):
        model = ReferenceRegionModel({"years": 1, "club": {"founders": 10, "selection": {"policy": "interview"}},
                                      "region": {"transfer_share": share, "clubs": [
                                          {"name": "full", "club": {"capacity": 10, "recruitment": {
                                              "visitors_per_meeting": 10.0, "application_rate": 1.0}}},
                                          {"name": "open", "club": {"recruitment": {"visitors_per_meeting": 0.0}}},
                                      ]}}, rng=2)
        model.step()
        runs.append(model)
    without, transferring = runs
    assert len(transferring.clubs[1].members) > len(without.clubs[1].members)  # transfers passed the interview
    assert without.draws.transfers.bit_generator.state != transferring.draws.transfers.bit_generator.state
    for a, b in zip(without.clubs, transferring.clubs, strict=True):
        for name in CLUB_STREAMS:
            assert getattr(a.draws, name).bit_generator.state == getattr(b.draws, name).bit_generator.state, name


def test_club_groups_keep_their_own_rules():
    model = run(seed=2, years=1, region={"clubs": [
        {"name": "weekly", "count": 2},
        {"name": "monthly", "club": {"meetings_per_year": 12}},
    ]})
    assert model.club_names == ["weekly_1", "weekly_2", "monthly"]
    assert [int(s["meeting"].sum()) for s in model.club_series_frames()] == [52, 52, 12]
    assert all(club.market is model.market and club.rng is model.rng for club in model.clubs)


def test_without_interclub_events_no_business_crosses_clubs():
    model = run(seed=6, region={"clubs": 3, "interclub_events_per_year": 0})
    assert model.weak_ties == {}
    for club_series, club_members in zip(model.club_series_frames(), model.club_members_frames(), strict=True):
        assert club_series["cross_club_referrals"].sum() == 0 and club_series["cross_club_business"].sum() == 0
        # what the club's members gave is what its members received
        assert np.isclose(club_members["business_given"].sum(), club_series["business"].sum())
        assert club_members["referrals_given"].sum() == club_series["referrals"].sum()
    with_events = run(seed=6, region={"clubs": 3, "interclub_events_per_year": 4})
    assert sum(s["cross_club_business"].sum() for s in with_events.club_series_frames()) > 0


# --------------------------------------------------------------------------- a hand-set region

HAND_SET = {
    "years": 1,
    "market": {"professions": 6, "sectors": 1},
    "club": {"founders": 2, "capacity": 3, "min_viable_size": 0, "composition": {"policy": "exclusivity"}},
    "population": {"shares": {"giver": 1.0, "reciprocator": 0.0, "hunter": 0.0},
                   "referral_propensity": {"giver": 1.0}, "willingness_to_pay_share": 1.0},
    "referrals": {"conversion_min": 1.0, "conversion_max": 1.0},
    "region": {"clubs": 2, "weak_ties_per_member": 2},
}
THREE_CLUBS = {"region": {**HAND_SET["region"], "clubs": 3}}


def hand_set(professions: tuple[tuple[int, ...], ...] = ((0, 1), (1, 2)), **sections) -> ReferenceRegionModel:
    """A region of two founded clubs whose members hold `professions`, before any week is run."""
    model = ReferenceRegionModel({**HAND_SET, **sections}, rng=0)
    for club, held in zip(model.clubs, professions, strict=True):
        club.by_profession = {}
        for member, profession in zip(club.members, held, strict=True):
            member.profession, member.sector = profession, 0
            club.by_profession.setdefault(profession, []).append(member)
    return model


def needs_only_for(model: ReferenceRegionModel, *professions: int) -> None:
    """Every client need of every member names one of `professions`, with equal weights."""
    weights = np.zeros(model.market.professions)
    weights[list(professions)] = 1.0
    for club in model.clubs:
        club.need_cdf = [np.cumsum(weights)]


def test_a_need_leaves_the_club_only_for_a_profession_it_does_not_hold():
    model = hand_set()
    (a0, a1), (b1, b2) = (club.members for club in model.clubs)
    needs_only_for(model, 1, 2)  # 1 is held in both clubs, 2 only by b2
    a0.needs_per_week = 4.0  # half for 2, passed with trust 0.3: about 36 referrals to b2 in 60 weeks
    model.meet(a0, b1)
    model.meet(a0, b2)
    for _ in range(60):
        model.pass_second_circle_referrals(model.clubs[0])
    assert b1.referrals_received == 0 and b1.business_received == 0  # a1 holds 1: 7.2 met those needs
    assert b2.referrals_received > 20 and b2.referrals_received == a0.referrals_given
    assert a1.referrals_given == 0  # a1 has no weak tie and no strong tie to a0
    receiving, giving = model.clubs[1].tally, model.clubs[0].tally
    assert receiving["referrals"] == receiving["cross_club_referrals"] == b2.referrals_received
    assert receiving["deals"] == b2.deals_received == b2.referrals_received  # conversion 1
    assert np.isclose(receiving["business"], b2.business_received)
    assert np.isclose(receiving["cross_club_business"], b2.business_received)
    assert np.isclose(a0.business_given, b2.business_received)
    assert giving["referrals"] == giving["cross_club_business"] == 0
    assert len(a0.referral_weeks) == a0.referrals_given  # the contribution rule sees them
    assert b2.received_from == {} and a0.ties == {a1: pytest.approx(0.05)}  # no tie changes


@pytest.mark.parametrize("trust, crosses", [(0.6, True), (0.4, False)])
def test_a_bridge_is_a_strongly_trusted_clubmate(trust, crosses):
    model = hand_set()
    (a0, a1), (_, b2) = (club.members for club in model.clubs)
    needs_only_for(model, 2)
    model.meet(a1, b2)  # only a1 knows b2
    a0.ties[a1] = trust  # strong at 0.5 (ties.strong_threshold)
    a1.ties[a0] = 1.0  # a1's trust in a0 does not make a1 a0's bridge
    for _ in range(40):
        model.pass_second_circle_referrals(model.clubs[0])
    assert (a0.referrals_given > 0) is crosses
    assert a1.referrals_given > 0  # a1 is its own bridge
    assert b2.referrals_received == a0.referrals_given + a1.referrals_given


def test_no_bridge_after_the_holder_left():
    model = hand_set()
    (a0, _), (_, b2) = (club.members for club in model.clubs)
    needs_only_for(model, 2)
    model.meet(a0, b2)
    b2.exit("left")
    model.end_leavers_weak_ties()
    for _ in range(20):
        model.pass_second_circle_referrals(model.clubs[0])
    assert a0.referrals_given == 0


def test_a_bridge_is_drawn_and_passed_in_proportion_to_trust():
    model = hand_set(((0, 1), (2, 2)), referrals={"conversion_min": 0.0, "conversion_max": 0.0})
    (a0, a1), (b_far, b_near) = (club.members for club in model.clubs)
    needs_only_for(model, 2)
    a1.needs_per_week = 0.0  # only a0 has needs
    model.meet(a0, b_near)  # a0's own bridge: trust 0.3
    model.meet(a1, b_far)
    model.meet(a1, b_far)  # 0.3, then 0.51
    a0.ties[a1] = 0.8  # through a1: trust 0.8 x 0.51
    for _ in range(1200):
        model.pass_second_circle_referrals(model.clubs[0])
    far, near = 0.8 * 0.51, 0.3
    # drawn with probability t / (t_far + t_near), passed with probability t
    share = b_far.referrals_received / (b_far.referrals_received + b_near.referrals_received)
    assert abs(share - far**2 / (far**2 + near**2)) < 0.04  # about 1,400 referrals: 3 standard errors


def test_weak_ties_are_mutual_decay_and_keep_the_strongest_k():
    model = hand_set(((0, 1), (2, 3), (4, 5)), **THREE_CLUBS)
    (a0, _), (b2, b3), (c4, _) = (club.members for club in model.clubs)
    keep = 1.0 - model.scenario.config.ties.decay
    model.meet(a0, b2)  # week 0
    model.week = 3
    model.meet(b3, a0)
    assert [t.other(a0) for t in model.weak_ties[a0]] == [b2, b3]
    assert model.weak_ties[b3][0] is model.weak_ties[a0][1]  # one tie, held by both
    model.week = 6
    model.meet(a0, b3)  # refreshed from its decayed strength
    assert np.isclose(model.weak_ties[a0][1].strength, 0.3 * keep**3 + 0.3 * (1 - 0.3 * keep**3))
    model.meet(a0, c4)  # K = 2: a0 gives up its weakest, b2's, which ends for b2 too
    assert [t.other(a0) for t in model.weak_ties[a0]] == [c4, b3]
    assert model.weak_ties_of(b2) == []
    assert dict(model.weak_ties_of(a0)) == pytest.approx({c4: 0.3, b3: model.weak_ties[a0][1].strength})
    model.week = 16
    assert dict(model.weak_ties_of(c4))[a0] == pytest.approx(0.3 * keep**10)


def test_a_leaver_s_weak_ties_end_for_both_at_the_end_of_the_week():
    model = hand_set(((0, 1), (2, 3), (4, 5)), **THREE_CLUBS)
    (a0, _), (b2, b3), (c4, _) = (club.members for club in model.clubs)
    model.meet(a0, b2)
    model.week = 5
    model.meet(a0, b3)  # b3's tie is now the stronger
    b3.exit("left")
    assert [other for other, _ in model.weak_ties_of(a0)] == [b2, b3]  # until the end of the week
    model.end_leavers_weak_ties()
    assert [other for other, _ in model.weak_ties_of(a0)] == [b2] and b3 not in model.weak_ties
    model.meet(a0, c4)  # takes the freed entry, not b2's weaker tie
    assert [t.other(a0) for t in model.weak_ties[a0]] == [b2, c4]


def test_an_interclub_event_meets_only_other_clubs_and_costs_hours():
    model = hand_set(((0, 1), (2, 3)), region={**HAND_SET["region"], "contacts_per_event": 2,
                                                "weak_ties_per_member": 8})
    members = [m for club in model.clubs for m in club.members]
    for member in members:
        member.attendance_habit = 1.0
    model.hold_interclub_event()
    hours = model.scenario.config.region.event_hours
    for member in members:
        assert member.hours == hours and member.attendance_habit == 1.0  # the habit does not change
        ties = model.weak_ties_of(member)
        assert ties and all(other.model is not member.model for other, _ in ties)
        assert all(any(o is member for o, _ in model.weak_ties_of(other)) for other, _ in ties)  # mutual


def test_an_event_without_attendees_from_other_clubs_makes_no_tie():
    model = hand_set(((0, 1), (2, 3)))
    for club, habit in zip(model.clubs, (1.0, 0.0), strict=True):
        for member in club.members:
            member.attendance_habit = habit
    model.hold_interclub_event()
    assert not any(model.weak_ties_of(m) for club in model.clubs for m in club.members)
    assert all(m.hours == model.scenario.config.region.event_hours for m in model.clubs[0].members)


def test_events_and_transfers_stay_inside_areas():
    model = hand_set(((0, 1), (2, 3), (4, 5)),
                     region={**THREE_CLUBS["region"], "area_size": 2, "weak_ties_per_member": 8,
                             "transfer_share": 1.0, "contacts_per_event": 4})
    assert model.area == [[0, 1], [0, 1], [2]]
    a, b, c = model.clubs
    for member in [*a.members, *b.members, *c.members]:
        member.attendance_habit = 1.0
    model.hold_interclub_event()
    assert all({o.model for o, _ in model.weak_ties_of(m)} == {b} for m in a.members)
    assert not any(model.weak_ties_of(m) for m in c.members)  # alone in its area
    a.refused, c.refused = [refused_candidate(model, 5)], [refused_candidate(model, 4)]
    model.transfer_refused_applicants()
    assert [len(club.members) for club in model.clubs] == [2, 3, 2]


# --------------------------------------------------------------------------- transfers


def refused_candidate(model: ReferenceRegionModel, profession: int):
    candidate = model.clubs[0].draw_candidate()
    candidate.profession, candidate.sector = profession, 0
    return candidate


@pytest.mark.parametrize("capacity, profession, joins", [
    (3, 5, True),    # a free seat, a free profession
    (2, 5, False),   # no free seat
    (3, 2, False),   # b2 holds its profession (exclusivity)
])
def test_a_transfer_joins_only_a_club_with_room(capacity, profession, joins):
    model = hand_set(region={**HAND_SET["region"], "transfer_share": 1.0, "clubs": [
        {"name": "a"}, {"name": "b", "club": {"capacity": capacity}}]})
    candidate = refused_candidate(model, profession)
    model.clubs[0].refused = [candidate]
    model.transfer_refused_applicants()
    assert len(model.clubs[1].members) == 2 + joins and len(model.clubs[0].members) == 2
    assert model.clubs[0].refused == []


def test_no_transfer_to_a_closed_club_or_without_transfer_share():
    model = hand_set(region={**HAND_SET["region"], "transfer_share": 1.0})
    model.clubs[1].closed = True
    model.clubs[0].refused = [refused_candidate(model, 5)]
    model.transfer_refused_applicants()
    assert len(model.clubs[1].members) == 2
    model = hand_set(region={**HAND_SET["region"], "transfer_share": 0.0})
    model.clubs[0].refused = [refused_candidate(model, 5)]
    model.transfer_refused_applicants()
    assert len(model.clubs[1].members) == 2


def test_only_capacity_and_composition_refusals_are_handed_over():
    model = hand_set()
    club = model.clubs[0]
    held, poor, welcome = refused_candidate(model, 0), refused_candidate(model, 4), refused_candidate(model, 5)
    poor.willingness_to_pay = 0.0
    club.applicants = [held, poor, welcome]
    club.refused = []
    club.apply_club_rules(meeting=True)  # held: composition; poor: the fee; welcome joins and fills the club
    assert club.refused == [held] and len(club.members) == 3
    late = refused_candidate(model, 4)
    club.applicants = [late]
    club.refused = []
    club.apply_club_rules(meeting=True)
    assert club.refused == [late]  # capacity
