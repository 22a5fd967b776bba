"""The printable rendition: an A4 PDF with the type's layout, the fields, the identifier and a QR
code carrying the verification data, sealed with the issuing department's e-seal via seal_svc.

Chinese text is set in WenQuanYi Micro Hei, subset and embedded (pyHanko + fontTools/HarfBuzz).
The certificate's JWS is stored in the document catalogue (``/HutongCertificate``) so the PDF can
be verified as a certificate, not only as a sealed document.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from sqlalchemy import bindparam, select

from cert_svc import catalogue, issuers, qr, reasons
from cert_svc.catalogue import CertTypeSpec
from cert_svc.models import CertTypeRow, IssuerRow
from cert_svc.records import CertView
from hutong import peers
from hutong.auth import service_principal
from hutong.edge.settings import base_url, verify_url
from hutong.errors import FailedPrecondition, InvalidArgument
from hutong.node import Node
from hutong.pdffont import shared_face
from hutong.pdfpage import A4, Page
from hutong.verify.findings import Finding
from hutong.verify.pdfreport import Verdict

CATALOG_KEY = "/HutongCertificate"
PRINCIPAL = "cert_svc"  # the service principal (in-process caller) that seals renditions
(PAGE_W, PAGE_H), MARGIN = A4, 60.0
QR_SIZE = 150.0
BOTTOM = 260.0
CHUNK = 256 * 1024  # lowest text line
SEAL_BOX = (PAGE_W - MARGIN - 160.0, 90.0, 150.0, 150.0)  # x, y, width, height of the visible seal
CACHE_SIZE, CACHE_SECONDS = 64, 600.0  # renditions kept per process for repeated downloads (``Renditions.build``)


def qr_drawing(content: str, x: float, y: float, size: float) -> bytes:
    """The QR as an inline image mask of one sample a module (1 bit each, painted in black where dark), in a
    square of ``size`` points at (``x``, ``y``), without interpolation: sharp at any resolution, with no seams
    between modules where a renderer anti-aliases. Profiled, the former images (10 pixels a module) cost more to
    draw, compress and embed than the symbol to encode, and the rectangles that replaced them (each row's runs
    of dark modules) were some 37 KB of content stream and a quarter of the page's time; this is ~2 KB of hex."""
    modules, n = qr.rows(content)
    stride, pad = n + 1, -n % 8
    packed = b"".join((int(modules[r * stride:r * stride + n].translate(_AS_DIGITS), 2) << pad).to_bytes(
        (n + pad) // 8, "big") for r in range(n))
    return (b"q 0 g %g 0 0 %g %g %g cm\nBI /W %d /H %d /IM true /BPC 1 /D [1 0] /I false /F /AHx\n"
            b"ID %s> EI Q" % (size, size, x, y, n, n, packed.hex().encode()))


_AS_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


def _field_lines(cert: CertView, spec: CertTypeSpec) -> list[tuple[str, str]]:
    labels = {f.name: f.label for f in spec.fields}
    order = list(spec.layout.field_order) + [f.name for f in spec.fields if f.name not in spec.layout.field_order]
    lines = [("持证主体" if spec.holder_kind == "organisation" else "持证人", cert.holder.name)]
    if spec.holder_kind == "organisation":
        lines.append(("统一社会信用代码", cert.holder.id))
    lines += [(labels[n], cert.fields[n]) for n in order if n in cert.fields and not n.endswith("_id")]
    until = cert.valid_until.isoformat() if cert.valid_until else "长期"
    lines += [("有效期", f"{cert.valid_from.isoformat()} 至 {until}"), ("发证机关", cert.issuer_name)]
    return lines


def render(cert: CertView, spec: CertTypeSpec, qr_content: str = "") -> bytes:
    """The unsealed rendition, written out (``page_writer``)."""
    out = io.BytesIO()
    page_writer(cert, spec, qr_content).write(out)
    return out.getvalue()


def page_writer(cert: CertView, spec: CertTypeSpec, qr_content: str = "") -> PdfFileWriter:
    """The unsealed rendition, not yet written: ``Renditions`` seals it in the same write (the seal goes into
    the space left for it). The QR carries ``qr_content`` (the verification page's URL, see
    ``Renditions.build``), else the QR token."""
    writer = PdfFileWriter()
    page = Page(writer)
    page.centred(PAGE_H - 110, spec.layout.title or spec.name, 30)
    page.centred(PAGE_H - 140, f"证照标识 {cert.identifier}", 9)
    y = PAGE_H - 190
    for label, value in _field_lines(cert, spec):
        if y < BOTTOM:
            break
        page.text(MARGIN, y, label, 12)
        y = page.wrapped(MARGIN + 130, y, value, 12, PAGE_W - 2 * MARGIN - 130, bottom=BOTTOM)
        y -= 6
    page.draw(qr_drawing(qr_content or cert.qr, MARGIN, 90, QR_SIZE))
    page.text(MARGIN, 75, "扫描二维码核验本证照", 9)
    if spec.layout.footer:
        page.centred(45, spec.layout.footer, 9)
    page.finish()
    writer.root[pdf_name(CATALOG_KEY)] = writer.add_object(_Token(cert.jws))
    writer.document_meta.title = f"{spec.name} {cert.identifier}"  # type: ignore[attr-defined]
    return writer


class _Token(generic.TextStringObject):
    """The JWS in the catalogue: an object of its own, so that sealing (an incremental update that rewrites the
    catalogue) neither parses nor writes it again, only its reference; and written as pyHanko writes a text string,
    ASCII with every other byte as an octal escape, in one pass (pyHanko's loop, a write a byte, was a tenth of a
    rendition's CPU, profiled). A JWS is ASCII: the base64url alphabet and dots."""

    def write_to_stream(self, stream: Any, handler: Any = None, container_ref: Any = None) -> None:
        if handler is not None:  # an encrypted document: pyHanko's way (renditions are not encrypted)
            super().write_to_stream(stream, handler, container_ref)
            return
        stream.write(b"(" + _ESCAPED.sub(lambda m: b"\\%03o" % m[0][0], self.encode("ascii")) + b")")


_ESCAPED = re.compile(rb"[^A-Za-z0-9 ]")


def embedded_token(data: bytes) -> str:
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        value = reader.root.get(CATALOG_KEY)
        value = value.get_object() if value is not None else None  # an object of its own (older: direct)
    except Exception:  # noqa: BLE001 - any unreadable PDF is the caller's bad input
        raise InvalidArgument(reasons.RENDITION_INVALID, "the file is not a readable PDF") from None
    if value is None:
        raise InvalidArgument(reasons.RENDITION_INVALID, "the PDF carries no Hutong e-certificate")
    return str(value)


class Renditions:
    """Builds the sealed rendition of a certificate on demand.

    The department's seal (``seal_id`` on its issuer record) is applied through seal_svc's
    in-process API by the service principal ``cert_svc`` acting for the department's platform, so
    seal_svc's grant checks, accounting and audit apply: the department grants its platform the use
    of its seal. No seal configured: refused.
    """

    def __init__(self, node: Node) -> None:
        self.node = node
        self._made: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()  # see ``build``
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Load the shared CJK font in the background (``hutong.pdffont.shared_face``, about a second of CPU):
        profiled in a served worker, the first downloads waited on that load (and on each other behind its
        lock) for seconds. Called where the node serves; in-process callers load it on first use."""
        threading.Thread(target=shared_face, name="rendition-font", daemon=True).start()

    def build(self, cert: CertView) -> bytes:
        """The sealed rendition; one made in the last ``CACHE_SECONDS`` for the same signed certificate is
        answered again (a second download does not seal again; kept in this process, ``CACHE_SIZE`` at most,
        so a seal revoked or replaced since shows within minutes)."""
        key, now = (cert.identifier, cert.jws), time.monotonic()
        with self._lock:
            found = self._made.get(key)
            if found is not None and now - found[0] < CACHE_SECONDS:
                self._made.move_to_end(key)
                return found[1]
        data = self._seal(cert)
        with self._lock:
            self._made[key] = (now, data)
            self._made.move_to_end(key)
            while len(self._made) > CACHE_SIZE:
                self._made.popitem(last=False)
        return data

    def _facts(self, cert: CertView) -> tuple[CertTypeSpec, issuers.Issuer]:
        """The type (layout) and the issuer (seal, platform, name), read for each rendition so that a change made
        through any worker shows at once: one statement in a read-only transaction (the ORM's two reads, with the
        catalogue's defaults check, were ~2 ms a rendition, profiled). One not found: the usual reads say which."""
        with self.node.db.session(readonly=True) as s:
            found = s.execute(_FACTS, {"code": cert.type_code, "uscc": cert.issuer_uscc}).first()
        if found is None:
            with self.node.db.session() as s:
                catalogue.get_type(s, cert.type_code)
                issuers.get(s, cert.issuer_uscc)
            raise FailedPrecondition(reasons.ISSUER_SEAL_MISSING, "the certificate's type or issuer is gone")
        spec_json, issuer = found
        return CertTypeSpec.from_json(spec_json), issuers.Issuer.of(issuer)

    def _seal(self, cert: CertView) -> bytes:
        spec, issuer = self._facts(cert)
        if not issuer.seal_id or not issuer.platform_client_id:
            raise FailedPrecondition(reasons.ISSUER_SEAL_MISSING,
                                     "the issuing department has no seal and platform configured for renditions")
        seal = peers.seal(self.node)
        if seal is None:
            raise FailedPrecondition(reasons.ISSUER_SEAL_MISSING, "this node has no seal service for renditions")
        sealer = service_principal(PRINCIPAL, on_behalf_of=issuer.platform_client_id)
        # A phone camera opens the node's public verification page with the token in the fragment.
        link = verify_url(base_url(self.node.config), cert.qr)
        return seal.seal_built(seal_id=issuer.seal_id, writer=page_writer(cert, spec, link), principal=sealer,
                               box=SEAL_BOX, reason=f"{spec.name} {cert.identifier}", location=issuer.name)

    def chunks(self, cert: CertView) -> Iterator[bytes]:
        data = self.build(cert)
        for i in range(0, len(data), CHUNK):
            yield data[i:i + CHUNK]


_FACTS = (select(CertTypeRow.spec, IssuerRow).join_from(CertTypeRow, IssuerRow, IssuerRow.uscc == bindparam("uscc"))
          .where(CertTypeRow.code == bindparam("code")))  # one row each: the pair


def seal_findings(node: Node, data: bytes, issuer_uscc: str) -> list[Finding]:
    """The seal check of a rendition: sealed, intact, trusted, and by the issuing department."""
    seal = peers.seal(node)
    if seal is None:
        return [Finding(reasons.PDF_SEAL, "this node cannot check seals (no seal service)")]
    report = seal.verify_pdf(data)
    seals = [sig for sig in report.signatures if sig.kind == "seal"]
    if not seals:
        return [Finding(reasons.PDF_SEAL, "the rendition is not sealed", True)]
    if report.verdict != Verdict.VALID:
        problems = "; ".join(f.message for f in report.findings) or report.verdict.value
        return [Finding(reasons.PDF_SEAL, f"the rendition's seal does not verify: {problems}",
                        report.verdict == Verdict.INVALID)]
    if all(sig.org_uscc != issuer_uscc for sig in seals):
        return [Finding(reasons.PDF_SEAL, "the rendition is not sealed by the issuing department", True)]
    return [Finding("PDF_SEAL_VALID", "sealed by the issuing department; the seal verifies")]
