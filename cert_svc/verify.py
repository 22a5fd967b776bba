"""Server-side verification by identifier, JWS, QR content or sealed PDF rendition.

Trust roots: the node's own and, when federated, every member's (``node.trust``, from the trust list),
plus any ``Roots`` callable injected into the ``Verifier``. Status of this node's certificates comes straight
from the database; a certificate of another node without a fresh status list is INDETERMINATE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from cert_svc import issuers, reasons, records, rendition
from cert_svc.models import CertificateRow
from hutong import metrics
from hutong.errors import HutongError, NotFound
from hutong.federation import transport
from hutong.federation.trustlist import MemberEntry
from hutong.node import Node
from hutong.verify import jose
from hutong.verify.certs import StatusOf, Verification, verdict_of, verify_certificate
from hutong.verify.statuslist import Roots, StatusListCache, stale_error
from hutong.verify.x509 import chain_problem


def fetch_status_list(node: Node, member: MemberEntry, list_id: str) -> str:
    """GetStatusList at the member (over the federation's mutual TLS); status lists are signed."""

    if not member.endpoints:
        raise NotFound(reasons.STATUS_LIST_NOT_FOUND, f"node {member.node_id} lists no endpoint")
    try:
        return transport.fetch_status_list(node, member, list_id)
    except HutongError:
        raise stale_error(list_id) from None  # unreachable: no fresh list, so refuse


class _StatusMetrics:
    """Status-list cache use, reported to the node's metrics."""

    def used(self, age_seconds: float) -> None:
        metrics.status_list_used(age_seconds)

    def stale(self) -> None:
        metrics.status_list_stale()


class RemoteStatus:
    """Status of other members' certificates: their signed status lists, fetched and cached per TTL."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._caches: dict[str, StatusListCache] = {}

    def member_for(self, chain: Sequence[x509.Certificate]) -> MemberEntry | None:
        """The member whose issuer CA issued this chain's leaf (None: ours, or no member's)."""
        tl = self.node.trust.trust_list()
        for m in tl.members if tl and chain else ():
            if m.node_id != self.node.id and chain_problem(chain[:1], m.certificates("issuer"),
                                                               datetime.now(UTC)) == "":
                return m
        return None

    def status_of(self, member: MemberEntry) -> StatusOf:
        cache = self._caches.get(member.node_id)
        if cache is None:
            node_id = member.node_id
            node, trust = self.node, self.node.trust
            cache = StatusListCache(roots=lambda: trust.member(node_id).certificates("root"),
                                    fetch=lambda uri: fetch_status_list(node, trust.member(node_id), uri),
                                    observer=_StatusMetrics())
            self._caches[node_id] = cache
        return cache.status_of


class Verifier:
    def __init__(self, node: Node, roots: Roots | None = None) -> None:
        self.node = node
        self._roots = roots
        self.remote = RemoteStatus(node)

    def roots(self) -> list[x509.Certificate]:
        """This node's root and, when federated, every member's (trust list; TRUST_LIST_STALE when stale)."""
        out = self.node.trust.certificates("root")
        if self._roots:  # more roots injected by whoever built this verifier
            out.extend(self._roots())
        return out

    def _status_of(self, claims: Mapping[str, Any]) -> str | None:
        with self.node.db.session() as s:
            row = s.get(CertificateRow, str(claims.get("jti", "")))
            return row.status if row is not None and row.issuer_uscc == claims.get("iss") else None

    def _chain_for_kid(self, kid: str) -> Sequence[x509.Certificate] | None:
        with self.node.db.session() as s:
            issuer = issuers.by_kid(s, kid)
        return issuers.chain(self.node, issuer)[:2] if issuer else None

    def _is_authorised(self, uscc: str, type_code: str) -> bool:
        # Our own departments: their authorisation as it stands now. Others: their certificate's.
        with self.node.db.session() as s:
            try:
                issuer = issuers.get(s, uscc)
            except NotFound:  # not ours
                return True
        return type_code in issuer.type_codes

    def token(self, token: str) -> Verification:
        member = self.remote.member_for(jose.Compact(token).x5c())
        status_of = self.remote.status_of(member) if member else self._status_of
        result = verify_certificate(token, roots=self.roots, status_of=status_of,
                                      chain_for_kid=self._chain_for_kid, is_authorised=self._is_authorised)
        if member and (national := member.type_mapping.get(str(result.claims.get("type", "")))):
            result.claims["national_type"] = national  # the member's type code in the national catalogue
        return result

    def identifier(self, identifier: str) -> Verification:
        with self.node.db.session() as s:
            row = records.find(s, identifier)
            stored = records.view(self.node, row).jws
        result = self.token(stored)
        # Verifying by identifier reveals no personal data: keep only what identifies the certificate.
        result.claims = {k: v for k, v in result.claims.items() if k not in ("holder", "fields")}
        return result

    def pdf(self, data: bytes) -> Verification:
        token = rendition.embedded_token(data)
        result = self.token(token)
        result.findings.extend(rendition.seal_findings(self.node, data, str(result.claims.get("iss", ""))))
        result.verdict = verdict_of(result.findings)
        return result
