"""Python SDK for the seal service: manage seals and grants, seal and verify PDFs streamed in chunks.

    client = SealClient(channel, token=access_token)
    result = client.sign_file("contract.pdf", "contract-sealed.pdf", seal_id,
                              placement=seal_pb2.Placement(page=1, x=400, y=60, width=120, height=120))
    report = client.verify_file("contract-sealed.pdf")             # the node's verdict
    offline = client.offline_verifier()                             # trust material fetched once ...
    report = offline.verify("contract-sealed.pdf")                  # ... then no calls to the node

Failures raise the typed ``hutong.errors`` exception the node reported (reason kept). Documents are
streamed in 1 MiB chunks both ways, from paths, bytes or binary streams; a sealed file only appears at
its destination once it is complete and its SHA-256 matches what the node announced.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import grpc
from cryptography import x509

from hutong.auth import IDEMPOTENCY_KEY
from hutong.common.v1 import common_pb2
from hutong.errors import Internal, Unavailable
from hutong.seal.v1 import seal_pb2, seal_pb2_grpc
from hutong.verify.pdfreport import VerificationReport
from hutong.verify.trust import TrustMaterial, combine
from hutong_client._channel import (
    DEFAULT_TIMEOUT,
    Caller,
    Credentials,
    Page,
    RetryPolicy,
    fetch_page,
    iterate_pages,
)
from hutong_client._streams import Source, atomic_file, chunks, replayable

DEFAULT_OFFLINE_LIMIT = 512 * 1024 * 1024


def trust_material(crl: seal_pb2.GetCrlResponse) -> TrustMaterial:
    """A node's seal trust material (root, seal CA, both CRLs) from its ``GetCrl`` answer."""
    certs = [x509.load_der_x509_certificate(d) for d in crl.ca_certificates_der]
    roots = tuple(c for c in certs if c.subject == c.issuer)
    cas = tuple(c for c in certs if c not in roots)  # GetCrl names the seal CA and the root
    # After a root rollover GetCrl also names the cross certificate (old root -> new root): a path to follow,
    # never a CA of seals.
    seal_cas = tuple(c for c in cas if all(c.subject != r.subject for r in roots))
    return TrustMaterial(roots=roots, intermediates=cas, seal_cas=seal_cas,
                         crls_der=tuple(d for d in (crl.crl_der, crl.root_crl_der, *crl.other_crl_der) if d))


class OfflinePdfVerifier:
    """Verifies sealed PDFs locally with the node's own verification logic (``hutong.verify.pdf``, which
    needs pyHanko: ``pip install hutong-client[pdf]``) against
    cached trust material: one node's, or several (federation members) combined. Nothing is fetched:
    a document's verdict uses the CRLs held here, so refresh them (``SealClient.trust_material``)
    before their next update."""

    def __init__(self, *materials: TrustMaterial, limit: int = DEFAULT_OFFLINE_LIMIT,
                 temp_dir: str | None = None) -> None:
        self._trust = combine(*(lambda m=m: m for m in materials))
        self._limit, self._temp_dir = limit, temp_dir or tempfile.gettempdir()

    def verify(self, source: Source) -> VerificationReport:
        """The report for a PDF given as a path, bytes or a binary stream."""
        from hutong.verify.pdf import verify_chunks  # pyHanko: only who verifies PDFs needs it

        make, _ = replayable(source)
        return verify_chunks(make(), self._trust, limit=self._limit, temp_dir=self._temp_dir)


class SealClient:
    """SealService: seals, grants, sealing and verifying PDFs."""

    def __init__(self, channel: grpc.Channel, *, token: Any = None, client_id: str = "",
                 client_secret: str = "", timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None,
                 caller: Caller | None = None) -> None:
        """Authenticate as a person (access ``token`` or ``identity.Session``) and/or a platform (client id +
        secret)."""
        creds = Credentials(client_id, client_secret, token or None)
        self._caller = caller.with_credentials(creds) if caller else Caller(channel, creds, timeout=timeout,
                                                                            retry=retry)
        self._stub = seal_pb2_grpc.SealServiceStub(self._caller.channel)  # type: ignore[no-untyped-call]

    @property
    def _metadata(self) -> list[tuple[str, str]]:
        return self._caller.metadata

    # -- seals and grants ------------------------------------------------------------------
    def create_seal(self, *, org_uscc: str, org_name: str = "",
                    type: seal_pb2.SealType = seal_pb2.SEAL_TYPE_OFFICIAL,  # noqa: A002
                    name: str = "", image_png: bytes = b"") -> seal_pb2.Seal:
        req = seal_pb2.CreateSealRequest(org_uscc=org_uscc, org_name=org_name, type=type, name=name,
                                         image_png=image_png)
        return self._caller.unary(self._stub.CreateSeal, req).seal

    def get_seal(self, seal_id: str) -> seal_pb2.Seal:
        return self._caller.unary(self._stub.GetSeal, seal_pb2.GetSealRequest(seal_id=seal_id), idempotent=True).seal

    def list_seals(self, org_uscc: str = "") -> list[seal_pb2.Seal]:
        """Every seal of the organisation (all pages)."""
        return list(self.iter_seals(org_uscc))

    def iter_seals(self, org_uscc: str = "", *, page_size: int = 500, page_token: str = "") -> Iterator[seal_pb2.Seal]:
        """The organisation's seals, page by page as the iteration goes (from ``page_token`` when given)."""
        return iterate_pages(self._caller, self._stub.ListSeals, seal_pb2.ListSealsRequest(org_uscc=org_uscc),
                             "seals", page_size=page_size, page_token=page_token)

    def seals_page(self, org_uscc: str = "", *, page_size: int = 0, page_token: str = "") -> Page:
        """One page of the organisation's seals and the token of the next ("" after the last)."""
        return fetch_page(self._caller, self._stub.ListSeals, seal_pb2.ListSealsRequest(org_uscc=org_uscc),
                          "seals", page_size=page_size, page_token=page_token)

    def suspend_seal(self, seal_id: str, reason: str = "") -> seal_pb2.Seal:
        return self._caller.unary(self._stub.SuspendSeal, seal_pb2.SuspendSealRequest(seal_id=seal_id,
                                                                                       reason=reason)).seal

    def reactivate_seal(self, seal_id: str) -> seal_pb2.Seal:
        return self._caller.unary(self._stub.ReactivateSeal, seal_pb2.ReactivateSealRequest(seal_id=seal_id)).seal

    def revoke_seal(self, seal_id: str, reason: str = "") -> seal_pb2.Seal:
        return self._caller.unary(self._stub.RevokeSeal, seal_pb2.RevokeSealRequest(seal_id=seal_id,
                                                                                     reason=reason)).seal

    def grant(self, seal_id: str, *, grantee: str, kind: seal_pb2.GranteeKind = seal_pb2.GRANTEE_KIND_PERSON,
              max_uses: int = 0, not_before: Any = None, not_after: Any = None) -> seal_pb2.Grant:
        req = seal_pb2.GrantSealRequest(seal_id=seal_id, grantee_kind=kind, grantee=grantee, max_uses=max_uses)
        if not_before is not None:
            req.not_before.FromDatetime(not_before)
        if not_after is not None:
            req.not_after.FromDatetime(not_after)
        return self._caller.unary(self._stub.GrantSeal, req).grant

    def list_grants(self, seal_id: str) -> list[seal_pb2.Grant]:
        req = seal_pb2.ListGrantsRequest(seal_id=seal_id)
        return list(self._caller.unary(self._stub.ListGrants, req, idempotent=True).grants)

    def revoke_grant(self, grant_id: str) -> seal_pb2.Grant:
        return self._caller.unary(self._stub.RevokeGrant, seal_pb2.RevokeGrantRequest(grant_id=grant_id)).grant

    def get_crl(self) -> seal_pb2.GetCrlResponse:
        return self._caller.unary(self._stub.GetCrl, seal_pb2.GetCrlRequest(), idempotent=True)

    # -- sealing -----------------------------------------------------------------------------
    def sign_stream(self, source: BinaryIO | Iterable[bytes], sink: BinaryIO, header: seal_pb2.SignPdfHeader, *,
                    idempotency_key: str = "") -> seal_pb2.SignPdfResult:
        """Seal what ``source`` holds (a binary stream or an iterable of chunks) into ``sink``; checks size and
        SHA-256 of what came back. Not retried here: a seal use counts against the caller's grant (with an
        ``idempotency_key`` a second call returns the first one's document, charged once)."""
        blocks = chunks(source) if hasattr(source, "read") else source  # type: ignore[arg-type]

        def requests() -> Iterator[seal_pb2.SignPdfRequest]:
            yield seal_pb2.SignPdfRequest(header=header)
            for block in blocks:
                yield seal_pb2.SignPdfRequest(chunk=common_pb2.Chunk(data=block))

        result: seal_pb2.SignPdfResult | None = None
        digest, size = hashlib.sha256(), 0
        extra = [(IDEMPOTENCY_KEY, idempotency_key)] if idempotency_key else []
        for msg in self._caller.bidi_stream(self._stub.SignPdf, requests(), metadata=extra):
            if msg.WhichOneof("msg") == "result":
                result = msg.result
            else:
                digest.update(msg.chunk.data)
                size += len(msg.chunk.data)
                sink.write(msg.chunk.data)
        if result is None or size != result.output_size or digest.hexdigest() != result.output_sha256:
            raise Internal("INCOMPLETE_RESPONSE", "the sealed document did not arrive complete")
        return result

    def sign(self, source: Source, sink: BinaryIO | str | os.PathLike[str], seal_id: str, *,
             placement: seal_pb2.Placement | None = None, field_name: str = "", reason: str = "",
             location: str = "", level: seal_pb2.PadesLevel = seal_pb2.PADES_LEVEL_B_T,
             certification: seal_pb2.Certification = seal_pb2.CERTIFICATION_UNSPECIFIED,
             idempotency_key: str = "") -> seal_pb2.SignPdfResult:
        """Seal a PDF from a path, bytes or a binary stream into a path (written atomically) or a binary stream.

        Give ``placement`` (page + box, points from the bottom-left corner) or the name of an existing empty
        signature field. With an ``idempotency_key`` (e.g. a UUID kept with the job) the call is safe to repeat:
        the node returns the first sealed document and charges the grant once; into a path it is then retried
        on UNAVAILABLE like an idempotent call."""
        make, size = replayable(source)
        header = seal_pb2.SignPdfHeader(seal_id=seal_id, reason=reason, location=location, level=level,
                                        certification=certification, document_size=size)
        if placement is not None:
            header.placement.CopyFrom(placement)
        else:
            header.field_name = field_name
        if hasattr(sink, "write"):
            return self.sign_stream(make(), sink, header, idempotency_key=idempotency_key)  # type: ignore[arg-type]
        delays = iter(self._caller.retry.delays() if idempotency_key else ())
        while True:
            try:
                with atomic_file(sink) as out:  # type: ignore[arg-type]
                    return self.sign_stream(make(), out, header, idempotency_key=idempotency_key)
            except Unavailable:
                delay = next(delays, None)
                if delay is None:
                    raise
                time.sleep(delay)

    def sign_file(self, src: str | os.PathLike[str], dest: str | os.PathLike[str], seal_id: str,
                  **options: Any) -> seal_pb2.SignPdfResult:
        """``sign`` from one file to another (same options)."""
        return self.sign(Path(src), Path(dest), seal_id, **options)

    # -- verifying ---------------------------------------------------------------------------
    def verify(self, source: Source) -> seal_pb2.VerifyPdfResponse:
        """The node's verification report for a PDF given as a path, bytes or a binary stream (retried on
        UNAVAILABLE when the source can be read again)."""
        make, size = replayable(source)

        def requests() -> Iterator[seal_pb2.VerifyPdfRequest]:
            yield seal_pb2.VerifyPdfRequest(header=seal_pb2.VerifyPdfHeader(document_size=size))
            for block in make():
                yield seal_pb2.VerifyPdfRequest(chunk=common_pb2.Chunk(data=block))

        replay = not hasattr(source, "read") or source.seekable()  # type: ignore[union-attr]
        return self._caller.client_stream(self._stub.VerifyPdf, requests, idempotent=replay)

    def verify_stream(self, source: BinaryIO, size: int = 0) -> seal_pb2.VerifyPdfResponse:
        return self.verify(source)

    def verify_file(self, path: str | os.PathLike[str]) -> seal_pb2.VerifyPdfResponse:
        return self.verify(Path(path))

    def verify_bytes(self, data: bytes) -> seal_pb2.VerifyPdfResponse:
        return self.verify(data)

    # -- offline -----------------------------------------------------------------------------
    def trust_material(self) -> TrustMaterial:
        """This node's seal trust material (root, seal CA, current CRLs) for offline verification."""
        return trust_material(self.get_crl())

    def offline_verifier(self, *extra: TrustMaterial, temp_dir: str | None = None) -> OfflinePdfVerifier:
        """A verifier that needs the node no more: this node's trust material plus any ``extra`` (other nodes)."""
        return OfflinePdfVerifier(self.trust_material(), *extra, temp_dir=temp_dir)
