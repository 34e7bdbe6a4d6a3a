"""Every Python block of README.md and docs/clients.md runs, as a script, as users run it.

Each ```python block is written to its own .py file and run with this interpreter in a scratch
folder that holds links to `scenarios/` and `experiments/`, so relative paths work as from the
repository's root and nothing the examples write (results/...) lands in the repository. Blocks
are run as they are shown (no `__main__` guard is added), except that docs/clients.md's EMA
Workbench example runs fewer, shorter experiments, and the README's Mesa model fewer years (SHRINK).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ("README.md", "docs/clients.md")
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
# (document, text shown) -> what the test runs instead
SHRINK = {("docs/clients.md", "N_SCENARIOS, N_POLICIES, YEARS = 100, 4, 10"):
          "N_SCENARIOS, N_POLICIES, YEARS = 16, 2, 3",
          # the Mesa model, stepped week by week with an agent per member: 2 years show it as well as 10
          ("README.md", '{"club.fees.annual": 1500})'): '{"club.fees.annual": 1500, "years": 2})'}
TIMEOUT = 600


def python_blocks(document: str) -> list[tuple[int, str]]:
    """(first line, code) of each ```python block."""
    text = (ROOT / document).read_text(encoding="utf-8")
    return [(text[:match.start()].count("\n") + 2, match.group(1)) for match in FENCE.finditer(text)]


BLOCKS = [(document, line, code) for document in DOCUMENTS for line, code in python_blocks(document)]


def test_the_documents_have_python_blocks() -> None:
    assert {document for document, _, _ in BLOCKS} == set(DOCUMENTS)
    for (document, shown) in SHRINK:  # what the test shrinks is still what the document shows
        assert any(shown in code for where, _, code in BLOCKS if where == document), shown


@pytest.mark.parametrize(("document", "line", "code"), BLOCKS,
                         ids=[f"{document}:{line}" for document, line, _ in BLOCKS])
def test_python_block_runs_as_a_script(document: str, line: int, code: str, tmp_path: Path,
                                       numba_ready: None) -> None:
    for (where, shown), run in SHRINK.items():
        if where == document and shown in code:
            code = code.replace(shown, run)
    work = tmp_path / "work"
    work.mkdir()
    for folder in ("scenarios", "experiments"):
        (work / folder).symlink_to(ROOT / folder, target_is_directory=True)
    script = tmp_path / f"block_{line}.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True, text=True,
                          timeout=TIMEOUT, env=env)
    assert done.returncode == 0, f"{document} line {line}:\n{done.stderr[-4000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
