"""The Python API where users write code: scripts without a `__main__` guard, `python -c`, `python -m`.

The local pool's workers, and those of the local Dask cluster clubsim starts (restarted ones too), are spawned
without re-running the caller's `__main__` (they only run `sim.*` functions), so an unguarded script that
compares policies runs, and runs its own top-level code once. A process that is itself a starting worker of
a pool that does re-run the script gets clubsim's one-line error naming the guard.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sim.errors import InputError
from sim.experiments.backends import GUARD_HINT, run_tasks, shutdown_pool

ROOT = Path(__file__).resolve().parent.parent

UNGUARDED = textwrap.dedent("""\
    from pathlib import Path
    from sim import compare, load_experiment

    Path("{marker}").open("a").write("ran\\n")          # top-level code: must run once, not once per worker
    experiment = load_experiment("{root}/experiments/exclusivity_vs_complementarity.yaml", {{"years": 1}})
    res = compare(experiment, runs=6, workers=2)
    print("replications", len(res.replications))
""")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("how", ["script", "-c", "-m"])
def test_unguarded_code_runs_a_comparison_on_the_local_pool(tmp_path: Path, how: str, numba_ready: None) -> None:
    marker = tmp_path / "marker.txt"
    code = UNGUARDED.format(marker=marker, root=ROOT)
    (tmp_path / "unguarded.py").write_text(code, encoding="utf-8")
    args = {"script": ["unguarded.py"], "-c": ["-c", code], "-m": ["-m", "unguarded"]}[how]
    done = _run(args, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "replications 18" in done.stdout
    assert "bootstrapping" not in done.stderr and "Traceback" not in done.stderr
    assert marker.read_text() == "ran\n"


def test_a_starting_worker_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The script re-run by another pool's worker (its `__mp_main__`) asks clubsim for workers."""
    shutdown_pool()  # a starting worker has no pool of its own yet (an earlier test's is kept for reuse)
    monkeypatch.setattr(multiprocessing.current_process(), "_inheriting", True, raising=False)
    with pytest.raises(InputError) as caught:
        run_tasks(list(range(4)), abs, workers=2, on_result=lambda _: None)
    assert GUARD_HINT in str(caught.value) and "\n" not in str(caught.value)
    assert 'if __name__ == "__main__":' in str(caught.value)


def test_unguarded_code_runs_a_comparison_on_a_local_dask_cluster(tmp_path: Path, numba_ready: None) -> None:
    # a local Dask cluster's workers re-ran the script: each asked for workers in turn, and some 120-330 lines of
    # Dask errors ended in "Nanny failed to start", exit 1; they are spawned without its `__main__` now
    pytest.importorskip("distributed")
    marker = tmp_path / "marker.txt"
    code = UNGUARDED.format(marker=marker, root=ROOT).replace("workers=2)", 'workers=2, backend="dask")')
    (tmp_path / "unguarded.py").write_text(code, encoding="utf-8")
    done = _run(["unguarded.py"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "replications 18" in done.stdout and "Traceback" not in done.stderr
    assert marker.read_text() == "ran\n"


RESTARTED = textwrap.dedent("""\
    import sys
    from pathlib import Path
    sys.path.insert(0, "{root}/tests")
    from naps import die_once
    from sim.experiments.backends import run_tasks

    Path("{marker}").open("a").write("ran\\n")          # top-level code: must run once, not once per worker
    results = []
    run_tasks([("{folder}", i) for i in range(4)], die_once, backend="dask", workers=1, on_result=results.append)
    print("results", sorted(results))
""")


def test_unguarded_code_survives_a_dask_worker_restarted_mid_run(tmp_path: Path, numba_ready: None) -> None:
    """The nanny spawns a new worker after the first dies: it must not re-run the script either (it did, and
    the restarted worker asked for workers in turn)."""
    pytest.importorskip("distributed")
    marker = tmp_path / "marker.txt"
    code = RESTARTED.format(root=ROOT, marker=marker, folder=tmp_path)
    (tmp_path / "restarted.py").write_text(code, encoding="utf-8")
    done = _run(["restarted.py"], tmp_path)
    assert (tmp_path / "died").exists()  # a worker did die mid-run, and was restarted
    assert done.returncode == 0, done.stderr[-3000:]
    assert "results [0, 1, 2, 3]" in done.stdout and "Traceback" not in done.stderr
    assert marker.read_text() == "ran\n"
