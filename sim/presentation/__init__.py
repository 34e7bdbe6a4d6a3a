"""The presentation layer: what people read. Console tables (`tables`; of the analyses: `analysis_tables`), figures
of a run (`plots`), of an experiment (`experiment_plots`) and of the analyses built on experiments
(`analysis_figures`), the run output folder (`run_folder`), figures drawn in a forked process (`figure_process`),
the HTML report (`report`) and docs/validation.md (`validation_report`).

It imports the layers below (`sim.errors`, `sim.model`, `sim.reference`, `sim.experiments`) and itself; never the
interfaces (tests/test_layers.py).
"""
