"""Who may read a certificate: its issuing department, its holder, or a platform within the
holder's consent (purpose stated, every access recorded)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert_svc import consent, issuers, reasons, records
from cert_svc.consent import HolderResolver
from cert_svc.models import CertificateRow, ConsentRow
from cert_svc.records import CertView
from hutong.auth import Principal
from hutong.errors import HutongError, PermissionDenied
from hutong.node import Node


@dataclass(frozen=True)
class Reader:
    """The ways a caller may be entitled to read: as issuer, as holder, as a consented platform."""

    node: Node
    holder_of: HolderResolver

    def _holder_indexes(self, principal: Principal) -> tuple[str, ...]:
        if principal.kind == "platform":
            return ()
        try:
            return self.holder_of(principal)
        except HutongError:
            return ()

    def get(self, principal: Principal, identifier: str, purpose: str, action: str = "read") -> CertView:
        holder = self._holder_indexes(principal)  # outside the write transaction: the resolver reads on its own
        # The issuer and the holder read without the write lock (nothing is recorded for them) ...
        read = records.read(self.node.db, identifier)
        if issuers.acts_for(principal, read.issuer_uscc, read.issuer_platform) or read.row.holder_index in holder:
            return records.view(self.node, read.row)
        if principal.kind != "platform":
            raise PermissionDenied(reasons.NOT_CERT_HOLDER, "only the holder or the issuer may read this")
        # ... a platform reads within consent, and is given the certificate once the access is recorded.
        purpose = consent.require_purpose(purpose)
        try:
            with self.node.db.session(readonly=True) as s:
                row = records.find(s, identifier)
                holder_index, found = row.holder_index, row.identifier
                granted = consent.in_force(s, principal.subject, records.holder_indexes(self.node, row), row.series,
                                           purpose=purpose)[0]
                current = records.latest(s, row.series) or row
        except PermissionDenied as refused:
            if refused.reason in consent.REFUSALS:  # the holder sees who tried, for what, and was refused
                consent.record_refusal(self.node, principal, holder_index, found, purpose, refused.reason)
            raise
        seen = records.view(self.node, current)
        consent.record_access(self.node, principal, [(granted, current.identifier)], purpose, action)
        return seen

    def list_own(self, principal: Principal, offset: int, limit: int) -> tuple[list[CertView], bool]:
        holder = self.holder_of(principal)
        with self.node.db.session() as s:
            query = select(CertificateRow).where(CertificateRow.holder_index.in_(holder))
            return self._page(s, query, offset, limit)

    def list_issued(self, principal: Principal, type_code: str, offset: int, limit: int) -> tuple[list[CertView], bool]:
        with self.node.db.session() as s:
            issuer = issuers.acting_issuer(s, principal)
            query = select(CertificateRow).where(CertificateRow.issuer_uscc == issuer.uscc)
            if type_code:
                query = query.where(CertificateRow.type_code == type_code.strip().upper())
            return self._page(s, query, offset, limit)

    def _page(self, s: Session, query: object, offset: int, limit: int) -> tuple[list[CertView], bool]:
        q = query.order_by(CertificateRow.issued_at, CertificateRow.identifier)  # type: ignore[attr-defined]
        rows = list(s.scalars(q.offset(offset).limit(limit + 1)))
        return [records.view(self.node, r) for r in rows[:limit]], len(rows) > limit

    def list_for_platform(self, principal: Principal, holder: records.Holder, purpose: str) -> list[CertView]:
        """The latest version of every certificate the holder's consents in force cover."""
        if principal.kind != "platform":
            raise PermissionDenied(reasons.NO_CONSENT, "only platforms read others' certificates within a consent")
        purpose = consent.require_purpose(purpose)
        indexes = self.node.pki.blind_indexes(records.holder_key(holder.kind or "person", holder.id))
        found: dict[str, tuple[ConsentRow, CertificateRow]] = {}  # by identifier: each certificate once
        try:
            with self.node.db.session(readonly=True) as s:
                for granted in consent.in_force(s, principal.subject, indexes, purpose=purpose):
                    for series in granted.series.split(","):
                        row = records.latest(s, series)
                        if row is not None:
                            found.setdefault(row.identifier, (granted, row))
        except PermissionDenied as refused:
            if refused.reason in consent.REFUSALS:  # no consent at all is a refusal the holder sees too
                consent.record_refusal(self.node, principal, indexes[0], "", purpose, refused.reason)
            raise
        out = [records.view(self.node, row) for _, row in found.values()]
        consent.record_access(self.node, principal, [(granted, ident) for ident, (granted, _) in found.items()],
                              purpose, "list")
        return out
