"""Python SDK for the e-certificate service, with offline verification.

    client = CertClient(channel, token=access_token)            # or client_id= / client_secret= (a platform)
    cert = client.issue(type_code, holder_id, holder_name, fields)
    verifier = client.offline_verifier()                         # trust bundle fetched once
    result = verifier.verify(cert.jws)                           # status lists cached per TTL

The offline verifier needs the node only to refresh status lists once their TTL has run out; with
``refresh=False`` it never calls out, and refuses a stale list (STATUS_LIST_STALE) instead of trusting it.
Failures raise the typed ``hutong.errors`` exception the node reported (reason kept).
"""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO

import grpc
from cryptography import x509

from hutong.auth import IDEMPOTENCY_KEY
from hutong.cert.v1 import cert_pb2 as pb
from hutong.cert.v1 import cert_pb2_grpc
from hutong.common.v1 import common_pb2
from hutong.verify.certs import Verification, verify_certificate
from hutong.verify.jose import kid_of
from hutong.verify.statuslist import StatusListCache
from hutong_client._channel import (
    DEFAULT_TIMEOUT,
    Caller,
    Credentials,
    Page,
    RetryPolicy,
    fetch_page,
    iterate_pages,
)
from hutong_client._streams import Source, atomic_file, replayable


class OfflineVerifier:
    """Verifies certificate JWS / QR content from a trust bundle and cached status lists."""

    def __init__(self, roots: Sequence[x509.Certificate], issuer_chains: Sequence[Sequence[x509.Certificate]] = (),
                 fetch: Callable[[str], str] | None = None, clock: Callable[[], float] | None = None) -> None:
        self.roots = list(roots)
        self._by_kid = {kid_of(c[0]): list(c) for c in issuer_chains if c}
        self._fetch, self._clock = fetch, clock
        self.forget_status_lists()

    def forget_status_lists(self) -> None:
        """Drop the cached status lists: the next check fetches fresh ones (or refuses, without ``fetch``)."""
        kwargs: dict[str, Any] = {"clock": self._clock} if self._clock else {}
        self.status = StatusListCache(lambda: self.roots, self._fetch, **kwargs)

    @classmethod
    def from_bundle(cls, bundle: pb.GetTrustBundleResponse, fetch: Callable[[str], str] | None = None,
                    clock: Callable[[], float] | None = None) -> OfflineVerifier:
        """From a cached ``GetTrustBundle`` answer (e.g. ``bundle.SerializeToString()`` kept on disk)."""
        roots = [x509.load_der_x509_certificate(d) for d in bundle.root_certificates_der]
        chains = [[x509.load_der_x509_certificate(d) for d in c.certificates_der] for c in bundle.issuer_chains]
        return cls(roots, chains, fetch, clock)

    def verify(self, token: str) -> Verification:
        return verify_certificate(token, roots=lambda: self.roots, status_of=self.status.status_of,
                            chain_for_kid=self._by_kid.get)


class CertClient:
    """CertService: catalogue, issuing, lifecycle, consent, renditions, verification."""

    def __init__(self, channel: grpc.Channel, *, token: Any = None, client_id: str = "", client_secret: str = "",
                 metadata: Sequence[tuple[str, str]] = (), timeout: float = DEFAULT_TIMEOUT,
                 retry: RetryPolicy | None = None, caller: Caller | None = None) -> None:
        """Authenticate as a person (access ``token`` or ``identity.Session``) and/or a platform (client id +
        secret); ``metadata`` adds raw pairs (tests)."""
        creds = Credentials(client_id, client_secret, token or None, extra=tuple(metadata))
        self._caller = caller.with_credentials(creds) if caller else Caller(channel, creds, timeout=timeout,
                                                                            retry=retry)
        self._stub = cert_pb2_grpc.CertServiceStub(self._caller.channel)  # type: ignore[no-untyped-call]

    def _unary(self, method: Callable[..., Any], request: Any, *, idempotent: bool = False) -> Any:
        return self._caller.unary(method, request, idempotent=idempotent)

    # catalogue and issuers
    def types(self) -> list[pb.CertType]:
        return list(self._unary(self._stub.ListTypes, pb.ListTypesRequest(), idempotent=True).types)

    def issuers(self) -> list[pb.Issuer]:
        return list(self._unary(self._stub.ListIssuers, pb.ListIssuersRequest(), idempotent=True).issuers)

    def register_issuer(self, uscc: str, name: str, type_codes: Iterable[str], *, platform_client_id: str = "",
                        seal_id: str = "") -> pb.Issuer:
        """Operator only (a platform with the node:operate scope): register a department as an issuer."""
        req = pb.RegisterIssuerRequest(uscc=uscc, name=name, type_codes=builtins.list(type_codes),
                                       platform_client_id=platform_client_id, seal_id=seal_id)
        return self._unary(self._stub.RegisterIssuer, req).issuer  # type: ignore[no-any-return]

    # issuing
    def issue(self, type_code: str, holder_id: str, holder_name: str, fields: Mapping[str, str], *,
              valid_from: str = "", valid_until: str = "", predecessor: str = "") -> pb.Certificate:
        req = pb.IssueCertificateRequest(type_code=type_code, holder=pb.Holder(id=holder_id, name=holder_name),
                                         fields=dict(fields), valid_from=valid_from, valid_until=valid_until,
                                         predecessor=predecessor)
        return self._unary(self._stub.IssueCertificate, req).certificate  # type: ignore[no-any-return]

    def issue_batch(self, type_code: str, csv: Source, *, idempotency_key: str = "") -> Iterator[pb.IssueBatchResponse]:
        """Streams per-row outcomes as the node processes them; the last message carries the summary.
        ``csv`` is a path, bytes or a binary stream (header row: holder_id,holder_name,<fields>). With an
        ``idempotency_key`` a repeated call (after a broken connection, say) returns the first call's outcomes
        and issues nothing twice; a batch cut off midway goes on after the rows it had committed."""
        make, _ = replayable(csv)

        def requests() -> Iterator[pb.IssueBatchRequest]:
            yield pb.IssueBatchRequest(header=pb.IssueBatchHeader(type_code=type_code))
            for block in make():
                yield pb.IssueBatchRequest(csv=common_pb2.Chunk(data=block))

        extra = [(IDEMPOTENCY_KEY, idempotency_key)] if idempotency_key else []
        return self._caller.bidi_stream(self._stub.IssueBatch, requests(), metadata=extra)

    def change_status(self, identifier: str, status: pb.CertStatus, reason: str = "") -> pb.Certificate:
        req = pb.ChangeStatusRequest(identifier=identifier, status=status, reason=reason)
        return self._unary(self._stub.ChangeStatus, req).certificate  # type: ignore[no-any-return]

    def suspend(self, identifier: str, reason: str = "") -> pb.Certificate:
        return self.change_status(identifier, pb.CERT_STATUS_SUSPENDED, reason)

    def revoke(self, identifier: str, reason: str = "") -> pb.Certificate:
        return self.change_status(identifier, pb.CERT_STATUS_REVOKED, reason)

    def update(self, identifier: str, fields: Mapping[str, str], reason: str = "") -> pb.Certificate:
        req = pb.UpdateCertificateRequest(identifier=identifier, fields=dict(fields), reason=reason)
        return self._unary(self._stub.UpdateCertificate, req).certificate  # type: ignore[no-any-return]

    # reading and consent
    def get(self, identifier: str, purpose: str = "") -> pb.Certificate:
        req = pb.GetCertificateRequest(identifier=identifier, purpose=purpose)
        return self._unary(self._stub.GetCertificate, req, idempotent=True).certificate  # type: ignore[no-any-return]

    def fetch_remote(self, node_id: str, identifier: str, purpose: str) -> str:
        """Platform: a certificate held at member node ``node_id``, through the hub, within the holder's consent
        there (given to "<this node>/<client id>"); returns the issuer-signed JWS (verify it with ``verify``)."""
        req = pb.FetchRemoteCertificateRequest(node_id=node_id, identifier=identifier, purpose=purpose)
        return str(self._unary(self._stub.FetchRemoteCertificate, req, idempotent=True).jws)

    def list(self, *, holder_id: str = "", holder_kind: pb.HolderKind = pb.HOLDER_KIND_UNSPECIFIED, purpose: str = "",
             type_code: str = "", page_size: int = 0) -> builtins.list[pb.Certificate]:
        """Every certificate that matches (all pages; ``iter_certificates`` streams them)."""
        return builtins.list(self.iter_certificates(holder_id=holder_id, holder_kind=holder_kind, purpose=purpose,
                                                    type_code=type_code, page_size=page_size))

    @staticmethod
    def _list_request(holder_id: str, holder_kind: pb.HolderKind, purpose: str,
                      type_code: str) -> pb.ListCertificatesRequest:
        return pb.ListCertificatesRequest(holder=pb.Holder(id=holder_id, kind=holder_kind), purpose=purpose,
                                          type_code=type_code)

    def iter_certificates(self, *, holder_id: str = "", holder_kind: pb.HolderKind = pb.HOLDER_KIND_UNSPECIFIED,
                          purpose: str = "", type_code: str = "", page_size: int = 0,
                          page_token: str = "") -> Iterator[pb.Certificate]:
        """The matching certificates, page by page (``page_size`` 0 = the node's default) as iteration goes."""
        return iterate_pages(self._caller, self._stub.ListCertificates,
                             self._list_request(holder_id, holder_kind, purpose, type_code), "certificates",
                             page_size=page_size, page_token=page_token)

    def list_page(self, *, holder_id: str = "", holder_kind: pb.HolderKind = pb.HOLDER_KIND_UNSPECIFIED,
                  purpose: str = "", type_code: str = "", page_size: int = 0, page_token: str = "") -> Page:
        """One page of certificates and the token of the next ("" after the last)."""
        return fetch_page(self._caller, self._stub.ListCertificates,
                          self._list_request(holder_id, holder_kind, purpose, type_code), "certificates",
                          page_size=page_size, page_token=page_token)

    def grant_consent(self, platform: str, identifiers: Iterable[str], purpose: str,
                      expires_at: datetime) -> pb.Consent:
        req = pb.GrantConsentRequest(platform=platform, identifiers=builtins.list(identifiers), purpose=purpose)
        req.expires_at.FromDatetime(expires_at)
        return self._unary(self._stub.GrantConsent, req).consent  # type: ignore[no-any-return]

    def withdraw_consent(self, consent_id: str) -> pb.Consent:
        req = pb.WithdrawConsentRequest(consent_id=consent_id)
        return self._unary(self._stub.WithdrawConsent, req).consent  # type: ignore[no-any-return]

    def access_log(self) -> builtins.list[pb.AccessRecord]:
        """Every access to the caller's certificates (all pages)."""
        return builtins.list(self.iter_access_log())

    def iter_access_log(self, *, page_size: int = 0, page_token: str = "") -> Iterator[pb.AccessRecord]:
        """Accesses to the caller's certificates, page by page as the iteration goes."""
        return iterate_pages(self._caller, self._stub.ListAccessLog, pb.ListAccessLogRequest(), "records",
                             page_size=page_size, page_token=page_token)

    def access_log_page(self, *, page_size: int = 0, page_token: str = "") -> Page:
        """One page of the access log and the token of the next ("" after the last)."""
        return fetch_page(self._caller, self._stub.ListAccessLog, pb.ListAccessLogRequest(), "records",
                          page_size=page_size, page_token=page_token)

    def download_rendition(self, identifier: str, sink: BinaryIO | str | os.PathLike[str], *,
                           purpose: str = "") -> int:
        """Stream the sealed PDF rendition into a binary stream or a path (written atomically); returns its size."""
        req = pb.DownloadRenditionRequest(identifier=identifier, purpose=purpose)
        size = 0

        def copy(out: BinaryIO) -> int:
            written = 0
            for chunk in self._caller.server_stream(self._stub.DownloadRendition, req, idempotent=True):
                out.write(chunk.data)
                written += len(chunk.data)
            return written

        if hasattr(sink, "write"):
            size = copy(sink)  # type: ignore[arg-type]
        else:
            with atomic_file(sink) as out:  # type: ignore[arg-type]
                size = copy(out)
        return size

    def rendition(self, identifier: str, purpose: str = "") -> bytes:
        """The sealed PDF rendition in memory (see ``download_rendition`` for large files)."""

        buf = io.BytesIO()
        self.download_rendition(identifier, buf, purpose=purpose)
        return buf.getvalue()

    # verification
    def verify(self, *, identifier: str = "", jws_token: str = "", qr: str = "") -> pb.VerifyResponse:
        req = (pb.VerifyRequest(identifier=identifier) if identifier else
               pb.VerifyRequest(jws=jws_token) if jws_token else pb.VerifyRequest(qr=qr))
        return self._unary(self._stub.Verify, req, idempotent=True)  # type: ignore[no-any-return]

    def verify_rendition(self, pdf: Source) -> pb.VerifyResponse:
        """Verify a rendition given as a path, bytes or a binary stream."""
        make, _ = replayable(pdf)
        return self._caller.client_stream(self._stub.VerifyRendition,
                                          lambda: (common_pb2.Chunk(data=b) for b in make()),
                                          idempotent=not hasattr(pdf, "read"))

    def status_list(self, list_id: str) -> str:
        req = pb.GetStatusListRequest(list_id=list_id)
        return self._unary(self._stub.GetStatusList, req, idempotent=True).token  # type: ignore[no-any-return]

    def trust_bundle(self) -> pb.GetTrustBundleResponse:
        """Root certificates and issuer chains, to cache for offline verification."""
        return self._unary(self._stub.GetTrustBundle, pb.GetTrustBundleRequest(),  # type: ignore[no-any-return]
                           idempotent=True)

    def offline_verifier(self, *, refresh: bool = True, clock: Callable[[], float] | None = None) -> OfflineVerifier:
        """A verifier from the node's trust bundle; ``refresh=False`` never calls the node again."""
        return OfflineVerifier.from_bundle(self.trust_bundle(), self.status_list if refresh else None, clock)


__all__ = ["CertClient", "OfflineVerifier"]
