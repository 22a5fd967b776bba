"""The cert service's in-process API: every RPC's domain half, with its transactions and its authorisation.

The servicer converts messages to these calls and their answers back, nothing else (as identity's ``Identity``
and seal's ``SealService``): who may change the catalogue or see an issuer's private fields, which list a
caller gets, when an anonymous verification is rate-limited, how large a rendition may be and how a CSV batch
is read are decided here, where in-process callers and tests reach them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from cert_svc import (
    access,
    catalogue,
    consent,
    federation,
    issuance,
    issuers,
    lifecycle,
    ratelimit,
    reasons,
    rendition,
    statuslist,
)
from cert_svc.catalogue import CertTypeSpec
from cert_svc.consent import HolderResolver
from cert_svc.records import CertView, Holder
from cert_svc.verify import Verifier
from hutong.auth import Principal
from hutong.errors import InvalidArgument
from hutong.idempotency import request_digest
from hutong.node import Node
from hutong.verify.certs import Verification


@dataclass(frozen=True)
class Batch:
    """A CSV batch read and started: how many rows it has, and their outcomes chunk by chunk as issued."""

    rows: int
    outcomes: Iterator[list[issuance.RowOutcome]]


@dataclass(frozen=True)
class TrustBundle:
    roots: list[x509.Certificate]
    issuer_chains: list[list[bytes]]  # each issuer's certificate and the issuer CA, DER


class CertService:
    def __init__(self, node: Node, holder_of: HolderResolver, verifier: Verifier | None = None) -> None:
        self.node, self.holder_of = node, holder_of
        self.reader = access.Reader(node, holder_of)
        self.verifier = verifier or Verifier(node)
        self.anonymous_verifications = ratelimit.RateLimiter.for_verification(node)
        self.renditions = rendition.Renditions(node)

    # catalogue
    def list_types(self) -> list[CertTypeSpec]:
        with self.node.db.session() as s:
            return catalogue.list_types(s)

    def get_type(self, code: str) -> CertTypeSpec:
        with self.node.db.session() as s:
            return catalogue.get_type(s, code)

    def put_type(self, principal: Principal, spec: CertTypeSpec) -> CertTypeSpec:
        issuers.require_operator(principal)
        with self.node.db.session() as s:
            return catalogue.put_type(s, spec, actor=principal.actor)

    # issuers
    def list_issuers(self, caller: Principal | None) -> list[issuers.Issuer]:
        """Every issuer; private fields (platform, seal) only for the operator."""
        with self.node.db.session() as s:
            found = issuers.list_all(s)
        return [i if caller is not None and caller.is_operator else i.public_view() for i in found]

    def issuer_chain(self, issuer: issuers.Issuer) -> list[bytes]:
        return issuers.chain_der(self.node, issuer)

    def register_issuer(self, principal: Principal, *, uscc: str, name: str, type_codes: list[str],
                        platform_client_id: str | None, seal_id: str | None) -> issuers.Issuer:
        return issuers.register(self.node, principal, uscc=uscc, name=name, type_codes=type_codes,
                                platform_client_id=platform_client_id, seal_id=seal_id)

    def authorise_issuer(self, principal: Principal, *, uscc: str, type_codes: list[str]) -> issuers.Issuer:
        return issuers.authorise(self.node, principal, uscc=uscc, type_codes=type_codes)

    # issuance and lifecycle
    def issue(self, principal: Principal, req: issuance.IssueRequest) -> CertView:
        return issuance.issue(self.node, principal, req)

    def new_version(self, principal: Principal, identifier: str, fields: dict[str, str], valid_until: str,
                    reason: str) -> CertView:
        return issuance.new_version(self.node, principal, identifier, fields, valid_until, reason)

    def issue_csv(self, principal: Principal, type_code: str, data: bytes, *, idempotency_key: str = "") -> Batch:
        """A CSV batch: a bad encoding or header fails before anything is issued; under an idempotency key a
        retried batch answers the first one's outcomes."""
        if not type_code:
            raise InvalidArgument(reasons.BATCH_INVALID, "the batch starts with a header naming the type")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument(reasons.BATCH_INVALID, "the CSV is not UTF-8") from None
        rows = list(issuance.csv_rows(text, type_code))
        if idempotency_key:
            outcomes = issuance.issue_batch_once(self.node, principal, type_code, rows, key=idempotency_key,
                                                 request_sha256=request_digest(type_code, data))
        else:
            outcomes = issuance.issue_batch(self.node, principal, type_code, rows)
        return Batch(rows=len(rows), outcomes=outcomes)

    def change_status(self, principal: Principal, identifier: str, status: str | None, reason: str) -> CertView:
        if status is None:
            raise InvalidArgument(reasons.INVALID_TRANSITION, "name the new status")
        return lifecycle.change_status(self.node, principal, identifier, status, reason)

    # reading
    def get(self, principal: Principal, identifier: str, purpose: str) -> CertView:
        return self.reader.get(principal, identifier, purpose)

    def certificates_of(self, principal: Principal, holder: Holder, purpose: str) -> list[CertView]:
        """A platform naming a holder: the holder's certificates within their consent."""
        return self.reader.list_for_platform(principal, holder, purpose)

    def list_certificates(self, principal: Principal, type_code: str, offset: int,
                          limit: int) -> tuple[list[CertView], bool]:
        """A department (or a type named): what it issued; anyone else: their own."""
        if principal.kind == "platform" or type_code:
            return self.reader.list_issued(principal, type_code, offset, limit)
        return self.reader.list_own(principal, offset, limit)

    def rendition_chunks(self, principal: Principal, identifier: str, purpose: str) -> Iterator[bytes]:
        view = self.reader.get(principal, identifier, purpose, action="rendition")
        return self.renditions.chunks(view)

    # consents
    def grant_consent(self, principal: Principal, *, platform: str, identifiers: list[str], purpose: str,
                      expires_at: datetime | None) -> consent.Consent:
        return consent.grant(self.node, principal, self.holder_of(principal), platform=platform,
                             identifiers=identifiers, purpose=purpose, expires_at=expires_at or datetime.now(UTC))

    def withdraw_consent(self, principal: Principal, consent_id: str) -> consent.Consent:
        return consent.withdraw(self.node, principal, self.holder_of(principal), consent_id)

    def list_consents(self, principal: Principal) -> list[consent.Consent]:
        return consent.list_consents(self.node, self.holder_of(principal))

    def access_log(self, principal: Principal, offset: int, limit: int) -> tuple[list[consent.Access], bool]:
        return consent.access_log(self.node, self.holder_of(principal), offset, limit)

    def fetch_remote(self, principal: Principal, *, node_id: str, identifier: str, purpose: str) -> str:
        return federation.fetch_remote(self.node, principal, node_id=node_id, identifier=identifier,
                                       purpose=purpose)

    # verification (no authentication needed)
    def status_list(self, list_id: str) -> str:
        return statuslist.token(self.node, list_id)

    def trust_bundle(self) -> TrustBundle:
        with self.node.db.session() as s:
            chains = [issuers.chain_der(self.node, i)[:2] for i in issuers.list_all(s)]
        return TrustBundle(roots=self.verifier.roots(), issuer_chains=chains)

    def verify_identifier(self, identifier: str, caller: Principal | None, address: str) -> Verification:
        if caller is None:  # anonymous: bounded per caller address (no enumeration)
            self.anonymous_verifications.take(ratelimit.caller_key(address))
        return self.verifier.identifier(identifier)

    def verify_token(self, token: str) -> Verification:
        return self.verifier.token(token)

    def verify_qr(self, qr: str) -> Verification:
        """What a rendition's QR says: the verification page's URL, the token in its fragment."""
        return self.verifier.token(qr.rpartition("#")[2])

    def verify_rendition(self, chunks: Iterable[bytes]) -> Verification:
        limit = self.node.config.server.max_message_bytes * 16
        data = bytearray()
        for chunk in chunks:
            data += chunk
            if len(data) > limit:
                raise InvalidArgument(reasons.RENDITION_INVALID, "the PDF is larger than any rendition")
        return self.verifier.pdf(bytes(data))
