"""The model layer: what a scenario is, the market, the state arrays, the numba engine, the Mesa model and agents,
one run as a function (`runner.simulate`), what a run measures (`metrics`) and what those metrics mean
(`metric_registry`: labels, units, bounds, number formats).

It imports only `sim.errors`, the kernels (`sim.kernels`) and the reference engines (`sim.reference`, its sibling
in this layer, which `runner` runs for `engine="python"`); never experiments, presentation or the interfaces
(tests/test_layers.py). `from sim.model import ClubModel` works, loaded on first use so that
`sim.model.scenario` stays light.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {"ClubModel": "sim.model.club", "Member": "sim.model.agents"}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sim.model' has no attribute {name!r}")
