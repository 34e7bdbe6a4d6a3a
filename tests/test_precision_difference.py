"""Precision on the difference (`compare(..., precision_on="difference")`, `--precision-on difference`) and
the variance reduction common random numbers achieve (comparison.csv's `crn_variance_ratio`).

The rules are checked on synthetic numbers; the simulator only on tiny runs (`years: 1`).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim import compare
from sim.errors import InputError
from sim.experiments.experiment import (
    ExperimentInterrupted,
    _difference_precision_met,
    load_experiment,
    statistics_table,
)
from sim.experiments.spec import CRN_COLUMN
from sim.experiments.statistics import crn_variance_ratio
from sim.interfaces.cli import app

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"

EXPERIMENT = """
scenario: {bni}
overrides: {{years: 1}}
policies:
  bni: {{}}
  open: {{club.composition.policy: open}}
metrics: [members_final, business_per_member_year]
key_metric: members_final
runs: 3
max_runs: 40
seed: 5
"""


@pytest.fixture(autouse=True)
def _kernels(request: pytest.FixtureRequest) -> None:
    if "tmp_path" in request.fixturenames:
        request.getfixturevalue("numba_ready")


def experiment_file(tmp_path: Path, text: str = EXPERIMENT) -> Path:
    path = tmp_path / "diff.yaml"
    path.write_text(text.format(bni=BNI), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the variance ratio


def test_crn_variance_ratio_is_the_unpaired_over_the_paired_variance() -> None:
    rng = np.random.default_rng(1)
    shared, own = rng.standard_normal((2, 200_000))
    rho = 0.75
    x = np.sqrt(rho) * shared + np.sqrt(1 - rho) * own
    y = np.sqrt(rho) * shared + np.sqrt(1 - rho) * rng.standard_normal(200_000)
    assert crn_variance_ratio(x, y) == pytest.approx(1 / (1 - rho), rel=0.02)  # 2 / (2 (1 - rho))
    assert crn_variance_ratio(own, rng.standard_normal(200_000)) == pytest.approx(1.0, rel=0.02)


def test_crn_variance_ratio_edge_cases() -> None:
    x = np.array([1.0, 2.0, 3.0, np.nan])
    assert crn_variance_ratio(x, x + 5) == np.inf  # a constant difference: pairing removed all variance
    assert np.isnan(crn_variance_ratio(np.ones(4), np.ones(4)))
    assert np.isnan(crn_variance_ratio(np.array([1.0]), np.array([2.0])))


def test_comparison_rows_carry_the_ratio_and_sweep_rows_do_not() -> None:
    rng = np.random.default_rng(2)
    shared = rng.standard_normal(50)
    frame = pd.DataFrame({"point": -1, "policy": ["a"] * 50 + ["b"] * 50, "replication": [*range(50)] * 2,
                          "x": np.r_[shared, shared + 0.1 * rng.standard_normal(50)]})
    table = statistics_table(frame, ["x"], ["a", "b"], "a")
    assert CRN_COLUMN in table.columns
    assert np.isnan(table.loc[table["policy"] == "a", CRN_COLUMN]).all()
    assert (table.loc[table["policy"] == "b", CRN_COLUMN] > 50).all()
    swept = statistics_table(frame.assign(fee=1.0), ["x"], ["a", "b"], "a", parameters=["fee"])
    assert CRN_COLUMN not in swept.columns


# --------------------------------------------------------------------------- Law's rule on differences


def key_values(diffs: np.ndarray) -> dict[tuple[int, str, int], float]:
    base = np.linspace(0, 100, len(diffs))
    values = {(-1, "base", r): float(b) for r, b in enumerate(base)}
    values.update({(-1, "other", r): float(b + d) for r, (b, d) in enumerate(zip(base, diffs, strict=True))})
    return values


def test_difference_precision_uses_gamma_over_one_plus_gamma() -> None:
    experiment = SimpleNamespace(points=[(-1, {})], policies={"base": None, "other": None}, baseline="base")
    from scipy import stats

    n = 20
    unit = np.random.default_rng(3).standard_normal(n)
    unit = (unit - unit.mean()) / unit.std(ddof=1)
    half_per_sd = stats.t.ppf(0.975, n - 1) / np.sqrt(n)
    # half-width / |mean| = 0.15: within gamma / (1 + gamma) = 0.167
    met = key_values(1.0 + unit * 0.15 / half_per_sd)
    assert _difference_precision_met(met, experiment, n, 0.2)
    # 0.18: within gamma = 0.2, not within gamma / (1 + gamma): Law's rule wants more runs
    not_met = key_values(1.0 + unit * 0.18 / half_per_sd)
    assert not _difference_precision_met(not_met, experiment, n, 0.2)
    # an exact difference (no sampling error) is precise
    assert _difference_precision_met(key_values(np.full(n, 2.0)), experiment, n, 0.01)
    # replications beyond n are not looked at
    assert not _difference_precision_met(met, experiment, 1, 0.2)


# --------------------------------------------------------------------------- on the simulator


def test_compare_stops_on_the_difference_after_at_least_ten_runs(tmp_path: Path) -> None:
    result = compare(experiment_file(tmp_path), precision=0.5, precision_on="difference", workers=1,
                     out=tmp_path / "out", figures=False)
    assert result.runs >= 10
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["precision_on"] == "difference" and manifest["precision"] == 0.5
    table = pd.read_csv(tmp_path / "out" / "comparison.csv")
    assert table.columns[-1] == CRN_COLUMN
    other = table[(table["policy"] == "open") & (table["metric"] == "members_final")]
    assert (other[CRN_COLUMN] > 0).all()
    if result.precision_met:
        row = other.iloc[0]
        assert (row["diff_ci_high"] - row["diff_ci_low"]) / 2 <= 0.5 / 1.5 * abs(row["diff"])


def test_a_resumed_difference_run_keeps_its_rule(tmp_path: Path) -> None:
    path = experiment_file(tmp_path)
    whole = compare(path, precision=0.5, precision_on="difference", workers=1, out=tmp_path / "whole",
                    figures=False)
    with pytest.raises(ExperimentInterrupted):
        compare(path, precision=0.5, precision_on="difference", workers=1, out=tmp_path / "cut", figures=False,
                stop_after=7)
    resumed = compare(path, workers=1, out=tmp_path / "cut", resume=True, figures=False)
    assert resumed.runs == whole.runs
    for name in ("replications.parquet", "comparison.csv"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def test_precision_on_difference_needs_a_target_and_two_policies(tmp_path: Path) -> None:
    path = experiment_file(tmp_path)
    with pytest.raises(InputError, match="needs a precision target"):
        compare(path, precision_on="difference", workers=1)
    with pytest.raises(InputError, match="--precision-on: 'median': use one of: mean, difference"):
        compare(path, precision=0.1, precision_on="median", workers=1)  # type: ignore[arg-type]
    single = EXPERIMENT.replace("  open: {{club.composition.policy: open}}\n", "")
    with pytest.raises(InputError, match="needs a baseline and another policy"):
        compare(load_experiment(experiment_file(tmp_path, single)), precision=0.1, precision_on="difference")


def test_clubsim_compare_prints_the_variance_reduction(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["compare", str(experiment_file(tmp_path)), "--precision", "0.5",
                                      "--precision-on", "difference", "--workers", "1", "--no-figures",
                                      "--out", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "CRN variance reduction of Δ (unpaired ÷ paired variance): members_final ×" in result.output
    assert "the paired difference of members_final with bni" in result.output
