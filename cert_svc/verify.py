"""Server-side verification by identifier, JWS, QR content or sealed PDF rendition.

Trust roots are pluggable: a ``Roots`` callable returning root certificates. The node's own root is
always included; federation appends providers to ``ROOT_PROVIDERS`` (member nodes' roots from the
trust list). Status of this node's certificates comes straight from the database; a certificate of
another node without a fresh status list is INDETERMINATE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509

from cert_svc import issuers, offline, records, rendition
from cert_svc.models import CertificateRow
from cert_svc.offline import Roots, Verification
from hutong import pki
from hutong.errors import NotFound
from hutong.node import Node

ROOT_PROVIDERS: list[Roots] = []


class Verifier:
    def __init__(self, node: Node, roots: Roots | None = None) -> None:
        self.node = node
        self._roots = roots

    def roots(self) -> list[x509.Certificate]:
        out = [self.node.pki.certificate(pki.ROOT)]
        for provider in ([self._roots] if self._roots else []) + ROOT_PROVIDERS:
            out.extend(provider())
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
        return offline.verify_token(token, roots=self.roots, status_of=self._status_of,
                                    chain_for_kid=self._chain_for_kid, is_authorised=self._is_authorised)

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
        result.verdict = offline.verdict_of(result.findings)
        return result
