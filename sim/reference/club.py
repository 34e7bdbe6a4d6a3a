"""The plain-Mesa reference engine: the model of docs/ODD.md written the way a Mesa user would.

It owns the weekly process only: `Member` agents with one method per ODD phase, ties and
reciprocity credits in dicts keyed by member, Python loops. The scenario schema lives in
`sim/model/scenario.py`, the market in `sim/model/market.py` and every metric in `sim/model/metrics.py`. It is the
docking reference of the numba engine (`tests/test_docking.py` compares their distributions),
so it follows the ODD rule by rule and adds nothing.

Random numbers. Mesa's seeded generator (`self.rng`) builds the market and then draws the root
of the club's random streams (`sim.kernels.draws.root_seed`); every later draw, founding included,
comes from the generator of its own random process (`self.draws`, one field per name of
`sim.kernels.layout.CLUB_STREAMS`: attendance, one-to-ones, visitors, candidates, needs, hunting,
decisions, screening, second circle). Process k's generator is set to a stream keyed by
(root, club_index, k, week, index) (`sim.kernels.draws.stream_generator` and `rekey_generator`,
a SplitMix64 hash of the key): at (FOUNDING, 0) when the club is founded, and at (w, 0) at the
start of every week w in which the club is open (`restart_streams`, before the meeting); the
v-th visitor of a meeting who applies (v counts every visitor, those who do not apply too) has
its traits drawn from the candidates stream at (w, 1 + v). The number of visitors is drawn by
inversion from exactly one uniform (`poisson_by_inversion`).

Why: common random numbers (Law, *Simulation Modeling and Analysis*, ch. 11). Two scenarios run
on one seed should differ by their policy, not by their luck. One generator per process keeps a
process's numbers from shifting when another process draws more; the weekly restart puts every
process back in step at the start of each week however many numbers it drew the week before (a
club that admitted one member more draws one attendance number more, once); the per-visitor key
lets the same people visit both clubs whoever their members are, and the one-uniform count lets
two runs whose chapters are a little more or less appealing draw nearly the same number of
visitors. These are the numba engine's streams, keyed and restarted at the same points: for one
seed both engines build the same market, draw the same root and give each process the same
uniform numbers each week (they spend them differently, so their runs still differ). Mesa's
`self.random` is not used: shuffles are permutations drawn from the process's own generator. A
run is a pure function of (scenario, seed).

Readings of the ODD where the text leaves a choice (the numba engine reads it the same way):
- an exiting member is removed at once (ODD 3): it takes no further part from that moment, so a
  member expelled in phase 9 frees its seat and profession before that week's admissions and
  shares no interview hours, and a member who leaves in phase 8 is gone for phase 9;
- the interview is held only for applicants who pass capacity, composition and willingness to pay;
- "time cost this week" in the perceived cost is what accrued since the previous accounts phase,
  so interview hours charged in phase 9 of week w are perceived in week w + 1's accounts;
- at a renewal, tenure_years is the completed tenure at the end of the paid period, (t + 1) / 52;
- founding stops after 1000 x founders candidate draws in all;
- the closing check runs at the end of every week, meeting week or not;
- after closing, weeks are still recorded (no meeting, zero members, attendance rate carried).

A club of a region (`sim/reference/region.py`, ODD 7.8) is this model with three hooks: it takes
the region's market and the root of the region's streams with its index in the region (`market=`,
`root=`, `club_index=`: club c's process k draws from the streams of (c, k)), its week splits into
`phases_1_to_6`, `phases_7_to_9` and `end_week` (`step` runs the three), and it keeps the
applicants it refused for capacity or composition (`refused`) for the region's transfers.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import mesa
import numpy as np
import pandas as pd

from sim.kernels.draws import rekey_generator, root_seed, stream_generator
from sim.kernels.layout import CLUB_STREAMS, R_CANDIDATES
from sim.model import metrics
from sim.model.market import Market, make_market
from sim.model.scenario import MEMBER_TYPES, ClubScenario, ScenarioConfig, load_scenario

DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "bni_chapter.yaml"
GIVER, RECIPROCATOR, HUNTER = range(3)
MAX_DRAWS_PER_FOUNDER = 1000
MAX_VISITORS = 256  # per meeting, as the numba engine's applicant buffer (ODD 7.1)
TRANSFERABLE = ("capacity", "composition")  # refusals after which an applicant may try another club (ODD 7.8)


def sigmoid(x: float) -> float:
    # written in two branches so that large |x| never overflows math.exp
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def grow(tie: float, g: float, ceiling: float = 1.0) -> float:
    """ODD 'growth g': the tie moves the share g of the way to its ceiling (1 unless trust was lost)."""
    return tie + g * (ceiling - tie)


def is_calendar_week(w: int, per_year: int) -> bool:
    """The meeting calendar of ODD 7 for `per_year` meetings (or interclub events) a year; none when 0."""
    if per_year <= 0:
        return False
    return w == 0 or (w * per_year) // 52 > ((w - 1) * per_year) // 52


def poisson_by_inversion(rng: np.random.Generator, lam: float) -> int:
    """Poisson(lam) from exactly one uniform of `rng`, by sequential search of the cumulative distribution
    (inversion; none is drawn when lam <= 0, as in `sim.kernels.distributions.poisson_by_inversion`). Two runs
    whose means differ a little draw nearly the same count from the same uniform (common random numbers),
    where numpy's `poisson` would take a varying number of uniforms and map them differently."""
    if not lam > 0.0:
        return 0
    u = rng.random()
    log_lam = math.log(lam)
    k = 0
    log_probability = -lam  # in log space, as the kernel: exp(-lam) is 0 from about 745
    probability = math.exp(log_probability)
    cumulative = probability
    while u > cumulative and (k < lam or probability > 0.0):
        k += 1
        log_probability += log_lam - math.log(k)
        probability = math.exp(log_probability)
        cumulative += probability
    return k


def draw_index(weights_cdf: np.ndarray, u: float) -> int:
    """Index drawn in proportion to the weights whose cumulative sum is `weights_cdf`, with u ~ U(0, 1)."""
    # side="right" never returns an item of zero weight; min() guards u * total rounding up to total
    return min(int(np.searchsorted(weights_cdf, u * weights_cdf[-1], side="right")), len(weights_cdf) - 1)


@dataclass
class Candidate:
    """A founder or visitor before admission: the traits of ODD section 2 drawn at creation."""

    member_type: int
    profession: int
    sector: int
    needs_per_week: float
    margin: float
    hourly_value: float
    attendance_habit: float
    referral_propensity: float
    willingness_to_pay: float
    expectation: float
    patience: float


class ClubDraws(NamedTuple):
    """A club's random processes, one numpy Generator each, in the order of `CLUB_STREAMS`; each is moved to
    another key of its stream (`rekey_generator`) rather than replaced."""

    attendance: np.random.Generator     # who attends a meeting
    one_to_ones: np.random.Generator    # the order and partners of one-to-ones
    visitors: np.random.Generator       # how many visitors, who invited them, own sector or not, who applies
    candidates: np.random.Generator     # every trait of a drawn candidate, founders included (a visitor's: its key)
    needs: np.random.Generator          # the referral phase: needs, receivers, passes, deals, follow-ons
    hunting: np.random.Generator        # hunters' sales and their values
    decisions: np.random.Generator      # members' exits: exogenous, and at renewal
    screening: np.random.Generator      # the interview
    second_circle: np.random.Generator  # in a region: the club's needs that leave it (ODD 7.8)

    @classmethod
    def of(cls, root: int, club_index: int) -> ClubDraws:
        """Club `club_index`'s process k at its founding stream, (root, club_index, k) keyed on (FOUNDING, 0), as
        in the numba engine (`make_streams`)."""
        return cls(**{name: stream_generator(root, club_index, k) for k, name in enumerate(CLUB_STREAMS)})

    def restart(self, root: int, club_index: int, week: int) -> None:
        """Every process at the start of its stream for `week`, keyed on (week, 0), as the numba engine's
        `restart_streams`: whatever each drew before, the processes are in step again across runs."""
        for k, generator in enumerate(self):
            rekey_generator(generator, root, club_index, k, week, 0)


class Member(mesa.Agent):
    """A club member: its traits, its ties and reciprocity credits, its accounts."""

    model: ReferenceClubModel

    def __init__(self, model: ReferenceClubModel, candidate: Candidate, founder: bool) -> None:
        super().__init__(model)
        for name, value in vars(candidate).items():
            setattr(self, name, value)
        self.founder = founder
        self.join_week = model.week
        self.exit_week = -1
        self.exit_reason = metrics.ACTIVE
        self.ties: dict[Member, float] = {}           # my trust in each other member
        self.ceilings: dict[Member, float] = {}       # the most my trust can grow to (1 until it sold to me)
        self.last_given_week = model.week             # the chapter's report: my last referral given (or joining)
        self.reputation = 1.0                         # how the club sees my selling (ODD 7.3, gossip)
        self.received_from: dict[Member, int] = {}    # referrals each member gave me
        self.absences: deque[int] = deque()           # weeks of missed meetings
        self.referral_weeks: deque[int] = deque()     # one entry per referral given
        for account in ("business_received", "business_given", "direct_sales", "social_value",
                        "fees_paid", "hours", "time_cost", "week_revenue", "week_time_cost"):
            setattr(self, account, 0.0)
        self.referrals_given = self.referrals_received = self.deals_received = 0
        # perceived value starts from the promise (ODD 5.5)
        self.perceived_cost = model.fee_per_week + model.meetings_per_week * model.meeting_time * self.hourly_value
        self.perceived_gain = self.perceived_cost * (1.0 + self.expectation)
        self.roi_perceived = (self.perceived_gain - self.perceived_cost) / max(self.perceived_cost, 1.0)

    @property
    def is_hunter(self) -> bool:
        return self.member_type == HUNTER

    def tenure(self) -> int:
        return self.model.week - self.join_week

    # ------------------------------------------------------------------ money and time

    def pay(self, amount: float) -> None:
        self.fees_paid += amount
        self.model.tally["fees_collected"] += amount

    def spend_hours(self, hours: float) -> None:
        self.hours += hours
        self.time_cost += hours * self.hourly_value
        self.week_time_cost += hours * self.hourly_value

    def exit(self, reason: str) -> None:
        """Leave the club at once: the member takes no further part from this moment (ODD 3)."""
        self.exit_reason, self.exit_week = reason, self.model.week
        self.model.tally[f"exits_{reason}"] += 1
        self.model.tally["exits"] += 1
        self.model.remove_member(self)

    # ------------------------------------------------------------------ 7.1 meeting

    def attend(self) -> bool:
        behaviour = self.model.scenario.behaviour
        if self.model.draws.attendance.random() < self.attendance_habit:
            self.attendance_habit += behaviour.habit_gain * (1.0 - self.attendance_habit)
            self.spend_hours(self.model.meeting_time)
            return True
        self.attendance_habit -= behaviour.habit_loss * self.attendance_habit
        self.absences.append(self.model.week)
        return False

    def grow_tie(self, other: Member, g: float) -> None:
        """ODD 'growth g' towards my ceiling for `other` (1 unless it sold to me)."""
        self.ties[other] = grow(self.ties[other], g, self.ceilings.get(other, 1.0))

    def image(self) -> float:
        """Image scoring (ODD 7.2): how others see me in the chapter's weekly report."""
        refs = self.model.scenario.referrals
        if refs.image_penalty < 1.0 and self.model.week - self.last_given_week >= refs.image_window:
            return refs.image_penalty
        return 1.0

    def satisfaction(self) -> float:
        return sigmoid(self.model.scenario.behaviour.renewal_steepness * (self.roi_perceived - self.expectation))

    # ------------------------------------------------------------------ 7.2 referrals and deals

    def client_needs(self) -> list[tuple[Member, int]]:
        """This week's client needs, as (member, profession), drawn by the referral phase."""
        return [(self, int(p)) for p in self.need_professions(self.model.draws.needs)]

    def need_professions(self, rng: np.random.Generator) -> np.ndarray:
        """The professions of Poisson(needs_per_week) client needs, drawn by (boosted) demand weight from `rng`
        (the referral phase's, or in a region the second circle's)."""
        n = rng.poisson(self.needs_per_week)
        cdf = self.model.need_cdf[self.sector]
        drawn = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
        return np.minimum(drawn, len(cdf) - 1)

    def meet_need_and_follow_ons(self, need: int) -> None:
        meeter: Member | None = self
        teammate: Member | None = None
        while meeter is not None:  # a converted deal may hand a follow-on need to its receiver, met at once
            meeter, need, teammate = meeter.meet_need(need, teammate)

    def meet_need(self, p: int, teammate: Member | None = None) -> tuple[Member | None, int, Member | None]:
        """Refer one client need of profession p, to `teammate` if it is a team follow-on (ODD 7.2 team
        work); returns the follow-on (receiver, profession, teammate or None), if any."""
        model, refs = self.model, self.model.scenario.referrals
        rng = model.draws.needs
        lost = None, -1, None
        joint = teammate is not None
        if joint:
            receiver = teammate
        else:
            holders = [h for h in model.by_profession.get(p, ()) if h is not self]
            if not holders:
                return lost  # the need is lost to the club
            receiver = self.choose_receiver(holders)
        tie = self.ties[receiver]
        if joint:  # team work: I bring in my teammate as my propensity says, whatever our tie
            p_pass = self.referral_propensity
        else:
            if self.member_type == RECIPROCATOR:
                # the prior credit lasts reciprocity_credit_weeks after we met
                met = max(self.join_week, receiver.join_week)
                prior = refs.reciprocity_prior if model.week - met < refs.reciprocity_credit_weeks else 0.0
                reciprocity = min(1.0, (prior + self.received_from.get(receiver, 0)) / refs.reciprocity_saturation)
            else:
                reciprocity = 1.0
            p_pass = (self.referral_propensity * (refs.pass_floor + (1.0 - refs.pass_floor) * tie) * reciprocity
                      * receiver.image())
        if rng.random() >= p_pass:
            return lost
        self.book_referral(receiver)
        receiver.received_from[self] = receiver.received_from.get(self, 0) + 1
        if not joint and rng.random() >= refs.conversion_min + (refs.conversion_max - refs.conversion_min) * tie:
            return lost  # a joint deal converts: the client already works with the team
        self.book_deal(receiver, model.deal_value(p, rng))
        receiver.grow_tie(self, model.scenario.ties.reciprocity_growth)
        if rng.random() < model.scenario.market.sector_synergy:
            sector = int(model.market.sector[p])
            composition = model.scenario.club.composition
            if (composition.policy == "complementarity" and composition.team_work > 0.0
                    and rng.random() < composition.team_work):
                mate = receiver.draw_teammate(sector)
                return (receiver, mate.profession, mate) if mate is not None else lost
            return receiver, model.draw_profession_in(sector, rng), None
        return lost

    def draw_teammate(self, sector: int) -> Member | None:
        """ODD 7.2 team work: one of my strongly tied peers in `sector`: its trade by demand weight among
        my teammates', then one of that trade's teammates by my tie (competition); None if I have none."""
        model, strong = self.model, self.model.scenario.ties.strong_threshold
        teams = []  # (profession, my teammates holding it), in the sector's order of professions
        for q in model.sector_professions[sector]:
            mates = [h for h in model.by_profession.get(int(q), ()) if h is not self and self.ties[h] >= strong]
            if mates:
                teams.append((int(q), mates))
        if not teams:
            return None
        rng = model.draws.needs
        cdf = np.cumsum([model.market.demand_weight[q] for q, _ in teams])
        _, mates = teams[draw_index(cdf, rng.random())]
        return mates[draw_index(np.cumsum([self.ties[h] for h in mates]), rng.random())]

    def book_referral(self, receiver: Member) -> None:
        """A referral I passed: my referrals given (and referral weeks), the receiver's, its club's tally."""
        self.referrals_given += 1
        self.referral_weeks.append(self.model.week)
        self.last_given_week = self.model.week
        receiver.referrals_received += 1
        receiver.model.tally["referrals"] += 1
        if receiver.sector == self.sector:
            receiver.model.tally["sphere_referrals"] += 1  # inside my contact sphere

    def book_deal(self, receiver: Member, value: float) -> None:
        """A referral of mine that converted: the receiver's business (and its club's), my business given."""
        receiver.business_received += value
        receiver.week_revenue += value
        receiver.deals_received += 1
        self.business_given += value
        receiver.model.tally["deals"] += 1
        receiver.model.tally["business"] += value

    def choose_receiver(self, holders: list[Member]) -> Member:
        """Competition: a holder drawn in proportion to my tie to it (uniformly if all ties are 0)."""
        if len(holders) == 1:
            return holders[0]
        rng = self.model.draws.needs
        cdf = np.cumsum([self.ties[h] for h in holders])
        if cdf[-1] <= 0.0:
            return holders[int(rng.integers(len(holders)))]
        return holders[draw_index(cdf, rng.random())]

    # ------------------------------------------------------------------ 7.3 hunting

    def hunt(self, attendees: list[Member]) -> None:
        """ODD 7.3: each other attendee buys as much as it trusts me, and as my image allows."""
        hunting, rng = self.model.scenario.hunting, self.model.draws.hunting
        image = self.image()
        for other in attendees:
            if other is not self and rng.random() < (hunting.sale_probability * other.ties[self] * image
                                                     * self.reputation):
                value = self.model.deal_value(self.profession, rng)
                self.direct_sales += value
                self.week_revenue += value
                self.model.tally["direct_sales"] += value
                other.ties[self] *= 1.0 - hunting.trust_loss  # and it will not trust me as before
                other.ceilings[self] = other.ceilings.get(self, 1.0) * (1.0 - hunting.trust_loss)
                self.reputation *= 1.0 - hunting.gossip  # and the chapter talks

    # ------------------------------------------------------------------ 7.5 accounts

    def settle(self) -> None:
        model, behaviour = self.model, self.model.scenario.behaviour
        if model.fee_due(self.tenure()):
            self.pay(model.fee_per_period)
        strong = sum(1 for tie in self.ties.values() if tie >= model.scenario.ties.strong_threshold)
        social = behaviour.social_value_per_strong_tie * strong
        self.social_value += social
        gain = self.margin * self.week_revenue + social
        # the entry fee is sunk, not perceived; the time cost is what accrued since the last accounts,
        # so interview hours charged after them (phase 9) are perceived next week
        fatigue = 1.0 + behaviour.fatigue * self.tenure() / 52.0  # the mornings weigh more each year
        cost = model.fee_per_week + self.week_time_cost * fatigue
        a = behaviour.value_smoothing
        self.perceived_gain = (1.0 - a) * self.perceived_gain + a * gain
        self.perceived_cost = (1.0 - a) * self.perceived_cost + a * cost
        self.roi_perceived = (self.perceived_gain - self.perceived_cost) / max(self.perceived_cost, 1.0)
        self.week_revenue = self.week_time_cost = 0.0

    # ------------------------------------------------------------------ 7.6 decisions

    def decide(self) -> None:
        model, behaviour = self.model, self.model.scenario.behaviour
        rng = model.draws.decisions
        # ODD 7.6's weekly exogenous exit is a decision here; the numba engine draws the same geometric
        # delay once, with the candidate's traits (its candidates stream)
        if rng.random() < model.weekly_exit_probability:
            self.exit("exogenous")
            return
        t = self.tenure()
        if not model.renewal_due(t):
            return
        # the tenure completed at the end of the paid period that is ending
        required = self.expectation * min(1.0, ((t + 1) / 52.0) / self.patience)
        base = behaviour.renewal_base_leave
        p_leave = sigmoid(math.log(base / (1.0 - base)) + behaviour.renewal_steepness * (required - self.roi_perceived))
        learning = behaviour.expectation_learning
        if model.monthly:
            p_leave = 1.0 - (1.0 - p_leave) ** (1.0 / 12.0)
            learning /= 12.0
        if rng.random() < p_leave:
            self.exit("left")
        else:
            self.expectation += learning * (self.roi_perceived - self.expectation)

    # ------------------------------------------------------------------ 7.7 club rules

    def check_rules(self) -> None:
        club, week = self.model.scenario.club, self.model.week
        attendance, contribution = club.attendance_rule, club.contribution_rule
        if attendance.enabled and count_since(self.absences, week - attendance.window_weeks) > attendance.max_absences:
            self.exit("expelled_absence")
        elif (contribution.enabled and self.tenure() >= contribution.window_weeks
              and count_since(self.referral_weeks, week - contribution.window_weeks) < contribution.min_referrals):
            self.exit("expelled_contribution")


def count_since(weeks: deque[int], after: int) -> int:
    """Entries of a week log later than `after` (older entries are dropped, windows only move forward)."""
    while weeks and weeks[0] <= after:
        weeks.popleft()
    return len(weeks)


class RunsWeekByWeek:
    """`run()` and `run_to(stop)`, like the numba engines', for a reference model whose `step()` is one
    week (`week` counts them; `scenario.config.weeks` is the horizon)."""

    scenario: ClubScenario
    week: int

    def run(self) -> None:
        self.run_to()

    def run_to(self, stop: int | None = None) -> None:
        """Weeks up to `stop` (default: the horizon)."""
        stop = self.scenario.config.weeks if stop is None else min(stop, self.scenario.config.weeks)
        while self.week < stop:
            self.step()


class ReferenceClubModel(RunsWeekByWeek, mesa.Model):
    """One business club in its market, week by week, as ODD section 3 orders the phases."""

    def __init__(
        self,
        scenario: str | Path | Mapping[str, Any] | ScenarioConfig | ClubScenario = DEFAULT_SCENARIO,
        seed: int | None = None,
        *,
        rng: int | np.random.Generator | None = None,
        market: Market | None = None,
        root: int | None = None,
        club_index: int = 0,
        **overrides: Any,
    ) -> None:
        """`rng` may be a region's shared Generator (Mesa uses it as is), `market` the region's market, `root`
        the root of the region's streams and `club_index` the club's index in the region (process k draws from
        the streams of (root, club_index, k)). Without `market`, the club draws it from its generator; without
        `root`, it draws the root from that generator after the market, as the numba engine does."""
        if seed is not None and rng is not None and seed != rng:
            raise ValueError("pass either seed or rng, not two different values")
        # the seed goes to Mesa through the scenario, which Mesa binds as model.scenario
        super().__init__(scenario=load_scenario(scenario, overrides, rng=rng if rng is not None else seed))
        sc = self.scenario
        club = sc.club
        self.market = market if market is not None else make_market(sc.market, self.rng)
        # Mesa's generator has done its work: every later draw comes from a process's own stream
        self.root = root if root is not None else root_seed(self.rng)
        self.club_index = club_index
        self.draws = ClubDraws.of(self.root, club_index)
        self.meeting_time = club.meeting_hours + club.travel_hours + club.one_to_one_hours  # H
        self.meetings_per_week = club.meetings_per_year / 52.0
        self.monthly = club.fees.billing == "monthly"
        self.fee_per_week = club.fees.annual / 52.0
        self.fee_per_period = club.fees.annual / 12.0 if self.monthly else club.fees.annual
        self.weekly_exit_probability = 1.0 - (1.0 - sc.behaviour.exogenous_exit_rate) ** (1.0 / 52.0)
        self._prepare_draws()

        self.week = 0
        self.closed = False
        self.members: list[Member] = []              # current members, in joining order
        self.all_members: list[Member] = []          # every member ever, for members_frame
        self.by_profession: dict[int, list[Member]] = {}
        self.attendees: list[Member] = []
        self.applicants: list[Candidate] = []
        self.refused: list[Candidate] = []           # this week's applicants refused for TRANSFERABLE reasons
        self.meeting = False                         # whether this week is a meeting week of the open club
        self.attendance_rate = 0.0
        self.tally = self._new_tally()
        self._found_club()
        self.datacollector = mesa.DataCollector(
            model_reporters={col: (lambda m, col=col: m.tally[col]) for col in metrics.SERIES_COLUMNS[1:]}
        )

    # ------------------------------------------------------------------ set-up

    def _prepare_draws(self) -> None:
        market, boost = self.market, self.scenario.market.own_sector_boost
        # cumulative rather than rng.choice(p=...): the schema lets shares sum to 1 within 1e-6 only
        self.type_cdf = np.cumsum(self.scenario.population.shares.as_tuple())
        self.sector_professions = [market.professions_in(s) for s in range(market.sectors)]
        # a member's client needs: demand weight, boosted in its own sector (ODD 7.2)
        self.need_cdf = [np.cumsum(market.demand_weight * np.where(market.sector == s, boost, 1.0))
                         for s in range(market.sectors)]
        self.sector_cdf = [np.cumsum(market.demand_weight[profs]) for profs in self.sector_professions]

    def _found_club(self) -> None:
        founders = self.scenario.club.founders
        # if the composition policy leaves too little room, the club starts smaller; the founders are the
        # candidates stream's first draws, at its founding key
        for _ in range(MAX_DRAWS_PER_FOUNDER * founders):
            if len(self.members) >= founders:
                break
            candidate = self.draw_candidate()
            if self.composition_allows(candidate):
                self.admit(candidate, founder=True)

    def draw_candidate(self, sector: int | None = None) -> Candidate:
        """ODD 7 'Candidate': profession uniform over all professions, or over `sector`'s (a founder's or a
        visitor's traits: the candidates process, at the key its caller set)."""
        pop, rng = self.scenario.population, self.draws.candidates
        member_type = draw_index(self.type_cdf, rng.random())
        if sector is None:
            profession = int(rng.integers(self.market.professions))
        else:
            profession = int(rng.choice(self.sector_professions[sector]))
        mean, kappa = pop.attendance_mean, pop.attendance_concentration
        needs_per_week = pop.needs_per_week_median * math.exp(rng.normal(0.0, pop.needs_per_week_sigma))
        margin = float(rng.uniform(pop.margin_low, pop.margin_high))
        hourly_value = pop.hourly_value_median * math.exp(rng.normal(0.0, pop.hourly_value_sigma))
        attendance_habit = float(rng.beta(mean * kappa, (1.0 - mean) * kappa))
        # ODD 7.7: what it expects from the promise sets what it pays and the ROI it asks
        fees = self.scenario.club.fees
        expected_margin = (margin * pop.promised_business * (needs_per_week / pop.needs_per_week_median)
                           * math.exp(rng.normal(0.0, pop.expected_business_sigma)))
        yearly_cost = fees.annual + self.scenario.club.meetings_per_year * self.meeting_time * hourly_value
        return Candidate(
            member_type=member_type,
            profession=profession,
            sector=int(self.market.sector[profession]),
            needs_per_week=needs_per_week,
            margin=margin,
            hourly_value=hourly_value,
            attendance_habit=attendance_habit,
            referral_propensity=pop.referral_propensity.as_tuple()[member_type],
            willingness_to_pay=pop.willingness_to_pay_share * expected_margin,
            expectation=pop.expectation_realism * (expected_margin - yearly_cost) / max(yearly_cost, 1.0),
            patience=pop.patience_median_years * math.exp(rng.normal(0.0, pop.patience_sigma))
            + self.scenario.behaviour.entry_fee_commitment * fees.entry / 1000.0,
        )

    def deal_value(self, profession: int, rng: np.random.Generator) -> float:
        """A deal's value, drawn from `rng`: the process that made the deal (a referral, a sale, the second circle)."""
        return float(self.market.deal_median[profession]) * math.exp(
            rng.normal(0.0, self.scenario.market.deal_value_sigma))

    def draw_profession_in(self, sector: int, rng: np.random.Generator) -> int:
        return int(self.sector_professions[sector][draw_index(self.sector_cdf[sector], rng.random())])

    # ------------------------------------------------------------------ calendar and billing

    def is_meeting_week(self, w: int) -> bool:
        return is_calendar_week(w, self.scenario.club.meetings_per_year)

    def fee_due(self, t: int) -> bool:
        """A new paid period starts at tenure t (the first one is paid on joining)."""
        if t <= 0:
            return False
        return (12 * t) // 52 > (12 * (t - 1)) // 52 if self.monthly else t % 52 == 0

    def renewal_due(self, t: int) -> bool:
        """Tenure t is the last week of a paid period."""
        return self.fee_due(t + 1)

    # ------------------------------------------------------------------ membership

    def composition_allows(self, candidate: Candidate) -> bool:
        composition = self.scenario.club.composition
        same_profession = len(self.by_profession.get(candidate.profession, ()))
        if composition.policy == "exclusivity":
            return same_profession == 0
        if composition.policy == "complementarity":
            same_sector = sum(1 for m in self.members if m.sector == candidate.sector)
            return same_profession < composition.max_per_profession and same_sector < composition.max_per_sector
        return True

    def admit(self, candidate: Candidate, founder: bool = False) -> Member:
        member = Member(self, candidate, founder)
        initial = self.scenario.ties.initial
        for other in self.members:
            member.ties[other] = initial
            other.ties[member] = initial
        self.members.append(member)
        self.all_members.append(member)
        self.by_profession.setdefault(member.profession, []).append(member)
        member.pay(self.scenario.club.fees.entry + self.fee_per_period)
        self.tally["joins"] += 1
        return member

    def screen(self, candidate: Candidate, rng: np.random.Generator | None = None) -> str | None:
        """ODD 7.7 admissions: capacity, composition, willingness to pay, then selection.

        The interview draws from `rng`: the club's screening process by default, the region's transfers for
        an applicant another club refused (as in the numba engine). Returns why the candidate was refused
        ("capacity", "composition", "fee", "interview"), None if admitted.
        """
        club = self.scenario.club
        rng = self.draws.screening if rng is None else rng
        if len(self.members) >= club.capacity:
            return "capacity"
        if not self.composition_allows(candidate):
            return "composition"
        if club.fees.entry + club.fees.annual > candidate.willingness_to_pay:
            return "fee"
        selection = club.selection
        if selection.policy == "interview":
            if self.members:
                share = selection.committee_hours / len(self.members)
                for member in self.members:
                    member.spend_hours(share)
            p_reject = selection.accuracy if candidate.member_type == HUNTER else selection.false_rejection
            if rng.random() < p_reject:
                return "interview"
        self.admit(candidate)
        return None

    def remove_member(self, member: Member) -> None:
        """An exiting member frees its seat, its profession and every tie at once (ODD 3)."""
        self.members.remove(member)
        self.by_profession[member.profession].remove(member)
        for other in self.members:
            other.ties.pop(member, None)
            other.ceilings.pop(member, None)
            other.received_from.pop(member, None)
        member.remove()

    # ------------------------------------------------------------------ the week

    def step(self) -> None:
        self.phases_1_to_6()
        self.phases_7_to_9()
        self.end_week()

    def phases_1_to_6(self) -> None:
        """Meeting, referrals and deals, hunting, ties decay; an open club's processes first restart at their
        streams for this week (common random numbers)."""
        self.meeting = not self.closed and self.is_meeting_week(self.week)
        if not self.closed:
            self.restart_streams()
            if self.meeting:
                self.hold_meeting()
            self.pass_referrals()
            if self.meeting:
                self.hunt()
            self.decay_ties()

    def phases_7_to_9(self) -> None:
        """Accounts, members' decisions, club rules and admissions (closing)."""
        self.refused = []
        if not self.closed:
            self.settle_accounts()
            self.members_decide()
            self.apply_club_rules(self.meeting)

    def end_week(self) -> None:
        """Phase 10: the DataCollector records the week; the next week starts."""
        self._record_week(self.meeting)
        self.datacollector.collect(self)
        self.week += 1
        self.tally = self._new_tally()
        if self.week >= self.scenario.config.weeks:
            self.running = False

    def restart_streams(self) -> None:
        """Each random process restarts at its stream for this week, keyed on (week, 0) (`ClubDraws.restart`):
        two runs on one seed draw in step again from the start of each week, however far they diverged in the
        weeks before (a member more is an attendance number more, a refusal a screening number less)."""
        self.draws.restart(self.root, self.club_index, self.week)

    def hold_meeting(self) -> None:
        ties = self.scenario.ties
        self.attendees = attendees = [m for m in self.members if m.attend()]
        self.attendance_rate = len(attendees) / len(self.members) if self.members else 0.0
        # frequency: every ordered pair of attendees; a room of more than attention_span others shares it
        n = len(attendees)
        shared = min(1.0, ties.attention_span / (n - 1)) if n > 1 else 1.0
        for i in attendees:
            for j in attendees:
                if i is not j:
                    i.grow_tie(j, ties.co_attendance_growth * shared * self.affinity(i, j))
        # intimacy: each attendee, in random order, has a one-to-one with another attendee, in its contact
        # sphere (own sector) with probability sphere_one_to_one when one attends
        if n > 1:
            rng = self.draws.one_to_ones
            for k in rng.permutation(n):
                i = attendees[k]
                j = None
                if ties.sphere_one_to_one > 0.0 and rng.random() < ties.sphere_one_to_one:
                    sphere = [a for a in attendees if a is not i and a.sector == i.sector]
                    if sphere:
                        j = sphere[int(rng.integers(len(sphere)))]
                if j is None:
                    other = int(rng.integers(n - 1))
                    j = attendees[other + (other >= k)]
                g = ties.one_to_one_growth * self.affinity(i, j)
                i.grow_tie(j, g)
                j.grow_tie(i, g)
        self.invite_visitors()

    def affinity(self, i: Member, j: Member) -> float:
        """Ties involving a hunter grow slower (emotion)."""
        return self.scenario.ties.hunter_growth_factor if i.is_hunter or j.is_hunter else 1.0

    def invite_visitors(self) -> None:
        """The chapter brings visitors in proportion to its members' mean satisfaction, less as its room
        fills, each invited by a member in proportion to its own; some visitors apply (screened in phase 9).

        For common random numbers, the number of visitors takes one uniform of the visitors process
        (`poisson_by_inversion`), and the traits of visitor v (v = 0, 1, ... counts every visitor of the
        meeting, those who do not apply too) are drawn from the candidates stream keyed on (week, 1 + v): two
        runs on one seed see the same people visit and apply, in the same order, whoever their members are
        (unless the applicant takes its inviter's sector, and the inviters differ).
        """
        recruitment, rng = self.scenario.club.recruitment, self.draws.visitors
        self.applicants = []
        if not self.members:
            return
        # a chapter-level flow: its recruiting effort, raised by its members' mean satisfaction, and lowered
        # as its room fills
        satisfaction = np.cumsum([m.satisfaction() for m in self.members])
        weight = recruitment.satisfaction_weight
        appeal = 1.0 - weight + weight * satisfaction[-1] / len(self.members)
        room_pull = 1.0 - recruitment.crowding * len(self.members) / self.scenario.club.capacity
        visitors = min(poisson_by_inversion(rng, recruitment.visitors_per_meeting * appeal * room_pull),
                       MAX_VISITORS)
        self.tally["visitors"] += visitors
        for visitor in range(visitors):
            if rng.random() >= recruitment.application_rate:
                continue
            inviter = self.members[draw_index(satisfaction, rng.random())]
            own_sector = rng.random() < recruitment.own_sector_share
            # the applicant's traits are the candidates process's at this visitor's own key, whatever the
            # visitors drew and whoever applied before it
            rekey_generator(self.draws.candidates, self.root, self.club_index, R_CANDIDATES, self.week, 1 + visitor)
            self.applicants.append(self.draw_candidate(inviter.sector if own_sector else None))
        self.tally["applicants"] += len(self.applicants)

    def pass_referrals(self) -> None:
        needs = [need for member in self.members for need in member.client_needs()]
        for k in self.draws.needs.permutation(len(needs)):  # the club's needs, met one at a time in random order
            member, profession = needs[k]
            member.meet_need_and_follow_ons(profession)

    def hunt(self) -> None:
        for hunter in self.attendees:
            if hunter.is_hunter:
                hunter.hunt(self.attendees)

    def decay_ties(self) -> None:
        keep = 1.0 - self.scenario.ties.decay
        for member in self.members:
            member.ties = {other: tie * keep for other, tie in member.ties.items()}

    def settle_accounts(self) -> None:
        self.agents.do("settle")

    def members_decide(self) -> None:
        # Mesa's shuffle_do would shuffle with the model's shared `random`: the order is the decisions
        # process's draw instead. A member only ever removes itself, in its own turn.
        deciders = list(self.members)
        for k in self.draws.decisions.permutation(len(deciders)):
            deciders[k].decide()

    def apply_club_rules(self, meeting: bool) -> None:
        if meeting:
            self.agents.do("check_rules")  # the expelled are gone before admissions
            for candidate in self.applicants:  # in arrival order
                if self.screen(candidate) in TRANSFERABLE:
                    self.refused.append(candidate)
            self.applicants = []
        min_size = self.scenario.club.min_viable_size
        if min_size > 0 and len(self.members) < min_size:
            for member in list(self.members):
                member.exit("dissolved")
            self.closed = True

    # ------------------------------------------------------------------ observation

    @staticmethod
    def _new_tally() -> dict[str, Any]:
        tally: dict[str, Any] = dict.fromkeys(metrics.SERIES_COLUMNS[1:], 0)
        for col in ("business", "direct_sales", "attendance_rate", "mean_tie", "hunter_share", "fees_collected",
                    "cross_club_business"):
            tally[col] = 0.0
        return tally

    def _record_week(self, meeting: bool) -> None:
        n = len(self.members)
        self.tally["meeting"] = int(meeting)  # 1 or 0, as the numba engine writes it
        self.tally["members"] = n
        self.tally["attendance_rate"] = self.attendance_rate
        self.tally["hunter_share"] = sum(m.is_hunter for m in self.members) / n if n else 0.0
        pairs = n * (n - 1)
        self.tally["mean_tie"] = sum(sum(m.ties.values()) for m in self.members) / pairs if pairs else 0.0

    def series_frame(self) -> pd.DataFrame:
        frame = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        frame.insert(0, "week", np.arange(len(frame), dtype=np.int64))
        return frame[list(metrics.SERIES_COLUMNS)]

    def members_frame(self) -> pd.DataFrame:
        rows = []
        for member_id, m in enumerate(self.all_members):  # in joining order, from 0, as the numba engine's
            row = {col: getattr(m, col, None) for col in metrics.MEMBER_COLUMNS}
            end = m.exit_week if m.exit_week >= 0 else self.week
            row.update(member_id=member_id, member_type=MEMBER_TYPES[m.member_type],
                       tenure_years=(end - m.join_week) / 52.0, roi=0.0)
            rows.append(row)
        frame = pd.DataFrame(rows, columns=list(metrics.MEMBER_COLUMNS))
        if len(frame):
            frame["roi"] = metrics.member_roi(frame)
        return frame

    def summary(self) -> dict[str, Any]:
        return metrics.summarize(self.series_frame(), self.members_frame())
