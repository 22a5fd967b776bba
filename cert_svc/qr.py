"""The rendition's QR symbol, encoded without qrcode's bit-by-bit Python paths.

``qrcode`` builds the data stream one bit at a time (a method call per bit, twice: once to choose the version,
once to encode) and computes the Reed-Solomon error correction with polynomial objects: together most of a
QR image's time, profiled. Here the content is one byte-mode segment (ISO/IEC 18004 §7.4.5): the version is
found by arithmetic, the data codewords are built from an integer, and the error correction is the usual
table-driven polynomial division over GF(256). qrcode still places the modules (its function patterns, format
and version information, mask), so the symbol is exactly what ``qrcode`` makes of the same segment, version
and mask (``tests/cert/test_rendition.py`` compares them module by module and decodes the PDF with zbarimg).
"""

from __future__ import annotations

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
    """Reed-Solomon: the remainder of data(x)·x^ec_count divided by the generator polynomial (§7.5.2)."""
    exp, log = base.EXP_TABLE, base.LOG_TABLE
    generator = [log[c] for c in rsPoly_LUT[ec_count][1:]]  # monic: the leading 1 is implied
    rem = [0] * ec_count
    for d in data:
        factor = d ^ rem[0]
        rem = rem[1:]
        rem.append(0)
        if factor:
            lf = log[factor]
            rem = [r ^ exp[(g + lf) % 255] for r, g in zip(rem, generator, strict=True)]
    return rem


def matrix(content: str) -> list[list[bool]]:
    """The symbol's modules (True: dark), with a ``BORDER``-module quiet zone."""
    data = content.encode("utf-8")
    version = version_for(data)
    qr = qrcode.QRCode(version=version, error_correction=ERROR_CORRECTION, border=BORDER, mask_pattern=MASK)
    qr.add_data(util.QRData(data, mode=_BYTE_MODE))
    qr.data_cache = codewords(data, version)  # what makeImpl would compute with util.create_data
    qr.makeImpl(False, MASK)
    return [[bool(m) for m in row] for row in qr.get_matrix()]
