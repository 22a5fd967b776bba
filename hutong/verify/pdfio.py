"""Taking PDFs in: spool a chunked upload to an anonymous temporary file under a size limit, then
open it with pyHanko only after the cheap checks (header, trailer) passed.

Uploads never sit in memory whole: a 50 MB document costs disk, not RAM.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pyhanko.pdf_utils.reader import PdfFileReader

from hutong.errors import InvalidArgument, ResourceExhausted

COPY_CHUNK = 1024 * 1024


@dataclass
class Spooled:
    """A document on disk (anonymous temporary file: gone when closed or when the process dies)."""

    file: BinaryIO
    size: int
    sha256: str

    def close(self) -> None:
        self.file.close()

    def chunks(self, size: int = COPY_CHUNK) -> Iterator[bytes]:
        self.file.seek(0)
        while block := self.file.read(size):
            yield block


def too_large(limit: int) -> ResourceExhausted:
    return ResourceExhausted("UPLOAD_TOO_LARGE", f"the document is larger than this node accepts ({limit} bytes)")


def temp_file(temp_dir: str) -> BinaryIO:
    os.makedirs(temp_dir, mode=0o700, exist_ok=True)
    return tempfile.TemporaryFile(dir=temp_dir)  # noqa: SIM115 - owned by the Spooled that wraps it


def spool(chunks: Iterable[bytes], *, limit: int, temp_dir: str) -> Spooled:
    """Write ``chunks`` to a temporary file, hashing as they come; refuse more than ``limit`` bytes."""
    f = temp_file(temp_dir)
    digest, size = hashlib.sha256(), 0
    try:
        for block in chunks:
            size += len(block)
            if size > limit:
                raise too_large(limit)
            digest.update(block)
            f.write(block)
        f.flush()
    except BaseException:
        f.close()
        raise
    return Spooled(file=f, size=size, sha256=digest.hexdigest())


def spool_bytes(data: bytes | BinaryIO, *, limit: int, temp_dir: str) -> Spooled:
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        return spool((view[i:i + COPY_CHUNK].tobytes() for i in range(0, len(view), COPY_CHUNK)),
                     limit=limit, temp_dir=temp_dir)
    stream = data
    return spool(iter(lambda: stream.read(COPY_CHUNK), b""), limit=limit, temp_dir=temp_dir)


def finish(f: BinaryIO) -> Spooled:
    """Wrap a file we wrote ourselves (the sealed output): its size and SHA-256."""
    f.seek(0)
    digest, size = hashlib.sha256(), 0
    while block := f.read(COPY_CHUNK):
        digest.update(block)
        size += len(block)
    f.seek(0)
    return Spooled(file=f, size=size, sha256=digest.hexdigest())


def open_pdf(doc: Spooled) -> PdfFileReader:
    """A pyHanko reader over the document, or the reason it cannot be one."""
    f = doc.file
    f.seek(0)
    if b"%PDF-" not in f.read(1024):
        raise InvalidArgument("NOT_A_PDF", "the document is not a PDF")
    f.seek(max(0, doc.size - 1024))
    if b"%%EOF" not in f.read():
        raise InvalidArgument("PDF_MALFORMED", "the PDF is truncated (no end-of-file marker)")
    f.seek(0)
    try:
        reader = PdfFileReader(f, strict=False)
        encrypted = reader.encrypted
        if not encrypted:
            _ = reader.root["/Pages"]["/Count"]
    except Exception:  # noqa: BLE001 - any parser failure on untrusted input means "malformed"
        raise InvalidArgument("PDF_MALFORMED", "the PDF cannot be parsed") from None
    if encrypted:
        raise InvalidArgument("PDF_ENCRYPTED", "encrypted PDFs cannot be sealed or verified; remove the encryption")
    return reader
