"""`sim.kernels.inline_copy`: numba's inliner, patched to copy an inlined function's blocks with one scope,
builds the same machine code as numba's own, and the package installs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SNIPPET = """
import hashlib, json
import numba
import numpy as np
from sim.kernels import inline_copy  # the package's import installs the patch

@numba.njit(inline="always")
def step(x, n):
    total = 0.0
    for i in range(n):
        if x[i] > 0:
            total += x[i]
        else:
            total -= 2.0 * x[i]
    return total

@numba.njit(inline="always")
def twice(x):
    return step(x, len(x)) + step(x[::-1], len(x) // 2)

@numba.njit
def outer(x):
    return twice(x) - twice(x[1:])

value = outer(np.arange(7.0) - 3.0)
asm = outer.inspect_asm(outer.signatures[0])
print(json.dumps({"installed": inline_copy.installed(), "value": value,
                  "asm": hashlib.sha256(asm.encode()).hexdigest()}))
"""


def compiled(plain: bool) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "CLUBSIM_NUMBA_PLAIN_INLINE"}
    if plain:
        env["CLUBSIM_NUMBA_PLAIN_INLINE"] = "1"
    done = subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_patched_inliner_builds_numbas_machine_code() -> None:
    patched, plain = compiled(plain=False), compiled(plain=True)
    assert patched["installed"] and not plain["installed"]
    assert patched["value"] == plain["value"] == 6.0
    assert patched["asm"] == plain["asm"]


@pytest.mark.skipif(os.environ.get("CLUBSIM_NUMBA_PLAIN_INLINE") == "1", reason="numba's own inliner asked for")
def test_the_copy_shares_one_scope_between_a_functions_blocks() -> None:
    import copy

    from numba.core import inline_closurecall, ir

    from sim.kernels import inline_copy

    assert inline_copy.installed()
    scope = ir.Scope(None, ir.Loc("f", 1))
    blocks = []
    for line in range(3):
        block = ir.Block(scope, ir.Loc("f", line))
        target = scope.define(f"v{line}", ir.Loc("f", line))
        block.append(ir.Assign(ir.Const(line, ir.Loc("f", line)), target, ir.Loc("f", line)))
        blocks.append(block)

    def copy_blocks() -> list:
        return [inline_closurecall.copy.deepcopy(block) for block in blocks]

    separate = copy_blocks()  # outside an inlining: numba's copy, a scope per block
    assert separate[0].scope is not separate[1].scope
    shared = inline_copy._sharing_scopes(lambda: copy_blocks())()
    assert shared[0].scope is shared[1].scope is shared[2].scope is not scope
    assert [b.body[0].target.name for b in shared] == ["v0", "v1", "v2"]
    assert [b.body[0].target.scope for b in shared] == [shared[0].scope] * 3
    assert copy.deepcopy is not inline_closurecall.copy.deepcopy
