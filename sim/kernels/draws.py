"""Uniform draws in the kernels: numpy's PCG64 step compiled into the kernel, the same stream.

`uniform(rng)` is `rng.random()`, number for number. Numba's `Generator.random` calls numpy's
PCG64 through a function pointer (5.7 ns a draw here); `uniform` does the same 128-bit LCG step
and XSL-RR output inline, on the same state in numpy's memory (2 ns). Both read and write that
one state, so `uniform`, numba's other draws (`standard_normal`, `poisson`, ...) and numpy's own
interleave exactly as when the kernels called `rng.random()`: results do not change
(tests/test_kernels.py checks the stream).

The inline step reads numpy's PCG64 state as a native 128-bit integer. With any other bit
generator it would read and write the wrong memory, so the engines take only PCG64 generators
(`np.random.default_rng`'s) and check with `require_pcg64`. A numpy built without native
128-bit integers (MSVC) keeps the state as two 64-bit halves, high first; there, `uniform` is
numba's `rng.random()` (`INLINE_PCG64` is False). Under NUMBA_DISABLE_JIT=1, `uniform` is
plain `rng.random()`.

The intrinsic uses numba's data model of a Generator (its `bit_generator` struct and that
struct's `state` field), which is numba's internal layout: the stream test catches a change.
"""

import ctypes
import sys

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic, overload

# numpy/random/src/pcg64/pcg64.h: PCG_DEFAULT_MULTIPLIER_HIGH, _LOW
PCG64_MULTIPLIER = (2549297995355413924 << 64) + 4865540595714422341
_BIT_GENERATOR = types.NumPyRandomBitGeneratorType("bit_generator")


def native_state_layout(raw: bytes, state: int, increment: int, byteorder: str = sys.byteorder) -> bool:
    """Whether numpy's 32 bytes of PCG64 state `raw` are (state, inc) as native 128-bit integers."""
    return (int.from_bytes(raw[:16], byteorder), int.from_bytes(raw[16:32], byteorder)) == (state, increment)


def _numpy_keeps_native_pcg64_state() -> bool:
    """Read a fresh PCG64's state from memory (through numpy's pcg64_state, whose first field points
    at {state, inc}) and compare it with the state numpy reports."""
    bit_generator = np.random.PCG64(12345)
    lcg = ctypes.c_void_p.from_address(bit_generator.ctypes.state_address).value
    reported = bit_generator.state["state"]
    return native_state_layout(ctypes.string_at(lcg, 32), reported["state"], reported["inc"])


INLINE_PCG64 = _numpy_keeps_native_pcg64_state()


def require_pcg64(rng: np.random.Generator) -> np.random.Generator:
    """The generator itself, if the kernels can draw from it (its bit generator is PCG64)."""
    if not isinstance(rng, np.random.Generator) or type(rng.bit_generator) is not np.random.PCG64:
        raise TypeError(f"the kernels draw from a PCG64 generator (np.random.default_rng(seed)), not {rng!r}")
    return rng


def uniform(rng):
    """U[0, 1): the next number of rng.random()."""
    return rng.random()


@intrinsic
def _pcg64_next_double(typingctx, rng):
    """pcg64_next_double of numpy's pcg64.h on the generator's state: state = state x M + inc,
    then the top 53 bits of rotr64(high ^ low, high >> 58), scaled to [0, 1)."""
    if not isinstance(rng, types.NumPyRandomGeneratorType):
        return None

    def codegen(context, builder, signature, args):
        generator = cgutils.create_struct_proxy(signature.args[0])(context, builder, value=args[0])
        bit_generator = cgutils.create_struct_proxy(_BIT_GENERATOR)(context, builder, value=generator.bit_generator)
        i64, i128 = ir.IntType(64), ir.IntType(128)
        # bitgen_t.state points at numpy's pcg64_state, whose first field points at {state, inc}
        pcg64_state = builder.inttoptr(bit_generator.state, i128.as_pointer().as_pointer())
        lcg = builder.load(pcg64_state)
        state = builder.load(lcg, align=8)
        increment = builder.load(builder.gep(lcg, [ir.Constant(ir.IntType(32), 1)]), align=8)
        state = builder.add(builder.mul(state, ir.Constant(i128, PCG64_MULTIPLIER)), increment)
        builder.store(state, lcg, align=8)
        high = builder.trunc(builder.lshr(state, ir.Constant(i128, 64)), i64)
        mixed = builder.xor(high, builder.trunc(state, i64))
        rotate_right = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [i64, i64, i64]),
                                                      "llvm.fshr.i64")
        output = builder.call(rotate_right, [mixed, mixed, builder.lshr(high, ir.Constant(i64, 58))])
        top53 = builder.uitofp(builder.lshr(output, ir.Constant(i64, 11)), ir.DoubleType())
        return builder.fmul(top53, ir.Constant(ir.DoubleType(), 1.0 / 9007199254740992.0))

    return types.float64(rng), codegen


@overload(uniform, inline="always")
def _uniform_jit(rng):
    if not isinstance(rng, types.NumPyRandomGeneratorType):
        return None
    if INLINE_PCG64:
        return lambda rng: _pcg64_next_double(rng)
    return lambda rng: rng.random()
