"""PDFs written by hand for benchmarks and tests (no network, no fixtures): a few A4 pages of text,
optionally an empty signature field, optionally a large incompressible filler stream so the file reaches a
given size on disk (as scanned annexes do)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

MARKER = b"HUTONG-CONTRACT-TEXT"


def _objects(pages: int, with_field: str, filler: int) -> list[bytes]:
    n_fixed = 3  # catalog, pages, font
    page_ids = [n_fixed + 1 + 2 * i for i in range(pages)]
    field_id = n_fixed + 2 * pages + 1
    filler_id = field_id + (1 if with_field else 0)
    kids = b" ".join(b"%d 0 R" % i for i in page_ids)
    acro = b" /AcroForm << /Fields [%d 0 R] /SigFlags 0 >>" % field_id if with_field else b""
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R%s >>" % acro,
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, pid in enumerate(page_ids):
        xobj = b" /XObject << /Filler %d 0 R >>" % filler_id if filler and i == 0 else b""
        annots = b" /Annots [%d 0 R]" % field_id if with_field and i == 0 else b""
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R"
                    b" /Resources << /Font << /F1 3 0 R >>%s >>%s >>" % (pid + 1, xobj, annots))
        text = b"BT /F1 14 Tf 72 760 Td (%s page %d) Tj ET" % (MARKER, i + 1)
        objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text))
    if with_field:
        name = b"<FEFF%s>" % with_field.encode("utf-16-be").hex().upper().encode()  # a PDF text string
        objs.append(b"<< /FT /Sig /T %s /Type /Annot /Subtype /Widget /Rect [350 80 500 230] /F 4 /P %d 0 R >>"
                    % (name, page_ids[0]))
    return objs


def write_pdf(out: BinaryIO, *, pages: int = 2, with_field: str = "", filler_bytes: int = 0) -> None:
    """Write a valid PDF 1.7 file; ``filler_bytes`` of random image data (an unused-on-page XObject)."""
    objs = _objects(pages, with_field, filler_bytes)
    offsets: list[int] = []
    pos = out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    for i, body in enumerate(objs, start=1):
        offsets.append(pos)
        pos += out.write(b"%d 0 obj\n%s\nendobj\n" % (i, body))
    if filler_bytes:
        offsets.append(pos)
        side = int(filler_bytes ** 0.5 / 1.7320508) or 1  # RGB: 3 bytes a pixel
        length = side * side * 3
        pos += out.write(b"%d 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB"
                         b" /BitsPerComponent 8 /Length %d >>\nstream\n" % (len(objs) + 1, side, side, length))
        left = length
        while left:
            block = os.urandom(min(left, 1 << 20))
            pos += out.write(block)
            left -= len(block)
        pos += out.write(b"\nendstream\nendobj\n")
    count = len(offsets) + 1
    xref = pos
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % count)
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (count, xref))


def make_pdf(**kwargs: object) -> bytes:
    import io

    buf = io.BytesIO()
    write_pdf(buf, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue()


def make_pdf_file(path: Path, **kwargs: object) -> Path:
    with path.open("wb") as f:
        write_pdf(f, **kwargs)  # type: ignore[arg-type]
    return path


def write_pdf_file(path: Path, *, size_bytes: int = 0) -> Path:
    """A one-page document of about ``size_bytes`` (at least the bare page)."""
    return make_pdf_file(path, pages=1, filler_bytes=max(0, size_bytes - 1200))


if __name__ == "__main__":  # `python -m bench.pdfgen FILE...`: sample documents (the quick start seals one)
    import sys

    for name in sys.argv[1:] or ["sample.pdf"]:
        print(make_pdf_file(Path(name)))
