"""Fast copies out of PyKCS11's byte vectors.

``bytes(ckbytelist)`` walks the SWIG-wrapped ``std::vector<unsigned char>`` one element at a time from
Python (~0.8 µs a byte: a 2 KB decryption spent 1.6 ms there). The vector's storage is contiguous, so its
[begin, end) pointers (the first two words of the vector in libstdc++ and libc++) give a C-speed copy.

That layout is checked once, on a probe vector, when this module loads; where it does not hold, every copy
takes the slow, always-correct path. Per call there is then no ``len()`` through SWIG and no ``ctypes.cast``:
with an ECDSA signature every few dozen microseconds those were a tenth of an ``hsm/`` signature (issue 19).
"""

from __future__ import annotations

import ctypes
from typing import Any

from PyKCS11 import LowLevel

_POINTERS = ctypes.c_size_t * 2  # std::vector: begin, end (, end of capacity) as addresses
_ARRAYS: dict[int, Any] = {}  # c_char arrays by length, built once each


def _fast(vector: Any) -> bytes:
    begin, end = _POINTERS.from_address(int(vector.this))
    if not begin:
        return b""
    n = end - begin
    array = _ARRAYS.get(n)
    if array is None:
        array = _ARRAYS.setdefault(n, ctypes.c_char * n)
    return array.from_address(begin).raw  # type: ignore[no-any-return]


def _slow(vector: Any) -> bytes:
    return bytes(vector)


def _layout_holds() -> bool:
    probe = bytes(range(1, 200))
    try:
        return _fast(LowLevel.ckbytelist(probe)) == probe and _fast(LowLevel.ckbytelist()) == b""
    except (AttributeError, TypeError, ValueError, OSError):
        return False


as_bytes = _fast if _layout_holds() else _slow
