"""The rendition's QR symbol, encoded without qrcode's bit-by-bit Python paths.

``qrcode`` builds the data stream one bit at a time (a method call per bit, twice: once to choose the version,
once to encode) and computes the Reed-Solomon error correction with polynomial objects: together most of a
QR image's time, profiled. Here the content is one byte-mode segment (ISO/IEC 18004 §7.4.5): the version is
found by arithmetic, the data codewords are built from an integer, and the error correction is the usual
table-driven polynomial division over GF(256). qrcode still places the modules (its function patterns, format
and version information, mask), so the symbol is exactly what ``qrcode`` makes of the same segment, version
and mask (``tests/cert/test_rendition.py`` compares them module by module and decodes the PDF with zbarimg).

Placing the modules is cached too: a version's function patterns, format and version information, and the
positions its data modules take (in placement order, with the mask's value at each) depend on the version alone,
so qrcode lays out each version once per process and a symbol is its codeword bits dropped into those positions
(qrcode's own placement tests the mask module by module in Python: about half of a rendition's QR time, profiled).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

import qrcode
from qrcode import base, util
from qrcode.LUT import rsPoly_LUT

ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
MASK = 0  # fixed mask pattern (§7.8): any of the 8 decodes alike; choosing the "best" one scores all 8
BORDER = 2  # quiet zone, in modules (readers manage with 2 on a printed page with white around it)
_PAD = (0xEC, 0x11)  # §7.4.10 pad codewords
_BYTE_MODE = util.MODE_8BIT_BYTE


def _blocks(version: int) -> list[base.RSBlock]:
    return base.rs_blocks(version, ERROR_CORRECTION)


def _count_bits(version: int) -> int:
    return 8 if version < 10 else 16  # byte mode's character count indicator (§7.4.1, table 3)


def version_for(data: bytes) -> int:
    """The smallest version whose data capacity at level M holds ``data`` as one byte-mode segment."""
    for version in range(1, 41):
        if 4 + _count_bits(version) + 8 * len(data) <= 8 * sum(b.data_count for b in _blocks(version)):
            return version
    raise ValueError("too much data for a QR symbol")


def codewords(data: bytes, version: int) -> list[int]:
    """The symbol's final codeword sequence (data and error correction, interleaved by block, §7.6)."""
    blocks = _blocks(version)
    capacity = sum(b.data_count for b in blocks)
    bits = 4 + _count_bits(version) + 8 * len(data)
    value = (_BYTE_MODE << _count_bits(version) | len(data)) << 8 * len(data) | int.from_bytes(data, "big")
    terminator = min(4, 8 * capacity - bits)  # §7.4.9, then zero bits to the byte boundary
    bits += terminator
    value <<= terminator + (-bits % 8)
    stream = list(value.to_bytes((bits + 7) // 8, "big"))
    stream += [_PAD[i % 2] for i in range(capacity - len(stream))]
    data_blocks, ec_blocks, offset = [], [], 0
    for block in blocks:
        chunk = stream[offset:offset + block.data_count]
        offset += block.data_count
        data_blocks.append(chunk)
        ec_blocks.append(_remainder(chunk, block.total_count - block.data_count))
    out = [b[i] for i in range(max(map(len, data_blocks))) for b in data_blocks if i < len(b)]
    return out + [b[i] for i in range(max(map(len, ec_blocks))) for b in ec_blocks if i < len(b)]


def _remainder(data: list[int], ec_count: int) -> list[int]:
    """Reed-Solomon: the remainder of data(x)·x^ec_count divided by the generator polynomial (§7.5.2), the
    remainder held as one integer (a byte a coefficient): a step is a shift and one XOR with the generator times
    the leading factor, looked up (``_products``), instead of a Python loop over the coefficients."""
    products, top, keep = _products(ec_count), 8 * (ec_count - 1), (1 << 8 * ec_count) - 1
    rem = 0
    for d in data:
        rem = ((rem << 8) & keep) ^ products[(rem >> top) ^ d]
    return list(rem.to_bytes(ec_count, "big"))


@functools.lru_cache(maxsize=32)
def _products(ec_count: int) -> tuple[int, ...]:
    """The generator polynomial of ``ec_count`` error correction codewords (leading 1 left out) times each
    factor 0-255 over GF(256), each as an integer of ``ec_count`` bytes."""
    exp, log = base.EXP_TABLE, base.LOG_TABLE
    generator = [log[c] for c in rsPoly_LUT[ec_count][1:]]  # monic: the leading 1 is implied
    return (0, *(int.from_bytes(bytes(exp[(g + log[f]) % 255] for g in generator), "big") for f in range(1, 256)))


class _Layout(qrcode.QRCode):  # type: ignore[misc]
    """qrcode's own layout of a version, with the data left out: ``map_data`` records where each data bit goes
    (qrcode's traversal, ISO/IEC 18004 §7.7.3) instead of placing it."""

    def map_data(self, data: list[int], mask_pattern: int) -> None:
        mask, n = util.mask_func(mask_pattern), self.modules_count
        self.positions: list[tuple[int, int]] = []
        self.mask_bits: list[bool] = []
        row, inc = n - 1, -1
        for col in range(n - 1, 0, -2):
            if col <= 6:
                col -= 1
            while True:
                for c in (col, col - 1):
                    if self.modules[row][c] is None:
                        self.positions.append((row + BORDER, c + BORDER))
                        self.mask_bits.append(bool(mask(row, c)))
                        self.modules[row][c] = False
                row += inc
                if row < 0 or n <= row:
                    row -= inc
                    inc = -inc
                    break


@functools.lru_cache(maxsize=8)
def _layout(version: int) -> tuple[tuple[tuple[bool, ...], ...], tuple[tuple[int, int], ...], int]:
    """A version's modules without data (function patterns, format and version information, quiet zone), its data
    modules' positions in placement order, and the mask over them as an integer (first position: highest bit)."""
    q = _Layout(version=version, error_correction=ERROR_CORRECTION, border=BORDER, mask_pattern=MASK)
    q.data_cache = []  # nothing to encode: only the layout is wanted
    q.makeImpl(False, MASK)
    mask = int("".join("1" if m else "0" for m in q.mask_bits) or "0", 2)
    return tuple(tuple(bool(m) for m in row) for row in q.get_matrix()), tuple(q.positions), mask


ROW_END = 2  # the byte after each row in ``rows``


def rows(content: str) -> tuple[bytes, int]:
    """The symbol's modules as bytes, 1 dark and 0 light, row after row, each row followed by ``ROW_END``, with a
    ``BORDER``-module quiet zone; and the modules a row (the rows are ``size + 1`` bytes apart).

    The codeword bits are dropped into their positions by one C-level gather (``_gather``): the former loop over
    the positions, a module at a time, was most of the symbol's time, profiled."""
    data = content.encode("utf-8")
    version = version_for(data)
    _, positions, mask = _layout(version)
    blank, gather, size = _gather(version)
    words = codewords(data, version)
    spare = len(positions) - 8 * len(words)  # remainder bits (§7.6): zero, then masked like the rest
    bits = format((int.from_bytes(bytes(words), "big") << spare) ^ mask, f"0{len(positions)}b")
    return bytes(gather(blank + bits.encode("ascii").translate(_BITS))), size


_BITS = bytes.maketrans(b"01", b"\x00\x01")


@functools.lru_cache(maxsize=8)
def _gather(version: int) -> tuple[bytes, Callable[[bytes], tuple[int, ...]], int]:
    """A version's layout as a gather: the source is the blank symbol (rows, each followed by ``ROW_END``) with
    the data bits appended; the gather picks each output byte from the blank, or for a data module from its bit."""
    blank, positions, _ = _layout(version)
    size = len(blank)
    source = bytes(b for row in blank for b in (*row, ROW_END))
    picks = list(range(len(source)))
    for k, (r, c) in enumerate(positions):
        picks[r * (size + 1) + c] = len(source) + k
    return source, operator.itemgetter(*picks), size


def matrix(content: str) -> list[list[bool]]:
    """The symbol's modules (True: dark), with a ``BORDER``-module quiet zone."""
    flat, size = rows(content)
    return [[b == 1 for b in flat[r * (size + 1):r * (size + 1) + size]] for r in range(size)]
