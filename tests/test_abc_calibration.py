"""Calibration by ABC (`sim.abc_calibration`, `clubsim calibrate --method abc`): the posterior of a known
parameter on a synthetic model, then one tiny run on the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from sim.abc_calibration import abc_smc
from sim.cli import app

pytest.importorskip("pyabc")

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"


def noisy(parameters: dict[str, float]) -> dict[str, float]:
    return {"y": parameters["theta"] + 0.05 * np.random.randn()}


def test_abc_finds_the_parameter_that_produced_the_data() -> None:
    posterior = abc_smc(noisy, {"theta": (0.0, 1.0)}, lambda s: abs(s["y"] - 0.3), population=40,
                        generations=4, epsilon=0.03, seed=3)
    summary = posterior.summary().iloc[0]
    assert summary["mean"] == pytest.approx(0.3, abs=0.05)
    assert summary["ci_low"] < 0.3 < summary["ci_high"] and summary["ci_high"] - summary["ci_low"] < 0.4
    assert posterior.generations["epsilon"].is_monotonic_decreasing
    assert posterior.samples["weight"].sum() == pytest.approx(1.0)


def test_abc_is_reproducible_and_leaves_numpy_alone() -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    runs = [abc_smc(noisy, {"theta": (0.0, 1.0)}, lambda s: abs(s["y"] - 0.6), population=20, generations=2,
                    epsilon=0.01, seed=9) for _ in range(2)]
    assert runs[0].samples.equals(runs[1].samples)
    assert (np.random.get_state()[1] == before).all()


def test_clubsim_calibrate_method_abc_writes_the_posterior(tmp_path: Path, numba_ready: None) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({
        "name": "tiny", "runs": 3, "check_runs": 4, "seed": 5,
        "targets": [{"metric": "business_per_member_year", "value": 30000, "tolerance": "25%",
                     "source": "a figure made up for the test"}],
        "parameters": {"market.deal_value_median": {"low": 500, "high": 4000}},
        "optimiser": {"method": "differential_evolution", "max_evaluations": 30, "population": 5},
    }), encoding="utf-8")
    scenario = tmp_path / "club.yaml"
    scenario.write_text(f"extends: {BNI}\nyears: 1\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["calibrate", str(scenario), "--targets", str(targets), "--method", "abc",
                                      "--population", "8", "--generations", "2", "--workers", "1",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "posterior mean [95 % credible interval]" in result.output and "ABC-SMC" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["optimiser"]["method"] == "abc" and manifest["optimiser"]["generations"] <= 2
    assert {"posterior.csv", "generations.csv", "fit.csv", "club_calibrated.yaml"} <= set(manifest["files"])
    posterior = (out / "posterior.csv").read_text().splitlines()
    assert posterior[0] == "market.deal_value_median,weight" and len(posterior) == 1 + 8
    assert "ABC-SMC (pyABC)" in (out / "club_calibrated.yaml").read_text()


def test_abc_options_need_method_abc(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["calibrate", str(BNI), "--targets", str(ROOT / "scenarios" / "targets" /
                                                                              "bni_2018.yaml"),
                                      "--population", "8", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "are for --method abc" in result.output
