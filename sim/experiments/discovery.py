"""Scenario discovery: under which conditions the club does not control an outcome happens, and which policy
holds up across them. `discover` replicates an experiment's `uncertainties:` (a Latin hypercube) under every
policy, finds PRIM boxes (EMA Workbench) and CART leaves for the outcome, and scores each policy's robustness.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.experiments.experiment import Experiment, SweepResult
    from sim.experiments.folders import OutputFolder

BOXES_FILE = "boxes.csv"
CART_FILE = "cart.csv"
ROBUSTNESS_FILE = "robustness.csv"
DISCOVERY_FILE = "discovery.json"
FIGURE_FILE = "discovery.png"
CART_SEED = 0  # the CART tree's tie-breaking, fixed so that cart.csv is a function of the replications
DISCOVERY_FILES = (BOXES_FILE, CART_FILE, ROBUSTNESS_FILE, DISCOVERY_FILE, FIGURE_FILE)
EXAMPLES = "e.g. 'survived == False' or 'roi_mean < 0'"
POLICY_COLUMN = "policy"
DEFAULT_MASS_MIN = 0.05
DEFAULT_MIN_COVERAGE = 0.5
INSTALL_HINT = "needs the EMA Workbench and scikit-learn: pip install 'clubsim[discover]'"


# --------------------------------------------------------------------------- expressions


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def evaluate(frame: pd.DataFrame, expression: str, option: str, what: str) -> np.ndarray:
    """`expression` (pandas eval syntax: `survived == False`, `roi_mean < 0 and members_final >= 20`) on each
    row of `frame`: a boolean per row. InputError (one line) if it cannot be evaluated or is not a yes/no."""
    text = expression.strip()
    if not text:
        raise InputError(option, None, f"missing: an expression over the {what}'s columns ({EXAMPLES})")
    if "\n" in text or "\r" in text:
        raise InputError(option, repr(expression), "must be one line")
    try:
        result = frame.eval(text, engine="python")
    except Exception as err:  # pandas raises many kinds (SyntaxError, UndefinedVariableError, TypeError...)
        message = _one_line(err) or type(err).__name__
        known = ", ".join(c for c in frame.columns if c not in ("seed", "point", "replication"))
        raise InputError(option, repr(expression), f"cannot be evaluated on each {what}: {message}; "
                                                   f"columns: {known}") from None
    if not isinstance(result, pd.Series) or result.dtype != bool or len(result) != len(frame):
        raise InputError(option, repr(expression), f"must be true or false for each {what} ({EXAMPLES})")
    return result.to_numpy(dtype=bool)


def _dummy(columns: Sequence[str], booleans: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({c: ([True, False] if c in booleans else [1.0, 2.0]) for c in columns})


def check_expressions(experiment: Experiment, outcome: str, requirement: str | None) -> None:
    """Fail on a bad outcome or requirement before anything runs: both are tried on stand-in rows."""
    from sim.experiments.experiment import METRIC_COLUMNS

    parameters = list(experiment.sweep.parameters) if experiment.sweep is not None else []
    rows = _dummy(["point", "replication", "seed", *parameters, *METRIC_COLUMNS], ["survived"])
    rows[POLICY_COLUMN] = ["a", "b"]
    evaluate(rows, outcome, "--outcome", "replication")
    if requirement is not None:
        means = _dummy([*parameters, *METRIC_COLUMNS], [])
        means[POLICY_COLUMN] = ["a", "b"]
        evaluate(means, requirement, "--requirement", "condition")


# --------------------------------------------------------------------------- PRIM and CART


def _import_ema() -> tuple[Any, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "ipyparallel not installed", and similar notices
            from ema_workbench.analysis import cart, prim
    except ImportError:
        raise InputError("discover", None, INSTALL_HINT) from None
    return prim, cart


def _limits(lims: pd.DataFrame, full: pd.DataFrame, x: pd.DataFrame) -> dict[str, Any]:
    """A box's limits as flat columns: `<parameter>_low`, `<parameter>_high` for numbers, `<parameter>_in`
    (names joined by |) for categories; and `restricted`, the parameters the box narrows."""
    row: dict[str, Any] = {}
    restricted = []
    for column in x.columns:
        low, high = lims[column].iloc[0], lims[column].iloc[1]
        if isinstance(low, (set, frozenset)):
            row[f"{column}_in"] = "|".join(sorted(map(str, low)))
            narrowed = set(low) != set(full[column].iloc[0])
        else:
            row[f"{column}_low"], row[f"{column}_high"] = float(low), float(high)
            narrowed = not (math.isclose(float(low), float(full[column].iloc[0]))
                            and math.isclose(float(high), float(full[column].iloc[1])))
        if narrowed:
            restricted.append(column)
    row["restricted"] = " ".join(restricted)
    return row


def prim_boxes(x: pd.DataFrame, y: np.ndarray, *, mass_min: float = DEFAULT_MASS_MIN) -> pd.DataFrame:
    """PRIM's peeling trajectory (Friedman & Fisher 1999, as the EMA Workbench runs it): one row per box, from
    the whole sampled space (box 0) to the smallest, with `coverage` (share of the cases of interest inside),
    `density` (share of the box's cases that are of interest), `mass` (share of all cases inside), `res_dim`
    (parameters restricted) and the limits. Empty when the outcome never or always happens."""
    y = np.asarray(y, bool)
    if not y.any() or y.all():
        return pd.DataFrame(columns=["box", "coverage", "density", "mass", "res_dim", "restricted"])
    prim, _cart = _import_ema()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        box = prim.Prim(x, y, mass_min=mass_min).find_box()
    if box is None:
        return pd.DataFrame(columns=["box", "coverage", "density", "mass", "res_dim", "restricted"])
    trajectory = box.peeling_trajectory.reset_index(drop=True)
    full = box.box_lims[0]
    rows = []
    for i, step in trajectory.iterrows():
        rows.append({"box": int(i), "coverage": float(step["coverage"]), "density": float(step["density"]),
                     "mass": float(step["mass"]), "res_dim": int(step["res_dim"]),
                     **_limits(box.box_lims[int(i)], full, x)})
    return pd.DataFrame(rows)


def choose_box(boxes: pd.DataFrame, min_coverage: float = DEFAULT_MIN_COVERAGE) -> int | None:
    """The densest box that still holds at least `min_coverage` of the cases of interest (ties: the larger)."""
    if boxes.empty:
        return None
    eligible = boxes[boxes["coverage"] >= min_coverage]
    if eligible.empty:
        eligible = boxes.iloc[:1]
    best = eligible[eligible["density"] == eligible["density"].max()]
    return int(best["box"].iloc[0])


def cart_boxes(x: pd.DataFrame, y: np.ndarray, *, mass_min: float = DEFAULT_MASS_MIN) -> pd.DataFrame:
    """CART's leaves (a classification tree, EMA Workbench over scikit-learn) as boxes: coverage, density,
    mass, res_dim and limits, densest first. Every leaf has every parameter's limits, as PRIM's boxes do (a
    parameter the tree never splits on spans its sampled range).

    The tree is EMA Workbench's (`cart.CART`: scikit-learn's, on dummy columns for categories), but the leaves
    are read here from the fitted tree: EMA Workbench 3.0's own `boxes` share one set of categories between
    leaves (a split on a category in one leaf removes it from every later leaf) and ignore the side of a split
    that keeps a category, so its categorical limits, and the statistics it computes from them, are wrong."""
    y = np.asarray(y, bool)
    columns = ["leaf", "coverage", "density", "mass", "res_dim"]
    if not y.any() or y.all():
        return pd.DataFrame(columns=columns)
    _prim, cart = _import_ema()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # a leaf of at least one case: EMA Workbench asks scikit-learn for int(mass_min x cases), 0 in a small sample
        tree = cart.CART(x, y, mass_min=max(mass_min, 1.000001 / len(x)))
        # its tree has no random_state: scikit-learn then breaks ties between equally good splits with numpy's
        # global generator, and cart.csv changed from run to run; seeded here, and the global state put back
        state = np.random.get_state()
        try:
            np.random.seed(CART_SEED)
            tree.build_tree()
        finally:
            np.random.set_state(state)
    fitted = tree.clf.tree_
    dummies = pd.get_dummies(x, prefix_sep=tree.sep)  # the columns the tree was fitted on, as EMA Workbench makes them
    leaf_of = tree.clf.apply(dummies.to_numpy(dtype=float))
    categorical = {c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])}
    full: dict[str, Any] = {c: set(x[c].unique()) if c in categorical else (float(x[c].min()), float(x[c].max()))
                            for c in x.columns}
    leaf_limits: dict[int, dict[str, Any]] = {}
    pending = [(0, full)]  # from the root down: each split narrows its children's limits
    while pending:
        node, limits = pending.pop()
        left, right = fitted.children_left[node], fitted.children_right[node]
        if left < 0:
            leaf_limits[node] = limits
            continue
        feature, threshold = tree.feature_names[fitted.feature[node]], float(fitted.threshold[node])
        if feature in x.columns:
            low, high = limits[feature]
            pending += [(left, {**limits, feature: (low, threshold)}), (right, {**limits, feature: (threshold, high)})]
        else:  # a category's dummy column: left, the cases without it; right, the cases with it
            column, category = feature.split(tree.sep, 1)
            value = tree.dummiesmap[column][category]
            pending += [(left, {**limits, column: limits[column] - {value}}),
                        (right, {**limits, column: limits[column] & {value}})]
    rows = []
    for i, leaf in enumerate(np.flatnonzero(fitted.children_left == -1)):  # EMA Workbench's order of the leaves
        limits = leaf_limits[leaf]
        inside = leaf_of == leaf
        row: dict[str, Any] = {"leaf": i + 1, "coverage": float(y[inside].sum() / y.sum()),
                               "density": float(y[inside].mean()), "mass": float(inside.mean()),
                               "res_dim": sum(limits[c] != full[c] for c in x.columns)}
        for column in x.columns:
            if column in categorical:
                row[f"{column}_in"] = "|".join(sorted(map(str, limits[column])))
            else:
                row[f"{column}_low"], row[f"{column}_high"] = limits[column]
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["density", "mass"], ascending=False, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- robustness


def condition_means(replications: pd.DataFrame, parameters: Sequence[str]) -> pd.DataFrame:
    """One row per (condition, policy): the swept values and every metric's mean over its replications
    (yes/no metrics as shares)."""
    from sim.experiments.experiment import METRIC_COLUMNS

    metrics = [c for c in METRIC_COLUMNS if c in replications.columns]
    values = replications[metrics].astype(float)
    frame = pd.concat([replications[["point", POLICY_COLUMN, *parameters]], values], axis=1)
    means = frame.groupby(["point", POLICY_COLUMN], sort=False)[metrics].mean()
    firsts = frame.groupby(["point", POLICY_COLUMN], sort=False)[list(parameters)].first()
    return pd.concat([firsts, means], axis=1).reset_index()


def robustness(means: pd.DataFrame, policies: Sequence[str], key_metric: str, maximize: bool,
               requirement: str | None) -> pd.DataFrame:
    """Per policy, over the sampled conditions: the share in which it meets `requirement` (on its means
    there), the key metric's mean, its regret (how far it falls short of the best policy in that condition:
    mean and worst) and the share of conditions in which it is the best."""
    table = means.copy()
    table["met"] = evaluate(table, requirement, "--requirement", "condition") if requirement else np.nan
    key = table.pivot(index="point", columns=POLICY_COLUMN, values=key_metric)[list(policies)]
    best = key.max(axis=1) if maximize else key.min(axis=1)
    regret = (best.to_numpy()[:, None] - key.to_numpy()) * (1 if maximize else -1)
    rows = []
    for j, policy in enumerate(policies):
        mine = table[table[POLICY_COLUMN] == policy]
        r = regret[:, j]
        finite = r[np.isfinite(r)]
        rows.append({
            "policy": policy,
            "conditions": len(mine),
            "requirement_met": float(mine["met"].astype(float).mean()) if requirement else math.nan,
            f"{key_metric}_mean": float(key[policy].mean()),
            "regret_mean": float(finite.mean()) if len(finite) else math.nan,
            "regret_max": float(finite.max()) if len(finite) else math.nan,
            "best_share": float(np.mean(finite == 0.0)) if len(finite) else math.nan,
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- running it


@dataclass
class DiscoveryResult:
    """What `discover` found: the replications (`sweep`), the outcome per replication, PRIM's boxes (the
    trade-off curve, `chosen` the box picked), CART's leaves and each policy's robustness."""

    sweep: SweepResult
    outcome: str
    requirement: str | None
    y: np.ndarray
    x: pd.DataFrame
    boxes: pd.DataFrame
    chosen: int | None
    cart: pd.DataFrame
    robustness: pd.DataFrame
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)
    # what draws `plot()`'s figure (`sim.presentation.analysis_figures.discovery_figures`, passed by the CLI and
    # `sim.discover`)
    draw_figures: Callable[[DiscoveryResult], dict[str, Figure]] | None = field(default=None, repr=False,
                                                                                  compare=False)

    @property
    def experiment(self) -> Experiment:
        return self.sweep.experiment

    @property
    def base_rate(self) -> float:
        return float(self.y.mean()) if len(self.y) else math.nan

    @property
    def box(self) -> pd.Series | None:
        if self.chosen is None:
            return None
        return self.boxes[self.boxes["box"] == self.chosen].iloc[0]

    def summary(self) -> dict[str, Any]:
        """discovery.json's content."""
        box = self.box
        return {
            "outcome": self.outcome,
            "requirement": self.requirement,
            "cases": int(len(self.y)),
            "cases_of_interest": int(self.y.sum()),
            "base_rate": self.base_rate,
            "parameters": list(self.x.columns),
            "chosen_box": None if box is None else {
                k: (v.item() if hasattr(v, "item") else v) for k, v in box.to_dict().items()},
            "key_metric": self.experiment.key_metric,
            "direction": self.experiment.key_metric_direction,
        }

    def plot(self) -> dict[str, Figure]:
        """The figures by file name (discovery.png), drawn by the presentation layer's drawer."""
        if self.draw_figures is None:
            raise ValueError("this result has no figure drawer: run it through sim.discover(...), or pass "
                             "draw_figures=sim.presentation.analysis_figures.discovery_figures")
        return self.draw_figures(self)


def discover(
    experiment: Experiment | str | Path,
    outcome: str,
    *,
    requirement: str | None = None,
    policy: str | None = None,
    mass_min: float = DEFAULT_MASS_MIN,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    runs: int | None = None,
    seed: int | None = None,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    progress: Any = False,
    command: str | Sequence[str] | None = None,
    stop_after: int | None = None,
    draw_figures: Callable[[DiscoveryResult], dict[str, Figure]] | None = None,
) -> DiscoveryResult:
    """Scenario discovery over an experiment with `uncertainties:` (or any sweep): replicate every sampled
    condition under every policy (`sim.experiments.experiment.sweep`, common random numbers), evaluate `outcome` on
    each replication (pandas eval: `survived == False`, `roi_mean < 0`), and find where it happens: PRIM
    boxes (the trade-off curve; `chosen`: the densest with coverage >= `min_coverage`) and CART leaves,
    over the uncertainties and, with several policies, the policy (`policy=` keeps one). Robustness:
    per policy, the share of conditions where `requirement` holds on its means there, and its regret
    on the key metric against the best policy in each condition.

    `out`: the sweep's files, plus boxes.csv, cart.csv, robustness.csv, discovery.json and the figure
    `draw_figures` draws (discovery.png: `sim.presentation.analysis_figures.discovery_figures`; this layer draws
    none), listed in the manifest; `resume=True` continues an interrupted run. Other arguments as `sweep`.
    """
    from sim.experiments.experiment import holding_output, load_experiment, sweep

    if not isinstance(experiment, (str, Path)):
        loaded = experiment
    else:
        loaded = load_experiment(experiment)
    if loaded.sweep is None:
        raise InputError(loaded.source, "uncertainties", "missing: scenario discovery samples conditions; add "
                                                         "uncertainties: {samples: N, parameters: {dotted.key: "
                                                         "{low: ..., high: ...}}}")
    if policy is not None and policy not in loaded.policies:
        raise InputError("--policy", repr(policy), f"not a policy; policies: {', '.join(loaded.policies)}")
    if not 0 < mass_min < 1:
        raise InputError("--mass-min", None, f"must be between 0 and 1 (exclusive), got {mass_min:g}")
    if not 0 < min_coverage <= 1:
        raise InputError("--min-coverage", None, f"must be in (0, 1], got {min_coverage:g}")
    check_expressions(loaded, outcome, requirement)
    _import_ema()  # a missing extra fails here, before anything runs

    # the folder is held from the sweep to the discovery's files: no other clubsim writes there in between
    with holding_output(loaded, "sweep", out, runs=runs, resume=resume, backend=backend, workers=workers,
                        scheduler=scheduler) as folder:
        if resume and folder is not None:
            _forget(folder)
        result = sweep(loaded, runs, seed=seed, backend=backend, workers=workers, scheduler=scheduler, out=out,
                       resume=resume, progress=progress, figures=False, command=command, stop_after=stop_after,
                       held=folder)
        found = _discovered(result, outcome, requirement, policy, mass_min, min_coverage, draw_figures)
        if folder is not None:
            found.files = _write(found, folder)
    return found


def _discovered(result: SweepResult, outcome: str, requirement: str | None, policy: str | None, mass_min: float,
                min_coverage: float, draw_figures: Callable[[DiscoveryResult], dict[str, Figure]] | None
                ) -> DiscoveryResult:
    """PRIM, CART and robustness over a sweep's replications (`discover`)."""
    experiment_ = result.experiment
    parameters = list(experiment_.sweep.parameters) if experiment_.sweep is not None else []
    replications = result.replications
    if policy is not None:
        replications = replications[replications[POLICY_COLUMN] == policy].reset_index(drop=True)
    y = evaluate(replications, outcome, "--outcome", "replication")
    x = replications[parameters].copy()
    several = policy is None and len(experiment_.policies) > 1
    if several:
        x[POLICY_COLUMN] = pd.Categorical(replications[POLICY_COLUMN], categories=list(experiment_.policies))
    boxes = prim_boxes(x, y, mass_min=mass_min)
    chosen = choose_box(boxes, min_coverage)
    leaves = cart_boxes(x, y, mass_min=mass_min)
    means = condition_means(result.replications, parameters)
    scores = robustness(means, experiment_.policy_names, experiment_.key_metric,
                        experiment_.key_metric_direction == "max", requirement)
    return DiscoveryResult(result, outcome, requirement, y, x, boxes, chosen, leaves, scores, result.out_dir,
                           draw_figures=draw_figures)


def _forget(folder: OutputFolder) -> None:
    """Before resuming: remove an earlier discovery's files and unlist them, so that the sweep's manifest,
    rewritten as it resumes, leaves no file behind that clubsim no longer owns."""
    from sim.experiments.folders import listed_files

    manifest = dict(folder.previous or {})
    listed = listed_files(manifest)
    mine = [name for name in DISCOVERY_FILES if name in listed]
    if not mine:
        return
    folder.remove(mine)
    manifest["files"] = [name for name in listed if name not in mine]
    manifest.pop("discovery", None)
    folder.write_manifest(manifest)


def _write(found: DiscoveryResult, folder: OutputFolder) -> dict[str, Path]:
    """Add the discovery's files to the sweep's folder (held since the sweep began), and to its manifest."""
    from sim.experiments.experiment import FLOAT_FORMAT
    from sim.experiments.folders import MANIFEST, STATUS_WRITING, listed_files, save_figures

    def csv(frame: pd.DataFrame) -> str:
        return frame.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")

    # listed before they are written (the manifest says `writing` meanwhile), so that a discovery cut short
    # leaves files clubsim owns, which the next run replaces, and not files it would refuse as someone else's
    manifest = dict(folder.previous or {})
    names = [BOXES_FILE, CART_FILE, ROBUSTNESS_FILE, DISCOVERY_FILE,
             *([FIGURE_FILE] if found.draw_figures is not None else [])]
    folder.check_free(names)
    folder.write_manifest({**manifest, "status": STATUS_WRITING,
                           "files": sorted({*listed_files(manifest), *names, MANIFEST})})
    files = {
        BOXES_FILE: folder.write_text(BOXES_FILE, csv(found.boxes)),
        CART_FILE: folder.write_text(CART_FILE, csv(found.cart)),
        ROBUSTNESS_FILE: folder.write_text(ROBUSTNESS_FILE, csv(found.robustness)),
        DISCOVERY_FILE: folder.write_text(DISCOVERY_FILE, json.dumps(found.summary(), indent=2) + "\n"),
    }
    if found.draw_figures is not None:
        staging = folder.staging()
        try:
            files.update(folder.adopt(save_figures(found.plot(), staging).values()))
        finally:
            folder.discard(staging)
    manifest["files"] = sorted({*listed_files(manifest), *files, MANIFEST})
    manifest["discovery"] = {"outcome": found.outcome, "requirement": found.requirement,
                             "chosen_box": found.chosen}
    folder.write_manifest(manifest)
    return files


__all__ = ["DiscoveryResult", "cart_boxes", "check_expressions", "choose_box", "condition_means", "discover",
           "evaluate", "prim_boxes", "robustness"]
