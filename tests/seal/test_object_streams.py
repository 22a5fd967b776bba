"""Objects in object streams are read as pyHanko reads them, but each stream's header is read once.

A form with hundreds of fields packed in object streams: every object read through ``pdfio.Reader`` equals
what pyHanko's own reader gives, and listing the fields reads a number of header entries proportional to
the objects (pyHanko alone re-reads each stream's header from its start for every object: quadratic).
Counted, not timed.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields

from bench.pdfgen import make_pdf
from hutong.verify.pdfio import Reader

FIELDS = 400
pytestmark = pytest.mark.skipif(shutil.which("qpdf") is None, reason="needs qpdf to pack object streams")


def _form(tmp_path: Path) -> bytes:
    w = IncrementalPdfFileWriter(io.BytesIO(make_pdf(pages=4)))
    fields = generic.ArrayObject()
    for n in range(FIELDS):
        page_ref, _ = w.find_page_for_modification(n % 4)
        fields.append(w.add_object(generic.DictionaryObject({
            generic.pdf_name("/FT"): generic.pdf_name("/Tx"), generic.pdf_name("/T"): generic.TextStringObject(f"f{n}"),
            generic.pdf_name("/V"): generic.TextStringObject(f"value {n}"), generic.pdf_name("/P"): page_ref})))
    w.root["/AcroForm"] = w.add_object(generic.DictionaryObject({generic.pdf_name("/Fields"): fields}))
    w.update_root()
    out = io.BytesIO()
    w.write(out)
    (tmp_path / "plain.pdf").write_bytes(out.getvalue())
    subprocess.run(["qpdf", "--object-streams=generate", str(tmp_path / "plain.pdf"), str(tmp_path / "packed.pdf")],
                   check=True, capture_output=True, timeout=60)
    return (tmp_path / "packed.pdf").read_bytes()


def _header_reads(monkeypatch: pytest.MonkeyPatch, reader: PdfFileReader) -> int:
    count = 0
    original = generic.NumberObject.read_from_stream

    def counting(stream: object) -> object:
        nonlocal count
        count += 1
        return original(stream)  # type: ignore[arg-type]

    monkeypatch.setattr(generic.NumberObject, "read_from_stream", staticmethod(counting))
    list(enumerate_sig_fields(reader))
    monkeypatch.undo()
    return count


def test_same_objects_and_linear_header_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = _form(tmp_path)
    ours, theirs = Reader(io.BytesIO(pdf)), PdfFileReader(io.BytesIO(pdf), strict=False)
    fields = theirs.root["/AcroForm"]["/Fields"]
    assert len(fields) == FIELDS
    for ref in fields:
        a, b = ours.get_object(ref.reference), theirs.get_object(ref.reference)
        assert dict(a.items()) == dict(b.items())  # type: ignore[union-attr]
    fresh_ours, fresh_theirs = Reader(io.BytesIO(pdf)), PdfFileReader(io.BytesIO(pdf), strict=False)
    ours_reads = _header_reads(monkeypatch, fresh_ours)
    theirs_reads = _header_reads(monkeypatch, fresh_theirs)
    assert ours_reads < 4 * FIELDS, ours_reads  # two numbers per header entry, plus the objects' own numbers
    assert theirs_reads > 10 * FIELDS, theirs_reads  # the quadratic re-reading this class avoids
