"""Borrowed state: the run's arrays as seen by the kernels, without reference counting.

Numba counts the references to every array (and to the generator) with an atomic operation
each time a kernel binds it: an inlined phase that takes a state tuple counts every array the
tuple holds, on entry and again on exit. A chapter's week made about 1,100 such updates, a
sixth of its run time (docs/performance.md). `borrowed(value)` returns the same value with the
reference count's owner (`meminfo`) and the Python parent of each array, and of the generator,
set to null: numba skips a null owner, and where LLVM sees the null as a constant (in the
inlined week) it removes the updates altogether. The data, shapes and strides are untouched,
so every read and write goes to the caller's arrays, and the generator draws from the
caller's state.

This is safe because a borrowed value never outlives the call that made it: the caller (the
engine in Python) holds every array and the generator for the whole call, and the kernels
neither return a borrowed value nor store it anywhere. Keep it that way: a borrowed array
returned to Python would point into memory that nobody keeps alive.

Under NUMBA_DISABLE_JIT=1, `borrowed` is the identity.

Numba's inlining of IR (`inline="always"`) has miscompiled code into which a state tuple
arrives through a function (any function: a jitted identity does it too), in the region
week and with the referral helpers inlined (docs/performance.md). Borrow only where the
byte-for-byte tests cover it, and rerun them after changing what is inlined.
"""

import numba
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# the types whose data model holds a reference count's owner (`meminfo`) and a Python parent
_COUNTED = (types.Array, types.NumPyRandomGeneratorType)


def _borrow(context, builder, typ, value):
    if isinstance(typ, _COUNTED):
        struct = cgutils.create_struct_proxy(typ)(context, builder, value=value)
        struct.meminfo = cgutils.get_null_value(struct.meminfo.type)
        struct.parent = cgutils.get_null_value(struct.parent.type)
        return struct._getvalue()
    if isinstance(typ, types.BaseTuple):  # the state tuples, nested ones included
        for k, member in enumerate(typ):
            item = builder.extract_value(value, k)
            value = builder.insert_value(value, _borrow(context, builder, member, item), k)
        return value
    context.nrt.incref(builder, typ, value)  # anything else stays counted: the result is a new reference
    return value


@intrinsic
def _borrowed(typingctx, value):
    def codegen(context, builder, signature, args):
        return _borrow(context, builder, signature.args[0], args[0])

    return value(value), codegen


if numba.config.DISABLE_JIT:

    def borrowed(value):
        return value

else:
    borrowed = _borrowed
