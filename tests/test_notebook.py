"""The notebook experiments/notebooks/policy_comparison.ipynb runs top to bottom (nbclient).

It runs in a `python3` kernel of this interpreter (the venv's): jupyter_client starts a kernel spec
whose command is `python` with sys.executable, and ipykernel installs that spec into the venv.
The executed copy is kept in memory; the committed file keeps its outputs cleared.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "experiments" / "notebooks" / "policy_comparison.ipynb"

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


@pytest.fixture(scope="module")
def notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def test_committed_notebook_has_no_outputs(notebook) -> None:
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


def test_kernel_runs_this_interpreter() -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    command = spec.argv[0]
    assert command in ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}") or \
        Path(command).resolve() == Path(sys.executable).resolve(), spec.argv


def test_notebook_executes(notebook, numba_ready) -> None:
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if a cell fails
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    images = sum("image/png" in output.get("data", {}) for cell in code for output in cell.outputs)
    assert images >= 5  # members over time, metrics, trajectories, fee income, sweep ROI
    tables = [output for cell in code for output in cell.outputs if "text/html" in output.get("data", {})]
    assert any("business_per_member_year" in output["data"]["text/html"] for output in tables)
    assert not (NOTEBOOK.parent / "results").exists()  # the API writes nothing unless asked
