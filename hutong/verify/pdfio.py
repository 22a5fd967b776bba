"""Taking PDFs in: spool a chunked upload to an anonymous temporary file under a size limit, then
open it with pyHanko only after the cheap checks (header, trailer) passed.

Uploads over 1 MiB never sit in memory whole: a 50 MB document costs disk, not RAM.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.crypt import AuthStatus, StandardSecurityHandler
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader

from hutong.errors import InvalidArgument, ResourceExhausted
from hutong.verify import pdffast

pdffast.install()  # every PDF read goes through here: pyHanko's two slowest readers replaced (see pdffast)

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


class Reader(PdfFileReader):
    """pyHanko's reader, except that an object stream's header (object number -> offset) is read once.

    pyHanko re-reads the header from its start for every object it takes from an object stream: O(n^2)
    per stream. A 573-page form with 4,386 fields spent seconds there each time its fields were listed.
    Anything unusual (a damaged header, an object missing from it) is left to pyHanko's own handling.
    """

    def __init__(self, stream: BinaryIO, *, strict: bool = False) -> None:
        self._objstm_index: dict[int, tuple[bytes, int, dict[int, int]] | None] = {}
        super().__init__(stream, strict=strict)

    def _get_object_from_stream(self, idnum: int, stmnum: int, idx: int) -> Any:
        if stmnum not in self._objstm_index:
            self._objstm_index[stmnum] = self._index_object_stream(stmnum)
        found = self._objstm_index[stmnum]
        if found is None or idnum not in found[2]:
            return super()._get_object_from_stream(idnum, stmnum, idx)  # type: ignore[no-untyped-call]
        data, first, offsets = found
        buf = io.BytesIO(data)
        buf.seek(first + offsets[idnum])
        try:
            return generic.read_object(buf, generic.Reference(idnum, 0, self))
        except (misc.PdfStreamError, misc.PdfReadError):
            return super()._get_object_from_stream(idnum, stmnum, idx)  # type: ignore[no-untyped-call]

    def _index_object_stream(self, stmnum: int) -> tuple[bytes, int, dict[int, int]] | None:
        try:
            stream = generic.Reference(stmnum, 0, self).get_object()
            if not isinstance(stream, generic.StreamObject) or stream.get("/Type") != "/ObjStm":
                return None
            count, first = int(stream["/N"]), int(stream["/First"])
            data = stream.read_data(DecodePurpose.OBJECT_STREAM)
            header = io.BytesIO(data[:first])
            offsets: dict[int, int] = {}
            for _ in range(min(count, first // 4 + 1)):  # a header pair takes at least 4 bytes
                misc.read_non_whitespace(header, seek_back=True)
                objnum = generic.NumberObject.read_from_stream(header)
                misc.read_non_whitespace(header, seek_back=True)
                offsets.setdefault(int(objnum), int(generic.NumberObject.read_from_stream(header)))
        except Exception:  # noqa: BLE001 - a header pyHanko reads differently is pyHanko's to judge
            return None
        return data, first, offsets


def too_large(limit: int) -> ResourceExhausted:
    return ResourceExhausted("UPLOAD_TOO_LARGE", f"the document is larger than this node accepts ({limit} bytes)")


def temp_file(temp_dir: str) -> BinaryIO:
    os.makedirs(temp_dir, mode=0o700, exist_ok=True)
    return tempfile.TemporaryFile(dir=temp_dir)  # noqa: SIM115 - owned by the Spooled that wraps it


IN_MEMORY = COPY_CHUNK  # uploads up to this size stay in memory: no file to create, no system call per seek


def scratch_file(temp_dir: str, size_hint: int) -> BinaryIO:
    """Where to write a document of about ``size_hint`` bytes (a sealed copy of an upload): in memory up to
    ``IN_MEMORY``, like ``spool``, else an anonymous temporary file."""
    return io.BytesIO() if size_hint <= IN_MEMORY else temp_file(temp_dir)


def spool(chunks: Iterable[bytes], *, limit: int, temp_dir: str) -> Spooled:
    """Take ``chunks`` in, hashing as they come; refuse more than ``limit`` bytes.

    Up to ``IN_MEMORY`` bytes the document stays in memory (most sealed forms are tens of kilobytes: pyHanko
    seeks and reads a file in many small steps, each a system call on a real file); past that it goes to an
    anonymous temporary file, so a large upload costs disk, not RAM.
    """
    f: BinaryIO | None = None
    held: list[bytes] = []
    digest, size = hashlib.sha256(), 0
    try:
        for block in chunks:
            size += len(block)
            if size > limit:
                raise too_large(limit)
            digest.update(block)
            if f is None and size <= IN_MEMORY:
                held.append(block)
                continue
            if f is None:
                f = temp_file(temp_dir)
                for kept in held:
                    f.write(kept)
                held.clear()
            f.write(block)
        if f is None:
            f = io.BytesIO(held[0] if len(held) == 1 else b"".join(held))
        f.flush()
    except BaseException:
        if f is not None:
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
    """A pyHanko reader over the document, or the reason it cannot be one, saying what could not be read.

    Encrypted documents that open with the empty user password (an owner password only restricts what may
    be done, as on many government forms) are opened; what they permit is checked by the caller
    (``signing_permissions``). Documents that need a password to open are ``PDF_ENCRYPTED``.
    """
    f = doc.file
    f.seek(0)
    if b"%PDF-" not in f.read(1024):
        raise InvalidArgument("NOT_A_PDF", "the document is not a PDF (no %PDF- header in its first 1024 bytes)")
    f.seek(max(0, doc.size - 1024))
    if b"%%EOF" not in f.read():
        raise InvalidArgument("PDF_MALFORMED", "the PDF has no end-of-file marker (%%EOF) in its last 1024 bytes: "
                                               "it is truncated, or data was appended after its end")
    f.seek(0)
    try:
        reader = Reader(f, strict=False)
    except Exception as exc:  # noqa: BLE001 - any parser failure on untrusted input means "malformed"
        raise _malformed("its cross-reference table or trailer cannot be read", exc) from None
    if reader.encrypted:
        _open_encrypted(reader)
    try:
        _ = int(reader.root["/Pages"]["/Count"])
    except Exception as exc:  # noqa: BLE001
        raise _malformed("its page tree (/Root /Pages /Count) cannot be read", exc) from None
    return reader


def _malformed(what: str, exc: BaseException) -> InvalidArgument:
    detail = " ".join(str(exc).split())[:200]
    return InvalidArgument("PDF_MALFORMED", f"the PDF cannot be read: {what}" + (f" ({detail})" if detail else ""))


def _open_encrypted(reader: PdfFileReader) -> None:
    try:
        opened = isinstance(reader.security_handler, StandardSecurityHandler) and \
            reader.decrypt(b"").status != AuthStatus.FAILED
    except Exception as exc:  # noqa: BLE001
        raise _malformed("its encryption dictionary cannot be read", exc) from None
    if not opened:
        raise InvalidArgument("PDF_ENCRYPTED", "the PDF needs a password to open: remove the encryption (a "
                                               "document that restricts changes with an owner password only can "
                                               "be sealed if it permits signing)")


def signing_permissions(reader: PdfFileReader) -> tuple[bool, bool]:
    """What an encrypted document opened with the empty user password permits (ISO 32000-2 Table 22):
    (fill in existing signature fields: bit 6 or 9, add a new signature field: bits 4 and 6).
    Unencrypted documents permit both."""
    if not reader.encrypted:
        return True, True
    try:
        p = int(reader.trailer["/Encrypt"]["/P"]) & 0xFFFFFFFF
    except Exception:  # noqa: BLE001 - an unreadable /P permits nothing
        return False, False
    modify, annots_forms, fill_forms = bool(p & 8), bool(p & 32), bool(p & 256)
    return annots_forms or fill_forms, modify and annots_forms
