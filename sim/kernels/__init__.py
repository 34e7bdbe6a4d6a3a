"""The numba kernels of the weekly process, one module per phase of docs/ODD.md.

Kernels are small pure functions over the arrays of `sim.model.state`, indexed as `layout` says; they draw from
the club's random streams (`draws`), held in its arrays, so a run stays a pure function of (scenario, seed).
`week.run_weeks` chains the phases for the Monte Carlo fast
path; `sim.model.club.ClubModel.step` calls the same phases one by one.

Numba's on-disk cache (`cache=True`) is invalidated only when a function's own
file changes, not when a kernel it calls (in another file) does: a stale
`run_weeks` would silently run old phase code. So the cache lives in a folder
named after a hash of numpy's version and every kernel source, unless NUMBA_CACHE_DIR is set.
"""

import hashlib
import os
from pathlib import Path

import numba
import numpy

from sim.kernels import inline_copy


def _kernel_cache_dir() -> Path:
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256(numpy.__version__.encode())  # numba's draws, and `draws.INLINE_PCG64`, follow numpy
    for source in sorted(package.glob("*.py")):  # layout.py too: its codes are frozen into the kernels
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "clubsim" / f"numba-{numba.__version__}-{digest.hexdigest()[:16]}"


inline_copy.install()  # a cold compile a third shorter, the same machine code

if not os.environ.get("NUMBA_CACHE_DIR"):
    numba.config.CACHE_DIR = str(_kernel_cache_dir())

# A phase kernel is called from Python (ClubEngine, ClubModel.step) and from the week; a helper
# only from other kernels, so it needs no CPython wrapper: skipping the wrapper's unboxing of the
# large state tuples halves its compile time. Calling a function that takes the state tuples costs
# an atomic reference-count update per array they hold, on entry and exit (~90 a call), so phase
# kernels, their steps (the meeting's, the rules'), the small helpers called from loops and the
# region's functions that take its tuple (`inlined`) are inlined into their callers in numba's IR;
# kernels still callable from Python keep their own entry point. The per-need helpers of the
# referral loop stay `helper` (inlined, they ran slower: docs/performance.md, "Tried, not kept"), except
# those that LLVM leaves out of line with arrays among their arguments (`image_factor`, `choose_receiver`,
# the region's `draw_bridged_need`): such a call counts a reference to each array, in and out.
# The fast paths (`run_weeks`, `run_region_weeks`) are `entry` kernels: they borrow the state
# (`borrowed.py`), so that LLVM drops those updates from the inlined week, and are never inlined,
# since a jitted caller's temporary arguments would be freed once borrowed (the region's `phase`
# kernels borrow likewise). Under NUMBA_DISABLE_JIT=1 all four are plain Python functions.
# error_model="numpy": a division by zero gives inf or nan, as in numpy, instead of a test and a raise at
# every division and modulo; the kernels guard their own divisions, and the tests' branches and exception
# paths cost about 4 % of a chapter's run (docs/performance.md, stop 33).
kernel = numba.njit(cache=True, error_model="numpy", inline="always")
helper = numba.njit(cache=True, error_model="numpy", no_cpython_wrapper=True, no_cfunc_wrapper=True)
inlined = numba.njit(cache=True, error_model="numpy", inline="always", no_cpython_wrapper=True, no_cfunc_wrapper=True)
entry = numba.njit(cache=True, error_model="numpy")
