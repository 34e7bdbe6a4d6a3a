"""A region's typed lists (`sim.model.region`: its clubs' P, M, S, C, K and SE, its lanes' L), built and
updated by cached kernels.

numba compiles the methods of `numba.typed.List` that Python calls (making a list, appending, getting and
setting an item) anew in every process, for every item type: about 5 s a region run spent compiling them
before its first week. These kernels are compiled once, into the kernels' cache.
"""

from numba.typed import List

from sim.kernels import kernel


@kernel
def list_of(item):
    """A typed list holding `item`; its type is the list's."""
    items = List()
    items.append(item)
    return items


@kernel
def append_item(items, item):
    items.append(item)


@kernel
def replace_item(items, index, item):
    items[index] = item


def typed_list(items: list) -> List:
    """A typed list of `items` (all of one numba type; at least one), built by the kernels above."""
    typed = list_of(items[0])
    for item in items[1:]:
        append_item(typed, item)
    return typed
