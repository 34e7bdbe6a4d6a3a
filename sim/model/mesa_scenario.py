"""ClubScenario: a validated club scenario as a Mesa `Scenario`.

Mesa 3.5 binds a `Scenario` to its model (`model.scenario`); making the club's
scenario one means `model.scenario.club.fees.annual` works as Mesa users
expect. Kept apart from `sim.model.scenario` so that loading a scenario file does
not import Mesa.

Mesa's Scenario subclasses carry their defaults at class level, and Mesa's
tools rebuild a scenario from its class alone (SolaraViz's Reset calls
`type(model.scenario)()`). So a loaded scenario is an instance of a small
subclass, `ClubScenario.of(config)`, whose no-argument construction gives the
same club back.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mesa.experimental.scenarios import Scenario

from sim.model.scenario import ScenarioConfig


class ClubScenario(Scenario):
    """A validated club scenario as a Mesa `Scenario`.

    Its attributes are the sections of `ScenarioConfig` (`scenario.club.fees.annual`),
    plus `config` (the whole pydantic object) and `source` (the file it came from).
    `ClubScenario()` is the schema's default club; `ClubScenario.of(config)()` is `config`'s.
    """

    default_config: ClassVar[ScenarioConfig | None] = None
    default_source: ClassVar[str | None] = None

    def __init__(self, config: ScenarioConfig | None = None, *, rng: Any = None, source: str | None = None):
        if config is None:
            config = type(self).default_config or ScenarioConfig()
            source = source or type(self).default_source
        sections = {name: getattr(config, name) for name in ScenarioConfig.model_fields}
        super().__init__(rng=rng, config=config, source=source, **sections)

    @classmethod
    def of(cls, config: ScenarioConfig, source: str | None = None) -> type[ClubScenario]:
        """The subclass whose instances default to `config` (what `type(scenario)()` rebuilds)."""
        return type(cls.__name__, (cls,), {"default_config": config, "default_source": source})

    def __reduce__(self) -> tuple[Any, ...]:  # a class made by `of` is not importable: pickle the data
        return _rebuild, (self.config, self.rng, self.source)

    def to_yaml_dict(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")


def _rebuild(config: ScenarioConfig, rng: Any, source: str | None) -> ClubScenario:
    return ClubScenario.of(config, source)(config, rng=rng, source=source)
