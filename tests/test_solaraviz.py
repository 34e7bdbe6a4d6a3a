"""ClubModel under Mesa's SolaraViz: it renders, Step runs a week, Reset rebuilds the same club.

SolaraViz's Reset rebuilds the model as `type(model)(scenario=type(model.scenario)(), **params)`,
so a loaded `ClubScenario` must come back from its class alone (`ClubScenario.of`).
"""

from __future__ import annotations

import pickle

import pytest

from sim.model.club import ClubModel
from sim.model.mesa_scenario import ClubScenario
from sim.model.scenario import ScenarioConfig, load_scenario

pytestmark = pytest.mark.usefixtures("numba_ready")

solara = pytest.importorskip("solara")
ipyvuetify = pytest.importorskip("ipyvuetify")
pytest.importorskip("altair")  # mesa.visualization imports it


def test_a_loaded_scenario_rebuilds_from_its_class_and_pickles() -> None:
    scenario = load_scenario("scenarios/business_club_monthly.yaml", {"club.fees.annual": 700})
    rebuilt = type(scenario)()
    assert rebuilt.config == scenario.config and rebuilt.source == scenario.source
    assert ClubScenario().config == ScenarioConfig()  # the base class: the schema's default club
    copy = pickle.loads(pickle.dumps(scenario))
    assert copy.config == scenario.config and type(copy)().config == scenario.config


def test_club_model_steps_and_resets_under_solaraviz() -> None:
    from mesa.visualization import SolaraViz
    from mesa.visualization.solara_viz import ModelController

    params = {"club.fees.annual": 1500, "years": 1, "seed": 3}
    model = solara.reactive(ClubModel("scenarios/business_club_monthly.yaml", **params))
    solara.render(SolaraViz(model, components=[], model_params=params), handle_error=False)

    _, rc = solara.render(ModelController(model, model_parameters=solara.reactive(params),
                                          play_interval=solara.reactive(100), render_interval=solara.reactive(1),
                                          use_threads=solara.reactive(False)), handle_error=False)
    first = model.value
    rc.find(ipyvuetify.Btn, children=["Step"]).widget.click()
    assert model.value is first and first.engine.week == 1

    rc.find(ipyvuetify.Btn, children=["Reset"]).widget.click()
    fresh = model.value
    assert fresh is not first and fresh.engine.week == 0
    assert fresh.scenario.config == first.scenario.config  # the same club: file, overrides and all
    assert fresh.scenario.config.name == "business_club_monthly"
    assert fresh.scenario.club.fees.annual == 1500
    fresh.step()
    first_again = ClubModel("scenarios/business_club_monthly.yaml", **params)
    first_again.step()
    assert fresh.series_frame().equals(first_again.series_frame())  # same seed, same first week
