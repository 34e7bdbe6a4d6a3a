"""What a club scenario is: its schema, loading from YAML, `extends`, overrides.

A scenario file is validated by the pydantic schema below (units and allowed
ranges live in each field's description), may inherit from another file with
`extends:` (deep merge), and may be overridden with dotted keys
(`club.fees.annual=1500`). `load_config` gives the validated `ScenarioConfig`
and its source without touching Mesa (the CLI's fast path); `load_scenario`
wraps it in `ClubScenario` (`sim.model.mesa_scenario`), a Mesa `Scenario`, so that
`model.scenario.club.fees.annual` reads as Mesa users expect.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from sim.errors import InputError, schema_at, suggest, validation_input_error

MEMBER_TYPES = ("giver", "reciprocator", "hunter")
# top-level keys of an experiment file that no scenario has (`sim.experiments.spec` tells the two apart by them)
EXPERIMENT_KEYS = ("policies", "sweep", "uncertainties", "scenario")


def _admits(annotation: Any, kinds: tuple[type, ...]) -> bool:
    """Whether a field's annotation (through Optional, unions and Annotated) admits one of `kinds` itself."""
    if annotation in kinds:
        return True
    return any(_admits(arg, kinds) for arg in get_args(annotation) if not isinstance(arg, (str, int, float)))


NOT_FINITE = "must be a finite number (not .inf, .nan or beyond 1e308)"


def _as_number(value: float | str) -> float:
    """A number as pydantic would read it ("1e309", which YAML leaves a string, is inf); 0 if it is none."""
    try:
        return float(value)
    except ValueError:
        return 0.0


class NumbersNotBooleans(BaseModel):
    """A schema whose number fields refuse true and false, and say so of .nan and .inf: pydantic would take
    true and false for 1 and 0, so that `years: true` ran one year and `club.capacity=true` made a club of one;
    and it judged .nan and .inf by the field's bounds ("should be greater than 0", "less than or equal to
    100000"), which hides what is wrong."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool | float | str) and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if _admits(annotation, (int, float)) and not _admits(annotation, (bool, str)):
                if isinstance(value, bool):
                    raise ValueError(f"must be a number, not {str(value).lower()}")
                if not math.isfinite(_as_number(value)):
                    raise ValueError(NOT_FINITE)
        return value


class _Section(NumbersNotBooleans):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- market


class MarketSpec(_Section):
    professions: int = Field(150, ge=2, le=5000, description="number of professions in the market (2..5000)")
    sectors: int = Field(12, ge=1, le=500, description="number of sectors; professions are spread evenly across them (1..500)")
    demand_weight_sigma: float = Field(
        0.8, ge=0, le=3, description="log-sd of the professions' demand weights (lognormal, median 1); 0 = all equal (0..3)"
    )
    deal_value_median: float = Field(
        1500.0, gt=0, description="median deal value across professions, EUR (> 0)"
    )
    deal_value_spread: float = Field(
        0.6, ge=0, le=3, description="log-sd of the professions' median deal values around deal_value_median (0..3)"
    )
    deal_value_sigma: float = Field(
        0.8, ge=0, le=3, description="log-sd of one deal's value around its profession's median (lognormal, 0..3)"
    )
    own_sector_boost: float = Field(
        3.0, ge=1, le=100, description="a member's clients need professions of its own sector this many times more often (>= 1)"
    )
    sector_synergy: float = Field(
        0.3,
        ge=0,
        le=0.95,
        description="probability that a converted deal creates a follow-on need in the same sector, "
        "which the receiver then meets itself (0..0.95; 0 = no synergy)",
    )
    professions_csv: str | None = Field(
        None,
        description="optional CSV of professions (columns: profession, sector, demand_weight, deal_value_median), "
        "relative to the scenario file; replaces the generated market",
    )


# --------------------------------------------------------------------------- club


class FeesSpec(_Section):
    annual: float = Field(960.0, ge=0, le=100_000, description="annual membership fee, EUR per year (0..100000)")
    entry: float = Field(0.0, ge=0, le=100_000, description="one-off entry fee paid on joining, EUR (0..100000)")
    billing: Literal["annual", "monthly"] = Field(
        "annual",
        description="annual: the whole fee on each anniversary of joining, renewal decided yearly; "
        "monthly: a twelfth every month, renewal decided monthly",
    )


class CompositionSpec(_Section):
    policy: Literal["exclusivity", "complementarity", "open"] = Field(
        "exclusivity",
        description="exclusivity: at most one member per profession; complementarity: at most "
        "max_per_profession per profession and max_per_sector per sector; open: no limit",
    )
    max_per_profession: int = Field(2, ge=1, le=1000, description="complementarity: members per profession (>= 1)")
    max_per_sector: int = Field(6, ge=1, le=1000, description="complementarity: members per sector (>= 1)")
    team_work: float = Field(
        1.0,
        ge=0,
        le=1,
        description="complementarity: probability that a follow-on need (market.sector_synergy) goes to the "
        "receiver's sector team, as a joint deal with a sector peer it has a strong tie to (0..1; 0 = no team work)",
    )


class SelectionSpec(_Section):
    policy: Literal["none", "interview"] = Field(
        "none", description="none: every applicant who passes composition and pays joins; interview: a committee screens"
    )
    accuracy: float = Field(0.6, ge=0, le=1, description="interview: probability a hunter is detected and rejected (0..1)")
    false_rejection: float = Field(
        0.1, ge=0, le=1, description="interview: probability a giver or reciprocator is wrongly rejected (0..1)"
    )
    committee_hours: float = Field(
        3.0, ge=0, le=100, description="interview: committee hours per interview, shared by all members (0..100)"
    )


class AttendanceRuleSpec(_Section):
    enabled: bool = Field(False, description="expel a member with more than max_absences absences in window_weeks")
    max_absences: int = Field(2, ge=0, le=52, description="absences allowed in the window; one more expels (0..52)")
    window_weeks: int = Field(26, ge=1, le=520, description="rolling window, weeks (1..520)")


class ContributionRuleSpec(_Section):
    enabled: bool = Field(False, description="expel a member who gave fewer than min_referrals in window_weeks")
    min_referrals: int = Field(1, ge=1, le=200, description="referrals a member must give in the window (1..200)")
    window_weeks: int = Field(26, ge=1, le=520, description="rolling window, weeks; checked once a member's tenure reaches it (1..520)")


class RecruitmentSpec(_Section):
    visitors_per_meeting: float = Field(
        3.0,
        ge=0,
        le=1000,
        description="visitors a chapter brings to a meeting when every member is fully satisfied (its recruiting "
        "effort), whatever its size; at most 256 come to one meeting (0..1000)",
    )
    satisfaction_weight: float = Field(
        0.8, ge=0, le=1,
        description="how much the visitors' flow depends on the members' mean satisfaction s: visitors per meeting "
        "= visitors_per_meeting x (1 - weight + weight x s) (0..1)",
    )
    crowding: float = Field(
        0.0, ge=0, le=1,
        description="how much less a fuller room recruits: the visitors' flow is multiplied by 1 - crowding x "
        "members / capacity; 0 = not at all (0..1)",
    )
    own_sector_share: float = Field(
        0.5, ge=0, le=1, description="share of visitors who work in their inviter's sector (0..1)"
    )
    application_rate: float = Field(
        0.4, ge=0, le=1, description="probability a visitor applies for membership (0..1)"
    )


class ClubSpec(_Section):
    founders: int = Field(12, ge=1, le=1000, description="members at week 0 (1..1000)")
    capacity: int = Field(50, ge=1, le=1000, description="maximum members (1..1000)")
    min_viable_size: int = Field(
        6, ge=0, le=1000, description="the club closes when it falls below this many members (0 = never closes)"
    )
    meetings_per_year: Literal[52, 26, 12] = Field(52, description="52 weekly, 26 fortnightly, 12 monthly")
    meeting_hours: float = Field(2.0, ge=0, le=24, description="length of a meeting, hours (0..24)")
    travel_hours: float = Field(0.5, ge=0, le=24, description="travel per meeting, hours (0..24)")
    one_to_one_hours: float = Field(
        1.0, ge=0, le=24, description="one-to-one time per meeting attended, hours (0..24)"
    )
    fees: FeesSpec = FeesSpec()
    composition: CompositionSpec = CompositionSpec()
    selection: SelectionSpec = SelectionSpec()
    attendance_rule: AttendanceRuleSpec = AttendanceRuleSpec()
    contribution_rule: ContributionRuleSpec = ContributionRuleSpec()
    recruitment: RecruitmentSpec = RecruitmentSpec()

    @model_validator(mode="after")
    def _founders_fit(self) -> ClubSpec:
        if self.founders > self.capacity:
            raise ValueError(f"founders ({self.founders}) must not exceed capacity ({self.capacity})")
        if self.founders < self.min_viable_size:
            raise ValueError(f"founders ({self.founders}) must be at least min_viable_size ({self.min_viable_size})")
        return self


# --------------------------------------------------------------------------- population


class ByType(_Section):
    giver: float
    reciprocator: float
    hunter: float

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.giver, self.reciprocator, self.hunter)


class Shares(ByType):
    giver: float = Field(0.3, ge=0, le=1, description="share of givers among candidates (0..1)")
    reciprocator: float = Field(0.55, ge=0, le=1, description="share of reciprocators among candidates (0..1)")
    hunter: float = Field(0.15, ge=0, le=1, description="share of hunters among candidates (0..1)")

    @model_validator(mode="after")
    def _sum_to_one(self) -> Shares:
        total = self.giver + self.reciprocator + self.hunter
        if abs(total - 1.0) > 1e-6:
            parts = " + ".join(f"{value:g}" + ("" if name in self.model_fields_set else f" (the default {name})")
                               for name, value in (("giver", self.giver), ("reciprocator", self.reciprocator),
                                                   ("hunter", self.hunter)))
            raise ValueError(f"giver + reciprocator + hunter must sum to 1, got {parts} = {total:g}")
        return self


class Propensity(ByType):
    giver: float = Field(0.9, ge=0, le=1, description="givers' referral propensity (0..1)")
    reciprocator: float = Field(0.8, ge=0, le=1, description="reciprocators' referral propensity (0..1)")
    hunter: float = Field(0.02, ge=0, le=1, description="hunters' referral propensity (0..1)")


class PopulationSpec(_Section):
    shares: Shares = Shares()
    needs_per_week_median: float = Field(
        6.0, gt=0, le=1000, description="business size: median client needs a member meets per week (lognormal, > 0)"
    )
    needs_per_week_sigma: float = Field(0.5, ge=0, le=3, description="log-sd of business size (0..3)")
    margin_low: float = Field(0.3, ge=0, le=1, description="gross margin, uniform lower bound (0..1)")
    margin_high: float = Field(0.7, ge=0, le=1, description="gross margin, uniform upper bound (0..1)")
    hourly_value_median: float = Field(40.0, ge=0, description="median value of a member's hour, EUR (lognormal, >= 0)")
    hourly_value_sigma: float = Field(0.4, ge=0, le=3, description="log-sd of hourly value (0..3)")
    attendance_mean: float = Field(0.96, gt=0, lt=1, description="mean initial attendance habit (Beta, 0..1 exclusive)")
    attendance_concentration: float = Field(
        50.0, gt=0, le=1000, description="Beta concentration (alpha + beta) of the initial attendance habit (> 0)"
    )
    referral_propensity: Propensity = Propensity()
    promised_business: float = Field(
        66000.0, ge=0, le=1e8,
        description="business a candidate is promised, EUR per member-year (BNI's published figure); a candidate "
        "expects this times its business size relative to the median, with its own optimism (>= 0)",
    )
    expected_business_sigma: float = Field(
        0.5, ge=0, le=3, description="log-sd of a candidate's optimism about the promised business (0..3)"
    )
    willingness_to_pay_share: float = Field(
        0.1, ge=0, le=1,
        description="share of the margin it expects to earn in a year that a candidate accepts to pay in its first "
        "year (entry fee + annual fee) (0..1)",
    )
    expectation_realism: float = Field(
        0.3, ge=0, le=1,
        description="a candidate expects this share of the ROI that the promised business implies against the "
        "fee and its time (0..1)",
    )
    patience_median_years: float = Field(
        1.5, gt=0, le=20, description="median patience, years: a member asks full ROI only after this tenure (lognormal, > 0)"
    )
    patience_sigma: float = Field(0.5, ge=0, le=3, description="log-sd of patience (0..3)")

    @model_validator(mode="after")
    def _margin_order(self) -> PopulationSpec:
        if self.margin_low > self.margin_high:
            raise ValueError(f"margin_low ({self.margin_low}) must not exceed margin_high ({self.margin_high})")
        return self


# --------------------------------------------------------------------------- behaviour


class TiesSpec(_Section):
    initial: float = Field(0.05, ge=0, le=1, description="tie of a new pair of members (0..1)")
    co_attendance_growth: float = Field(
        0.02, ge=0, le=1, description="frequency: tie += growth x (1 - tie) for each meeting both attend (0..1)"
    )
    one_to_one_growth: float = Field(
        0.1, ge=0, le=1, description="intimacy: tie += growth x (1 - tie), both ways, for a one-to-one (0..1)"
    )
    hunter_growth_factor: float = Field(
        0.3, ge=0, le=1, description="emotion: growth of any tie involving a hunter is multiplied by this (0..1)"
    )
    reciprocity_growth: float = Field(
        0.15, ge=0, le=1, description="reciprocity: a converted referral raises the receiver's tie to the giver by growth x (1 - tie) (0..1)"
    )
    decay: float = Field(0.01, ge=0, le=1, description="weekly decay: tie *= (1 - decay) (0..1)")
    strong_threshold: float = Field(0.5, gt=0, le=1, description="a tie at or above this is strong (0..1]")
    attention_span: float = Field(
        20.0, gt=0, le=1000,
        description="attendees a member follows closely at a meeting: in a room of more, co-attendance growth is "
        "shared, x attention_span / (attendees - 1) (> 0)",
    )
    sphere_one_to_one: float = Field(
        0.5, ge=0, le=1,
        description="probability that an attendee's one-to-one is with an attendee of its own sector (contact "
        "sphere), when one attends (0..1)",
    )


class ReferralsSpec(_Section):
    pass_floor: float = Field(
        0.2, ge=0, le=1, description="share of its propensity a member uses with a zero tie: "
        "P(pass) = propensity x (floor + (1 - floor) x tie) (0..1)"
    )
    conversion_min: float = Field(0.3, ge=0, le=1, description="conversion probability of a referral at tie 0 (0..1)")
    conversion_max: float = Field(0.8, ge=0, le=1, description="conversion probability at tie 1; linear between (0..1)")
    reciprocity_prior: float = Field(
        1.0, ge=0, le=100, description="reciprocators: referrals credited to every member before any is received (>= 0)"
    )
    reciprocity_saturation: float = Field(
        4.0, gt=0, le=100, description="reciprocators refer fully to a member once credited this many referrals from it (> 0)"
    )
    reciprocity_credit_weeks: int = Field(
        26, ge=0, le=520, description="reciprocators' prior credit to a member lasts this many weeks after they met (0..520)"
    )
    image_window: int = Field(
        26, ge=1, le=520, description="image scoring: a member who gave no referral in this many weeks (of its "
        "tenure) is seen as a non-giver in the chapter's weekly report (1..520)"
    )
    image_penalty: float = Field(
        0.2, ge=0, le=1, description="image scoring: members refer to and buy from a seen non-giver with this "
        "share of their usual probability (0..1; 1 = off)"
    )

    @model_validator(mode="after")
    def _conversion_order(self) -> ReferralsSpec:
        if self.conversion_min > self.conversion_max:
            raise ValueError(f"conversion_min ({self.conversion_min}) must not exceed conversion_max ({self.conversion_max})")
        return self


class HuntingSpec(_Section):
    sale_probability: float = Field(
        0.15, ge=0, le=1, description="at a meeting, probability a present hunter sells to a present member who "
        "trusts it fully; x the member's tie to the hunter (0..1)"
    )
    trust_loss: float = Field(
        0.5, ge=0, le=1, description="a member sold to cuts its tie to the hunter, and the most it can regrow to: "
        "tie *= (1 - trust_loss), ceiling *= (1 - trust_loss) (0..1)"
    )
    gossip: float = Field(
        0.03, ge=0, le=1, description="word of a sale spreads: each sale lowers the seller's reputation in its club, "
        "reputation *= (1 - gossip), and every member buys from it in proportion to it (0..1; 0 = off)"
    )


class BehaviourSpec(_Section):
    habit_gain: float = Field(0.1, ge=0, le=1, description="attending: habit += gain x (1 - habit) (0..1)")
    habit_loss: float = Field(0.05, ge=0, le=1, description="missing: habit -= loss x habit (0..1)")
    value_smoothing: float = Field(
        0.04, gt=0, le=1, description="weight of this week in the perceived gains and costs (exponential smoothing, 0..1]"
    )
    social_value_per_strong_tie: float = Field(
        5.0, ge=0, description="social value of one strong tie, EUR per week (>= 0)"
    )
    expectation_learning: float = Field(
        0.3, ge=0, le=1, description="at each renewal, expectation moves this share of the way to the perceived ROI (0..1)"
    )
    renewal_steepness: float = Field(
        4.0, gt=0, le=100, description="slope of the logistic stay/leave rule, per unit of ROI shortfall (> 0)"
    )
    renewal_base_leave: float = Field(
        0.1, gt=0, lt=1, description="probability of leaving at a renewal when perceived ROI equals what is required (0..1 exclusive)"
    )
    exogenous_exit_rate: float = Field(
        0.1, ge=0, lt=1, description="annual probability of leaving for reasons outside the club (business closes, moves; 0..1)"
    )
    fatigue: float = Field(
        0.1, ge=0, le=10, description="the perceived time cost grows by this share per year of tenure (early "
        "mornings weigh more each year) (>= 0)"
    )
    entry_fee_commitment: float = Field(
        0.5, ge=0, le=20, description="years of patience an entry fee of 1,000 EUR adds (sunk-cost commitment) (>= 0)"
    )


# --------------------------------------------------------------------------- region


MAX_CLUBS = 100_000  # clubs in a region


class ClubGroupSpec(_Section):
    """Clubs of one kind in a region: the scenario's `club` section with some keys overridden."""

    name: str = Field(..., min_length=1, description="the group's name; its clubs are numbered name_1, name_2, ... "
                      "when count > 1")
    count: int = Field(1, ge=1, le=100_000, description="clubs in this group (1..100000)")
    club: ClubSpec = Field(ClubSpec(), description="this group's club keys, merged over the scenario's `club`")


class RegionSpec(_Section):
    clubs: Annotated[int, Field(ge=1, le=100_000)] | list[ClubGroupSpec] = Field(
        1,
        description="clubs in the region: a number of clubs like `club` (1 = a single club, no region), or a "
        "list of club groups (name, count, club keys that differ from `club`); 1..100000 clubs",
    )
    area_size: int = Field(
        0, ge=0, le=100_000,
        description="clubs per area: interclub events and transfers stay inside areas of this many consecutive "
        "clubs, like BNI's regions inside a country (0 = one area, the whole region)",
    )
    interclub_events_per_year: int = Field(
        4, ge=0, le=52, description="interclub events a year, where members meet members of other clubs (0..52)"
    )
    event_hours: float = Field(2.0, ge=0, le=24, description="hours an interclub event costs an attendee (0..24)")
    contacts_per_event: int = Field(
        3, ge=0, le=50, description="members of other clubs an attendee meets at an interclub event (0..50)"
    )
    weak_tie_initial: float = Field(
        0.3, gt=0, le=1, description="growth of a weak tie when two members meet at an event: w -> w + g (1 - w) (0..1]"
    )
    weak_ties_per_member: int = Field(
        8, ge=1, le=64, description="weak ties to other clubs a member keeps; a new one replaces the weakest (1..64)"
    )
    second_circle: bool = Field(
        True, description="a need no club member can meet may cross to another club through a weak tie"
    )
    transfer_share: float = Field(
        0.5, ge=0, le=1,
        description="probability that an applicant refused for capacity or composition tries another club (0..1)",
    )

    @field_validator("clubs")
    @classmethod
    def _clubs_named_once_and_counted(cls, clubs: int | list[ClubGroupSpec]) -> int | list[ClubGroupSpec]:
        """Club groups give at most 100,000 clubs in all, and every club its own name (clubs.csv's rows)."""
        if isinstance(clubs, int):
            return clubs
        total = sum(group.count for group in clubs)
        if total > MAX_CLUBS:
            raise ValueError(f"{total:,} clubs in all; at most {MAX_CLUBS:,}")
        seen: set[str] = set()
        for group in clubs:
            for name in group_club_names(group.name, group.count):
                if name in seen:
                    raise ValueError(f"two clubs would be named {name!r}: give each group a name of its own")
                seen.add(name)
        return clubs

    @property
    def club_count(self) -> int:
        return self.clubs if isinstance(self.clubs, int) else sum(group.count for group in self.clubs)


def group_club_names(name: str, count: int) -> list[str]:
    """A club group's clubs' names: the group's name alone, or numbered name_1, name_2, ..."""
    return [name] if count == 1 else [f"{name}_{k + 1}" for k in range(count)]


# --------------------------------------------------------------------------- root


class ScenarioConfig(_Section):
    """A whole scenario: one club in its market, for `years` years."""

    name: str = Field("scenario", description="short name used in output folders")
    description: str = Field("", description="free text")
    years: int = Field(10, ge=1, le=100, description="horizon, years of 52 weeks (1..100)")
    market: MarketSpec = MarketSpec()
    club: ClubSpec = ClubSpec()
    population: PopulationSpec = PopulationSpec()
    ties: TiesSpec = TiesSpec()
    referrals: ReferralsSpec = ReferralsSpec()
    hunting: HuntingSpec = HuntingSpec()
    behaviour: BehaviourSpec = BehaviourSpec()
    region: RegionSpec = RegionSpec()

    @model_validator(mode="before")
    @classmethod
    def _groups_inherit_the_club(cls, data: Any) -> Any:
        """Each club group's `club` keys are merged over the scenario's `club` before validation."""
        region = data.get("region") if isinstance(data, dict) else None
        groups = region.get("clubs") if isinstance(region, dict) else None
        if not isinstance(groups, list):
            return data
        base = data.get("club") if isinstance(data.get("club"), dict) else {}
        merged = [
            {**group, "club": _deep_merge(copy.deepcopy(base), group.get("club") or {})}
            if isinstance(group, dict) and isinstance(group.get("club", {}), dict) else group
            for group in groups
        ]
        return {**data, "region": {**region, "clubs": merged}}

    @property
    def weeks(self) -> int:
        return 52 * self.years

    @property
    def is_region(self) -> bool:
        return self.region.club_count > 1

    def region_clubs(self) -> list[tuple[str, ClubSpec]]:
        """(name, club section) of every club of the region, in order; one club when not a region."""
        clubs = self.region.clubs
        if isinstance(clubs, int):
            if clubs == 1:
                return [(self.name, self.club)]
            return [(f"club_{k + 1}", self.club) for k in range(clubs)]
        return [(name, group.club) for group in clubs for name in group_club_names(group.name, group.count)]


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario and the file (or "<scenario>") it came from."""

    config: ScenarioConfig
    source: str | None = None


def __getattr__(name: str) -> Any:
    # ClubScenario subclasses Mesa's Scenario: imported on first use, so that loading and
    # validating a scenario (the CLI) does not pay for importing Mesa
    if name == "ClubScenario":
        from sim.model.mesa_scenario import ClubScenario

        return ClubScenario
    raise AttributeError(f"module 'sim.model.scenario' has no attribute {name!r}")


# --------------------------------------------------------------------------- loading


def _deep_merge(base: dict, override: Mapping) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


MAX_DEPTH = 32  # mappings and lists inside each other; a scenario nests 5 deep
YAML_SUFFIXES = (".yaml", ".yml")


MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping: PyYAML keeps the last one, so a
    second `club:` block would silently drop the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:  # `<<: *anchor`: its keys are defaults the mapping's own keys override
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                line = seen.get(key)
                seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the base class words that error
                continue
            if line is not None:
                shown = f"'{key}'" if isinstance(key, str) and key.isidentifier() and len(key) <= 64 else "a key"
                raise InputError(None, None, f"{shown} is given twice (lines {line} and "
                                             f"{key_node.start_mark.line + 1}); give each key once")
        return super().construct_mapping(node, deep=deep)


MAX_NODES = 100_000  # values in a YAML file once its aliases are expanded ("billion laughs": 10^9 from 1 KB)


def _expanded_nodes(root: yaml.Node) -> int:
    """How many values a YAML node graph holds once aliases are expanded (a node reached twice counts twice),
    capped just above MAX_NODES; without recursion, and without expanding anything."""
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in size:
            continue
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        if not children_done:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in size)
            if len(stack) > 10 * MAX_NODES:  # a node that holds itself (a recursive alias) would go on for ever
                return MAX_NODES + 1
            continue
        size[id(node)] = min(MAX_NODES + 1, 1 + sum(size.get(id(child), MAX_NODES + 1) for child in children))
    return size[id(root)]


def _depth(node: Any) -> int:
    """How deep mappings and lists nest in `node` (without recursion: a bad file may nest very deep)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH:
            stack.extend((child, depth + 1) for child in children)
    return deepest


def load_yaml_text(text: str, source: Path | str | None) -> Any:
    """YAML text as Python values: InputError (one line) for malformed YAML, a key given twice, or
    nesting deeper than MAX_DEPTH."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_nodes(node) > MAX_NODES:
            raise InputError(None, None, f"holds more than {MAX_NODES:,} values once its aliases (*name) are "
                                         "expanded: a scenario is a few hundred")
        data = loader.construct_document(node) if node is not None else None
    except InputError as err:
        raise InputError(source, None, err.message) from None
    except RecursionError:
        raise InputError(source, None, f"nested too deeply: at most {MAX_DEPTH} levels of mappings and lists") from None
    finally:
        loader.dispose()
    if _depth(data) > MAX_DEPTH:
        raise InputError(source, None, f"nested too deeply: at most {MAX_DEPTH} levels of mappings and lists")
    return data


REPOSITORY = Path(__file__).resolve().parents[2]
# the shipped files of each kind, in a checkout (or an editable install) of the repository
SHIPPED = {
    "scenario": ("scenarios", REPOSITORY / "scenarios"),
    "experiment": ("experiments", REPOSITORY / "experiments"),
    "sensitivity experiment": ("experiments", REPOSITORY / "experiments"),
    "targets": ("targets files", REPOSITORY / "scenarios" / "targets"),
}


def missing_file_message(path: Path, kind: str = "scenario") -> str:
    """'no such file', with where a relative path was looked for, the shipped file it may mean (by its name,
    in any shipped folder: `clubsim compare` takes scenarios and experiments alike) and where the shipped
    files of its kind are."""
    path = Path(path)
    message = "no such file" + ("" if path.is_absolute() else f" (relative to the current folder, {Path.cwd()})")
    label, folder = SHIPPED.get(kind, SHIPPED["scenario"])
    if not folder.is_dir():  # an installed package without the repository's files
        return message
    folders = [folder, *(f for _, f in SHIPPED.values() if f != folder)]
    shipped = [f for d in dict.fromkeys(folders) for f in sorted(d.glob("*.y*ml")) if f.suffix in YAML_SUFFIXES]
    names = [f.name for f in shipped]
    wanted = path.name if path.suffix in YAML_SUFFIXES else f"{path.name}.yaml"
    close = [wanted] if wanted in names else difflib.get_close_matches(wanted, names, n=1, cutoff=0.8)
    message += f"; the shipped {label} are in {folder}{os.sep}"
    return message + (f": did you mean {shipped[names.index(close[0])]}?" if close else "")


def read_yaml_mapping(path: Path, kind: str = "scenario") -> dict:
    """A YAML file's top-level mapping; a missing, unreadable or malformed file is an InputError."""
    if not path.is_file():
        raise InputError(path, None, missing_file_message(path, kind) if not path.exists() else "not a file")
    try:
        data = load_yaml_text(path.read_text(encoding="utf-8"), path)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InputError(path, None, f"malformed YAML, {where}{problem}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, None, f"cannot read: {err}") from None
    if data is None:  # an empty file (or only comments) is a file cut short, not a wish for every default
        raise InputError(path, None, f"the file is empty: a {kind} file is a mapping of keys to values")
    if not isinstance(data, dict):
        raise InputError(path, None, f"a {kind} file must be a mapping of keys to values")
    return data


def _read_yaml(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    """Read a scenario file, resolving `extends:` recursively (deep merge, child wins).

    Errors name a file as the user wrote it (a parent relative to its child's folder);
    `chain` holds the resolved files already being read, to catch a cycle.
    """
    resolved = path.resolve()
    if resolved in chain:
        names = " -> ".join(p.name for p in (*chain, resolved))
        raise InputError(path, "extends", "inherits from itself through " + names)
    data = read_yaml_mapping(path, "scenario")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise InputError(path, "extends", "must be the path of another scenario file")
    if not parent.lower().endswith(YAML_SUFFIXES):  # nothing of a file that is not a scenario is shown
        raise InputError(path, "extends", "must name a scenario file ending in .yaml or .yml")
    parent_path = path.parent / parent
    if not parent_path.exists():
        raise InputError(path, "extends", f"{parent}: no such file (a parent is found relative to its child's "
                                          f"folder, {path.resolve().parent})")
    base = _read_yaml(parent_path, (*chain, resolved))
    # a professions CSV named by the parent stays relative to the parent's folder
    csv = base.get("market", {}).get("professions_csv") if isinstance(base.get("market"), dict) else None
    if csv and not Path(csv).is_absolute():
        base["market"]["professions_csv"] = str(parent_path.resolve().parent / csv)
    return _deep_merge(base, data)


def _parse_override_value(text: str) -> Any:
    try:
        return load_yaml_text(text, OVERRIDES_SOURCE)
    except yaml.YAMLError:
        return text


def _field_names(location: tuple[str, ...]) -> list[str]:
    """Field names allowed at a dotted location of the schema ([] where it is not a section)."""
    model, _ = schema_at(ScenarioConfig, location)
    return list(model.model_fields) if model is not None else []


def field_annotation(dotted: str) -> Any:
    """The type of the scenario field at a dotted key (`club.fees.annual` -> float); None if there is none."""
    model: Any = ScenarioConfig
    annotation: Any = None
    for part in dotted.split("."):
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        annotation = model = field.annotation
    return annotation


def dotted_items(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dotted keys: `{"club": {"fees": {"annual": 960}}}` -> `{"club.fees.annual": 960}`."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            flat.update(dotted_items(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


OVERRIDES_SOURCE = "overrides"  # what a bad override's error names instead of the file


SHARES_KEY = "population.shares"


def _shares_set(overrides: Mapping[str, Any]) -> set[str]:
    """The candidate shares (`giver`, `reciprocator`, `hunter`) that a layer of overrides sets: as dotted
    keys, or inside a `population.shares` or `population` mapping."""
    named: set[str] = set()
    for dotted, value in overrides.items():
        dotted = str(dotted)
        if dotted.startswith(f"{SHARES_KEY}."):
            named.add(dotted.removeprefix(f"{SHARES_KEY}."))
        elif dotted == SHARES_KEY and isinstance(value, Mapping):
            named.update(map(str, value))
        elif dotted == "population" and isinstance(value, Mapping) and isinstance(value.get("shares"), Mapping):
            named.update(map(str, value["shares"]))
    return named & set(MEMBER_TYPES)


def _share_value(value: Any) -> float | None:
    """A share as a number in 0..1, or None (left for the schema to refuse)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if 0 <= value <= 1 else None


def _rescale_shares(before: Mapping[str, Any], after: dict, named: set[str], source: Path | str) -> None:
    """Overrides that set one or two candidate shares rescale the others in proportion to their values
    before, so that the three still sum to 1 (`population.shares.hunter=0.2` on 0.3 : 0.55 : 0.15 gives
    0.282 : 0.518 : 0.2); with one left, it takes the rest. Shares that are not numbers in 0..1 are left
    for the schema to refuse."""
    population = after.get("population")
    shares = population.get("shares") if isinstance(population, dict) else None
    if not isinstance(shares, dict):
        return
    shares = population["shares"] = dict(shares)
    old_population = before.get("population") if isinstance(before.get("population"), Mapping) else {}
    old = old_population.get("shares") if isinstance(old_population.get("shares"), Mapping) else {}
    defaults = Shares.model_fields
    values = {k: _share_value(shares.get(k, defaults[k].default)) for k in named}
    if any(v is None for v in values.values()):
        return
    rest = [k for k in MEMBER_TYPES if k not in named]
    given = sum(values.values())
    if given > 1 + 1e-9:
        what = " + ".join(f"{k} {values[k]:g}" for k in MEMBER_TYPES if k in named)
        field = f"{SHARES_KEY}.{next(iter(named))}" if len(named) == 1 else SHARES_KEY
        raise InputError(source, field, f"{what} = {given:g} leaves less than nothing for {' and '.join(rest)}: "
                                        "the three shares sum to 1")
    weights = [_share_value(old.get(k, defaults[k].default)) for k in rest]
    left = max(0.0, 1.0 - given)
    if len(rest) == 1:
        shares[rest[0]] = left
        return
    if any(w is None for w in weights):
        return
    total = sum(w for w in weights if w is not None)
    if total > 0:
        for k, w in zip(rest, weights, strict=True):
            shares[k] = left * (w or 0.0) / total
    elif left > 0:
        raise InputError(source, SHARES_KEY, f"{' and '.join(rest)} are both 0 in the scenario, so the "
                                             f"{left:g} left by the shares set cannot be split in proportion; "
                                             "set all three shares")


def apply_overrides(data: dict, overrides: Mapping[str, Any], source: Path | str) -> dict:
    """Set dotted keys (`club.fees.annual`) in a raw scenario mapping.

    String values are parsed as YAML scalars (`"1500"` -> 1500), so overrides from the
    command line and from Python behave alike; types are checked by the schema. Overrides that
    set one or two of the candidate shares (`population.shares.hunter`) rescale the others in
    proportion, so that the three still sum to 1; setting all three keeps them as given.
    """
    before = data
    data = copy.deepcopy(data)
    for dotted, raw in overrides.items():
        parts = str(dotted).split(".")
        value = _parse_override_value(raw) if isinstance(raw, str) else raw
        node = data
        for depth, part in enumerate(parts):
            allowed = _field_names(tuple(parts[:depth]))
            if part not in allowed:
                raise InputError(source, dotted, suggest(part, allowed) if allowed else "not a section with keys")
            if depth == len(parts) - 1:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    named = _shares_set(overrides)
    if 0 < len(named) < len(MEMBER_TYPES):
        _rescale_shares(before, data, named, source)
    return data


def validate_config(
    data: Mapping[str, Any], source: Path | str, overrides: Mapping[str, Any] | None = None,
    overrides_source: str = OVERRIDES_SOURCE,
) -> ScenarioConfig:
    """Validate a raw mapping; the first problem becomes a one-line `InputError`.

    A problem in a field set by `overrides` names `overrides_source` (e.g. "--set") rather than the file.
    """
    def named(error: InputError) -> InputError:
        dotted = error.field
        if dotted and any(dotted == key or dotted.startswith(f"{key}.") for key in map(str, overrides or {})):
            return InputError(overrides_source, dotted, error.message)
        return error

    try:
        config = ScenarioConfig.model_validate(data)
    except ValidationError as err:
        raise named(validation_input_error(err, source, ScenarioConfig, describe=True)) from None
    dotted = first_non_finite(config.model_dump())
    if dotted is not None:
        raise named(InputError(source, dotted, NOT_FINITE))
    if isinstance(config.region.clubs, list) and not config.region.clubs:
        raise named(InputError(source, "region.clubs", "lists no club group: give at least one, or a number "
                                                       "of clubs (1 = a single club)"))
    return config


def first_non_finite(node: Any, prefix: str = "") -> str | None:
    """The dotted key of the first infinite or NaN number in nested mappings and lists, else None."""
    if isinstance(node, float):
        return None if math.isfinite(node) else prefix.rstrip(".") or "value"
    items = node.items() if isinstance(node, Mapping) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        found = first_non_finite(value, f"{prefix}{key}.")
        if found is not None:
            return found
    return None


def load_config(
    source: str | Path | Mapping[str, Any] | ScenarioConfig | LoadedScenario | Any,
    overrides: Mapping[str, Any] | None = None,
    *,
    overrides_source: str = OVERRIDES_SOURCE,
) -> LoadedScenario:
    """Load and validate a scenario from a YAML path, a mapping, a config or a loaded scenario.

    `overrides` maps dotted keys to values, e.g. `{"club.fees.annual": 1500}`.
    Raises `InputError` (one line: file, field, what is allowed) on bad input; a bad
    override names `overrides_source` (the CLI passes "--set") instead of the file.
    """
    if overrides is not None and not isinstance(overrides, Mapping):
        raise InputError("overrides", repr(overrides)[:60], "must be a mapping of dotted keys to values, e.g. "
                                                            "{'years': 2} (on the command line: --set years=2)")
    bad_key = next((key for key in (overrides or {}) if not isinstance(key, str)), None)
    if bad_key is not None:
        raise InputError("overrides", repr(bad_key)[:60], "a key must be a dotted scenario key as text, e.g. "
                                                          "'club.fees.annual'")
    if not isinstance(source, str | Path | Mapping | ScenarioConfig) \
            and not isinstance(getattr(source, "config", None), ScenarioConfig):
        raise InputError("scenario", repr(source)[:60], "must be a scenario file's path, a mapping of its keys, "
                                                        "or a loaded scenario")
    overrides = dict(overrides or {})
    if isinstance(source, ScenarioConfig):
        origin: Path | str = "<scenario>"
        if not overrides:
            return LoadedScenario(source, None)
        data = source.model_dump(mode="json")
    elif isinstance(getattr(source, "config", None), ScenarioConfig):  # LoadedScenario or ClubScenario
        origin = source.source or "<scenario>"
        if not overrides:
            return LoadedScenario(source.config, source.source)
        data = source.config.model_dump(mode="json")
    elif isinstance(source, Mapping):
        origin, data = "<scenario>", copy.deepcopy(dict(source))
        data.pop("extends", None)
    else:
        origin = Path(source)
        data = _read_yaml(origin)
        marker = next((key for key in EXPERIMENT_KEYS if key in data), None)
        if marker is not None:  # not a scenario key: without this, "scenario: unknown key"
            raise InputError(origin, marker, "an experiment file, not a scenario: run it with clubsim compare, "
                                             "sweep, discover or sensitivity")
        csv = data.get("market", {}).get("professions_csv") if isinstance(data.get("market"), dict) else None
        if csv and not Path(csv).is_absolute():
            data["market"]["professions_csv"] = str(origin.resolve().parent / csv)
        data.setdefault("name", origin.stem)
    data = apply_overrides(data, overrides, overrides_source)
    try:
        config = validate_config(data, origin, overrides, overrides_source)
    except InputError as err:
        if isinstance(origin, Path) and err.source == str(origin) and err.field:
            raise InputError(_file_that_sets(origin, err.field), err.field, err.message) from None
        raise
    return LoadedScenario(config, None if origin == "<scenario>" else str(origin))


def _file_that_sets(path: Path, dotted: str) -> Path:
    """The file of `path`'s `extends:` chain (itself first) whose own keys set `dotted` (or the part of it
    that is a key there): the file to name for that field's problem. `path` if none does (a default)."""
    child: Path | None = path
    while child is not None:
        data = read_yaml_mapping(child, "scenario")
        node: Any = data
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
            if not isinstance(node, Mapping):  # a value, or a list such as region.clubs: set here
                return child
        else:
            return child
        parent = data.get("extends")
        child = child.parent / parent if isinstance(parent, str) else None
    return path


def load_scenario(
    source: str | Path | Mapping[str, Any] | ScenarioConfig | LoadedScenario | Any,
    overrides: Mapping[str, Any] | None = None,
    *,
    rng: Any = None,
) -> Any:
    """`load_config`, wrapped in a new `ClubScenario` (a Mesa `Scenario`) seeded with `rng`.

    A `ClubScenario` given as `source` keeps its seed unless `rng` is given. Always a new
    object: Mesa binds a Scenario to one model (`scenario.model = model`).
    """
    from sim.model.mesa_scenario import ClubScenario

    if rng is None:
        rng = getattr(source, "rng", None)
    loaded = load_config(source, overrides)
    return ClubScenario.of(loaded.config, loaded.source)(loaded.config, rng=rng, source=loaded.source)


# --------------------------------------------------------------------------- documentation


def parameter_rows(model: type[BaseModel] = ScenarioConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted name, default, description) of every scenario parameter, in schema order."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(parameter_rows(annotation, f"{prefix}{name}."))
        else:
            rows.append((f"{prefix}{name}", _shown(field.default), field.description or ""))
    return rows


def _shown(default: Any) -> str:
    if default is None:
        return "none"
    if isinstance(default, str):
        return repr(default)
    if isinstance(default, float):
        return f"{default:g}"
    return str(default)


def parameter_table_markdown() -> str:
    """The parameter table of docs/ODD.md (regenerate with `python -m sim.model.scenario`)."""
    lines = ["| parameter | default | meaning, unit and allowed range |", "|---|---|---|"]
    lines += [f"| `{name}` | {default} | {description} |" for name, default, description in parameter_rows()]
    return "\n".join(lines) + "\n"


def _allowed(annotation: Any, metadata: list[Any]) -> str:
    """The values a field accepts, in words, from its type and its pydantic bounds."""
    if get_origin(annotation) is Annotated:
        inner, *extra = get_args(annotation)
        return _allowed(inner, [*metadata, *(m for e in extra for m in getattr(e, "metadata", [e]))])
    if get_origin(annotation) is Literal:
        return ", ".join(f"`{value}`" for value in get_args(annotation))
    if get_origin(annotation) in (Union, UnionType):
        return " or ".join(_allowed(arg, metadata) for arg in get_args(annotation))
    if annotation is type(None):
        return "`null` (none)"
    if annotation is bool:
        return "`true`, `false`"
    if annotation is str:
        return "text"
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        return f"a list of {item.__name__ if item is not ClubGroupSpec else 'club groups (`region.clubs[]` below)'}"
    kind = "integer" if annotation is int else "number"
    bound = {key: getattr(m, key) for m in metadata for key in ("ge", "gt", "le", "lt") if getattr(m, key, None) is not None}
    low = f"{bound['ge']:g} <=" if "ge" in bound else f"{bound['gt']:g} <" if "gt" in bound else None
    high = f"<= {bound['le']:g}" if "le" in bound else f"< {bound['lt']:g}" if "lt" in bound else None
    if low and high:
        return f"{kind}, {low} x {high}"
    if low:  # one-sided: "x >= 0" rather than "0 <= x"
        number, sign = low.split()
        return f"{kind}, x {sign.replace('<', '>')} {number}"
    return f"{kind}, x {high}" if high else kind


def _yaml_shown(default: Any) -> str:
    """A default as it would be written in a scenario file."""
    if default is None or isinstance(default, bool):
        return f"`{yaml.safe_dump(default).splitlines()[0]}`"
    if isinstance(default, float):
        return f"`{default:g}`"
    return f"`{default}`" if default != "" else "`''`"


def parameter_reference_rows(
    model: type[BaseModel] = ScenarioConfig, prefix: str = ""
) -> list[tuple[str, str, str, str]]:
    """(dotted name, default, allowed values, description) of every scenario key, in schema order.

    The keys of a club group of `region.clubs` come right after it, as `region.clubs[].name`, ...
    """
    rows: list[tuple[str, str, str, str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation is not ClubSpec \
                or (annotation is ClubSpec and model is not ClubGroupSpec):
            rows.extend(parameter_reference_rows(annotation, f"{prefix}{name}."))
            continue
        default = "required" if field.is_required() else _yaml_shown(field.default)
        if annotation is ClubSpec:  # a club group's `club`: the scenario's club keys, merged over `club`
            rows.append((f"{prefix}{name}", "the scenario's `club`", "any keys of `club` above",
                         field.description or ""))
            continue
        rows.append((f"{prefix}{name}", default, _allowed(annotation, list(field.metadata)), field.description or ""))
        if model is RegionSpec and name == "clubs":
            rows.extend(parameter_reference_rows(ClubGroupSpec, f"{prefix}{name}[]."))
    return rows


PARAMETERS_MD = Path(__file__).resolve().parents[2] / "docs" / "parameters.md"


def parameters_markdown() -> str:
    """docs/parameters.md: every scenario key (regenerate with `python -m sim.model.scenario --parameters-md`)."""
    lines = [
        "# Scenario parameters",
        "",
        "<!-- Generated from the schema (sim/model/scenario.py) by `python -m sim.model.scenario --parameters-md`;",
        "     tests/test_docs.py fails when this file and the schema differ. Do not edit by hand. -->",
        "",
        "Every key a scenario file may set, by its dotted name (the name `--set` and overrides use:",
        "`--set club.fees.annual=1200`), with its default, the values it accepts and what it means. A",
        "scenario file sets only the keys where it differs from these defaults; `extends: other.yaml` (a",
        "path relative to the file) inherits another scenario's keys first. How each parameter acts is in",
        "[ODD.md](ODD.md); where the real figures behind the shipped scenarios come from is in",
        "[sources.md](sources.md).",
        "",
        "Numbers must be finite. Across keys: `club.founders` must lie between `club.min_viable_size` and",
        "`club.capacity`; `population.margin_low` must not exceed `margin_high`, nor",
        "`referrals.conversion_min` `conversion_max`; the three `population.shares` must sum to 1 (an",
        "override that sets one or two of them rescales the others in proportion).",
        "",
        "| parameter | default | allowed | meaning |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{name}` | {default} | {allowed} | {description} |"
        for name, default, allowed, description in parameter_reference_rows()
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--parameters-md"]:
        print(parameters_markdown(), end="")
    elif sys.argv[1:]:
        sys.exit("usage: python -m sim.model.scenario [--parameters-md]  (the ODD's parameter table, or docs/parameters.md)")
    else:
        print(parameter_table_markdown(), end="")
