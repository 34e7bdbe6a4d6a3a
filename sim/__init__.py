"""clubsim: an agent-based simulator of business clubs (model: docs/ODD.md).

`from sim import load_scenario, ClubModel, simulate` works, but importing `sim`
stays light: the model, kernels and plotting load on first use. `dir(sim)` and
`sim.__all__` list the public API; `sim.run_metrics` is the entry point for outside
tools (docs/clients.md).

This facade sits above every layer of the package (errors, kernels, model, experiments,
presentation, interfaces: tests/test_layers.py), so it may compose them: `compare`, `sweep`,
`compare_scenarios`, `sensitivity`, `discover` and `calibrate_abc` here are the experiments layer's, with the
presentation layer's figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.experiments.discovery import DiscoveryResult
    from sim.experiments.experiment import ComparisonResult, Experiment, SweepResult
    from sim.experiments.sensitivity import SensitivityExperiment, SensitivityResult

__version__ = "0.3.1"

_EXPORTS = {
    "load_scenario": "sim.model.scenario",
    "load_config": "sim.model.scenario",
    "LoadedScenario": "sim.model.scenario",
    "ClubScenario": "sim.model.mesa_scenario",
    "ScenarioConfig": "sim.model.scenario",
    "ClubModel": "sim.model.club",
    "Member": "sim.model.agents",
    "ReferenceClubModel": "sim.reference.club",
    "simulate": "sim.model.runner",
    "run_metrics": "sim.model.runner",
    "RunResult": "sim.model.runner",
    "InputError": "sim.errors",
    "OutputError": "sim.errors",
    "load_experiment": "sim.experiments.experiment",
}

__all__ = [*_EXPORTS, "calibrate_abc", "compare", "compare_scenarios", "discover", "sensitivity", "sweep",
           "__version__"]


def compare(experiment: Experiment | str | Path | Sequence[str | Path], runs: int | None = None,
            **options: Any) -> ComparisonResult:
    """Replicate every policy of an experiment under common random numbers and compare them with the baseline:
    `sim.experiments.experiment.compare` (its arguments), with the figures of
    `sim.presentation.experiment_plots`: written to `out` unless figures=False, and drawn by `result.plot()`."""
    from sim.experiments.experiment import compare as run
    from sim.presentation.experiment_plots import FIGURES

    return run(experiment, runs, figure_set=FIGURES, **options)


def sweep(experiment: Experiment | str | Path, runs: int | None = None, **options: Any) -> SweepResult:
    """Replicate every sweep point (x policy) with common random numbers: `sim.experiments.experiment.sweep`,
    with the figures of `sim.presentation.experiment_plots` (sweep_<metric>.png), as `compare`."""
    from sim.experiments.experiment import sweep as run
    from sim.presentation.experiment_plots import FIGURES

    return run(experiment, runs, figure_set=FIGURES, **options)


def compare_scenarios(paths: Sequence[str | Path], runs: int | None = None, **options: Any) -> ComparisonResult:
    """Compare scenario files as policies (the first is the baseline): `sim.experiments.experiment.compare_scenarios`,
    with the figures of `sim.presentation.experiment_plots`, as `compare`."""
    from sim.experiments.experiment import compare_scenarios as run
    from sim.presentation.experiment_plots import FIGURES

    return run(paths, runs, figure_set=FIGURES, **options)


def sensitivity(experiment: SensitivityExperiment | str | Path, method: str | None = None,
                **options: Any) -> SensitivityResult:
    """Global sensitivity analysis (Morris or Sobol', SALib): `sim.experiments.sensitivity.analyse` (its
    arguments), with the figure of `sim.presentation.analysis_figures` (sensitivity_<method>.png): written to
    `out` unless figures=False, and drawn by `result.plot()`."""
    from sim.experiments.sensitivity import analyse
    from sim.presentation.analysis_figures import sensitivity_figures

    return analyse(experiment, method, draw_figures=sensitivity_figures, **options)


def discover(experiment: Experiment | str | Path, outcome: str, **options: Any) -> DiscoveryResult:
    """Scenario discovery (PRIM, CART, robustness): `sim.experiments.discovery.discover` (its arguments), with
    the figure of `sim.presentation.analysis_figures` (discovery.png): written to `out` and drawn by
    `result.plot()`."""
    from sim.experiments.discovery import discover as run
    from sim.presentation.analysis_figures import discovery_figures

    return run(experiment, outcome, draw_figures=discovery_figures, **options)


def calibrate_abc(scenario: str | Path, targets: Any, **options: Any) -> Any:
    """ABC-SMC calibration (pyABC): `sim.experiments.abc_calibration.calibrate_abc` (its arguments), with the
    figures of `sim.presentation.analysis_figures` (pairs.png, predictive.png) written to `out`."""
    from sim.experiments.abc_calibration import calibrate_abc as run
    from sim.presentation.analysis_figures import abc_figures

    return run(scenario, targets, draw_figures=abc_figures, **options)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API (tab completion), loaded or not, and the module's dunder names (not its imports)."""
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
