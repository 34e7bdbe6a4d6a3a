"""What outside tools and users' own code rely on (issue 18, item 6).

Candidate shares set one or two at a time are rescaled; seeds are checked in one line;
`sim.run_metrics` is a picklable, flat, numeric function of (scenario, seed, overrides);
`ClubModel` stops `mesa.batch_run` when its club closes; `dir(sim)` lists the public API.
"""

from __future__ import annotations

from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.errors import InputError
from sim.experiments.experiment import load_experiment
from sim.interfaces.cli import app
from sim.model.club import ClubModel
from sim.model.runner import run_metrics, simulate
from sim.model.scenario import load_config

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"


def shares(overrides: dict, source: object = BNI) -> tuple[float, float, float]:
    return load_config(source, overrides).config.population.shares.as_tuple()


# --------------------------------------------------------------------------- candidate shares


def test_one_share_set_rescales_the_other_two_in_proportion() -> None:
    giver, reciprocator, hunter = shares({"population.shares.hunter": 0.2})
    base = shares({})
    assert hunter == 0.2
    assert giver + reciprocator + hunter == pytest.approx(1.0, abs=1e-12)
    assert giver / reciprocator == pytest.approx(base[0] / base[1])
    # the same from a mapping, a YAML string (as --set gives it), and with all of them left to one type
    assert shares({"population.shares": {"hunter": 0.2}}) == pytest.approx((giver, reciprocator, hunter))
    assert shares({"population.shares.hunter": "0.2"}) == pytest.approx((giver, reciprocator, hunter))
    assert shares({"population.shares.giver": 1}) == (1.0, 0.0, 0.0)


def test_two_shares_set_leave_the_rest_to_the_third() -> None:
    assert shares({"population.shares.giver": 0.5, "population.shares.hunter": 0.1}) == pytest.approx((0.5, 0.4, 0.1))


def test_shares_that_cannot_be_rescaled_are_refused_in_one_line() -> None:
    with pytest.raises(InputError, match=r"overrides: population\.shares: giver 0\.5 \+ hunter 0\.7 = 1\.2 leaves "
                                         r"less than nothing for reciprocator"):
        shares({"population.shares.giver": 0.5, "population.shares.hunter": 0.7})
    with pytest.raises(InputError, match=r"population\.shares\.hunter: Input should be less than or equal to 1"):
        shares({"population.shares.hunter": 1.2})
    with pytest.raises(InputError, match=r"population\.shares: giver \+ reciprocator \+ hunter must sum to 1, "
                                         r"got 0\.2 \+ 0\.2 \+ 0\.2 = 0\.6"):
        shares({"population.shares": {"giver": 0.2, "reciprocator": 0.2, "hunter": 0.2}})
    only_givers = {"population": {"shares": {"giver": 1.0, "reciprocator": 0.0, "hunter": 0.0}}}
    with pytest.raises(InputError, match=r"reciprocator and hunter are both 0 in the scenario"):
        shares({"population.shares.giver": 0.8}, only_givers)
    assert shares({"population.shares.hunter": 0.0}, only_givers) == (1.0, 0.0, 0.0)


def test_set_policies_and_sweeps_rescale_shares(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(BNI), "--set", "population.shares.hunter=0.4"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "exp.yaml"
    path.write_text(f"scenario: {BNI}\npolicies:\n  few: {{population.shares.hunter: 0.05}}\n"
                    "  many: {population.shares.hunter: 0.4}\n"
                    "sweep:\n  parameters:\n    population.shares.giver: {values: [0.2, 0.6]}\n", encoding="utf-8")
    experiment = load_experiment(path)
    assert experiment.policies["many"].population.shares.hunter == 0.4
    for (point, _policy), config in experiment.configs.items():  # each layer rescales what it leaves
        assert config.population.shares.giver == [0.2, 0.6][point]
        assert sum(config.population.shares.as_tuple()) == pytest.approx(1.0)


# --------------------------------------------------------------------------- seeds


@pytest.mark.parametrize("seed", [1.5, np.float64(2.0), "abc", "7", True, -1, [1, 2]],
                         ids=["float", "numpy float", "text", "digits", "bool", "negative", "list"])
def test_a_seed_that_is_not_an_integer_is_one_line(seed: object) -> None:
    for call in (lambda: simulate(BNI, seed, overrides={"years": 1}),
                 lambda: run_metrics(BNI, seed, years=1),
                 lambda: ClubModel(BNI, rng=seed, years=1),
                 lambda: ClubModel(BNI, seed=seed, years=1)):
        with pytest.raises(InputError, match=r"^(seed|rng): must be an integer >= 0, got ") as caught:
            call()
        assert "\n" not in str(caught.value)


def test_no_seed_is_refused_by_simulate_and_run_metrics_and_left_to_mesa_by_club_model() -> None:
    for call in (lambda: simulate(BNI, None), lambda: run_metrics(BNI, None)):  # type: ignore[arg-type]
        with pytest.raises(InputError, match=r"^seed: missing: give an integer >= 0"):
            call()
    model = ClubModel(BNI, years=1)  # Mesa's default: fresh entropy, not reproducible
    model.step()
    assert model.week == 1


def test_numpy_integer_seeds_are_python_integers(numba_ready: None) -> None:
    small = {"years": 1}
    assert simulate(BNI, np.int64(3), overrides=small).summary == simulate(BNI, 3, overrides=small).summary
    by_numpy, by_int = ClubModel(BNI, rng=np.uint32(3), years=1), ClubModel(BNI, rng=3, years=1)
    by_numpy.run()
    by_int.run()
    assert by_numpy.summary() == by_int.summary()


# --------------------------------------------------------------------------- ClubModel under batch_run


def test_batch_run_stops_when_the_club_closes(numba_ready: None) -> None:
    """A chapter founded at its minimum size that closes: batch_run's rows end at its closing week."""
    parameters = {"scenario": str(BNI), "club.founders": 8, "club.min_viable_size": 8, "years": 3,
                  "agent_reporters": False}
    rows = pd.DataFrame(mesa.batch_run(ClubModel, parameters, rng=[11, 12, 13, 16], max_steps=156,
                                       number_processes=1, data_collection_period=1, display_progress=False))
    assert "seed" in rows.columns and "rng" not in rows.columns  # the seed column is `seed`
    for seed, run in rows.groupby("seed"):
        full = simulate(BNI, int(seed), overrides={k: v for k, v in parameters.items() if "." in k or k == "years"})
        closed = full.series.loc[full.series["exits_dissolved"] > 0, "week"]
        steps = run["Step"].to_numpy()
        assert steps[0] == 1  # Step s is week s - 1 (timeseries.csv's `week`)
        if len(closed):
            assert steps[-1] == closed.iloc[0] + 1 and run["members"].iloc[-1] == 0
        else:
            assert steps[-1] == 156
        np.testing.assert_array_equal(run["members"].to_numpy(), full.series["members"].to_numpy()[:len(run)])
    assert rows.groupby("seed")["Step"].max().min() < 156  # some chapter closed early


# --------------------------------------------------------------------------- the public API


def test_dir_sim_lists_the_public_api() -> None:
    import sim

    names = dir(sim)
    for name in ("run_metrics", "simulate", "ClubModel", "load_scenario", "compare", "InputError", "__version__",
                 "sensitivity", "discover", "calibrate_abc"):
        assert name in names
    assert sim.run_metrics is run_metrics
    assert not {"Any", "Path", "Sequence", "TYPE_CHECKING", "annotations", "import_module"} & set(names)


# --------------------------------------------------------------------------- run_metrics


def test_run_metrics_is_the_flat_numeric_summary(numba_ready: None) -> None:
    metrics = run_metrics(BNI, 3, {"years": 2}, club__fees__annual=1200)
    summary = simulate(BNI, 3, overrides={"years": 2, "club.fees.annual": 1200}).summary
    assert all(type(value) is float for value in metrics.values())
    assert metrics["members_final"] == summary["members_final"]
    assert metrics["roi_giver"] == summary["roi_by_type"]["giver"]
    assert metrics["exits_left"] == summary["exits_by_reason"]["left"]
    assert metrics["survived"] in (0.0, 1.0)
    no_hunters = run_metrics(BNI, 3, years=1, population__shares__hunter=0)
    assert np.isnan(no_hunters["roi_hunter"])  # None in the summary
    region = run_metrics(BNI, 3, {"region.clubs": 2, "years": 1, "club.capacity": 20})
    assert "clubs" not in region and all(type(value) is float for value in region.values())


def test_run_metrics_refuses_a_key_given_twice() -> None:
    with pytest.raises(InputError, match=r"^run_metrics: years: given twice"):
        run_metrics(BNI, 1, {"years": 2}, years=3)
    with pytest.raises(InputError, match=r"club\.fees\.anual: unknown key; did you mean 'annual'"):
        run_metrics(BNI, 1, club__fees__anual=3)


def test_run_metrics_pickles_and_runs_in_a_spawned_pool(numba_ready: None) -> None:
    import multiprocessing
    import pickle
    from functools import partial

    assert pickle.loads(pickle.dumps(run_metrics)) is run_metrics
    run = partial(run_metrics, str(BNI), years=1, club__fees__annual=1200)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        rows = pool.map(run, [1, 2])
    assert rows[0]["members_final"] == run(1)["members_final"]
    assert rows[1]["fee_income_total"] == run(2)["fee_income_total"]


def test_run_metrics_under_the_ema_workbench(numba_ready: None) -> None:
    ema = pytest.importorskip("ema_workbench")
    model = ema.Model("bni", function=run_metrics)
    model.uncertainties = [ema.RealParameter("market__deal_value_median", 700, 2500),
                           ema.RealParameter("population__shares__hunter", 0.0, 0.4)]
    model.levers = [ema.CategoricalParameter("club__selection__policy", ["interview", "none"])]
    model.constants = [ema.Constant("scenario", str(BNI)), ema.Constant("seed", 1), ema.Constant("years", 1)]
    model.outcomes = [ema.ScalarOutcome("survived"), ema.ScalarOutcome("members_final")]
    with ema.SequentialEvaluator(model) as evaluator:
        experiments, outcomes = evaluator.perform_experiments(scenarios=3, policies=2,
                                                              uncertainty_sampling_kwargs={"rng": 1})
    assert len(experiments) == 6 and set(outcomes["survived"]) <= {0.0, 1.0}
    first = experiments.iloc[0]
    again = run_metrics(BNI, 1, years=1, market__deal_value_median=first["market__deal_value_median"],
                        population__shares__hunter=first["population__shares__hunter"],
                        club__selection__policy=first["club__selection__policy"])
    assert outcomes["members_final"][0] == again["members_final"]


def test_the_readmes_solaraviz_example_renders_steps_and_resets(monkeypatch: pytest.MonkeyPatch,
                                                                numba_ready: None) -> None:
    solara = pytest.importorskip("solara")
    ipyvuetify = pytest.importorskip("ipyvuetify")
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = next(block for block in re.findall(r"^```python\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
                if "SolaraViz(" in block)
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    from mesa.visualization.solara_viz import ModelController

    solara.render(namespace["page"], handle_error=False)
    model = solara.reactive(namespace["model"])
    params = {name: spec["value"] if isinstance(spec, dict) else spec
              for name, spec in namespace["model_params"].items()}
    params["club.fees.annual"] = 1500                      # a control moved before Reset
    _, rc = solara.render(ModelController(model, model_parameters=solara.reactive(params),
                                          play_interval=solara.reactive(100), render_interval=solara.reactive(1),
                                          use_threads=solara.reactive(False)), handle_error=False)
    rc.find(ipyvuetify.Btn, children=["Step"]).widget.click()
    assert model.value.week == 1
    rc.find(ipyvuetify.Btn, children=["Reset"]).widget.click()
    fresh = model.value
    assert fresh.week == 0 and fresh.scenario.config.name == "bni_chapter"
    assert fresh.scenario.club.fees.annual == 1500 and fresh.scenario.config.years == 5
