"""Scenario discovery (`sim.experiments.discovery`, `clubsim discover`): PRIM finds a box it was given, CART agrees,
expressions fail in one line, robustness counts what it says; then one tiny run on the model."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import sim
from sim.errors import InputError
from sim.experiments import discovery
from sim.experiments.discovery import (
    DISCOVERY_FILES,
    FIGURE_FILE,
    cart_boxes,
    choose_box,
    discover,
    evaluate,
    prim_boxes,
    robustness,
)
from sim.experiments.experiment import load_experiment
from sim.experiments.folders import OutputFolder
from sim.interfaces.cli import app
from sim.presentation.report import build_report

pytest.importorskip("ema_workbench")

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"


def known_box(n: int = 1000, noise: float = 0.02, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Three uniform parameters; the outcome happens in a <= x1, x2 <= 0.3 (x3 irrelevant), labels
    flipped at random with probability `noise`."""
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.random((n, 3)), columns=["x1", "x2", "x3"])
    y = ((x["x1"] >= 0.6) & (x["x2"] <= 0.3)).to_numpy()
    return x, y ^ (rng.random(n) < noise)


# --------------------------------------------------------------------------- PRIM and CART


def test_prim_recovers_a_known_box() -> None:
    x, y = known_box()
    boxes = prim_boxes(x, y)
    box = boxes[boxes["box"] == choose_box(boxes)].iloc[0]
    assert box["x1_low"] == pytest.approx(0.6, abs=0.05)
    assert box["x2_high"] == pytest.approx(0.3, abs=0.05)
    assert box["x1_high"] > 0.95 and box["x2_low"] < 0.05
    assert box["x3_low"] < 0.1 and box["x3_high"] > 0.9  # the irrelevant parameter stays (nearly) whole
    assert box["density"] > 0.85 and box["coverage"] > 0.8
    assert {"x1", "x2"} <= set(box["restricted"].split())
    # the trade-off curve: from the whole space (coverage 1) to smaller, denser boxes
    assert boxes["coverage"].iloc[0] == 1.0 and boxes["mass"].is_monotonic_decreasing
    assert boxes["density"].iloc[-1] > boxes["density"].iloc[0]


def test_cart_leaves_of_the_outcome_tile_the_known_box() -> None:
    x, y = known_box()
    leaves = cart_boxes(x, y)
    dense = leaves[leaves["density"] > 0.5]
    assert dense["density"].iloc[0] > 0.9
    assert dense["coverage"].sum() > 0.85  # together they hold the cases of interest ...
    assert (dense["x1_low"] > 0.55).all() and (dense["x2_high"] < 0.35).all()  # ... and stay inside the box


def test_a_sample_too_small_for_the_mass_still_gives_leaves_of_one_case_or_more() -> None:
    # EMA Workbench asked scikit-learn for leaves of int(0.05 x 12) = 0 cases: discover exited 1 after every run
    x, y = known_box()
    x, y = x.iloc[:12], y[:12]
    assert 0 < y.sum() < 12
    leaves = cart_boxes(x, y, mass_min=0.05)
    assert len(leaves) >= 2 and (leaves["mass"] >= 1 / 12 - 1e-12).all()
    assert len(prim_boxes(x, y, mass_min=0.05)) >= 1


def test_cart_leaves_are_the_same_whatever_numpys_global_generator_holds() -> None:
    # scikit-learn broke ties between equal splits with numpy's global generator: cart.csv changed from run to run
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.integers(0, 3, (200, 4)).astype(float), columns=list("abcd"))
    x["e"] = x["a"]  # two parameters that split the cases alike
    y = (x["a"] > 0).to_numpy() ^ (rng.random(200) < 0.2)
    leaves = []
    for seed in range(6):
        np.random.seed(seed)
        leaves.append(cart_boxes(x, y).to_csv())
        assert np.random.random() == np.random.RandomState(seed).random()  # the global state put back
    assert len(set(leaves)) == 1


def test_every_cart_leaf_bounds_every_parameter_even_those_the_tree_never_splits_on() -> None:
    # without noise the leaves are pure once x1 and x2 are split: the tree never uses x3 nor policy, which EMA
    # Workbench then leaves out of its limits (and `clubsim discover` failed on the missing columns)
    x, y = known_box(noise=0.0)
    x["policy"] = pd.Categorical(np.where(np.arange(len(x)) % 2 == 0, "a", "b"))
    leaves = cart_boxes(x, y)
    assert len(leaves) > 1
    for parameter in ("x1", "x2", "x3"):
        assert {f"{parameter}_low", f"{parameter}_high"} <= set(leaves.columns)
    assert (leaves["x3_low"] == x["x3"].min()).all() and (leaves["x3_high"] == x["x3"].max()).all()
    assert (leaves["policy_in"] == "a|b").all()
    assert not leaves.isna().any().any()


def test_cart_leaves_split_on_a_category_hold_exactly_their_cases() -> None:
    # EMA Workbench 3.0's own CART boxes get categories wrong (every leaf showed {p, r} here, and two leaves
    # claimed the same cases); each leaf's limits must select exactly the cases its statistics count
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.random(600)})
    x["policy"] = pd.Categorical(rng.choice(["p", "q", "r"], 600))
    y = ((x["a"] < 0.5) & (x["policy"] != "q")).to_numpy()
    leaves = cart_boxes(x, y)
    assert leaves["mass"].sum() == pytest.approx(1.0) and leaves["coverage"].sum() == pytest.approx(1.0)
    a = x["a"].to_numpy(np.float32)  # as scikit-learn compares: goes left where a <= threshold, in float32
    for leaf in leaves.itertuples(index=False):
        above = a > leaf.a_low if leaf.a_low > x["a"].min() else True  # a sampled end is inside
        inside = above & (a <= leaf.a_high) & x["policy"].isin(leaf.policy_in.split("|")).to_numpy()
        assert inside.mean() == pytest.approx(leaf.mass)
        assert y[inside].mean() == pytest.approx(leaf.density)
    best = leaves.iloc[0]
    assert best["density"] == 1.0 and best["coverage"] == 1.0
    assert best["policy_in"] == "p|r" and best["a_high"] == pytest.approx(0.5, abs=0.02)
    assert (leaves["policy_in"] == "q").any()  # the category split off into a leaf of its own


def test_a_categorical_dimension_is_kept_as_a_set() -> None:
    x, y = known_box(seed=1)
    x["policy"] = pd.Categorical(np.where(np.arange(len(x)) % 2 == 0, "a", "b"))
    y = y & (x["policy"] == "a").to_numpy()
    boxes = prim_boxes(x, y)
    box = boxes[boxes["box"] == choose_box(boxes)].iloc[0]
    assert box["policy_in"] == "a"
    assert boxes["policy_in"].iloc[0] == "a|b"


def test_no_box_when_the_outcome_never_happens() -> None:
    x, _ = known_box()
    assert prim_boxes(x, np.zeros(len(x), bool)).empty
    assert choose_box(prim_boxes(x, np.ones(len(x), bool))) is None
    assert cart_boxes(x, np.zeros(len(x), bool)).empty


def test_the_chosen_box_is_the_densest_with_enough_coverage() -> None:
    boxes = pd.DataFrame({"box": [0, 1, 2, 3], "coverage": [1.0, 0.8, 0.5, 0.3], "density": [0.1, 0.5, 0.7, 0.9]})
    assert choose_box(boxes, 0.5) == 2
    assert choose_box(boxes, 0.8) == 1
    assert choose_box(boxes, 0.99) == 0


# --------------------------------------------------------------------------- expressions and robustness


@pytest.mark.parametrize(("expression", "message"), [
    ("survived ==", "--outcome: 'survived ==': cannot be evaluated on each replication"),
    ("surviving == False", "cannot be evaluated on each replication: .*surviving"),
    ("roi_mean + 1", "must be true or false for each replication"),
    ("", "--outcome: missing"),
    ("a\nb", "must be one line"),
])
def test_a_bad_expression_is_one_line(expression: str, message: str) -> None:
    frame = pd.DataFrame({"survived": [True, False], "roi_mean": [0.1, -0.2]})
    with pytest.raises(InputError, match=message) as caught:
        evaluate(frame, expression, "--outcome", "replication")
    assert "\n" not in str(caught.value)


def test_expressions_read_metrics_and_dotted_parameters() -> None:
    frame = pd.DataFrame({"survived": [True, False, True], "roi_mean": [0.1, -0.2, -0.5],
                          "market.deal_value_median": [900.0, 1500.0, 2000.0]})
    assert evaluate(frame, "survived == False", "--outcome", "r").tolist() == [False, True, False]
    assert evaluate(frame, "roi_mean < 0 and `market.deal_value_median` > 1800", "--outcome", "r").tolist() == \
        [False, False, True]


def test_robustness_counts_requirements_and_regret() -> None:
    means = pd.DataFrame({
        "point": [0, 0, 1, 1, 2, 2],
        "policy": ["a", "b"] * 3,
        "value": [10.0, 8.0, 5.0, 9.0, 7.0, 7.0],
        "survived": [1.0, 0.8, 1.0, 1.0, 0.5, 1.0],
    })
    scores = robustness(means, ["a", "b"], "value", True, "survived >= 0.9").set_index("policy")
    assert scores.loc["a", "requirement_met"] == pytest.approx(2 / 3)
    assert scores.loc["b", "requirement_met"] == pytest.approx(2 / 3)
    assert scores.loc["a", "regret_mean"] == pytest.approx(4 / 3)  # 0, 4, 0
    assert scores.loc["b", "regret_max"] == pytest.approx(2.0)  # 2, 0, 0
    assert scores.loc["b", "best_share"] == pytest.approx(2 / 3)  # a tie counts for both
    smaller = robustness(means, ["a", "b"], "value", False, None).set_index("policy")
    assert smaller.loc["a", "regret_mean"] == pytest.approx(2 / 3) and np.isnan(smaller.loc["a", "requirement_met"])


# --------------------------------------------------------------------------- on the model

EXPERIMENT = """
scenario: {bni}
overrides: {{years: 1}}
policies:
  bni: {{}}
  open: {{club.composition.policy: open}}
uncertainties:
  samples: 6
  parameters:
    market.deal_value_median: {{low: 700, high: 2500}}
    population.needs_per_week_median: {{low: 4, high: 12}}
metrics: [business_per_member_year, roi_mean, members_final, survived]
runs: 2
seed: 3
"""


@pytest.fixture
def experiment_file(tmp_path: Path, numba_ready: None) -> Path:
    path = tmp_path / "discover.yaml"
    path.write_text(EXPERIMENT.format(bni=BNI), encoding="utf-8")
    return path


OUTCOME = "roi_mean < 0 or `market.deal_value_median` < 1200"


def test_discover_writes_boxes_robustness_and_lists_them(experiment_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = sim.discover(experiment_file, OUTCOME, requirement="survived >= 0.5", workers=1, out=out)
    assert len(result.y) == 6 * 2 * 2 and 0 < result.y.sum() < len(result.y)
    assert list(result.x.columns) == ["market.deal_value_median", "population.needs_per_week_median", "policy"]
    for name in DISCOVERY_FILES:
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(DISCOVERY_FILES) <= set(manifest["files"]) and set(DISCOVERY_FILES) <= set(manifest["checksums"])
    assert manifest["status"] == "complete" and manifest["discovery"]["outcome"] == OUTCOME
    scores = pd.read_csv(out / "robustness.csv")
    assert scores["policy"].tolist() == ["bni", "open"] and (scores["conditions"] == 6).all()
    summary = json.loads((out / "discovery.json").read_text())
    assert summary["cases"] == 24 and summary["cases_of_interest"] == int(result.y.sum())
    # again with another outcome into the same folder: the replications are reused, the files replaced
    again = discover(experiment_file, "members_final >= 10", workers=1, out=out, resume=True)
    assert again.sweep.replications.equals(result.sweep.replications)
    # the experiments layer's own `discover` draws nothing: the earlier figure, clubsim's, is gone and unlisted
    listed = json.loads((out / "manifest.json").read_text())["files"]
    assert not (out / FIGURE_FILE).exists() and FIGURE_FILE not in listed
    with pytest.raises(ValueError, match="no figure drawer"):
        again.plot()


def test_the_folder_stays_held_from_the_sweep_to_the_discoverys_files(experiment_file: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the sweep's last file and the discovery's first, another clubsim could once lock the folder and
    write there (the sweep released it before PRIM ran). Another claim, made while PRIM runs, is now refused;
    flock is per open file, so a second claim from this process stands for another clubsim."""
    out = tmp_path / "out"
    claims: list[str] = []

    def claimed_while_prim_runs(*args: object, **kwargs: object) -> pd.DataFrame:
        try:
            with OutputFolder(out):
                claims.append("held by the intruder")
        except InputError as err:
            claims.append(str(err))
        return prim_boxes(*args, **kwargs)

    monkeypatch.setattr(discovery, "prim_boxes", claimed_while_prim_runs)
    for resume in (False, True):  # a new folder, and one resumed (an earlier discovery's files forgotten first)
        discover(experiment_file, OUTCOME, workers=1, out=out, resume=resume)
    assert len(claims) == 2 and all("in use by another clubsim" in claim for claim in claims), claims
    assert not (out / ".clubsim.lock").exists()  # released when the discovery ends


def test_a_bad_outcome_fails_before_anything_runs(experiment_file: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--outcome"):
        discover(experiment_file, "roi_mean <", workers=1, out=tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_uncertainties_are_a_latin_hypercube_and_exclude_a_sweep(experiment_file: Path, tmp_path: Path) -> None:
    experiment = load_experiment(experiment_file)
    assert experiment.sweep is not None and experiment.sweep.design == "lhs" and len(experiment.sweep.points) == 6
    both = experiment_file.read_text() + "sweep: {parameters: {club.capacity: {values: [30]}}}\n"
    (tmp_path / "both.yaml").write_text(both)
    with pytest.raises(InputError, match="uncertainties: give either sweep: or uncertainties:"):
        load_experiment(tmp_path / "both.yaml")
    values = experiment_file.read_text().replace("{low: 4, high: 12}", "{values: [4, 12]}")
    (tmp_path / "values.yaml").write_text(values)
    with pytest.raises(InputError, match="give a range"):
        load_experiment(tmp_path / "values.yaml")


def test_clubsim_discover_prints_the_box_and_the_robustness(experiment_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["discover", str(experiment_file), "--outcome", OUTCOME, "--requirement",
                                      "survived >= 0.5", "--workers", "1", "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "PRIM box" in result.output and "Robustness over 6 sampled conditions" in result.output
    bad = CliRunner().invoke(app, ["discover", str(experiment_file), "--outcome", "x ==", "--out",
                                   str(tmp_path / "bad")])
    assert bad.exit_code == 2 and bad.output.startswith("clubsim: error: --outcome: 'x ==': cannot be evaluated")


def test_the_report_of_a_discover_folder_shows_the_outcome_boxes_and_figure(experiment_file: Path,
                                                                           tmp_path: Path) -> None:
    out = tmp_path / "cli"
    found = CliRunner().invoke(app, ["discover", str(experiment_file), "--outcome", OUTCOME, "--requirement",
                                     "survived >= 0.5", "--workers", "1", "--out", str(out)])
    assert found.exit_code == 0, found.output
    page = build_report(out)
    figure = base64.b64encode((out / FIGURE_FILE).read_bytes()).decode()
    assert "<h2>Scenario discovery</h2>" in page and figure in page
    assert html.escape(OUTCOME) in page and "The chosen PRIM box" in page
    for name in ("boxes", "cart", "robustness"):
        assert f'<table class="dataframe {name}">' in page, name
    robustness = page.split('class="dataframe robustness">')[1].split("</table>")[0]
    assert robustness.count("<tr") == len(pd.read_csv(out / "robustness.csv")) + 1  # every policy, a header
