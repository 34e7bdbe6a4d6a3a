"""ClubScenario: a validated club scenario as a Mesa `Scenario`.

Mesa 3.5 binds a `Scenario` to its model (`model.scenario`); making the club's
scenario one means `model.scenario.club.fees.annual` works as Mesa users
expect. Kept apart from `sim.scenario` so that loading a scenario file does
not import Mesa.
"""

from __future__ import annotations

from typing import Any

from mesa.experimental.scenarios import Scenario

from sim.scenario import ScenarioConfig


class ClubScenario(Scenario):
    """A validated club scenario as a Mesa `Scenario`.

    Its attributes are the sections of `ScenarioConfig` (`scenario.club.fees.annual`),
    plus `config` (the whole pydantic object) and `source` (the file it came from).
    """

    def __init__(self, config: ScenarioConfig, *, rng: Any = None, source: str | None = None):
        sections = {name: getattr(config, name) for name in ScenarioConfig.model_fields}
        super().__init__(rng=rng, config=config, source=source, **sections)

    def to_yaml_dict(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")
