"""The presentation layer: what people read. Console tables (`tables`), figures of a run (`plots`) and of an
experiment (`experiment_plots`), the run output folder (`run_folder`), figures drawn in a forked process
(`figure_process`), the HTML report (`report`) and docs/validation.md (`validation_report`).

It imports the layers below (`sim.errors`, `sim.model`, `sim.reference`, `sim.experiments`) and itself; never the
interfaces (tests/test_layers.py).
"""
