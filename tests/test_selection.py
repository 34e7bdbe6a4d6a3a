"""Ranking and selection (`sim.experiments.selection`, `clubsim select-best`): KN keeps its promise and saves runs.

The guarantee is tested where it can be counted: on synthetic systems with known means and
correlated normal noise (common random numbers), over 1,000 macro-replications, in pure numpy.
The simulator is then only wired: tiny experiments (`years: 1`, a few replications).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from sim.errors import InputError
from sim.experiments.experiment import ExperimentInterrupted, load_experiment
from sim.experiments.selection import Selection, fixed_sample_size, kn_constants, kn_select, select_best
from sim.interfaces.cli import app

ROOT = Path(__file__).resolve().parent.parent
BNI = ROOT / "scenarios" / "bni_chapter.yaml"
MACRO = 1_000


def crn_sampler(means: list[float], sigma: float, rho: float, rng: np.random.Generator):
    """Observations of k systems: mean + sigma (sqrt(rho) Z_0 + sqrt(1 - rho) Z_i), where replication r's
    Z_0 is shared by every system (as common random numbers share a seed): corr(X_i, X_l) = rho."""
    mu = np.asarray(means, float)
    k = len(mu)
    held = np.empty((k, 0))

    def sample(systems, start, stop):
        nonlocal held
        if held.shape[1] < stop:
            z = rng.standard_normal((k + 1, max(stop - held.shape[1], 256)))
            held = np.hstack([held, mu[:, None] + sigma * (np.sqrt(rho) * z[:1] + np.sqrt(1 - rho) * z[1:])])
        return held[np.asarray(systems)][:, start:stop]

    return sample


def macro_replications(means: list[float], *, delta: float = 1.0, sigma: float = 5.0, rho: float = 0.5,
                       seed: int = 2026, **options) -> tuple[float, float, float]:
    """Correct-selection rate, mean replications used (all systems) and mean replications of the paired
    Bonferroni fixed design of equal guarantee, over MACRO independent macro-replications."""
    best = int(np.argmax(means)) if options.get("maximize", True) else int(np.argmin(means))
    correct, used, fixed = 0, 0, 0
    for child in np.random.SeedSequence(seed).spawn(MACRO):
        sample = crn_sampler(means, sigma, rho, np.random.default_rng(child))
        selection = kn_select(sample, len(means), delta=delta, batch=50, **options)
        correct += selection.best == best
        used += selection.total_replications
        fixed += selection.fixed_n * len(means)
    return correct / MACRO, used / MACRO, fixed / MACRO


# --------------------------------------------------------------------------- the procedure


def test_kn_selects_the_best_with_the_promised_confidence_when_it_leads_by_delta() -> None:
    # slippage configuration: the best leads every other by exactly delta, the hardest case
    rate, used, fixed = macro_replications([1.0, 0.0, 0.0, 0.0], confidence=0.95)
    assert rate >= 0.95, f"correct selection in {rate:.3f} of {MACRO} macro-replications"
    assert used < 0.6 * fixed, f"KN used {used:.0f} replications on average, the fixed design {fixed:.0f}"


def test_kn_saves_more_when_the_others_are_far_behind() -> None:
    rate, used, fixed = macro_replications([3.0, 2.0, 1.0, 0.0], confidence=0.95)
    assert rate >= 0.95
    assert used < 0.4 * fixed, f"KN used {used:.0f} replications on average, the fixed design {fixed:.0f}"


def test_kn_finds_the_smallest_mean_when_less_is_better() -> None:
    rate, _used, _fixed = macro_replications([0.0, 1.0, 1.0], maximize=False, confidence=0.9, seed=7)
    assert rate >= 0.9


def test_kn_decisions_do_not_depend_on_the_batch() -> None:
    results = []
    for batch in (1, 7, 100):
        sample = crn_sampler([0.5, 0.0, 0.3, -1.0], 3.0, 0.6, np.random.default_rng(11))
        results.append(kn_select(sample, 4, delta=0.5, first_stage=10, batch=batch))
    assert results[0] == results[1] == results[2]


def test_an_eliminated_policy_gets_no_more_replications() -> None:
    sample = crn_sampler([10.0, 0.0, 9.5], 1.0, 0.5, np.random.default_rng(3))
    asked: list[tuple[list[int], int, int]] = []

    def recording(systems, start, stop):
        asked.append((list(systems), start, stop))
        return sample(systems, start, stop)

    selection = kn_select(recording, 3, delta=0.2, first_stage=10, batch=1)
    assert selection.best == 0
    assert selection.eliminated_at[1] == 10  # ten standard deviations behind: out after the first stage
    assert all(1 not in systems for systems, start, _stop in asked if start >= 10)
    assert selection.replications[1] == 10
    assert selection.replications[0] == selection.replications[2] == selection.eliminated_at[2]


def test_kn_stops_at_max_runs_without_the_guarantee_and_says_so() -> None:
    sample = crn_sampler([0.0, 0.0, 0.0], 5.0, 0.2, np.random.default_rng(5))
    selection = kn_select(sample, 3, delta=0.01, first_stage=10, max_runs=30)
    assert selection.stopped == "max_runs"
    assert selection.replications == (30, 30, 30)
    assert selection.eliminated_at == (None, None, None)


def test_identical_policies_end_at_once_with_the_first() -> None:
    selection = kn_select(lambda systems, a, b: np.tile(np.arange(a, b, dtype=float), (len(systems), 1)), 3,
                          delta=1.0, first_stage=5)
    assert (selection.best, selection.stopped, selection.stages) == (0, "selected", 5)


def test_kn_constants_match_kim_and_nelson() -> None:
    eta, h2 = kn_constants(k=2, confidence=0.95, first_stage=10)
    assert eta == pytest.approx(0.5 * (0.1 ** (-2 / 9) - 1))
    assert h2 == pytest.approx(2 * eta * 9)


def test_fixed_sample_size_is_the_bonferroni_paired_design() -> None:
    first = np.vstack([np.zeros(20), np.linspace(-1, 1, 20) * 10])
    from scipy import stats

    s2 = np.var(first[0] - first[1], ddof=1)
    expected = int(np.ceil(stats.t.ppf(0.95, 19) ** 2 * s2))
    assert fixed_sample_size(first, 1.0, 0.95) == expected


@pytest.mark.parametrize(("option", "value", "message"), [
    ("delta", 0.0, "--delta: must be a finite number > 0"),
    ("confidence", 1.0, "--confidence: must be between"),
    ("first_stage", 1, "--first-stage: must be at least 2"),
    ("max_runs", 3, "--max-runs: must be at least --first-stage"),
])
def test_bad_parameters_are_one_line_errors(option: str, value: float, message: str) -> None:
    options = {"delta": 1.0, "first_stage": 5, option: value}
    with pytest.raises(InputError, match=message):
        kn_select(lambda s, a, b: np.zeros((len(s), b - a)), 3, **options)


def test_a_nan_observation_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not a number in replication"):
        kn_select(lambda s, a, b: np.full((len(s), b - a), np.nan), 2, delta=1.0, first_stage=3)


# --------------------------------------------------------------------------- on the simulator

EXPERIMENT = """
scenario: {bni}
overrides: {{years: 1}}
policies:
  bni: {{}}
  open: {{club.composition.policy: open}}
  no_selection: {{club.selection.policy: none}}
metrics: [business_per_member_year, members_final]
key_metric: {key}
key_metric_direction: {direction}
max_runs: 14
seed: 7
"""


@pytest.fixture(autouse=True)
def _kernels(request: pytest.FixtureRequest) -> None:
    if "tmp_path" in request.fixturenames:
        request.getfixturevalue("numba_ready")


def experiment_file(tmp_path: Path, key: str = "members_final", direction: str = "max") -> Path:
    path = tmp_path / f"select-{key}-{direction}.yaml"
    path.write_text(EXPERIMENT.format(bni=BNI, key=key, direction=direction), encoding="utf-8")
    return path


def test_key_metric_direction_is_read_and_checked(tmp_path: Path) -> None:
    assert load_experiment(experiment_file(tmp_path, direction="min")).key_metric_direction == "min"
    assert load_experiment(experiment_file(tmp_path)).key_metric_direction == "max"
    with pytest.raises(InputError, match="key_metric_direction"):
        load_experiment(experiment_file(tmp_path, direction="up"))


def test_select_best_writes_the_replications_it_used_and_selection_json(tmp_path: Path) -> None:
    result = select_best(experiment_file(tmp_path), delta=1.0, first_stage=5, workers=1, out=tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert set(summary) >= {"best", "confidence", "delta", "replications", "eliminated_at"}
    assert summary["best"] == result.best
    assert summary["confidence"] == 0.95 and summary["delta"] == 1.0
    table = pq.read_table(tmp_path / "out" / "replications.parquet").to_pandas()
    assert table.groupby("policy", sort=False).size().to_dict() == summary["replications"]
    for policy, n in summary["replications"].items():
        assert sorted(table.loc[table["policy"] == policy, "replication"]) == list(range(n))
        stage = summary["eliminated_at"][policy]
        assert stage is None or stage == n
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["kind"] == "select-best" and manifest["status"] == "complete"
    assert set(manifest["files"]) == {"replications.parquet", "selection.json", "selection.csv", "manifest.json"}
    assert not (tmp_path / "out" / "parts").exists()


def test_select_best_resumes_after_an_interruption_with_the_same_files(tmp_path: Path) -> None:
    path = experiment_file(tmp_path)
    select_best(path, delta=1.0, first_stage=5, workers=1, out=tmp_path / "whole")
    with pytest.raises(ExperimentInterrupted):
        select_best(path, delta=1.0, first_stage=5, workers=1, out=tmp_path / "cut", stop_after=8)
    assert json.loads((tmp_path / "cut" / "manifest.json").read_text())["status"] == "interrupted"
    resumed = select_best(path, workers=1, out=tmp_path / "cut", resume=True)  # delta etc. from the manifest
    assert resumed.delta == 1.0
    for name in ("replications.parquet", "selection.json", "selection.csv"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_select_best_refuses_to_resume_with_fewer_max_runs_than_the_folder_holds(tmp_path: Path) -> None:
    """12 rows of 3 policies: the first stage's 2 replications each, then replications 2 and up."""
    path = experiment_file(tmp_path)
    with pytest.raises(ExperimentInterrupted):
        select_best(path, delta=0.01, first_stage=2, workers=1, out=tmp_path / "cut", stop_after=12)
    before = sorted((p.name, p.stat().st_size) for p in (tmp_path / "cut").rglob("*"))
    with pytest.raises(InputError, match=r"--max-runs: 2 is fewer than the [3-9] replications .* already holds; "
                                         r"resume with --max-runs [3-9] or more"):
        select_best(path, workers=1, out=tmp_path / "cut", resume=True, max_runs=2)
    assert sorted((p.name, p.stat().st_size) for p in (tmp_path / "cut").rglob("*")) == before  # nothing dropped
    resumed = select_best(path, workers=1, out=tmp_path / "cut", resume=True)
    assert min(resumed.selection.replications) >= 2


def test_select_best_is_byte_identical_on_the_local_pool_and_dask(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    path = experiment_file(tmp_path, key="business_per_member_year", direction="min")
    for name, backend, workers in (("local1", "local", 1), ("local2", "local", 2), ("dask", "dask", 2)):
        select_best(path, delta=2000.0, first_stage=4, batch=3, backend=backend, workers=workers,
                    out=tmp_path / name)
    for name in ("local2", "dask"):
        for file in ("replications.parquet", "selection.json", "selection.csv"):
            assert (tmp_path / name / file).read_bytes() == (tmp_path / "local1" / file).read_bytes(), (name, file)


def test_clubsim_select_best_prints_the_ranking(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["select-best", str(experiment_file(tmp_path)), "--delta", "1",
                                      "--first-stage", "5", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "selection.json").read_text())
    assert summary["best"] in result.output
    assert "replications:" in result.output and "fixed two-stage design" in result.output
    assert "eliminated" in result.output


def test_clubsim_select_best_without_delta_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["select-best", str(experiment_file(tmp_path)), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "--delta: missing" in result.output


def test_selection_record_is_plain_data() -> None:
    selection = Selection(best=0, eliminated_at=(None, 20), replications=(25, 20), means=(1.0, 0.0),
                          stopped="selected", stages=25, h2=8.0, fixed_n=40)
    assert selection.total_replications == 45


@pytest.mark.parametrize(("options", "message"), [({"delta": -1.0}, "--delta"), ({"delta": 1.0, "confidence": 1.0},
                                                                                 "--confidence"),
                                                  ({"delta": 1.0, "first_stage": 1}, "--first-stage"), ({}, "--delta")])
def test_bad_parameters_are_refused_before_the_output_folder_is_made(tmp_path: Path, options, message) -> None:
    # the folder was made, and left empty, before the procedure's parameters were checked
    out = tmp_path / "results" / "select"
    with pytest.raises(InputError, match=message):
        select_best(experiment_file(tmp_path), workers=1, out=out, **options)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(("options", "message"), [
    ({"first_stage": 50}, "--first-stage: 50 is more than the most replications a policy may take, 14 (max_runs of "),
    ({}, "--first-stage: the default, 20, is more than the most replications a policy may take, 14 (max_runs of "),
    ({"first_stage": 50, "max_runs": 10}, "--max-runs: must be at least --first-stage (50), got 10"),
])
def test_a_first_stage_beyond_the_files_max_runs_blames_the_first_stage(tmp_path: Path, options: dict,
                                                                       message: str) -> None:
    # it said "--max-runs: must be at least --first-stage (50), got 14", of an option the user never gave
    with pytest.raises(InputError) as caught:
        select_best(experiment_file(tmp_path), delta=1.0, workers=1, out=tmp_path / "never", **options)
    assert str(caught.value).startswith(message)
    assert not (tmp_path / "never").exists()
