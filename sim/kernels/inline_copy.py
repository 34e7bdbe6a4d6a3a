"""A faster copy of a function's IR when numba inlines it (`inline="always"`), without changing what it builds.

Numba's inliner (`numba.core.inline_closurecall.InlineWorker.inline_ir`) copies the callee's IR block by
block, each with `copy.deepcopy` and a memo of its own. Every variable refers to the function's one scope, and
the scope holds every variable, so each block's copy copies the whole scope again: the time grows with
blocks × variables, and a phase kernel that has already inlined its steps has hundreds of each. That copying
was over a third of a cold compile of the chapter's week (docs/performance.md).

Here the blocks of one function are copied with one memo, within one `inline_ir` call: the copy has one
scope, shared by its blocks as in the function copied. Numba's own code is not changed: its module's `copy`
name is given an object that passes everything to `copy` and only adds the memo when an `ir.Block` is copied
during `inline_ir`. Numba's lowering, types and the machine code are the same (the tests run the kernels with
and without it, and their results are compared to the byte). CLUBSIM_NUMBA_PLAIN_INLINE=1 leaves numba as
it is.
"""

import copy
import os
import threading
from functools import wraps
from types import ModuleType
from typing import Any

from numba.core import inline_closurecall, ir

DISABLE_ENV = "CLUBSIM_NUMBA_PLAIN_INLINE"
_state = threading.local()  # the memos of the `inline_ir` call under way on this thread, by scope


class _CopyWithSharedScope(ModuleType):
    """The `copy` module, as numba's inliner sees it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None, _nil: Any = None) -> Any:
        memos = getattr(_state, "memos", None)
        if memo is None and memos is not None and isinstance(value, ir.Block):
            memo = memos.setdefault(id(value.scope), {})  # blocks of one function: one copy of its scope
        return copy.deepcopy(value, memo)


def _sharing_scopes(inline_ir: Any) -> Any:
    @wraps(inline_ir)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        outer = getattr(_state, "memos", None)
        _state.memos = {}  # a fresh copy at each call site: nothing is shared between two inlinings
        try:
            return inline_ir(*args, **kwargs)
        finally:
            _state.memos = outer

    wrapper.__clubsim_shared_scope__ = True
    return wrapper


def install() -> bool:
    """Patch numba's inliner once per process (unless CLUBSIM_NUMBA_PLAIN_INLINE=1, or numba's inliner is not
    laid out as expected, when numba stays as it is); whether the patch is in place."""
    worker = getattr(inline_closurecall, "InlineWorker", None)
    method = getattr(worker, "inline_ir", None)
    if method is None or getattr(inline_closurecall, "copy", None) is not copy:  # patched already, or unknown
        return installed()
    if os.environ.get(DISABLE_ENV) == "1":
        return False
    inline_closurecall.copy = _CopyWithSharedScope("copy")
    worker.inline_ir = _sharing_scopes(method)
    return True


def installed() -> bool:
    """Whether numba's inliner copies with shared scopes in this process."""
    worker = getattr(inline_closurecall, "InlineWorker", None)
    return getattr(getattr(worker, "inline_ir", None), "__clubsim_shared_scope__", False)
