"""A one-page PDF written by hand, optionally with an image XObject of random bytes so the file reaches a
given size (incompressible, as scanned annexes are)."""

from __future__ import annotations

import os
from pathlib import Path


def write_pdf(path: Path, *, size_bytes: int = 0) -> Path:
    filler = max(0, size_bytes - 1200)
    xobj = b" /XObject << /Im1 5 0 R >>" if filler else b""
    text = b"BT /F1 14 Tf 72 760 Td (Hutong benchmark document) Tj ET"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 6 0 R >>%s >> >>" % xobj,
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
    ]
    with path.open("wb") as out:
        offsets: list[int] = []
        pos = out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        for i, body in enumerate(objs, start=1):
            offsets.append(pos)
            pos += out.write(b"%d 0 obj\n%s\nendobj\n" % (i, body))
        offsets.append(pos)
        side = max(1, int((filler / 3) ** 0.5)) if filler else 1
        length = side * side * 3 if filler else 3
        pos += out.write(b"5 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB"
                         b" /BitsPerComponent 8 /Length %d >>\nstream\n" % (side, side, length))
        left = length
        while left:
            block = os.urandom(min(left, 1 << 20))
            pos += out.write(block)
            left -= len(block)
        pos += out.write(b"\nendstream\nendobj\n")
        offsets.append(pos)
        pos += out.write(b"6 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n")
        xref = pos
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
        for off in offsets:
            out.write(b"%010d 00000 n \n" % off)
        out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref))
    return path
