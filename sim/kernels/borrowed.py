"""Borrowed state: the run's arrays as seen by the kernels, without reference counting.

Numba counts the references to every array (and to the generator) with an atomic operation
each time a kernel binds it: an inlined phase that takes a state tuple counts every array the
tuple holds, on entry and again on exit. A chapter's week made about 1,160 such calls, and
removing them cut its run by about a fifth (docs/performance.md). `borrowed(value)` returns
the same value with the reference count's owner (`meminfo`) and the Python parent of each
array, and of the generator, set to null: numba skips a null owner, and where LLVM sees the
null as a constant (in the inlined week) it removes the calls altogether. The data, shapes
and strides are untouched, so every read and write goes to the caller's arrays, and the
generator draws from the caller's state.

Rules for using it:

- Borrow only what the caller keeps alive for the whole call. The engines, in Python, hold
  every array while `run_weeks` or `run_region_weeks` runs; that is why these are `entry`
  kernels, never inlined into jitted callers, where a temporary argument would be freed
  right after it was borrowed.
- Never return a borrowed value or store it: it would point into memory nobody keeps alive.
- Bind each borrowed value on its own line (`slots = borrowed(slots)`), not by unpacking a
  tuple of them. Numba's dead-code elimination keeps a write to an array only if it knows the
  array may alias an argument (numba issue #10041); it learns that `borrowed(x)` aliases x
  from the registration below, but loses it through tuple unpacking, and then deletes
  writes such as `region.refused[c] = n` after an inlined overload (`draws.uniform`).

`borrowed_item(items, c)` is `borrowed(items[c])` for a numba typed list, without the reference count's
update that fetching an item makes (for a club's tuple of arrays, one atomic operation per array on fetch and
again when it is dropped: about 1.4 us a club for its P, M, S and C, a fifth of a region's week). The list must
hold the item for the whole call, as the engines' lists do (they are replaced only from Python, between calls),
and `c` must be a valid index: it is not checked.

Under NUMBA_DISABLE_JIT=1, `borrowed` is the identity and `borrowed_item(items, c)` is `items[c]`.
"""

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils, ir_utils
from numba.extending import intrinsic
from numba.typed.typedobjectutils import _container_get_data

# the types whose data model holds a reference count's owner (`meminfo`) and a Python parent
_COUNTED = (types.Array, types.NumPyRandomGeneratorType)


def _borrow(context, builder, typ, value):
    """`value` of numba type `typ` with every owner and parent in it set to null (LLVM codegen)."""
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
    """The intrinsic behind `borrowed`: same type in, same type out."""

    def codegen(context, builder, signature, args):
        return _borrow(context, builder, signature.args[0], args[0])

    return value(value), codegen


@intrinsic
def _borrowed_item(typingctx, items, index):
    """The intrinsic behind `borrowed_item`: item `index` of a typed list, read in place (as numba's own
    `_list_getitem` reads it, without its reference count's update), then borrowed."""
    if not isinstance(items, types.ListType) or not isinstance(index, types.Integer):
        return None
    item_type = items.item_type

    def codegen(context, builder, signature, args):
        lst, at = args
        signature_of_base = ir.FunctionType(cgutils.voidptr_t, [cgutils.voidptr_t])
        base_of = cgutils.get_or_insert_function(builder.module, signature_of_base, "numba_list_base_ptr")
        base_of.attributes.add("alwaysinline")
        base_of.attributes.add("nounwind")
        base_of.attributes.add("readonly")
        base = builder.call(base_of, [_container_get_data(context, builder, items, lst)])
        first = builder.bitcast(base, context.get_data_type(item_type).as_pointer())
        at = context.cast(builder, at, index, types.intp)
        item = context.data_model_manager[item_type].load_from_data_pointer(builder, cgutils.gep(builder, first, at))
        return _borrow(context, builder, item_type, item)

    return item_type(items, index), codegen


def _aliases_its_argument(lhs, args, alias_map, arg_aliases) -> None:
    ir_utils._add_alias(lhs, args[0].name, alias_map, arg_aliases)


# numba's extension point for calls whose result aliases an argument (as `np.ravel`'s does): an item of a
# list aliases the list
ir_utils.alias_func_extensions[("_borrowed", __name__)] = _aliases_its_argument
ir_utils.alias_func_extensions[("_borrowed_item", __name__)] = _aliases_its_argument


if numba.config.DISABLE_JIT:

    def borrowed(value):
        return value

    def borrowed_item(items, index):
        return items[index]

else:
    borrowed = _borrowed
    borrowed_item = _borrowed_item
