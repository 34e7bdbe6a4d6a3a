"""The plain-Mesa reference engine of a region (docs/ODD.md section 7.8): several clubs sharing one
market and one pool of candidates, meeting at interclub events.

It owns the region's week only: the order of ODD 7.8, areas, interclub events, weak ties (each a
`WeakTie` object held by both its members, in a dict of entries keyed by member), second-circle
referrals and transfers of refused applicants. Each club is a `ReferenceClubModel`
(`sim/reference/club.py`) run phase by phase; metrics live in `sim/model/metrics.py`. It is the docking
reference of the numba region engine, so it writes the rules the plain way and shares none of that
engine's shortcuts: every weak tie's strength is computed from its last refresh, a member's client
needs are all drawn (Poisson, 7.2) and those for professions its club does not hold look for
bridges, one by one, with no thinning.

Random numbers, as in the numba region engine: the region's generator builds the market and draws
one root (`sim.kernels.draws.root_seed`); club c's process k draws from the streams of (root, c, k)
(`ReferenceClubModel.draws`), founding included, restarted at (week, 0) at the start of each week
the club is open, and the region's own processes from the streams of (root, REGION_KEY, k)
(`self.draws`: the interclub events, and the transfers of refused applicants with the receiving
club's interview), at (FOUNDING, 0) when the region is built and restarted at (week, 0) every week
after the clubs' phases 1-6, before the interclub event (the numba engine's `region_meet`). A
club's second-circle referrals draw from that club's own second-circle stream, the deal's value
included. So with one club the region is the single-club model draw for draw, and a region's
processes draw their numbers in step across scenarios run on one seed, and again from the start of
each week however far the runs diverged before it (common random numbers).

Readings of ODD 7.8 where the text leaves a choice:
- the second-circle needs are drawn in the second-circle phase, independently of the needs met
  inside the club in phase 2; only those naming a profession the club does not hold are used, so
  together they are one Poisson stream of needs split by whether the club holds the profession;
- an applicant who tries another club and is refused there tries no third club, and is not
  counted in that club's `visitors` or `applicants` (it joins, if it does, as one of its `joins`);
- a club that closes in phase 9 still hands over the applicants it refused that week.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import mesa
import numpy as np
import pandas as pd

from sim.kernels.draws import REGION_KEY, rekey_generator, root_seed, stream_generator
from sim.kernels.layout import REGION_STREAMS
from sim.model import metrics
from sim.model.market import make_market
from sim.model.scenario import ClubScenario, ScenarioConfig, load_scenario
from sim.reference.club import (
    DEFAULT_SCENARIO,
    RECIPROCATOR,
    Member,
    ReferenceClubModel,
    RunsWeekByWeek,
    draw_index,
    grow,
    is_calendar_week,
)


def is_current(member: Member) -> bool:
    """Still a member of its club."""
    return member.exit_reason == metrics.ACTIVE


@dataclass(eq=False)
class WeakTie:
    """A mutual weak tie between two members of different clubs: one strength, as refreshed in `week`."""

    ends: tuple[Member, Member]
    strength: float
    week: int

    def other(self, member: Member) -> Member:
        return self.ends[1] if self.ends[0] is member else self.ends[0]

    def value(self, week: int, keep: float) -> float:
        """Its strength in week `week`: it decays like ties, by `keep` = 1 - ties.decay a week."""
        return self.strength * keep ** (week - self.week)


class RegionDraws(NamedTuple):
    """The region's own random processes, one numpy Generator each, in the order of `REGION_STREAMS`; each is
    moved to another key of its stream (`rekey_generator`) rather than replaced."""

    events: np.random.Generator     # who attends an interclub event, whom each attendee meets
    transfers: np.random.Generator  # which refused applicants try another club, which one, its interview

    @classmethod
    def of(cls, root: int) -> RegionDraws:
        """Process k at its stream (root, REGION_KEY, k) keyed on (FOUNDING, 0), as in the numba region engine."""
        return cls(**{name: stream_generator(root, REGION_KEY, k) for k, name in enumerate(REGION_STREAMS)})

    def restart(self, root: int, week: int) -> None:
        """Every process at the start of its stream for `week`, keyed on (week, 0): the region's draws are in
        step again across runs each week, however many events and transfers each drew before."""
        for k, generator in enumerate(self):
            rekey_generator(generator, root, REGION_KEY, k, week, 0)


Bridge = tuple[Member, float]  # (h, t): a holder h in another club, and the giver's trust t in the bridge to h


class ReferenceRegionModel(RunsWeekByWeek, mesa.Model):
    """The clubs of a region, week by week in the order of ODD 7.8."""

    def __init__(
        self,
        scenario: str | Path | Mapping[str, Any] | ScenarioConfig | ClubScenario = DEFAULT_SCENARIO,
        seed: int | None = None,
        *,
        rng: int | None = None,
        **overrides: Any,
    ) -> None:
        if seed is not None and rng is not None and seed != rng:
            raise ValueError("pass either seed or rng, not two different values")
        seed = rng if rng is not None else seed
        super().__init__(scenario=load_scenario(scenario, overrides, rng=seed))
        config: ScenarioConfig = self.scenario.config
        self.region = config.region
        named_clubs = config.region_clubs()
        self.club_names: list[str] = [name for name, _ in named_clubs]
        # ODD 7.8 initialisation: the market first, then the root of every random stream, both from the
        # run's generator as a single club draws them; then the clubs in order, each founded from its
        # own candidates stream. So a region of one club is the single-club model.
        self.market = make_market(config.market, self.rng)
        self.root = root_seed(self.rng)
        self.draws = RegionDraws.of(self.root)
        self.clubs: list[ReferenceClubModel] = [
            ReferenceClubModel(config.model_copy(update={"club": club}), rng=self.rng, market=self.market,
                               root=self.root, club_index=c)
            for c, (_, club) in enumerate(named_clubs)
        ]
        self.week = 0
        self.keep = 1.0 - config.ties.decay
        self.weak_ties: dict[Member, list[WeakTie | None]] = {}  # each member's K entries, None when free
        n = len(self.clubs)
        size = self.region.area_size if 0 < self.region.area_size < n else n
        # each club's area: consecutive clubs, `area_size` at a time (the last area may be smaller)
        self.area: list[list[int]] = [list(range(c - c % size, min(c - c % size + size, n))) for c in range(n)]

    @property
    def is_region(self) -> bool:
        return len(self.clubs) > 1

    # ------------------------------------------------------------------ the week

    def step(self) -> None:
        """One week of the region, in the order of ODD 7.8 (nothing of 7.8 happens with one club)."""
        for club in self.clubs:
            club.phases_1_to_6()  # each open club's processes restart at (week, 0) first
        # the region's processes restart at (week, 0) every week, as the numba engine's `region_meet`
        self.draws.restart(self.root, self.week)
        if self.is_region:
            if is_calendar_week(self.week, self.region.interclub_events_per_year):
                self.hold_interclub_event()
            if self.region.second_circle:
                for club in self.clubs:
                    self.pass_second_circle_referrals(club)
        for club in self.clubs:
            club.phases_7_to_9()
        if self.is_region:
            self.transfer_refused_applicants()
            self.end_leavers_weak_ties()
        for club in self.clubs:
            club.end_week()
        self.week += 1
        if self.week >= self.scenario.config.weeks:
            self.running = False

    # ------------------------------------------------------------------ interclub events and weak ties

    def hold_interclub_event(self) -> None:
        """Members of every open club attend by habit; each meets contacts from the other clubs of its area."""
        region, rng = self.region, self.draws.events
        attendees = [[m for m in club.members if rng.random() < m.attendance_habit] for club in self.clubs]
        for group in attendees:
            for member in group:
                member.spend_hours(region.event_hours)  # an event is not the club's meeting: habits stay
        for c, group in enumerate(attendees):
            others = [m for d in self.area[c] if d != c for m in attendees[d]]
            if not others:
                continue
            for member in group:
                for _ in range(region.contacts_per_event):
                    self.meet(member, others[int(rng.integers(len(others)))])

    def meet(self, member: Member, other: Member) -> None:
        """Their weak tie grows by weak_tie_initial from its current strength; a new one starts at 0."""
        tie = next((t for t in self.weak_ties.get(member, ()) if t is not None and t.other(member) is other), None)
        if tie is None:
            tie = WeakTie((member, other), 0.0, self.week)
            for end in tie.ends:
                entries = self.weak_ties.setdefault(end, [None] * self.region.weak_ties_per_member)
                entries[self.free_entry(end)] = tie
        tie.strength = grow(tie.value(self.week, self.keep), self.region.weak_tie_initial)
        tie.week = self.week

    def free_entry(self, member: Member) -> int:
        """A free entry of member's weak ties; if none, its weakest tie (the first such) ends for both."""
        entries = self.weak_ties[member]
        if None in entries:
            return entries.index(None)
        strengths = [tie.value(self.week, self.keep) for tie in entries]  # type: ignore[union-attr]
        weakest = strengths.index(min(strengths))
        self.end_weak_tie(entries[weakest])  # type: ignore[arg-type]
        return weakest

    def end_weak_tie(self, tie: WeakTie) -> None:
        for end in tie.ends:
            entries = self.weak_ties[end]
            entries[entries.index(tie)] = None

    def end_leavers_weak_ties(self) -> None:
        """A member who left its club this week: its weak ties end for both sides."""
        for member in [m for m in self.weak_ties if not is_current(m)]:
            for tie in self.weak_ties[member]:
                if tie is not None:
                    self.end_weak_tie(tie)
            del self.weak_ties[member]

    def weak_ties_of(self, member: Member) -> list[tuple[Member, float]]:
        """(other, current strength) of member's weak ties."""
        return [(t.other(member), t.value(self.week, self.keep)) for t in self.weak_ties.get(member, ()) if t]

    # ------------------------------------------------------------------ second-circle referrals

    def pass_second_circle_referrals(self, club: ReferenceClubModel) -> None:
        """Needs for professions the club does not hold leave it through bridges (k, h)."""
        if club.closed:
            return
        strong, rng = self.scenario.config.ties.strong_threshold, club.draws.second_circle
        held = np.zeros(self.market.professions, dtype=bool)
        held[[m.profession for m in club.members]] = True
        # the club's weak ties to holders of professions it does not hold, by profession: (k, h, w_kh)
        reach: dict[int, list[tuple[Member, Member, float]]] = {}
        for k in club.members:
            for holder, strength in self.weak_ties_of(k):
                if not held[holder.profession]:
                    reach.setdefault(holder.profession, []).append((k, holder, strength))
        for member in club.members:
            needs = member.need_professions(rng)
            unheld = needs[~held[needs]]  # a held profession's need was met inside the club (7.2)
            passed_on = unheld[rng.random(len(unheld)) < member.referral_propensity]
            for profession in passed_on.tolist():
                # trust in a bridge: tau_ik x w_kh, tau_ii = 1, tau_ik = tie[i][k] when strong
                bridges = [(h, w if k is member else member.ties[k] * w) for k, h, w in reach.get(profession, ())
                           if k is member or member.ties[k] >= strong]
                if bridges:
                    self.refer_across(member, profession, bridges)

    def refer_across(self, giver: Member, profession: int, bridges: list[Bridge]) -> None:
        """A need that left the giver's club: bridge, decision, deal (ODD 7.8 steps 2-5), drawn from the giver's
        club's second-circle stream."""
        refs, rng = self.scenario.config.referrals, giver.model.draws.second_circle
        if len(bridges) > 1:
            receiver, trust = bridges[draw_index(np.cumsum([t for _, t in bridges]), rng.random())]
        else:
            receiver, trust = bridges[0]
        # a stranger two steps away gets no pass floor; it has given the giver nothing: a reciprocator
        # credits it the prior only
        reciprocity = (min(1.0, refs.reciprocity_prior / refs.reciprocity_saturation)
                       if giver.member_type == RECIPROCATOR else 1.0)
        if rng.random() >= trust * reciprocity:
            return
        receiving_club = receiver.model
        giver.book_referral(receiver)
        receiving_club.tally["cross_club_referrals"] += 1
        if rng.random() >= refs.conversion_min + (refs.conversion_max - refs.conversion_min) * trust:
            return
        value = receiving_club.deal_value(profession, rng)
        giver.book_deal(receiver, value)
        receiving_club.tally["cross_club_business"] += value

    # ------------------------------------------------------------------ transfers

    def transfer_refused_applicants(self) -> None:
        """Applicants refused for capacity or composition may try one other club of the area, drawn uniformly."""
        share, rng = self.region.transfer_share, self.draws.transfers
        for c, club in enumerate(self.clubs):
            others = [d for d in self.area[c] if d != c]
            for candidate in club.refused if others else ():  # in arrival order
                if rng.random() >= share:
                    continue
                target = self.clubs[others[int(rng.integers(len(others)))]]
                if not target.closed:
                    # capacity, composition, fee, interview (7.7 rules 1-4); the interview is the transfer's
                    # draw, so the receiving club's own screening stays in step
                    target.screen(candidate, rng)
            club.refused = []

    # ------------------------------------------------------------------ observation

    def club_series_frames(self) -> list[pd.DataFrame]:
        """Each club's weekly series (columns `sim.model.metrics.SERIES_COLUMNS`), in club order."""
        return [club.series_frame() for club in self.clubs]

    def club_members_frames(self) -> list[pd.DataFrame]:
        """Each club's member table (columns `sim.model.metrics.MEMBER_COLUMNS`), in club order."""
        return [club.members_frame() for club in self.clubs]
