"""Random streams and uniform draws in the kernels: numpy's PCG64 step compiled into the kernel.

The kernels draw from the streams described below; `uniform` also takes a numpy Generator (tests,
tools). On a Generator, `uniform(rng)` is `rng.random()`, number for number. Numba's `Generator.random` calls numpy's
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

Random streams. The kernels draw from *streams*, not from one generator: a stream is a row of
four uint64 words holding a PCG64 state and increment as two native 128-bit integers, and each
club has one stream per random process (`layout.CLUB_STREAMS`: attendance, one-to-ones,
visitors, candidates, needs, hunting, decisions, screening, second circle), a region one per
region-level process (`layout.REGION_STREAMS`). A stream starts at a *key*, (root, club,
process, week, index), hashed with SplitMix64 into its words (`stream_words`, and `rekey` in the
kernels): any stream of any week is found without drawing the ones before it. Each week every
process of a club restarts at its key for that week (`sim.kernels.week.restart_streams`), so two
policies run on one seed draw each process's numbers in step again every week, however far their
clubs diverged (common random numbers, Law, *Simulation Modeling and Analysis*, ch. 11), and a
region's clubs can run on separate threads with results that do not depend on the thread count.
`uniform(stream)` gives the numbers of numpy's `Generator.random()` on the same state
(`stream_generator`, which the reference engine draws from); the non-uniform draws built on it
are `sim.kernels.distributions`.
"""

import ctypes
import sys

import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic, overload, register_jitable

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


STREAM_WORDS = 4  # a stream's uint64 words: PCG64's state, then its increment, each a native 128-bit integer
REGION_KEY = 2**32  # the `club` of a region's own streams, beyond any club's index
FOUNDING = 2**32 - 1  # the `week` key of the streams before week 0 (the founders are drawn then)

_M64 = (1 << 64) - 1
_GOLDEN, _MIX1, _MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _splitmix(x: int) -> int:
    """SplitMix64's output function (Steele, Lea & Flood 2014) of x + the golden gamma, on Python integers."""
    z = (x + _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * _MIX1) & _M64
    z = ((z ^ (z >> 27)) * _MIX2) & _M64
    return z ^ (z >> 31)


def stream_words(root: int, club: int, process: int, week: int, index: int = 0) -> tuple[int, int, int, int]:
    """The four words of the stream of `process` in `club`, keyed on (week, index): a SplitMix64 hash of the
    key, so that any stream of any week is found without drawing the ones before it. `rekey` computes the
    same in the kernels."""
    x = _splitmix(_splitmix(_splitmix(root) ^ club) ^ ((week * _GOLDEN) & _M64)) ^ ((index * _MIX2) & _M64) \
        ^ ((process * _MIX1) & _M64)
    x = _splitmix(x)
    return (_splitmix(x), _splitmix((x + 1) & _M64), _splitmix((x + 2) & _M64) | 1, _splitmix((x + 3) & _M64))


def make_streams(root: int, club: int, count: int, week: int = FOUNDING) -> np.ndarray:
    """uint64[count, STREAM_WORDS]: the streams of processes 0..count-1 of `club`, keyed on `week`."""
    return np.array([stream_words(root, club, k, week) for k in range(count)], dtype=np.uint64)


def stream_generator(root: int, club: int, process: int, week: int = FOUNDING, index: int = 0
                     ) -> np.random.Generator:
    """A numpy Generator whose `random()` gives the numbers `uniform` draws from that stream (the reference
    engine's draws; `rekey_generator` moves it to another key)."""
    generator = np.random.Generator(np.random.PCG64(0))
    return rekey_generator(generator, root, club, process, week, index)


def rekey_generator(generator: np.random.Generator, root: int, club: int, process: int, week: int,
                    index: int = 0) -> np.random.Generator:
    """`generator` set to the start of stream (club, process) keyed on (week, index), as `rekey` does."""
    words = np.array(stream_words(root, club, process, week, index), dtype=np.uint64).tobytes()
    generator.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": int.from_bytes(words[:16], sys.byteorder), "inc": int.from_bytes(words[16:], sys.byteorder)},
        "has_uint32": 0,
        "uinteger": 0,
    }
    return generator


def rekey(streams, key, process, week, index):
    """Stream `process` of `streams` (the club or region `key` = (root, club)) set to its start for (week,
    index): `stream_words` in the kernels."""
    words = stream_words(int(key[0]), int(key[1]), int(process), int(week), int(index))
    streams[process] = np.array(words, dtype=np.uint64)


_U_GOLDEN, _U_MIX1, _U_MIX2 = np.uint64(_GOLDEN), np.uint64(_MIX1), np.uint64(_MIX2)


@register_jitable
def _splitmix_jit(x):
    z = x + _U_GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _U_MIX1
    z = (z ^ (z >> np.uint64(27))) * _U_MIX2
    return z ^ (z >> np.uint64(31))


@overload(rekey, inline="always")
def _rekey_jit(streams, key, process, week, index):
    def rekey_impl(streams, key, process, week, index):
        x = _splitmix_jit(_splitmix_jit(_splitmix_jit(key[0]) ^ key[1]) ^ (np.uint64(week) * _U_GOLDEN)) \
            ^ (np.uint64(index) * _U_MIX2) ^ (np.uint64(process) * _U_MIX1)
        x = _splitmix_jit(x)
        streams[process, 0] = _splitmix_jit(x)
        streams[process, 1] = _splitmix_jit(x + np.uint64(1))
        streams[process, 2] = _splitmix_jit(x + np.uint64(2)) | np.uint64(1)
        streams[process, 3] = _splitmix_jit(x + np.uint64(3))

    return rekey_impl


def stream_key(root: int, club: int) -> np.ndarray:
    """uint64[2]: what `rekey` needs to find a club's (or, with REGION_KEY, a region's) streams."""
    return np.array([root, club], dtype=np.uint64)


def root_seed(rng: np.random.Generator) -> int:
    """The root of a run's streams, drawn from its generator: a run stays a pure function of its seed."""
    return int(require_pcg64(rng).integers(2**63))


_MASK_128 = (1 << 128) - 1


def _stream_next_double(stream: np.ndarray) -> float:
    """`uniform` on a stream in plain Python (NUMBA_DISABLE_JIT=1): the same step on Python integers."""
    raw = stream.tobytes()
    state, increment = int.from_bytes(raw[:16], sys.byteorder), int.from_bytes(raw[16:32], sys.byteorder)
    state = (state * PCG64_MULTIPLIER + increment) & _MASK_128
    stream[:2] = np.frombuffer(state.to_bytes(16, sys.byteorder), dtype=np.uint64)
    high, low = state >> 64, state & 0xFFFFFFFFFFFFFFFF
    mixed, rotation = high ^ low, high >> 58
    output = ((mixed >> rotation) | (mixed << (64 - rotation))) & 0xFFFFFFFFFFFFFFFF
    return (output >> 11) * (1.0 / 9007199254740992.0)


def uniform(rng):
    """U[0, 1): the next number of a stream (`make_streams`' rows), or of a Generator's rng.random()."""
    if isinstance(rng, np.ndarray):
        return _stream_next_double(rng)
    return rng.random()


def _pcg64_step_and_output(builder, lcg):
    """pcg64_next_double of numpy's pcg64.h at `lcg` (a pointer to {state, inc} as i128): state = state x M +
    inc, then the top 53 bits of rotr64(high ^ low, high >> 58), scaled to [0, 1)."""
    i64, i128 = ir.IntType(64), ir.IntType(128)
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


def _is_stream(typ) -> bool:
    return isinstance(typ, types.Array) and typ.dtype == types.uint64 and typ.ndim == 1


@intrinsic
def _stream_next_double_jit(typingctx, stream):
    """The PCG64 step on a stream's own words (a uint64 row: state, increment)."""
    if not _is_stream(stream):
        return None

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, value=args[0])
        return _pcg64_step_and_output(builder, builder.bitcast(array.data, ir.IntType(128).as_pointer()))

    return types.float64(stream), codegen


@intrinsic
def _pcg64_next_double(typingctx, rng):
    """The PCG64 step on a numpy Generator's state, in numpy's memory."""
    if not isinstance(rng, types.NumPyRandomGeneratorType):
        return None

    def codegen(context, builder, signature, args):
        generator = cgutils.create_struct_proxy(signature.args[0])(context, builder, value=args[0])
        bit_generator = cgutils.create_struct_proxy(_BIT_GENERATOR)(context, builder, value=generator.bit_generator)
        i128 = ir.IntType(128)
        # bitgen_t.state points at numpy's pcg64_state, whose first field points at {state, inc}
        pcg64_state = builder.inttoptr(bit_generator.state, i128.as_pointer().as_pointer())
        return _pcg64_step_and_output(builder, builder.load(pcg64_state))

    return types.float64(rng), codegen


@overload(uniform, inline="always")
def _uniform_jit(rng):
    if _is_stream(rng):
        return lambda rng: _stream_next_double_jit(rng)
    if not isinstance(rng, types.NumPyRandomGeneratorType):
        return None
    if INLINE_PCG64:
        return lambda rng: _pcg64_next_double(rng)
    return lambda rng: rng.random()
