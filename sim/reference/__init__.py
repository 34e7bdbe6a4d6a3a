"""The reference engines (`--engine python`): plain Mesa and Python, one club (`club`) or a region (`region`),
kept to dock the numba engine against (tests/test_docking.py).

Part of the model layer (rank 2 in tests/test_layers.py): they import the model's scenario, market and metrics,
and `sim.model.runner` runs them; never experiments, presentation or the interfaces.
"""
