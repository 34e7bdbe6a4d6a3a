"""Every figure clubsim draws has its texts inside the canvas, labelled axes and a line saying what its marks are.

Texts are measured with the renderer after the layout engine ran (what the PNG shows): a title, label,
tick label, legend entry or caption that crosses the canvas's edge is cut in the saved file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sim import compare, sweep
from sim.experiments.experiment import load_experiment
from sim.presentation import experiment_plots, plots

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"
TOLERANCE_PX = 1.0


def texts_outside(fig) -> list[str]:
    """What of `fig` is drawn past the canvas's edge: an axes with its labels, ticks, title and legend (its
    tight box: only what is drawn), or a figure-level text (title, caption) or legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # what savefig renders with
    canvas.draw()
    renderer = canvas.get_renderer()
    width, height = canvas.get_width_height()

    def outside(box) -> bool:
        return box.x0 < -TOLERANCE_PX or box.y0 < -TOLERANCE_PX or box.x1 > width + TOLERANCE_PX \
            or box.y1 > height + TOLERANCE_PX

    cut = [f"axes {ax.get_title() or ax.get_ylabel()!r}" for ax in fig.axes
           if ax.get_visible() and outside(ax.get_tightbbox(renderer))]
    cut += [text.get_text() for text in fig.texts if text.get_visible() and text.get_text().strip()
            and outside(text.get_window_extent(renderer))]
    cut += [f"figure legend {i}" for i, legend in enumerate(fig.legends) if outside(legend.get_window_extent(renderer))]
    for label in (fig._suptitle, fig._supxlabel, fig._supylabel):
        if label is not None and label.get_text().strip() and outside(label.get_window_extent(renderer)):
            cut.append(label.get_text())
    return cut


def says_what_its_marks_are(fig) -> bool:
    """A caption under the figure, or a legend on it or on one of its axes."""
    caption = (fig._supxlabel is not None and fig._supxlabel.get_text().strip()) or any(
        text.get_text().strip() for text in fig.texts)
    return bool(caption or fig.legends or any(ax.get_legend() is not None for ax in fig.axes))


def labelled(fig) -> list[str]:
    """Axes that show data but have neither a y label nor a title."""
    return [repr(ax) for ax in fig.axes if ax.get_visible() and ax.axison and ax.has_data()
            and not (ax.get_ylabel().strip() or ax.get_title().strip() or ax.get_title("left").strip())]


def check(name: str, fig) -> None:
    assert texts_outside(fig) == [], f"{name}: texts cut at the edge"
    assert says_what_its_marks_are(fig), f"{name}: no caption or legend"
    assert labelled(fig) == [], f"{name}: axes without a label"


@pytest.fixture(scope="module")
def small_experiments(tmp_path_factory, numba_ready):
    folder = tmp_path_factory.mktemp("figures")
    scenario = folder / "club.yaml"
    scenario.write_text(f"extends: {BNI}\nyears: 2\n", encoding="utf-8")
    spec = yaml.safe_load((ROOT / "experiments" / "exclusivity_vs_complementarity.yaml").read_text())
    spec.update(scenario=str(scenario), runs=6)
    (folder / "compare.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    spec = yaml.safe_load((ROOT / "experiments" / "pricing.yaml").read_text())
    spec.update(scenario=str(scenario), runs=4)
    (folder / "sweep.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return (compare(load_experiment(folder / "compare.yaml"), workers=1, figures=False),
            sweep(load_experiment(folder / "sweep.yaml"), workers=1, figures=False))


def test_comparison_figures_fit_and_say_what_they_show(small_experiments):
    comparison, _ = small_experiments
    figures = experiment_plots.comparison_figures(comparison)
    assert set(figures) == {"metrics.png", "trajectories.png", "survival.png", "roi_by_type.png"}
    for name, fig in figures.items():
        check(name, fig)


def test_the_metrics_figure_shows_every_run_closed_clubs_included(small_experiments):
    comparison, _ = small_experiments
    fig = experiment_plots.plot_metrics(comparison)
    ax = next(a for a in fig.axes if a.get_title() == "members at end")
    drawn = np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.lines if len(line.get_ydata())])
    runs = comparison.replications["members_final"].to_numpy(float)
    # the lowest and highest runs (a closed club has 0 members) end a whisker or are a dot: none left out
    assert np.isclose(drawn, runs.min()).any() and np.isclose(drawn, runs.max()).any()


def test_sweep_figures_name_the_parameter_with_its_unit_and_group_thousands(small_experiments):
    _, swept = small_experiments
    figures = experiment_plots.sweep_figures(swept)
    for name, fig in figures.items():
        check(name, fig)
    ax = figures["sweep_members_final.png"].axes[0]
    assert ax.get_xlabel() == "annual membership fee, EUR per year (club.fees.annual)"
    texts_outside(figures["sweep_members_final.png"])  # draws it: tick labels are set at draw time
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert any("," in t for t in ticks), ticks
    assert ax.get_ylim()[0] == 0  # a count starts at zero, not zoomed in


def test_run_figures_fit_and_the_roi_axis_spans_the_members_not_one_outlier(tmp_path, monkeypatch, numba_ready):
    from sim.model.runner import simulate

    drawn = {}
    save = plots._save

    def keep(fig, path):
        drawn[Path(path).name] = fig
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    result = simulate(BNI, 1)
    plots.plot_run(pd.DataFrame(result.series_columns), pd.DataFrame(result.members_columns), tmp_path, "bni, seed 1")
    assert set(drawn) == set(plots.FIGURE_FILES)
    for name, fig in drawn.items():
        check(name, fig)
    members = pd.DataFrame(result.members_columns)
    ax = drawn["roi_by_type.png"].axes[0]
    low, high = ax.get_ylim()
    inside = ((members["roi"] >= low) & (members["roi"] <= high)).mean()
    # the whiskers (1.5 x the box) span most members of a skewed ROI (88 % here), not the few far above
    assert inside >= 0.85 and high < members["roi"].max() * 100  # outliers are counted in the legend instead


def test_app_and_calibration_figures_fit(tmp_path):
    pytest.importorskip("solara")
    from sim.experiments.abc_calibration import Posterior
    from sim.interfaces.app import pricing_figure
    from sim.presentation.analysis_figures import pairs_figure, predictive_figure

    fees = [300, 900, 1500]
    curve = pd.DataFrame({f"{key}_{stat}": np.linspace(1, 3, 3) for key in
                          ("fee_income_per_year", "members_final", "churn_rate_annual", "survived")
                          for stat in ("mean", "ci_low", "ci_high")}, index=pd.Index(fees, name="annual_fee"))
    check("pricing", pricing_figure(curve, 900.0, 0.9))
    rng = np.random.default_rng(1)
    samples = pd.DataFrame({"market.deal_value_median": rng.uniform(800, 3000, 30),
                            "club.recruitment.application_rate": rng.uniform(0.05, 0.5, 30), "weight": 1 / 30})
    posterior = Posterior(samples, pd.DataFrame(), 30)
    check("pairs", pairs_figure(posterior, {"market.deal_value_median": (800, 3000),
                                            "club.recruitment.application_rate": (0.05, 0.5)}))
    draws = pd.DataFrame({"business_per_member_year": rng.normal(66000, 9000, 12),
                          "members_final": rng.normal(30, 4, 12)})
    predictive = pd.DataFrame([{"metric": "business_per_member_year", "value": 66000, "band_low": 56100,
                                "band_high": 75900, "within_share": 0.7},
                               {"metric": "members_final", "value": 30, "band_low": 25, "band_high": 35,
                                "within_share": 0.8}])
    check("predictive", predictive_figure(draws, predictive))
