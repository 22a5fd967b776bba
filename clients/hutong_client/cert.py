"""Python SDK for the e-certificate service, with offline verification.

    client = CertClient(channel, token=access_token)            # or metadata=[client id/secret]
    cert = client.issue(type_code, holder_id, holder_name, fields)
    verifier = client.offline_verifier()                         # trust bundle fetched once
    result = verifier.verify(cert.jws)                           # status lists cached per TTL

The offline verifier needs the node only to refresh status lists once their TTL has run out; with
``fetch=None`` it never calls out, and refuses a stale list (STATUS_LIST_STALE) instead of trusting it.
Failures raise the typed ``hutong.errors`` exception the node reported (reason kept).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import grpc
from cryptography import x509

from cert_svc import jws
from cert_svc.offline import StatusListCache, Verification, verify_token
from hutong.cert.v1 import cert_pb2 as pb
from hutong.cert.v1 import cert_pb2_grpc
from hutong.common.v1 import common_pb2
from hutong.rpc import error_from_rpc

T = TypeVar("T")
CHUNK = 1024 * 1024


class OfflineVerifier:
    """Verifies certificate JWS / QR content from a trust bundle and cached status lists."""

    def __init__(self, roots: Sequence[x509.Certificate], issuer_chains: Sequence[Sequence[x509.Certificate]] = (),
                 fetch: Callable[[str], str] | None = None, clock: Callable[[], float] | None = None) -> None:
        self.roots = list(roots)
        self._by_kid = {jws.kid_of(c[0]): list(c) for c in issuer_chains if c}
        kwargs: dict[str, Any] = {"clock": clock} if clock else {}
        self.status = StatusListCache(lambda: self.roots, fetch, **kwargs)

    def verify(self, token: str) -> Verification:
        return verify_token(token, roots=lambda: self.roots, status_of=self.status.status_of,
                            chain_for_kid=self._by_kid.get)


class CertClient:
    def __init__(self, channel: grpc.Channel, *, token: str | None = None,
                 metadata: Sequence[tuple[str, str]] = (), timeout: float = 600.0) -> None:
        self._stub = cert_pb2_grpc.CertServiceStub(channel)  # type: ignore[no-untyped-call]
        self._metadata = [*metadata, *([("authorization", f"Bearer {token}")] if token else [])]
        self._timeout = timeout

    def _call(self, fn: Callable[..., T], request: Any) -> T:
        try:
            return fn(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    # catalogue and issuers
    def types(self) -> list[pb.CertType]:
        return list(self._call(self._stub.ListTypes, pb.ListTypesRequest()).types)

    def issuers(self) -> list[pb.Issuer]:
        return list(self._call(self._stub.ListIssuers, pb.ListIssuersRequest()).issuers)

    # issuing
    def issue(self, type_code: str, holder_id: str, holder_name: str, fields: Mapping[str, str], *,
              valid_from: str = "", valid_until: str = "", predecessor: str = "") -> pb.Certificate:
        req = pb.IssueCertificateRequest(type_code=type_code, holder=pb.Holder(id=holder_id, name=holder_name),
                                         fields=dict(fields), valid_from=valid_from, valid_until=valid_until,
                                         predecessor=predecessor)
        return self._call(self._stub.IssueCertificate, req).certificate

    def issue_batch(self, type_code: str, csv_bytes: bytes) -> Iterator[pb.IssueBatchResponse]:
        """Streams per-row outcomes as the node processes them; the last message carries the summary."""

        def requests() -> Iterator[pb.IssueBatchRequest]:
            yield pb.IssueBatchRequest(header=pb.IssueBatchHeader(type_code=type_code))
            for i in range(0, len(csv_bytes), CHUNK):
                yield pb.IssueBatchRequest(csv=common_pb2.Chunk(data=csv_bytes[i:i + CHUNK]))

        try:
            yield from self._stub.IssueBatch(requests(), metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def change_status(self, identifier: str, status: pb.CertStatus, reason: str = "") -> pb.Certificate:
        req = pb.ChangeStatusRequest(identifier=identifier, status=status, reason=reason)
        return self._call(self._stub.ChangeStatus, req).certificate

    def suspend(self, identifier: str, reason: str = "") -> pb.Certificate:
        return self.change_status(identifier, pb.CERT_STATUS_SUSPENDED, reason)

    def revoke(self, identifier: str, reason: str = "") -> pb.Certificate:
        return self.change_status(identifier, pb.CERT_STATUS_REVOKED, reason)

    def update(self, identifier: str, fields: Mapping[str, str], reason: str = "") -> pb.Certificate:
        req = pb.UpdateCertificateRequest(identifier=identifier, fields=dict(fields), reason=reason)
        return self._call(self._stub.UpdateCertificate, req).certificate

    # reading and consent
    def get(self, identifier: str, purpose: str = "") -> pb.Certificate:
        return self._call(self._stub.GetCertificate, pb.GetCertificateRequest(identifier=identifier,
                                                                               purpose=purpose)).certificate

    def list(self, *, holder_id: str = "", holder_kind: pb.HolderKind = pb.HOLDER_KIND_UNSPECIFIED, purpose: str = "",
             type_code: str = "") -> list[pb.Certificate]:
        req = pb.ListCertificatesRequest(holder=pb.Holder(id=holder_id, kind=holder_kind), purpose=purpose,
                                         type_code=type_code)
        return list(self._call(self._stub.ListCertificates, req).certificates)

    def grant_consent(self, platform: str, identifiers: Iterable[str], purpose: str, expires_at: Any) -> pb.Consent:
        req = pb.GrantConsentRequest(platform=platform, identifiers=list(identifiers), purpose=purpose)
        req.expires_at.FromDatetime(expires_at)
        return self._call(self._stub.GrantConsent, req).consent

    def withdraw_consent(self, consent_id: str) -> pb.Consent:
        return self._call(self._stub.WithdrawConsent, pb.WithdrawConsentRequest(consent_id=consent_id)).consent

    def access_log(self) -> builtins.list[pb.AccessRecord]:
        return list(self._call(self._stub.ListAccessLog, pb.ListAccessLogRequest()).records)

    def rendition(self, identifier: str, purpose: str = "") -> bytes:
        try:
            stream = self._stub.DownloadRendition(pb.DownloadRenditionRequest(identifier=identifier, purpose=purpose),
                                                  metadata=self._metadata, timeout=self._timeout)
            return b"".join(chunk.data for chunk in stream)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    # verification
    def verify(self, *, identifier: str = "", jws_token: str = "", qr: str = "") -> pb.VerifyResponse:
        req = (pb.VerifyRequest(identifier=identifier) if identifier else
               pb.VerifyRequest(jws=jws_token) if jws_token else pb.VerifyRequest(qr=qr))
        return self._call(self._stub.Verify, req)

    def verify_rendition(self, pdf: bytes) -> pb.VerifyResponse:
        chunks = (common_pb2.Chunk(data=pdf[i:i + CHUNK]) for i in range(0, len(pdf), CHUNK))
        try:
            return self._stub.VerifyRendition(chunks, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def status_list(self, list_id: str) -> str:
        return self._call(self._stub.GetStatusList, pb.GetStatusListRequest(list_id=list_id)).token

    def offline_verifier(self, *, refresh: bool = True, clock: Callable[[], float] | None = None) -> OfflineVerifier:
        """A verifier from the node's trust bundle; ``refresh=False`` never calls the node again."""
        bundle = self._call(self._stub.GetTrustBundle, pb.GetTrustBundleRequest())
        roots = [x509.load_der_x509_certificate(d) for d in bundle.root_certificates_der]
        chains = [[x509.load_der_x509_certificate(d) for d in c.certificates_der] for c in bundle.issuer_chains]
        return OfflineVerifier(roots, chains, self.status_list if refresh else None, clock)
