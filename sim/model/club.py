"""ClubModel: the Mesa model of one business club, its weekly process phase by phase.

`step()` reads as section 3 of docs/ODD.md; each phase is a thin call into a
numba kernel (`sim.kernels`) over the arrays of `sim.model.engine.ClubEngine`.
Members are `sim.model.agents.Member` agents, created when they join and removed
when they exit. The model runs under `mesa.batch_run`:
`ClubModel(scenario, rng=1, **{"club.fees.annual": 1500})`; `running` turns False at the
horizon or when the club closes (it has no members left), so batch_run stops there.
`rng` (or `seed`) is an integer >= 0 or a numpy Generator; None is Mesa's default: fresh
entropy, a run that cannot be repeated.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim.errors import InputError
from sim.model.agents import Member
from sim.model.engine import ClubEngine
from sim.model.metrics import SERIES_COLUMNS, summarize
from sim.model.runner import check_seed
from sim.model.scenario import ClubScenario, ScenarioConfig, load_scenario

DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "bni_chapter.yaml"

AGENT_REPORTERS = {
    "member_type": "member_type",
    "profession": "profession",
    "attendance_habit": "attendance_habit",
    "business_received": "business_received",
    "referrals_given": "referrals_given",
    "perceived_roi": "perceived_roi",
}


def resolve_seed(seed: Any, rng: Any) -> Any:
    """Mesa 3.5 names it `rng` (`seed` is deprecated); accept either, not two different ones.

    An integer >= 0 (numpy's too, given to Mesa as an int) or a numpy Generator, used as it is; None is
    Mesa's own choice: a fresh, unreproducible seed. Anything else is a one-line `InputError`.
    """
    if seed is not None and rng is not None and seed is not rng and seed != rng:
        raise ValueError(f"seed={seed} and rng={rng} disagree; pass one of them")
    value = rng if rng is not None else seed
    if value is None or isinstance(value, np.random.Generator):
        return value
    return check_seed(value, field="rng" if rng is not None else "seed")


def _series_value(column: str, model: ClubModel) -> float:
    return model.engine.series[model.engine.week - 1, SERIES_COLUMNS.index(column)]


class ClubModel(mesa.Model):
    """One club, week by week (docs/ODD.md). `model.scenario` is the validated `ClubScenario`."""

    def __init__(
        self,
        scenario: str | Path | Mapping[str, Any] | ScenarioConfig | ClubScenario = DEFAULT_SCENARIO,
        seed: int | None = None,
        *,
        rng: int | None = None,
        agent_reporters: bool = True,
        **overrides: Any,
    ):
        club_scenario = load_scenario(scenario, overrides, rng=resolve_seed(seed, rng))
        if club_scenario.config.is_region:
            raise InputError(club_scenario.source or "<scenario>", "region.clubs",
                             "ClubModel simulates one club; run a region with sim.simulate() or `clubsim run`")
        super().__init__(scenario=club_scenario)
        self.engine = ClubEngine(self.scenario.config, self.rng)
        self.datacollector = mesa.DataCollector(
            model_reporters={c: partial(_series_value, c) for c in SERIES_COLUMNS if c != "week"},
            agent_reporters=AGENT_REPORTERS if agent_reporters else None,
        )
        self._agents_by_id: dict[int, Member] = {}
        self._add_new_members()

    @property
    def week(self) -> int:
        """The next week to simulate (weeks simulated so far)."""
        return self.engine.week

    # ------------------------------------------------------------------ the weekly process

    def step(self) -> None:
        if not self.engine.closed:
            meeting = self.engine.is_meeting_week()
            self.engine.restart_streams()  # each random process at its stream for this week
            if meeting:
                self.hold_meeting()       # attendance, co-attendance ties, one-to-ones, visitors
            self.pass_referrals()         # needs -> referral decisions -> deals -> synergy
            if meeting:
                self.hunt()               # hunters' direct sales, trust loss
            self.decay_ties()
            self.settle_accounts()        # fees due, perceived value
            self.members_decide()         # exogenous exits, renewals
            self.apply_club_rules(meeting)  # absences, contribution, admissions, closing
        self.engine.close_week()
        self._sync_agents()
        self.datacollector.collect(self)
        if self.engine.finished or self.engine.closed:
            self.running = False  # at the horizon, or the club closed: `mesa.batch_run` stops here

    def hold_meeting(self) -> None:
        self.engine.hold_meeting()

    def pass_referrals(self) -> None:
        self.engine.pass_referrals()

    def hunt(self) -> None:
        self.engine.hunt()

    def decay_ties(self) -> None:
        self.engine.decay_ties()

    def settle_accounts(self) -> None:
        self.engine.settle_accounts()

    def members_decide(self) -> None:
        self.engine.members_decide()

    def apply_club_rules(self, meeting: bool) -> None:
        self.engine.apply_club_rules(meeting)

    def run(self, weeks: int | None = None) -> None:
        """Step to the horizon (or `weeks` more weeks)."""
        stop = self.scenario.config.weeks if weeks is None else min(self.week + weeks, self.scenario.config.weeks)
        while self.week < stop:
            self.step()

    # ------------------------------------------------------------------ agents

    def _add_new_members(self) -> None:
        for member_id in range(len(self._agents_by_id), self.engine.members_ever):
            self._agents_by_id[member_id] = Member(self, member_id)

    def _sync_agents(self) -> None:
        self._add_new_members()
        exit_week = self.engine.members.exit_week
        for member in list(self.agents):
            if exit_week[member.member_id] >= 0:
                member.remove()

    def member(self, member_id: int) -> Member:
        """The agent of a member, current or past."""
        return self._agents_by_id[member_id]

    # ------------------------------------------------------------------ results

    def series_frame(self) -> pd.DataFrame:
        return self.engine.series_frame()

    def members_frame(self) -> pd.DataFrame:
        return self.engine.members_frame()

    def summary(self) -> dict[str, Any]:
        return summarize(self.series_frame(), self.members_frame())
