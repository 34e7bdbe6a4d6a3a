"""Stylized facts: the patterns club founders describe, checked on a scenario over replications.

Each `Fact` names the scenario variants it needs (dotted overrides of the scenario), replicated under
common random numbers (`sim.experiments.targets.replicate`), and judges them from estimates with 95 % CIs: a fact
holds when its CIs say so. Each fact also says which mechanism produces it and how to switch that
mechanism off (`mechanisms_off=True`), so a test can show the fact then fails. `clubsim validate-model`
prints the result.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import InputError
from sim.experiments.folders import OutputFolder, provenance
from sim.experiments.targets import (
    EARLY_YEARS,
    LONG_TENURE,
    SHORT_TENURE,
    Estimate,
    estimate,
    hazard_between,
    paired_difference,
    pooled_estimate,
    replicate,
    with_parameters,
)
from sim.model.scenario import LoadedScenario, ScenarioConfig, load_config

DEFAULT_RUNS = 200
DEFAULT_SEED = 20180520
FACTS_FILE = "facts.csv"

Records = dict[str, list[dict[str, Any]]]
Overrides = dict[str, Any]


@dataclass(frozen=True)
class Figure:
    """A figure reported for a fact: a value or a paired difference, with its 95 % CI."""

    label: str
    estimate: Estimate
    percent: bool = False
    difference: bool = False


@dataclass(frozen=True)
class Fact:
    """A stylized fact: its statement, the variants it compares, how it is judged, and its mechanism."""

    name: str
    statement: str
    criterion: str
    mechanism: str
    variants: Callable[[ScenarioConfig, bool], dict[str, Overrides]]
    judge: Callable[[Records], tuple[bool, list[Figure]]]


@dataclass
class FactResult:
    """A fact's verdict: True or False from its figures' CIs, or None when a figure has no value (too few runs
    or years for it: no exits to time, no hunter), so that the fact cannot be judged either way."""

    fact: Fact
    holds: bool | None
    figures: list[Figure]


@dataclass
class ValidationResult:
    """Every fact's result on one scenario, and how it was obtained."""

    scenario: LoadedScenario
    results: list[FactResult]
    runs: int
    seed: int
    mechanisms_off: bool
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def held(self) -> int:
        return sum(r.holds is True for r in self.results)

    @property
    def undecided(self) -> int:
        """Facts that could not be judged (`FactResult.holds` None)."""
        return sum(r.holds is None for r in self.results)

    def table(self) -> pd.DataFrame:
        """Long form: one row per (fact, figure)."""
        rows = []
        for result in self.results:
            for figure in result.figures:
                est = figure.estimate
                rows.append({"fact": result.fact.name, "holds": result.holds, "figure": figure.label,
                             "value": est.value, "ci_low": est.low, "ci_high": est.high, "n": est.n,
                             "difference": figure.difference, "mechanisms_off": self.mechanisms_off})
        return pd.DataFrame(rows, columns=["fact", "holds", "figure", "value", "ci_low", "ci_high", "n", "difference",
                                           "mechanisms_off"])


# --------------------------------------------------------------------------- the facts


def _hazard_variants(config: ScenarioConfig, off: bool) -> dict[str, Overrides]:
    if not off:
        return {"scenario": {}}
    # exits no longer follow experience: renewals ignore returns, and no attendance rule expels
    return {"scenario": {"behaviour.renewal_steepness": 1e-3, "club.attendance_rule.enabled": False}}


def _hazard_judge(records: Records) -> tuple[bool, list[Figure]]:
    runs = records["scenario"]
    peak = estimate(runs, "exit_hazard_peak_year")
    ratio = estimate(runs, "exit_hazard_early_to_late")
    figures = [
        Figure("exit hazard peaks in year of membership", peak),
        Figure("exit hazard in year 1 (exits per member-year)", pooled_estimate(runs, hazard_between(0, 1)),
               percent=True),
        Figure("exit hazard in year 2", pooled_estimate(runs, hazard_between(1, 2)), percent=True),
        Figure(f"exit hazard after year {EARLY_YEARS}", pooled_estimate(runs, hazard_between(EARLY_YEARS)),
               percent=True),
        Figure(f"peak hazard of years 1-{EARLY_YEARS} / hazard after", ratio),
    ]
    holds = bool(np.isfinite(peak.high) and 1 <= peak.low and peak.high <= EARLY_YEARS and ratio.low > 1)
    return holds, figures


def _stayers_variants(config: ScenarioConfig, off: bool) -> dict[str, Overrides]:
    if not off:
        return {"scenario": {}}
    # returns no longer grow with tenure (no tie growth, reciprocators refer fully from the start)
    # and members no longer leave because of poor returns
    return {"scenario": {
        "behaviour.renewal_steepness": 1e-3,
        "ties.co_attendance_growth": 0.0,
        "ties.one_to_one_growth": 0.0,
        "ties.reciprocity_growth": 0.0,
        "referrals.reciprocity_prior": config.referrals.reciprocity_saturation,
    }}


def _stayers_judge(records: Records) -> tuple[bool, list[Figure]]:
    runs = records["scenario"]
    diff = estimate(runs, "roi_stayers_minus_leavers")
    figures = [
        Figure("median ROI, members past 2 years", estimate(runs, "roi_median_long_stayers"), percent=True),
        Figure("median ROI, members who left in year 1", estimate(runs, "roi_median_first_year_leavers"),
               percent=True),
        Figure("difference", diff, percent=True, difference=True),
    ]
    return diff.low > 0, figures


HUNTER_SHARE_STEP = 0.25


def _more_hunters(config: ScenarioConfig) -> Overrides:
    shares = config.population.shares
    hunter = min(0.95, shares.hunter + HUNTER_SHARE_STEP)
    others = shares.giver + shares.reciprocator
    giver = (1 - hunter) * (shares.giver / others if others > 0 else 0.5)
    return {"population.shares.giver": giver, "population.shares.reciprocator": 1 - hunter - giver,
            "population.shares.hunter": hunter}


def _hunters_variants(config: ScenarioConfig, off: bool) -> dict[str, Overrides]:
    ablation: Overrides = {}
    if off:  # hunters behave like givers: they refer, sell nothing to the room, and bond normally
        ablation = {"population.referral_propensity.hunter": config.population.referral_propensity.giver,
                    "hunting.sale_probability": 0.0, "ties.hunter_growth_factor": 1.0}
    return {"scenario": dict(ablation), "more_hunters": {**_more_hunters(config), **ablation}}


def _hunters_judge(records: Records) -> tuple[bool, list[Figure]]:
    base, more = records["scenario"], records["more_hunters"]
    roi = paired_difference(more, base, "roi_giver")
    churn = paired_difference(more, base, "churn_rate_non_hunters")
    survival = paired_difference(more, base, "survived")
    figures = [
        Figure("hunters' share of members, scenario", estimate(base, "hunter_share_mean"), percent=True),
        Figure(f"hunters' share, candidates +{HUNTER_SHARE_STEP:.0%} hunters", estimate(more, "hunter_share_mean"),
               percent=True),
        Figure("givers' ROI, scenario", estimate(base, "roi_giver"), percent=True),
        Figure("givers' ROI, more hunters", estimate(more, "roi_giver"), percent=True),
        Figure("givers' ROI, difference", roi, percent=True, difference=True),
        Figure("churn per year, all members, scenario", estimate(base, "churn_rate_annual"), percent=True),
        Figure("churn per year, all members, more hunters", estimate(more, "churn_rate_annual"), percent=True),
        Figure("churn per year of givers and reciprocators, scenario", estimate(base, "churn_rate_non_hunters"),
               percent=True),
        Figure("churn of givers and reciprocators, more hunters", estimate(more, "churn_rate_non_hunters"),
               percent=True),
        Figure("churn of givers and reciprocators, difference", churn, percent=True, difference=True),
        Figure("chapters that survive, scenario", estimate(base, "survived"), percent=True),
        Figure("chapters that survive, more hunters", estimate(more, "survived"), percent=True),
        Figure("chapters that survive, difference", survival, percent=True, difference=True),
    ]
    return bool(roi.high < 0 and churn.low > 0 and survival.high < 0), figures


def _defection_variants(config: ScenarioConfig, off: bool) -> dict[str, Overrides]:
    if not off:
        return {"scenario": {}}
    # defection costs nothing later: no lost trust, no gossip, no weekly report of who gives
    return {"scenario": {"hunting.trust_loss": 0.0, "hunting.gossip": 0.0, "referrals.image_penalty": 1.0}}


def _defection_judge(records: Records) -> tuple[bool, list[Figure]]:
    runs = records["scenario"]
    first = estimate(runs, "hunter_minus_giver_roi_first_year")
    later = estimate(runs, "hunter_minus_giver_roi_long_tenure")
    figures = [Figure(f"hunters' ROI minus givers', tenure up to {SHORT_TENURE:g} year", first, percent=True,
                      difference=True),
               Figure(f"hunters' ROI minus givers', tenure {LONG_TENURE:g} years or more", later, percent=True,
                      difference=True)]
    return bool(first.low > 0 and later.high < 0), figures


LOW_ACCURACY, HIGH_ACCURACY = 0.3, 0.9


def _interview_variants(config: ScenarioConfig, off: bool) -> dict[str, Overrides]:
    policy = "none" if off else "interview"  # off: no interview screens anyone
    return {"low_accuracy": {"club.selection.policy": policy, "club.selection.accuracy": LOW_ACCURACY},
            "high_accuracy": {"club.selection.policy": policy, "club.selection.accuracy": HIGH_ACCURACY}}


def _interview_judge(records: Records) -> tuple[bool, list[Figure]]:
    low, high = records["low_accuracy"], records["high_accuracy"]
    diff = paired_difference(high, low, "hunter_share_mean")
    figures = [
        Figure(f"hunters' share of members, interview accuracy {LOW_ACCURACY:g}", estimate(low, "hunter_share_mean"),
               percent=True),
        Figure(f"hunters' share, accuracy {HIGH_ACCURACY:g}", estimate(high, "hunter_share_mean"), percent=True),
        Figure("difference", diff, percent=True, difference=True),
    ]
    return diff.high < 0, figures


def _contribution_variants(config: ScenarioConfig, off: bool) -> dict[str, Overrides]:
    ablation: Overrides = {}
    if off:  # hunters refer like reciprocators: the rule no longer singles them out
        ablation = {"population.referral_propensity.hunter": config.population.referral_propensity.reciprocator}
    return {"no_rule": {"club.contribution_rule.enabled": False, **ablation},
            "rule": {"club.contribution_rule.enabled": True, "club.contribution_rule.min_referrals": 1,
                     "club.contribution_rule.window_weeks": 52, **ablation}}


def _contribution_judge(records: Records) -> tuple[bool, list[Figure]]:
    none, rule = records["no_rule"], records["rule"]
    share = paired_difference(rule, none, "hunter_share_mean")
    business = paired_difference(rule, none, "business_per_member_year_survivors")
    figures = [
        Figure("hunters' share of members, no contribution rule", estimate(none, "hunter_share_mean"), percent=True),
        Figure("hunters' share, 1 referral per 52 weeks", estimate(rule, "hunter_share_mean"), percent=True),
        Figure("hunters' share, difference", share, percent=True, difference=True),
        Figure("business per member-year, surviving chapters, no rule",
               estimate(none, "business_per_member_year_survivors")),
        Figure("business per member-year, surviving chapters, the rule",
               estimate(rule, "business_per_member_year_survivors")),
        Figure("business per member-year, surviving chapters, difference", business, difference=True),
        Figure("givers' ROI, no rule", estimate(none, "roi_giver"), percent=True),
        Figure("givers' ROI, the rule", estimate(rule, "roi_giver"), percent=True),
        Figure("hunters' ROI, no rule", estimate(none, "roi_hunter"), percent=True),
        Figure("hunters' ROI, the rule", estimate(rule, "roi_hunter"), percent=True),
    ]
    return bool(share.high < 0), figures


FEE_FACTORS = (0.5, 1.0, 2.0, 4.0)  # fees tried, as multiples of the scenario's annual fee


def _fee_label(factor: float) -> str:
    return f"fee_x{factor:g}"


def _fees_variants(config: ScenarioConfig, off: bool) -> dict[str, Overrides]:
    ablation: Overrides = {}
    if off:  # a fee no longer selects (every candidate pays it) and is not felt in the perceived cost
        ablation = {"population.willingness_to_pay_share": 1.0, "population.expected_business_sigma": 0.0,
                    "population.expectation_realism": 0.0, "behaviour.renewal_steepness": 1e-3}
    return {_fee_label(f): {"club.fees.annual": f * config.club.fees.annual, **ablation} for f in FEE_FACTORS}


def _fees_judge(records: Records) -> tuple[bool, list[Figure]]:
    runs = [records[_fee_label(f)] for f in FEE_FACTORS]
    members = [estimate(r, "members_settled") for r in runs]
    income = [estimate(r, "fee_income_total") for r in runs]
    steps = zip(runs, runs[1:], strict=False)
    falls = [paired_difference(dearer, cheaper, "members_settled") for cheaper, dearer in steps]
    best = int(np.argmax([i.value for i in income]))
    figures = [Figure(f"members (second half), fee x{f:g}", m) for f, m in zip(FEE_FACTORS, members, strict=True)]
    figures += [Figure(f"fee income over the run, fee x{f:g}", i) for f, i in zip(FEE_FACTORS, income, strict=True)]
    # the best interior fee against both ends (always reported, so that every run has the same figures)
    interior = 1 + int(np.argmax([i.value for i in income[1:-1]]))
    ends = (0, len(runs) - 1)
    above_ends = [paired_difference(runs[interior], runs[end], "fee_income_total") for end in ends]
    figures += [Figure(f"fee income, best interior fee x{FEE_FACTORS[interior]:g} minus x{FEE_FACTORS[end]:g}", d,
                       difference=True) for end, d in zip(ends, above_ends, strict=True)]
    figures += [Figure(f"members (second half), fee x{b:g} minus x{a:g}", d, difference=True)
                for a, b, d in zip(FEE_FACTORS, FEE_FACTORS[1:], falls, strict=False)]
    # a step up never raises members, and doubling from the scenario's fee on lowers them
    falls_off = all(d.low < 0 for d in falls) and all(d.high < 0 for d in falls[1:])
    holds = falls_off and best == interior and all(d.low > 0 for d in above_ends)
    return bool(holds), figures


SETTLED_BAND = (25.0, 35.0)
AT_CAPACITY_MAX = 0.10


def _size_variants(config: ScenarioConfig, off: bool) -> dict[str, Overrides]:
    if not off:
        return {"scenario": {}}
    if config.club.recruitment.crowding > 0:
        # no crowding: joins stay flat as the room fills while exits per head fall; chapters grow to capacity
        return {"scenario": {"club.recruitment.crowding": 0.0}}
    # a club without crowding: nobody leaves, and nothing balances the chapter-level flow of newcomers
    return {"scenario": {"behaviour.exogenous_exit_rate": 0.0, "behaviour.renewal_base_leave": 1e-9,
                         "behaviour.renewal_steepness": 1e-3, "club.attendance_rule.enabled": False}}


def _size_judge(records: Records) -> tuple[bool, list[Figure]]:
    runs = records["scenario"]
    size = estimate(runs, "members_settled_survivors")
    capacity = estimate(runs, "at_capacity")
    figures = [Figure("members (second half), surviving chapters", size),
               Figure("chapters at capacity (within 10 %)", capacity, percent=True),
               Figure("chapters that survive", estimate(runs, "survived"), percent=True)]
    low, high = SETTLED_BAND
    return bool(low <= size.low and size.high <= high and capacity.value < AT_CAPACITY_MAX), figures


EQUAL_SIZE_CAPACITY = 30
EQUAL_SIZE_VISITORS = 20.0
EQUAL_SIZE_TOLERANCE = 1.0  # members: the two clubs count as equal in size within this


def _synergy_variants(config: ScenarioConfig, off: bool) -> dict[str, Overrides]:
    # both clubs recruit enough to sit at the same capacity, so business per member compares at equal size
    full: Overrides = {"club.capacity": EQUAL_SIZE_CAPACITY,
                       "club.recruitment.visitors_per_meeting": EQUAL_SIZE_VISITORS,
                       "club.founders": min(config.club.founders, EQUAL_SIZE_CAPACITY)}
    full["market.sector_synergy"] = max(config.market.sector_synergy, 0.3)
    # complementarity's sector teams (docs/ODD.md 7.2): the scenario's, or full team work if it has none;
    # off: no team work, the follow-on needs stay the market's
    team_work = 0.0 if off else (config.club.composition.team_work or 1.0)
    return {"exclusivity": {**full, "club.composition.policy": "exclusivity"},
            "complementarity": {**full, "club.composition.policy": "complementarity",
                                "club.composition.team_work": team_work}}


def _synergy_judge(records: Records) -> tuple[bool, list[Figure]]:
    excl, comp = records["exclusivity"], records["complementarity"]
    size = paired_difference(comp, excl, "members_settled")
    business = paired_difference(comp, excl, "business_per_member_year")
    figures = [
        Figure("members (second half), exclusivity", estimate(excl, "members_settled")),
        Figure("members (second half), complementarity", estimate(comp, "members_settled")),
        Figure("business per member-year, exclusivity", estimate(excl, "business_per_member_year")),
        Figure("business per member-year, complementarity", estimate(comp, "business_per_member_year")),
        Figure("business per member-year, difference", business, difference=True),
    ]
    equal_size = bool(abs(size.value) <= EQUAL_SIZE_TOLERANCE)
    return bool(equal_size and business.low > 0), figures


FACTS: tuple[Fact, ...] = (
    Fact("exit_hazard_peaks_early",
         "the exit hazard peaks in the first two years of tenure",
         "the peak year's bootstrap CI lies in years 1-2 and the early peak's ratio to the later hazard has "
         "its CI above 1",
         "exits that follow experience: renewals weigh perceived returns against a growing requirement, and the "
         "attendance rule expels members whose habit is weak (off: renewal_steepness ~ 0, no attendance rule)",
         _hazard_variants, _hazard_judge),
    Fact("stayers_earn_more",
         "members who stay past two years have a higher ROI than those who leave in their first year",
         "the paired difference of median ROIs (per replication) has its CI above 0",
         "returns that grow with tenure (ties, reciprocity) and leaving on poor returns (off: no tie growth, "
         "reciprocators refer fully from the start, renewal_steepness ~ 0)",
         _stayers_variants, _stayers_judge),
    Fact("hunters_hurt_givers",
         f"raising the hunters' share of candidates (+{HUNTER_SHARE_STEP:.0%}) lowers the givers' ROI and the "
         "chapters' survival, and raises churn",
         "paired differences: givers' ROI CI below 0, survival CI below 0, and the churn of the members who are "
         "not hunters CI above 0",
         "hunters take without giving: they refer almost never, sell to the room and bond slowly; members who "
         "gain little bring fewer visitors (off: hunters refer like givers, sell nothing and bond normally)",
         _hunters_variants, _hunters_judge),
    Fact("hunters_lose_with_tenure",
         "defection pays in the short run and costs in the long run: hunters out-earn givers in their first year "
         "and fall behind them after three years",
         "pooled over replications: hunters' mean ROI minus givers' has its bootstrap CI above 0 among members of "
         f"up to {SHORT_TENURE:g} year, and below 0 among members of {LONG_TENURE:g} years or more",
         "a sale costs the hunter the buyer's trust for good (tie ceilings) and some of its reputation in the room "
         "(gossip), and members see who gives nothing (image scoring), while givers' returns grow with trust "
         "(off: no trust loss, no gossip, no image scoring)",
         _defection_variants, _defection_judge),
    Fact("fee_has_an_interior_optimum",
         "members fall as the annual fee rises (x0.5, x1, x2, x4), and fee income peaks at an interior fee",
         "no step up raises members (no paired CI above 0) and each doubling from the scenario's fee lowers them "
         "(paired CI below 0); the highest mean income is at x1 or x2, and its paired differences with x0.5 and "
         "x4 have CIs above 0",
         "a fee selects (candidates pay at most a share of the margin they expect) and costs (it is in the "
         "perceived cost of renewals) (off: everyone pays any fee, nobody expects a payback, renewals ignore "
         "returns)",
         _fees_variants, _fees_judge),
    Fact("surviving_chapters_settle_in_band",
         f"surviving chapters settle at {SETTLED_BAND[0]:g}-{SETTLED_BAND[1]:g} members, not at capacity",
         f"the mean size over the second half among survivors has its CI inside {SETTLED_BAND[0]:g}-"
         f"{SETTLED_BAND[1]:g}, and fewer than {AT_CAPACITY_MAX:.0%} of chapters sit at capacity",
         "a chapter-level flow of visitors (its effort and its members' mean satisfaction, not their number), "
         "lowered as its room fills (crowding), balanced by exits that grow with its size (off: no crowding; "
         "in a club without it, nobody leaves)",
         _size_variants, _size_judge),
    Fact("interview_accuracy_keeps_hunters_out",
         f"an interview with higher accuracy ({HIGH_ACCURACY:g} vs {LOW_ACCURACY:g}) lowers the hunters' share",
         "paired difference of the hunters' mean share has its CI below 0",
         "the interview rejects detected hunters (off: no interview)",
         _interview_variants, _interview_judge),
    Fact("contribution_rule_hits_hunters",
         "a minimum-contribution rule (1 referral per 52 weeks) lowers the hunters' share",
         "paired difference of the hunters' mean share has its CI below 0",
         "the rule expels members who give no referrals, and hunters give almost none (off: hunters refer like "
         "reciprocators)",
         _contribution_variants, _contribution_judge),
    Fact("complementarity_pays_with_synergy",
         f"with sector synergy on, complementarity raises business per member at equal club size "
         f"(both clubs full at {EQUAL_SIZE_CAPACITY} members)",
         f"sizes within {EQUAL_SIZE_TOLERANCE:g} member and the paired difference of business per member-year has "
         "its CI above 0",
         "team work between converging trades: under complementarity a deal's follow-on need in its sector "
         "(sector synergy) goes to a strongly tied sector peer of the receiver as a joint deal, so members of "
         "a sector win work for each other; duplicates add competition but more teammates (off: "
         "club.composition.team_work = 0, synergy still on)",
         _synergy_variants, _synergy_judge),
)
FACT_NAMES = tuple(f.name for f in FACTS)


# --------------------------------------------------------------------------- checking


def _select(names: Sequence[str] | None) -> list[Fact]:
    if not names:
        return list(FACTS)
    by_name = {f.name: f for f in FACTS}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise InputError("--fact", repr(unknown[0]), "unknown fact; use one of: " + ", ".join(FACT_NAMES))
    return [by_name[n] for n in dict.fromkeys(names)]


def check_facts(
    scenario: str | Path | Mapping[str, Any] | ScenarioConfig | LoadedScenario,
    *,
    runs: int = DEFAULT_RUNS,
    seed: int = DEFAULT_SEED,
    facts: Sequence[str] | None = None,
    mechanisms_off: bool = False,
    overrides: Mapping[str, Any] | None = None,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int], Any] | None = None,
    out: str | Path | None = None,
    command: str | Sequence[str] | None = None,
) -> ValidationResult:
    """Check the stylized facts on `scenario`: every variant `runs` times with the same seeds.

    `mechanisms_off=True` switches each fact's mechanism off (the fact should then fail).
    `out`: write facts.csv and manifest.json there.
    """
    if runs < 2:
        raise InputError("--runs", None, f"must be at least 2, got {runs}")
    if seed < 0:
        raise InputError("--seed", None, f"must be >= 0, got {seed}")
    selected = _select(facts)
    loaded = load_config(scenario, overrides)
    # held (created, checked, locked) before the replications, so a bad or busy folder fails at once
    folder = OutputFolder(Path(out)) if out is not None else None
    with folder if folder is not None else contextlib.nullcontext():
        configs: dict[str, ScenarioConfig] = {}
        for fact in selected:
            for variant, changes in fact.variants(loaded.config, mechanisms_off).items():
                configs[f"{fact.name}:{variant}"] = with_parameters(loaded.config, changes,
                                                                    loaded.source or "<scenario>")
        records = replicate(configs, runs, seed, backend=backend, workers=workers, scheduler=scheduler,
                            progress=progress)
        results = []
        for fact in selected:
            prefix = f"{fact.name}:"
            mine = {label.removeprefix(prefix): recs for label, recs in records.items() if label.startswith(prefix)}
            holds, figures = fact.judge(mine)
            judged = all(math.isfinite(figure.estimate.value) for figure in figures)
            results.append(FactResult(fact, holds if judged else None, figures))
        result = ValidationResult(loaded, results, runs, seed, mechanisms_off,
                                  folder.path if folder is not None else None)
        if folder is not None:
            _write(result, folder, configs, command)
    return result


def _write(result: ValidationResult, folder: OutputFolder, configs: Mapping[str, ScenarioConfig],
           command: str | Sequence[str] | None) -> None:
    """facts.csv, written atomically, then the manifest."""
    from sim.experiments.experiment import replication_seeds

    def write(folder: OutputFolder) -> dict[str, Path]:
        text = result.table().to_csv(index=False, float_format="%.10g", lineterminator="\n")
        return {FACTS_FILE: folder.write_text(FACTS_FILE, text)}

    manifest = {
        "kind": "validate-model",
        "scenario_source": result.scenario.source,
        "scenario": result.scenario.config.model_dump(mode="json"),
        "variants": {label: config.model_dump(mode="json") for label, config in configs.items()},
        "facts": [{"name": r.fact.name, "statement": r.fact.statement, "criterion": r.fact.criterion,
                   "mechanism": r.fact.mechanism, "holds": r.holds} for r in result.results],
        "mechanisms_off": result.mechanisms_off,
        "runs": result.runs,
        "seed": result.seed,
        "seeds": replication_seeds(result.seed, result.runs),
        **provenance(command),
    }
    result.files = folder.write_outputs(manifest, [FACTS_FILE], write)


__all__ = ["FACTS", "FACT_NAMES", "Fact", "FactResult", "Figure", "ValidationResult", "check_facts"]
