"""Sensitivity analysis (`sim.experiments.sensitivity`, `clubsim sensitivity`): the experiment file, SALib's Morris
and Sobol' designs on replications under common random numbers, the ranked table and the figure.

A parameter the scenario never reads (interview hours in a club without an interview) must have no
effect at all, and the deal value must drive business per member: both are known without running.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import sim
from sim.errors import InputError
from sim.experiments.sensitivity import analyse, load_sensitivity, sample_points
from sim.interfaces.cli import app

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"
SHIPPED = ROOT / "experiments" / "sensitivity_bni.yaml"
INERT = "club.selection.committee_hours"  # unused without an interview
DRIVER = "market.deal_value_median"

runner = CliRunner()


def experiment_data(**changes) -> dict:
    data = {
        "name": "tiny",
        "scenario": str(BNI),
        "overrides": {"years": 2, "club.selection.policy": "none"},
        "parameters": {DRIVER: {"low": 500, "high": 4000}, INERT: {"low": 1, "high": 10},
                       "club.capacity": {"low": 15, "high": 40}},
        "metrics": ["business_per_member_year", "members_final"],
        "runs": 2,
        "seed": 3,
        "morris": {"trajectories": 4, "levels": 4},
        "sobol": {"samples": 16},
    }
    data.update(changes)
    return data


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("sens") / "tiny.yaml", experiment_data())


def test_shipped_experiment_loads():
    experiment = load_sensitivity(SHIPPED)
    assert len(experiment.parameters) >= 8
    assert "business_per_member_year" in experiment.metrics
    assert experiment.base.name == "bni_chapter"
    assert len(sample_points(experiment, "morris")) == 20 * (len(experiment.parameters) + 1)


@pytest.mark.parametrize("changes, field, words", [
    ({"paramters": {}}, "paramters", "did you mean 'parameters'"),
    ({"parameters": {"club.fees.anual": {"low": 1, "high": 2}}}, "parameters.club.fees.anual",
     "did you mean 'annual'"),
    ({"parameters": {"club.selection.policy": {"low": 1, "high": 2}}}, "parameters.club.selection.policy",
     "not a numeric scenario parameter"),
    ({"parameters": {"club.fees.annual": {"low": -5, "high": 2}}}, "parameters.club.fees.annual", "bound -5"),
    ({"metrics": ["busines_per_member_year"]}, "metrics.0", "did you mean 'business_per_member_year'"),
    ({"metrics": ["exit_hazard_peak_year"]}, "metrics.0", "pooled over replications"),
    ({"morris": {"trajectories": 4, "levels": 3}}, "morris", "levels must be even"),
    ({"sobol": {"samples": 100}}, "sobol", "power of 2"),
    ({"scenario": "nowhere.yaml"}, "scenario", "no such file"),
])
def test_a_bad_experiment_is_one_line_naming_the_field(tmp_path, changes, field, words):
    path = write(tmp_path / "bad.yaml", experiment_data(**changes))
    with pytest.raises(InputError) as info:
        load_sensitivity(path)
    assert (info.value.source, info.value.field) == (str(path), field)
    assert words in info.value.message


def test_morris_ranks_the_driver_first_and_gives_the_unused_parameter_no_effect(tiny):
    result = analyse(tiny, "morris", workers=1)
    business = result.indices[result.indices["metric"] == "business_per_member_year"].set_index("parameter")
    assert business.loc[DRIVER, "rank"] == 1
    assert business.loc[INERT, "mu_star"] == 0.0 and business.loc[INERT, "rank"] == 3
    assert business.loc[DRIVER, "mu_star"] > business.loc[DRIVER, "mu_star_conf"] > 0
    assert result.top("business_per_member_year", 1) == [DRIVER]
    assert len(result.samples) == 4 * 4 and result.samples["club.capacity"].map(float.is_integer).all()


def test_sobol_indices_agree(tiny):
    result = analyse(tiny, "sobol", workers=1)
    business = result.indices[result.indices["metric"] == "business_per_member_year"].set_index("parameter")
    assert business.loc[INERT, "ST"] == pytest.approx(0.0, abs=1e-12)
    assert business.loc[DRIVER, "ST"] > 0.3 and business.loc[DRIVER, "rank"] == 1
    assert len(result.samples) == 16 * (3 + 2)


def test_backends_give_the_same_indices(tiny):
    one = analyse(tiny, "morris", workers=1)
    pool = sim.sensitivity(tiny, "morris", workers=2)  # the facade: the same analysis, with its figure
    pd.testing.assert_frame_equal(one.indices, pool.indices)
    pd.testing.assert_frame_equal(one.samples, pool.samples)
    assert list(pool.plot()) == ["sensitivity_morris.png"]
    with pytest.raises(ValueError, match="no figure drawer"):  # the experiments layer draws none
        one.plot()


def test_sensitivity_command_writes_table_figure_and_manifest(tiny, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["sensitivity", str(tiny), "--method", "sobol", "--out", str(out),
                                 "--workers", "1"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "top drivers: business_per_member_year: market.deal_value_median" in result.stdout.replace("\n", " ")
    for name in ("samples.csv", "indices.csv", "manifest.json", "sensitivity_sobol.png"):
        assert (out / name).stat().st_size > 0, name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["method"] == "sobol" and manifest["runs"] == 2 and len(manifest["seeds"]) == 2
    assert manifest["scenario"]["years"] == 2 and "SALib" in manifest["versions"]


def test_sensitivity_command_rejects_an_unknown_method(tiny):
    result = runner.invoke(app, ["sensitivity", str(tiny), "--method", "fast"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "clubsim: error: --method: 'fast': unknown method; use one of: morris, sobol"


def test_the_indices_table_shows_effects_in_one_readable_format() -> None:
    from sim.presentation.analysis_tables import effect_text

    assert [effect_text(v) for v in (48_670.4, 9_453.2, 94.53, 0.03125, 0.0, 2e-5, float("nan"))] == \
        ["48,670", "9,453", "94.5", "0.0312", "0", "2.0e-05", "—"]
