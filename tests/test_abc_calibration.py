"""Calibration by ABC (`sim.experiments.abc_calibration`, `clubsim calibrate --method abc`): the posterior of a known
parameter on a synthetic model, then one tiny run on the simulator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from sim.experiments.abc_calibration import abc_smc
from sim.interfaces.cli import app

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


COVERAGE_REPETITIONS = 60
NOISE = 0.1


def _one_calibration(repetition: int) -> tuple[bool, bool]:
    """A truth drawn from the prior, data from it, ABC's 90 % (and 50 %) interval: does it hold the truth?"""
    rng = np.random.default_rng(1000 + repetition)
    truth = rng.uniform(0.0, 1.0)
    observed = truth + NOISE * rng.standard_normal()
    posterior = abc_smc(lambda p: {"y": p["theta"] + NOISE * np.random.randn()}, {"theta": (0.0, 1.0)},
                        lambda s: abs(s["y"] - observed), population=50, generations=4, epsilon=0.03,
                        seed=repetition)
    ninety, half = posterior.summary(0.9).iloc[0], posterior.summary(0.5).iloc[0]
    return bool(ninety.ci_low <= truth <= ninety.ci_high), bool(half.ci_low <= truth <= half.ci_high)


def test_abc_credible_intervals_cover_the_truth_as_often_as_they_promise() -> None:
    """Coverage: over repeated calibrations whose true parameter is drawn from the prior, the 90 % credible
    interval holds it in about 90 % of them (and the 50 % interval in about half): within three binomial
    standard errors. Intervals that were too narrow or too wide by a third would fail."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        covered = np.array(list(pool.map(_one_calibration, range(COVERAGE_REPETITIONS))))
    for level, hits in ((0.9, covered[:, 0]), (0.5, covered[:, 1])):
        error = 3 * np.sqrt(level * (1 - level) / COVERAGE_REPETITIONS)
        assert abs(hits.mean() - level) <= error, (level, hits.mean())


def test_the_posterior_summary_is_the_weighted_median_and_equal_tailed_interval() -> None:
    import pandas as pd

    from sim.experiments.abc_calibration import Posterior

    samples = pd.DataFrame({"theta": np.arange(1.0, 101.0), "weight": np.full(100, 0.01)})
    row = Posterior(samples, pd.DataFrame(), 100).summary(0.9).iloc[0]
    assert (row["median"], row["ci_low"], row["ci_high"]) == (50.0, 5.0, 95.0) and row["level"] == 0.9
    samples["weight"] = np.where(samples["theta"] > 80, 1.0, 0.0)  # all the weight on 81..100
    row = Posterior(samples, pd.DataFrame(), 100).summary(0.9).iloc[0]
    assert 81 <= row["ci_low"] <= row["median"] <= row["ci_high"] <= 100 and row["median"] == 90.0


def test_abc_is_reproducible_and_leaves_numpy_alone() -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    runs = [abc_smc(noisy, {"theta": (0.0, 1.0)}, lambda s: abs(s["y"] - 0.6), population=20, generations=2,
                    epsilon=0.01, seed=9) for _ in range(2)]
    assert runs[0].samples.equals(runs[1].samples)
    assert (np.random.get_state()[1] == before).all()


def test_abc_does_not_depend_on_the_units_of_the_parameters() -> None:
    """The same calibration with one parameter in units a thousand times larger gives the same posterior.
    pyABC's LocalTransition builds each particle's kernel from its nearest neighbours; sampled in the
    parameters' own units, the neighbours were chosen by the widest range alone."""

    def model(scale: float):
        return lambda p: {"a": p["a"] + 0.05 * np.random.randn(), "b": p["b"] / scale + 0.05 * np.random.randn()}

    def distance(s):
        return abs(s["a"] - 0.3) + abs(s["b"] - 0.7)

    small, large = (abc_smc(model(scale), {"a": (0.0, 1.0), "b": (0.0, scale)}, distance, population=30,
                            generations=3, epsilon=0.01, seed=4) for scale in (1.0, 1000.0))
    assert len(small.generations) == len(large.generations) == 3
    assert np.allclose(small.samples["a"], large.samples["a"], rtol=1e-12)
    assert np.allclose(small.samples["b"] * 1000.0, large.samples["b"], rtol=1e-12)
    assert np.allclose(small.samples["weight"], large.samples["weight"], rtol=1e-9)


def test_a_calibration_sampled_in_the_parameters_units_is_not_resumed() -> None:
    from sim.errors import InputError
    from sim.experiments.abc_calibration import SAMPLING, _check_same_calibration

    previous = {"scenario": {"years": 2}, "runs": 2, "seed": 1, "abc": {"population": 6, "epsilon": 0.5}}
    now = {"scenario": {"years": 2}, "targets": None, "--runs": 2, "--seed": 1, "--population": 6,
           "--epsilon": 0.5, "sampling": SAMPLING}
    with pytest.raises(InputError, match=r"differs in: sampling"):  # abc.db holds particles in other units
        _check_same_calibration(Path("out"), previous, now)
    _check_same_calibration(Path("out"), {**previous, "abc": {**previous["abc"], "sampling": SAMPLING}}, now)


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
    assert "posterior median [90 % credible interval]" in result.output and "ABC-SMC" in result.output
    assert "posterior predictive check" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["optimiser"]["method"] == "abc" and manifest["optimiser"]["generations"] <= 2
    assert {"posterior.csv", "generations.csv", "fit.csv", "club_calibrated.yaml"} <= set(manifest["files"])
    posterior = (out / "posterior.csv").read_text().splitlines()
    assert posterior[0] == "market.deal_value_median,weight" and len(posterior) == 1 + 8
    assert "ABC-SMC (pyABC)" in (out / "club_calibrated.yaml").read_text()
    generations = pd.read_csv(out / "generations.csv")
    assert ((generations["effective_sample_size"] > 0) & (generations["effective_sample_size"] <= 8 + 1e-9)).all()
    assert "effective sample size" in " ".join(result.output.split())


def test_abc_options_need_method_abc(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["calibrate", str(BNI), "--targets", str(ROOT / "scenarios" / "targets" /
                                                                              "bni_2018.yaml"),
                                      "--population", "8", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "are for --method abc" in result.output


def _tiny_calibration(tmp_path: Path) -> tuple[Path, Path]:
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({
        "name": "tiny", "runs": 2, "check_runs": 2, "seed": 5,
        "targets": [{"metric": "business_per_member_year", "value": 30000, "tolerance": "25%",
                     "source": "a figure made up for the test"},
                    {"metric": "members_final", "value": 15, "tolerance": 10, "source": "made up too"}],
        "parameters": {"market.deal_value_median": {"low": 500, "high": 4000},
                       "club.recruitment.application_rate": {"low": 0.05, "high": 0.5}},
        "optimiser": {"method": "differential_evolution", "max_evaluations": 200, "population": 5},
    }), encoding="utf-8")
    scenario = tmp_path / "club.yaml"
    scenario.write_text(f"extends: {BNI}\nyears: 1\n", encoding="utf-8")
    return scenario, targets


def _finished_generations(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        (last,) = conn.execute("SELECT MAX(t) FROM populations").fetchone()
    return -1 if last is None else int(last) + 1


def test_an_abc_calibration_writes_its_posterior_check_and_figures_and_resumes_after_ctrl_c(
        tmp_path: Path, numba_ready: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd

    from sim import calibrate_abc  # with the presentation layer's figures
    from sim.experiments.abc_calibration import calibrate_abc as calibrate_abc_without_figures
    from sim.experiments.folders import file_checksum

    scenario, targets = _tiny_calibration(tmp_path)
    out = tmp_path / "out"
    options = {"population": 6, "generations": 3, "epsilon": 0.01, "predictive_draws": 3, "workers": 1}

    def stop_after_the_first_generation(_done: int, _total: int) -> None:
        if (out / "abc.db").is_file() and _finished_generations(out / "abc.db") >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        calibrate_abc(scenario, targets, out=out, progress=stop_after_the_first_generation, **options)
    stopped = json.loads((out / "manifest.json").read_text())
    assert stopped["status"] == "running" and "abc.db" in stopped["files"]
    first = pd.read_sql("SELECT * FROM parameters", f"sqlite:///{out / 'abc.db'}")

    result = calibrate_abc(scenario, targets, out=out, resume=True, **options)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["optimiser"]["resumed"] is True
    expected = {"club_calibrated.yaml", "fit.csv", "posterior.csv", "posterior.parquet", "posterior_summary.csv",
                "generations.csv", "predictive.csv", "predictive_draws.csv", "pairs.png", "predictive.png",
                "abc.db", "manifest.json"}
    assert set(manifest["files"]) == expected
    for name in expected - {"manifest.json"}:
        assert manifest["checksums"][name] == file_checksum(out / name), name
    # the generation finished before Ctrl-C was kept, not drawn again
    kept = pd.read_sql("SELECT * FROM parameters", f"sqlite:///{out / 'abc.db'}")
    assert kept.iloc[:len(first)].equals(first)
    particles = pd.read_parquet(out / "posterior.parquet")
    assert list(particles.columns) == ["generation", *result.posterior.names, "weight"]
    assert set(result.posterior.names) == {"market.deal_value_median", "club.recruitment.application_rate"}
    assert sorted(particles["generation"].unique()) == list(range(len(result.posterior.generations)))
    assert particles.groupby("generation")["weight"].sum().round(9).eq(1.0).all()
    summary = pd.read_csv(out / "posterior_summary.csv")
    assert list(summary.columns) == ["parameter", "median", "ci_low", "ci_high", "mean", "level"]
    assert (summary["ci_low"] <= summary["median"]).all() and (summary["median"] <= summary["ci_high"]).all()
    predictive = pd.read_csv(out / "predictive.csv")
    assert list(predictive["metric"]) == ["business_per_member_year", "members_final"]
    draws = pd.read_csv(out / "predictive_draws.csv")
    assert len(draws) == 3 and predictive["draws"].eq(3).all()
    within = [(30000 * 0.75 <= v <= 30000 * 1.25) for v in draws["business_per_member_year"]]
    assert predictive.loc[0, "within_share"] == pytest.approx(np.mean(within))

    again = calibrate_abc(scenario, targets, out=tmp_path / "again", **options)  # reproducible for a seed
    fresh = calibrate_abc_without_figures(scenario, targets, out=tmp_path / "fresh", **options)
    assert fresh.posterior.samples.equals(again.posterior.samples)
    # the experiments layer draws no figure of its own: without the presentation layer's drawer, none is written
    fresh_files = json.loads((tmp_path / "fresh" / "manifest.json").read_text())["files"]
    assert set(fresh_files) == expected - {"pairs.png", "predictive.png"}
    assert not (tmp_path / "fresh" / "pairs.png").exists()
    # docs/validation.md's section draws the figures from such a folder's files (and copies a folder's own)
    from sim.presentation import validation_report

    for folder in ("fresh", "again"):
        monkeypatch.setattr(validation_report, "FIGURES", tmp_path / f"docs_{folder}")
        section = validation_report._abc_section(tmp_path / folder)
        assert "| `market.deal_value_median` |" in section and "abc_pairs.png" in section
        assert "position in its bounds (unit cube, LocalTransition" in section
        assert re.search(r"lie inside [012] of 2 of these intervals", section)
        for name in ("abc_pairs.png", "abc_predictive.png"):
            assert (tmp_path / f"docs_{folder}" / name).read_bytes()[:4] == b"\x89PNG", (folder, name)
    assert (tmp_path / "docs_again" / "abc_pairs.png").read_bytes() == (tmp_path / "again" / "pairs.png").read_bytes()
    assert (tmp_path / "fresh" / "posterior.parquet").read_bytes() == (tmp_path / "again" /
                                                                      "posterior.parquet").read_bytes()


def test_resume_needs_an_unfinished_abc_calibration(tmp_path: Path, numba_ready: None) -> None:
    from sim.errors import InputError
    from sim.experiments.abc_calibration import calibrate_abc

    scenario, targets = _tiny_calibration(tmp_path)
    with pytest.raises(InputError, match="no such folder: no calibration to continue"):
        calibrate_abc(scenario, targets, out=tmp_path / "absent", resume=True, population=6, generations=1)
    assert not (tmp_path / "absent").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no calibration to continue"):
        calibrate_abc(scenario, targets, out=tmp_path / "empty", resume=True, population=6, generations=1)
    calibrate_abc(scenario, targets, out=tmp_path / "done", population=6, generations=1, predictive_draws=2,
                  workers=1)
    with pytest.raises(InputError, match="finished: nothing to resume"):
        calibrate_abc(scenario, targets, out=tmp_path / "done", resume=True, population=6, generations=1)


def test_resume_refuses_other_inputs_and_takes_the_interrupted_ones_by_default(tmp_path: Path,
                                                                                numba_ready: None) -> None:
    # a resume with another scenario and population went on from abc.db's particles: a posterior of two
    # calibrations, exit 0
    from sim.errors import InputError
    from sim.experiments.abc_calibration import calibrate_abc

    scenario, targets = _tiny_calibration(tmp_path)
    out = tmp_path / "out"
    options = {"generations": 3, "epsilon": 0.01, "predictive_draws": 2, "workers": 1}

    def stop_after_the_first_generation(_done: int, _total: int) -> None:
        if (out / "abc.db").is_file() and _finished_generations(out / "abc.db") >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        calibrate_abc(scenario, targets, out=out, population=6, progress=stop_after_the_first_generation, **options)
    other = tmp_path / "other.yaml"
    other.write_text(f"extends: {BNI}\nyears: 2\n", encoding="utf-8")
    for changed, differs in (({"scenario": other, "population": 6}, "scenario"), ({"population": 8}, "--population"),
                             ({"population": 6, "runs": 3}, "--runs"), ({"population": 6, "seed": 9}, "--seed")):
        given = {"scenario": scenario, **changed}
        with pytest.raises(InputError, match=rf"holds a different calibration \(differs in: {differs}\)"):
            calibrate_abc(given.pop("scenario"), targets, out=out, resume=True, **given, **options)
    result = calibrate_abc(scenario, targets, out=out, resume=True, **options)  # population 6: the folder's
    assert len(result.posterior.samples) == 6


def test_resume_and_predictive_draws_are_for_method_abc(tmp_path: Path) -> None:
    targets = str(ROOT / "scenarios" / "targets" / "bni_2018.yaml")
    for extra, needle in ((["--resume"], "--resume"), (["--predictive-draws", "5"], "--predictive-draws")):
        result = CliRunner().invoke(app, ["calibrate", str(BNI), "--targets", targets, *extra,
                                          "--out", str(tmp_path / "x")])
        assert result.exit_code == 2 and needle in result.output and "for --method abc" in result.output


@pytest.mark.parametrize(("option", "value", "allowed"), [("--population", "0", "at least 2"),
                                                      ("--generations", "0", "at least 1"),
                                                      ("--evaluations", "0", "at least 2")])
def test_a_zero_population_generations_or_evaluations_is_refused_not_replaced_by_the_default(
        tmp_path: Path, option: str, value: str, allowed: str) -> None:
    # `population or DEFAULT`: --population 0 ran a calibration of 50 particles, --generations 0 six generations
    targets = str(ROOT / "scenarios" / "targets" / "bni_2018.yaml")
    result = CliRunner().invoke(app, ["calibrate", str(BNI), "--targets", targets, "--method", "abc", option, value,
                                      "--out", str(tmp_path / "x")])
    assert result.exit_code == 2, (result.output, result.exception)
    assert f"{option}: must be {allowed}, got 0" in result.output
    assert not (tmp_path / "x").exists()


def test_an_abc_calibration_is_byte_identical_on_the_local_pool_and_dask(tmp_path: Path, numba_ready: None) -> None:
    pytest.importorskip("distributed")
    from sim.experiments.abc_calibration import calibrate_abc

    scenario, targets = _tiny_calibration(tmp_path)
    options = {"population": 5, "generations": 2, "predictive_draws": 2}
    calibrate_abc(scenario, targets, out=tmp_path / "local", backend="local", workers=2, **options)
    calibrate_abc(scenario, targets, out=tmp_path / "dask", backend="dask", workers=2, **options)
    for name in ("posterior.parquet", "posterior_summary.csv", "fit.csv", "predictive_draws.csv",
                 "club_calibrated.yaml"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes(), name


def test_a_posterior_resting_on_a_few_particles_is_warned_of() -> None:
    # a rerun of the shipped ABC calibration ended with one particle holding 87 % of the weight (an effective
    # sample size of 1.3 of 80), and nothing said so: its "90 % credible intervals" began at the median
    import pandas as pd

    from sim.experiments.abc_calibration import degenerate_warning, effective_sample_size

    assert effective_sample_size([1.0] * 80) == pytest.approx(80.0)
    assert effective_sample_size([0.87] + [0.13 / 79] * 79) == pytest.approx(1.32, abs=0.01)
    even = pd.DataFrame({"x": range(80), "weight": [1 / 80] * 80})
    assert degenerate_warning(even) is None
    skewed = even.assign(weight=[0.87] + [0.13 / 79] * 79)
    assert "effective sample size 1.3 of 80" in degenerate_warning(skewed)
