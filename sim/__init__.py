"""clubsim: an agent-based simulator of business clubs (model: docs/ODD.md).

`from sim import load_scenario, ClubModel, simulate` works, but importing `sim`
stays light: the model, kernels and plotting load on first use. `dir(sim)` and
`sim.__all__` list the public API; `sim.run_metrics` is the entry point for outside
tools (docs/clients.md).
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_scenario": "sim.scenario",
    "load_config": "sim.scenario",
    "LoadedScenario": "sim.scenario",
    "ClubScenario": "sim.mesa_scenario",
    "ScenarioConfig": "sim.scenario",
    "ClubModel": "sim.model",
    "Member": "sim.agents",
    "ReferenceClubModel": "sim.reference",
    "simulate": "sim.runner",
    "run_metrics": "sim.runner",
    "RunResult": "sim.runner",
    "InputError": "sim.errors",
    "OutputError": "sim.errors",
    "load_experiment": "sim.experiment",
    "compare": "sim.experiment",
    "sweep": "sim.experiment",
    "compare_scenarios": "sim.experiment",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API (tab completion), loaded or not, and the module's own names."""
    return sorted({*globals(), *__all__})
