"""The experiments layer: Monte Carlo replications under common random numbers and what is built on them.

`experiment` (experiment files, compare, sweep, resume, statistics), `backends` (in-process, process pool, Dask),
`folders` (every output folder's rules: only clubsim's files, a lock, atomic writes, checksums, the manifest),
`targets`, `calibration`, `abc_calibration`, `sensitivity`, `stylized`, `selection` and `discovery`.

It imports `sim.errors`, the model layer (`sim.model`, `sim.reference`) and itself; never presentation or the
interfaces (tests/test_layers.py). It draws no figure and lays out no table: figures a higher layer draws reach
it as an argument (`FigureSet` for compare and sweep, `draw_figures=` for sensitivity, discovery and ABC).
"""
