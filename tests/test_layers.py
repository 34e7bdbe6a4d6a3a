"""The package's layers import only downward (issue 18, item 8).

errors (0) < kernels (1) < model and reference engines (2) < experiments (3) < presentation (4) < interfaces (5).
Every module under sim/ is parsed; its imports of `sim.*` anywhere in it (module level, in functions, under
TYPE_CHECKING, relative) must name its own layer or one below. The facade (`sim/__init__.py`, the documented API)
and `sim/__main__.py` sit above them all and may import anything; `from sim import __version__` is the one name
below them that others may take from the facade.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sim"

LAYERS = {
    "sim.errors": 0,
    "sim.kernels": 1,
    "sim.model": 2,
    "sim.reference": 2,
    "sim.experiments": 3,
    "sim.presentation": 4,
    "sim.interfaces": 5,
}
LAYER_NAMES = {0: "errors", 1: "kernels", 2: "model", 3: "experiments", 4: "presentation", 5: "interfaces"}
FACADE = 6  # sim/__init__.py and sim/__main__.py
FACADE_NAMES_BELOW = {"__version__"}  # a constant of the facade's own, importing nothing


def layer(module: str) -> int | None:
    """The rank of a module named `sim.<...>` (its longest known prefix); None outside the package."""
    if module == "sim" or module == "sim.__main__":
        return FACADE
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    return None


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, module) of every `sim.*` module a module's source imports, wherever the import statement is."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "sim"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x, from ..model import y
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            if source.split(".")[0] != "sim":
                continue
            if source == "sim":  # from sim import model / from sim import __version__ / from sim import compare
                for alias in node.names:
                    if alias.name in FACADE_NAMES_BELOW:
                        continue
                    child = f"sim.{alias.name}"
                    found.append((node.lineno, child if layer(child) not in (None, FACADE) else "sim"))
            else:
                found.append((node.lineno, source))
    return found


def upward_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every import in `source` (the module `module`) of a layer above the module's own, as readable lines."""
    own = layer(module)
    if own is None or own == FACADE:
        return []
    problems = []
    for line, target in imported(ast.parse(source), module, is_package):
        rank = layer(target)
        if rank is None:
            problems.append(f"{module}:{line} imports {target}, which is in no layer (add it to LAYERS)")
        elif rank > own:
            above = "the facade (sim)" if rank == FACADE else f"{LAYER_NAMES[rank]} ({rank})"
            problems.append(f"{module}:{line} imports {target}: {LAYER_NAMES[own]} ({own}) may not import {above}")
    return problems


def test_every_module_belongs_to_a_layer():
    unplaced = [module_name(path) for path in PACKAGE.rglob("*.py") if layer(module_name(path)) is None]
    assert not unplaced, f"modules in no layer (tests/test_layers.py LAYERS): {unplaced}"


def test_no_layer_imports_a_layer_above_it():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += upward_imports(path.read_text(), module_name(path), path.name == "__init__.py")
    assert not problems, "upward imports:\n" + "\n".join(problems)


@pytest.mark.parametrize(("module", "source", "culprit"), [
    ("sim.model.runner", "def f():\n    from sim.experiments.experiment import compare\n",
     "sim.experiments.experiment"),
    ("sim.experiments.experiment", "import sim.presentation.experiment_plots\n", "sim.presentation.experiment_plots"),
    ("sim.presentation.report",
     "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sim.interfaces.cli import app\n",
     "sim.interfaces.cli"),
    ("sim.kernels.week", "from sim.model.state import Club\n", "sim.model.state"),
    ("sim.experiments.selection", "from ..presentation import tables\n", "sim.presentation"),
    ("sim.experiments.calibration", "from sim import interfaces\n", "sim.interfaces"),
    ("sim.model.metrics", "from sim import compare\n", "sim"),
])
def test_the_check_catches_a_planted_upward_import(module, source, culprit):
    problems = upward_imports(source, module)
    assert len(problems) == 1 and f"imports {culprit}:" in problems[0], problems


@pytest.mark.parametrize(("module", "source"), [
    ("sim.experiments.experiment", "from sim.model.metrics import summarize\nfrom sim.errors import InputError\n"),
    ("sim.model.club", "from .engine import ClubEngine\nfrom sim.kernels.layout import HUNTER\n"),
    ("sim.reference.region", "from sim.reference.club import ReferenceClubModel\nfrom sim.model import metrics\n"),
    ("sim.presentation.plots", "from sim import __version__\n"),
    ("sim", "from sim.interfaces.cli import app\n"),
])
def test_the_check_lets_downward_and_sideways_imports_through(module, source):
    assert upward_imports(source, module) == []


# --------------------------------------------------------------------------- what a layer does

# Modules whose use means drawing figures or laying out console tables: the presentation layer's work. The
# layers below compute and write results, and take figures from above (`FigureSet`, `draw_figures=`); a rich
# progress bar (`rich.progress`, a callback of the experiments' runs) is not presentation of results.
PRESENTING = ("matplotlib", "rich.table")


def presenting_imports(source: str, module: str) -> list[str]:
    """Imports of `PRESENTING` modules in a module below the presentation layer, outside `if TYPE_CHECKING:`
    blocks (type hints draw nothing). Import statements only: `importlib.import_module("matplotlib")` or
    pandas' `DataFrame.plot()` would get past it."""
    if (layer(module) or 0) >= LAYERS["sim.presentation"]:
        return []
    tree = ast.parse(source)
    hints = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
             and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
             for statement in block.body for node in ast.walk(statement)}
    problems = []
    for node in ast.walk(tree):
        if id(node) in hints:
            continue
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
            [node.module or "", *(f"{node.module}.{alias.name}" for alias in node.names)] \
            if isinstance(node, ast.ImportFrom) and not node.level else []
        for name in names:
            if any(name == banned or name.startswith(banned + ".") for banned in PRESENTING):
                problems.append(f"{module}:{node.lineno} imports {name}: figures and tables belong to "
                                "sim.presentation")
    return problems


def test_no_layer_below_presentation_draws_figures_or_lays_out_tables():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if module_name(path) not in ("sim", "sim.__main__"):
            problems += presenting_imports(path.read_text(), module_name(path))
    assert not problems, "presentation below its layer:\n" + "\n".join(problems)


@pytest.mark.parametrize(("source", "caught"), [
    ("def f():\n    from matplotlib.figure import Figure\n    return Figure()\n", True),
    ("import matplotlib.pyplot as plt\n", True),
    ("def f():\n    from rich.table import Table\n", True),
    ("from rich import table\n", True),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from matplotlib.figure import Figure\n", False),
    ("def f():\n    from rich.progress import Progress\n", False),
])
def test_the_presentation_check_catches_a_planted_figure_or_table(source, caught):
    assert bool(presenting_imports(source, "sim.experiments.sensitivity")) is caught
    assert presenting_imports(source, "sim.presentation.plots") == []
