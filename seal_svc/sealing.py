"""Sealing a PDF: pyHanko does the PDF and CMS work, the HSM makes the signatures.

Order of events, so that a failure leaves nothing behind:
1. check the caller may use the seal and the options make sense (before reading the upload);
2. spool the upload to disk, open and check it (not a PDF, truncated, encrypted, page/position);
3. write the sealed document to a second temporary file (incremental update: earlier seals stay valid);
4. in one transaction: re-check, charge the grant one use, audit (who, seal, document hashes);
5. only then hand the output back. Any failure before 4 commits discards the temporary files.

A document the node builds itself (a certificate's rendition, ``Sealer.seal_built``) skips 2 and 3: the page and
the seal go out in one write, no upload to spool and no incremental update; 1, 4 and 5 are the same.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.xmp_xml import XmpXmlProcessingError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.rw_common import PdfHandler
from pyhanko.pdf_utils.writer import BasePdfFileWriter, PdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import read_certification_data

from hsm import HsmSigner
from hutong import idempotency, metrics, pki
from hutong.auth import Principal
from hutong.errors import FailedPrecondition, HutongError, InvalidArgument
from hutong.node import Node
from hutong.verify import loops
from hutong.verify.pdf import validation_context
from hutong.verify.pdfio import (
    Spooled,
    finish,
    open_pdf,
    scratch_file,
    signing_permissions,
    spool,
    spool_bytes,
    too_large,
)
from hutong.verify.trust import TrustSource
from seal_svc import image
from seal_svc.pdf_signer import HsmPdfSigner, HsmTimeStamper
from seal_svc.placement import UprightStampStyle, page_geometry, to_user_space
from seal_svc.seals import SealService, SealUse
from seal_svc.trust import node_trust


def io_chunk(size: int) -> int:
    """pyHanko copies the original and hashes the signed byte ranges 4 KiB at a time by default: a 50 MB
    document took some 37,000 reads and writes of temporary files (twice the CPU of the rest of the seal).
    Pieces of a sixteenth of the document, between 64 KiB and 1 MiB: a small document's buffer stays small."""
    return min(1 << 20, max(1 << 16, size // 16))


_CMS_OVERHEAD = 2048  # bytes per CMS beyond its certificates (ours use ~1.1 KB: signer info, attributes, names)


class PadesLevel(enum.Enum):
    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"


class Certification(enum.Enum):
    """DocMDP level when the seal certifies the document (``None`` in options = approval seal)."""

    NO_CHANGES = MDPPerm.NO_CHANGES
    FORM_FILLING = MDPPerm.FILL_FORMS
    ANNOTATIONS = MDPPerm.ANNOTATE


@dataclass(frozen=True)
class Placement:
    page: int  # from 1
    x: float  # PDF points from the page's lower-left corner
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class SealOptions:
    placement: Placement | None = None  # a new visible seal here ...
    field_name: str = ""  # ... or into this existing empty signature field
    reason: str = ""
    location: str = ""
    level: PadesLevel = PadesLevel.B_T
    certification: Certification | None = None


@dataclass
class SealedDocument:
    """The sealed PDF on disk (close it when done) and what was done."""

    output: Spooled
    seal_id: str
    field_name: str
    level: PadesLevel
    input_sha256: str
    signing_time: datetime

    def read(self) -> bytes:
        self.output.file.seek(0)
        return self.output.file.read()

    def close(self) -> None:
        self.output.close()


def check_options(options: SealOptions) -> None:
    if (options.placement is None) == (not options.field_name):
        raise InvalidArgument("PLACEMENT_REQUIRED", "give either a page position or an existing field name")
    p = options.placement
    if p is not None and not all(math.isfinite(v) and abs(v) < 14400 for v in (p.x, p.y, p.width, p.height)):
        # NaN compares false with everything and would pass the checks below; 14,400 pt is PDF's largest page.
        raise InvalidArgument("POSITION_OUT_OF_RANGE", "the seal's position and size must be finite numbers "
                                                       "of PDF points (at most 14400)")
    if p is not None and (p.width <= 0 or p.height <= 0 or min(p.x, p.y) < 0):
        raise InvalidArgument("POSITION_OUT_OF_RANGE", "the seal's box must have a positive size on the page")
    if len(options.reason) > 500 or len(options.location) > 200:
        raise InvalidArgument("SEAL_TEXT_TOO_LONG", "reason (500) or location (200) is too long")


class Sealer:
    """Seals documents for one node. Build once; thread-safe."""

    def __init__(self, seals: SealService, trust: TrustSource | None = None) -> None:
        self.seals = seals
        self.node = seals.node
        self.settings = seals.settings
        self.trust = trust or node_trust(self.node, crl_hours=self.settings.crl_hours)
        self._signers: dict[tuple[str, bytes], HsmSigner] = {}

    def precheck(self, principal: Principal, seal_id: str, options: SealOptions, declared_size: int = 0) -> SealUse:
        """Everything that can be refused before the document is read; the one read of the seal row, whose
        result the sealing then carries (``seal_spooled(use=...)``)."""
        check_options(options)
        if declared_size > self.settings.max_upload_bytes:
            raise too_large(self.settings.max_upload_bytes)
        return self.seals.authorise(principal, seal_id)

    def seal_chunks(self, principal: Principal, seal_id: str, chunks: Iterable[bytes], options: SealOptions,
                    *, declared_size: int = 0, idempotency_key: str = "") -> SealedDocument:
        use = self.precheck(principal, seal_id, options, declared_size)
        upload = spool(chunks, limit=self.settings.max_upload_bytes, temp_dir=self.settings.temp_dir)
        try:
            if idempotency_key:
                return self._seal_once(principal, use, upload, options, idempotency_key)
            return self.seal_spooled(principal, use, upload, options)
        finally:
            upload.close()

    def _seal_once(self, principal: Principal, use: SealUse, upload: Spooled, options: SealOptions,
                   key: str) -> SealedDocument:
        """Sealing under a client's idempotency key: a retry gets the first sealed document back, the grant
        charged once (the document is remembered in the transaction that charges the grant)."""
        seal_id = use.seal.seal_id
        held = idempotency.claim(self.node.db, actor=principal.actor, operation="seal.sign", key=key,
                                 request_sha256=idempotency.request_digest(seal_id, repr(options), upload.sha256))
        if held.done:
            return self._replay(held.result, seal_id, upload.sha256)
        try:
            return self.seal_spooled(principal, use, upload, options, remember=held)
        except BaseException:
            idempotency.release(self.node.db, held)
            raise

    def _replay(self, blob: bytes, seal_id: str, input_sha256: str) -> SealedDocument:
        head, _, pdf = blob.partition(b"\n")
        meta = json.loads(head)
        output = spool_bytes(pdf, limit=len(pdf) + 1, temp_dir=self.settings.temp_dir)
        return SealedDocument(output=output, seal_id=seal_id, field_name=meta["field"], level=PadesLevel(meta["level"]),
                              input_sha256=input_sha256, signing_time=datetime.fromisoformat(meta["signing_time"]))

    def seal_spooled(self, principal: Principal, use: SealUse, upload: Spooled, options: SealOptions, *,
                     remember: idempotency.Claim | None = None) -> SealedDocument:
        """Seal an upload already on disk, with what ``precheck`` found (``use``): nothing is read twice."""
        seal_id = use.seal.seal_id
        reader = open_pdf(upload)
        field_name, spec, rotation = _field_for(reader, seal_id, options)
        out = scratch_file(self.settings.temp_dir, upload.size)
        try:
            signing_time = self._sign(use, reader, upload, out, field_name, spec, options, rotation)
            output = finish(out)
            details = _use_details(options, field_name, document_sha256=upload.sha256, sealed_sha256=output.sha256,
                                   size=upload.size)
            if remember is None:
                self.seals.record_use_now(principal, seal_id, details, use=use)
            else:  # the sealed document remembered in the transaction that charges the grant
                with self.node.db.session() as s:
                    self.seals.record_use(s, principal, seal_id, details, use=use)
                    meta = {"field": field_name, "level": options.level.value, "signing_time": signing_time.isoformat()}
                    idempotency.save(s, remember, json.dumps(meta).encode() + b"\n" + _contents(output), done=True)
        except BaseException:
            out.close()
            metrics.seal_signed("error")
            raise
        metrics.seal_signed("ok")
        return SealedDocument(output=output, seal_id=seal_id, field_name=field_name, level=options.level,
                              input_sha256=upload.sha256, signing_time=signing_time)

    def seal_built(self, principal: Principal, use: SealUse, writer: PdfFileWriter, options: SealOptions) -> bytes:
        """Seal a document this process is building and has not written yet (a certificate's rendition): the
        page and the seal go out in one write, so the page is neither written, spooled and parsed back, nor
        followed by an incremental update that rewrites its catalogue and page (profiled: about a fifth of a
        rendition's sealing). A new visible seal only (``options.placement``); ``precheck`` ran as for an
        upload, and the grant is charged and audited alike. The audit has no input hash (there was no input
        document), only the sealed one. The writer is used up."""
        if options.placement is None:
            raise InvalidArgument("PLACEMENT_REQUIRED", "a document being built is sealed at a page position")
        seal_id = use.seal.seal_id
        field_name, spec, rotation = _new_field(writer, seal_id, options.placement)
        out = io.BytesIO()
        try:
            self._sign_into(use, writer, out, field_name, spec, options, rotation, chunk_size=io_chunk(0))
            data = out.getvalue()
            self.seals.record_use_now(principal, seal_id, _use_details(
                options, field_name, document_sha256=None, sealed_sha256=hashlib.sha256(data).hexdigest(),
                size=len(data)), use=use)
        except BaseException:
            metrics.seal_signed("error")
            raise
        metrics.seal_signed("ok")
        return data

    def _bytes_reserved(self, level: PadesLevel, chain: list[x509.Certificate],
                        timestamper: HsmTimeStamper | None) -> int:
        """Room for the signature (hex digits). B-B/B-T: sized from the certificates that go in, so that
        verifiers do not parse ~30 KB of zero padding per seal (pyHanko reads /Contents digit by digit);
        B-LT/B-LTA: the configured size. No dry-run signature either way."""
        if level in (PadesLevel.B_LT, PadesLevel.B_LTA):
            return self.settings.signature_bytes_reserved
        size = _cms_bound(chain)
        if timestamper is not None:  # the timestamp token is a CMS of its own inside the unsigned attributes
            size += _cms_bound([self.node.pki.certificate(pki.TSA), self.node.pki.certificate(pki.ROOT)])
        return 2 * size

    def _with_cross(self, chain: list[x509.Certificate]) -> list[x509.Certificate]:
        """During a root overlap a chain ending at the new root carries the cross certificate (the old root
        vouching for the new root's key) in its place: a verifier that trusts only the old root builds the path
        from the PDF alone, and one that trusts the new root has it as its anchor (the self-signed copy beside
        the cross certificate would make some path builders, NSS's, stop at the untrusted copy)."""
        cross = [c for c in self.node.pki.cross_certificates() if c.subject == chain[-1].subject]
        return [*chain[:-1], *cross] if cross else chain

    def _signer(self, label: str, cert: x509.Certificate) -> HsmSigner:
        """The HSM signer of ``label``, built once per key and certificate (building one searches the token and
        reads the key's attributes). Keyed by the certificate too: a seal re-keyed elsewhere gets a new one."""
        cache_key = (label, cert.fingerprint(hashes.SHA256()))
        signer = self._signers.get(cache_key)
        if signer is None:
            signer = self._signers[cache_key] = self.node.keys.signer(label)
        return signer

    def _sign(self, use: SealUse, reader: PdfFileReader, upload: Spooled, out: BinaryIO, field_name: str,
              spec: SigFieldSpec | None, options: SealOptions, rotation: int = 0) -> datetime:
        writer = _Writer(upload.file, prev=reader, strict=False)
        writer.IO_CHUNK_SIZE = io_chunk(upload.size)
        if reader.encrypted:  # opened with the empty user password (pdfio.open_pdf): the update is encrypted alike
            writer.encrypt(b"")
        return self._sign_into(use, writer, out, field_name, spec, options, rotation, chunk_size=io_chunk(upload.size))

    def _sign_into(self, use: SealUse, writer: BasePdfFileWriter, out: BinaryIO, field_name: str,
                   spec: SigFieldSpec | None, options: SealOptions, rotation: int, *, chunk_size: int) -> datetime:
        """The seal applied to ``writer`` (an incremental update of an upload, or a document still being built)
        and the result written to ``out``; returns the signing time."""
        info = use.seal
        level = options.level
        long_term = level in (PadesLevel.B_LT, PadesLevel.B_LTA)
        meta = signers.PdfSignatureMetadata(
            field_name=field_name, md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES,
            reason=options.reason or None, location=options.location or None, name=info.name,
            certify=options.certification is not None,
            docmdp_permissions=options.certification.value if options.certification else MDPPerm.FILL_FORMS,
            embed_validation_info=long_term, use_pades_lta=level is PadesLevel.B_LTA,
            validation_context=validation_context(self.trust()) if long_term else None,
        )
        hsm = self._signer(use.key_label, info.certificate)
        chain = [info.certificate, *self.node.pki.issuer_chain(info.certificate)]  # the seal CA that issued it
        chain = self._with_cross(chain)
        timestamper = None
        if level is not PadesLevel.B_B:
            tsa_signer, tsa_cert = self.node.pki.signing_pair(pki.TSA)  # the active TSA key (rollover); cached
            timestamper = HsmTimeStamper(tsa_signer, tsa_cert, self.node.pki.issuer_chain(tsa_cert))  # its root
        stamp = UprightStampStyle(
            rotation=rotation, background=image.StampImage(info.image_png), border_width=0, background_opacity=1.0,
            background_layout=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MID, y_align=layout.AxisAlignment.ALIGN_MID,
                margins=layout.Margins.uniform(0)),
        )
        pdf_signer = signers.PdfSigner(meta, HsmPdfSigner(hsm, info.certificate, chain), timestamper=timestamper,
                                       stamp_style=stamp, new_field_spec=spec)
        signing_time = datetime.now(UTC)
        try:
            loops.run(pdf_signer.async_sign_pdf(writer, existing_fields_only=spec is None,
                                                bytes_reserved=self._bytes_reserved(level, chain, timestamper),
                                                output=out, chunk_size=chunk_size))
        except HutongError:
            raise
        except SigningError as exc:
            raise FailedPrecondition("PDF_SIGNING_REFUSED", f"the document cannot be sealed: {exc}") from None
        return signing_time


class _Writer(IncrementalPdfFileWriter):
    """pyHanko's incremental writer, except that a document whose XMP metadata cannot be parsed keeps that
    metadata as it is instead of failing the seal: the XMP is the document's, the seal does not depend on it
    (the document information dictionary still gets the new modification date)."""

    def _update_meta(self) -> None:
        with contextlib.suppress(XmpXmlProcessingError):
            super()._update_meta()  # type: ignore[no-untyped-call]


def _contents(doc: Spooled) -> bytes:
    doc.file.seek(0)
    data = doc.file.read()
    doc.file.seek(0)
    return data


def _cms_bound(certs: Iterable[x509.Certificate]) -> int:
    """An upper bound of a CMS SignedData of ours: the embedded certificates plus generous room for signer
    info, signed attributes and an ECDSA signature."""
    return sum(len(c.public_bytes(serialization.Encoding.DER)) for c in certs) + _CMS_OVERHEAD


def _check_new_field_allowed(reader: PdfFileReader) -> None:
    """Refuse up front what would break a certifying seal. DocMDP allows signing existing fields
    only (level 2; validators such as pyHanko treat level 3 alike), so after certification a new
    visible seal would make the certification report a disallowed change."""
    cert = read_certification_data(reader)
    if cert is None:
        return
    if cert.permission == MDPPerm.NO_CHANGES:
        raise FailedPrecondition("DOCUMENT_LOCKED", "the document is certified against any change")
    raise FailedPrecondition("DOCUMENT_LOCKED", "the document is certified: seal into one of its existing "
                             "empty signature fields")


def _field_for(reader: PdfFileReader, seal_id: str,
               options: SealOptions) -> tuple[str, SigFieldSpec | None, int]:
    """The signature field to fill: an existing empty one, or the spec of a new one (and its page's rotation)."""
    may_fill, may_add = signing_permissions(reader)
    existing = {name: value for name, value, _ in fields.enumerate_sig_fields(reader)}
    if options.certification is not None and any(v is not None for v in existing.values()):
        raise FailedPrecondition("CERTIFICATION_NOT_POSSIBLE", "only the first seal of a document can certify it")
    if options.field_name:
        if options.field_name not in existing:
            raise InvalidArgument("FIELD_NOT_FOUND", "the document has no signature field of that name")
        if existing[options.field_name] is not None:
            raise FailedPrecondition("FIELD_ALREADY_SIGNED", "that signature field is already signed")
        if not may_fill:
            raise InvalidArgument("PDF_ENCRYPTED", "the document's owner password does not permit signing its "
                                                   "fields")
        return options.field_name, None, 0
    p = options.placement
    assert p is not None
    _check_new_field_allowed(reader)
    if not may_add:
        raise InvalidArgument("PDF_ENCRYPTED", "the document's owner password does not permit adding a signature "
                                               "field (it permits filling existing fields only, or nothing)")
    return _new_field(reader, seal_id, p, existing)


def _use_details(options: SealOptions, field_name: str, *, document_sha256: str | None, sealed_sha256: str,
                 size: int) -> dict[str, object]:
    """What a seal's use records (``seal.use``): the documents' hashes, the field, the level, the certification."""
    return {"document_sha256": document_sha256, "sealed_sha256": sealed_sha256, "size": size, "field": field_name,
            "level": options.level.value,
            "certification": options.certification.name if options.certification else None}


def _new_field(pdf: PdfHandler, seal_id: str, p: Placement,
               existing: Iterable[str] = ()) -> tuple[str, SigFieldSpec, int]:
    """A new visible signature field at ``p`` (named after the seal, not clashing with ``existing``) on a
    document being read or built, and its page's rotation."""
    pages = int(pdf.root["/Pages"]["/Count"])
    if not 1 <= p.page <= pages:
        raise InvalidArgument("PAGE_OUT_OF_RANGE", f"the document has {pages} page(s)")
    geometry = page_geometry(pdf, p.page - 1)
    llx, lly, urx, ury = (round(v) for v in to_user_space(geometry, p.x, p.y, p.width, p.height))
    taken = set(existing)
    name, n = f"Seal_{seal_id}", 1
    while name in taken:
        n += 1
        name = f"Seal_{seal_id}_{n}"
    return name, SigFieldSpec(sig_field_name=name, on_page=p.page - 1, box=(llx, lly, urx, ury)), geometry.rotation


def seal_built(node: Node, *, seal_id: str, writer: PdfFileWriter, principal: Principal, options: SealOptions,
               sealer: Sealer | None = None) -> bytes:
    """In-process API: seal a document being built in ``writer`` (``Sealer.seal_built``), with ``seal_pdf``'s
    checks, grant accounting and audit; returns the sealed bytes."""
    sealer = sealer or Sealer(SealService(node))
    return sealer.seal_built(principal, sealer.precheck(principal, seal_id, options), writer, options)


def seal_pdf(node: Node, *, seal_id: str, pdf: bytes | BinaryIO, principal: Principal,
             options: SealOptions, service: SealService | None = None, sealer: Sealer | None = None) -> bytes:
    """In-process API (cert_svc and others): seal ``pdf`` and return the sealed bytes.

    Same checks, grant accounting and audit as the RPC. ``service`` or ``sealer`` may be passed to reuse one
    (a kept ``Sealer`` keeps its HSM signers).
    """
    sealer = sealer or Sealer(service or SealService(node))
    use = sealer.precheck(principal, seal_id, options)
    upload = spool_bytes(pdf, limit=sealer.settings.max_upload_bytes, temp_dir=sealer.settings.temp_dir)
    try:
        doc = sealer.seal_spooled(principal, use, upload, options)
    finally:
        upload.close()
    try:
        return doc.read()
    finally:
        doc.close()

