"""How much of an array the system holds in memory: its resident pages, read with mincore(2) (Linux)."""

from __future__ import annotations

import ctypes
import mmap
import sys

import numpy as np

PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def resident_bytes(array: np.ndarray) -> int:
    """Bytes of the whole pages under `array`'s data that are resident (a page counted whole)."""
    if _libc is None:
        raise OSError("mincore is read on Linux only")
    if array.nbytes == 0:
        return 0
    address = array.__array_interface__["data"][0]
    start = address // PAGE * PAGE
    pages = (address + array.nbytes - start + PAGE - 1) // PAGE
    vector = (ctypes.c_ubyte * pages)()
    if _libc.mincore(ctypes.c_void_p(start), ctypes.c_size_t(pages * PAGE), vector) != 0:
        raise OSError(ctypes.get_errno(), "mincore failed")
    return PAGE * sum(byte & 1 for byte in vector)
