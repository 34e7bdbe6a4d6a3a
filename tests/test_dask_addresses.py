"""Dask scheduler addresses (issue 17, item 14): one that clubsim cannot use is one line, exit 2.

Reproduces a failure of the code before the fix: `tls://` and `inproc://` addresses ended in exit 1
with Dask's raw errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.interfaces.cli import app

pytest.importorskip("distributed")

BNI = Path(__file__).resolve().parent.parent / "scenarios" / "bni_chapter.yaml"


@pytest.mark.parametrize("address", ["tls://127.0.0.1:8786", "inproc://127.0.0.1/1/1", "ws://127.0.0.1:8786"])
def test_a_scheduler_address_of_another_protocol_is_one_line(tmp_path, address):
    result = CliRunner().invoke(app, ["compare", str(BNI), "--set", "years=1", "--runs", "2", "--scheduler", address,
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.splitlines()
    assert lines == [f"clubsim: error: --scheduler: {address}: {address.split(':')[0]}:// addresses are not "
                     "supported: give the scheduler's tcp://host:port address"]
    assert not (tmp_path / "o").exists()
