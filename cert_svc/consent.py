"""Holders and consent (授权用证): who the caller is as a holder, consents to platforms, the access log.

A holder is found by the blind index of their ID number (persons) or USCC (organisations): the
same HMAC the identity service keeps for its accounts, so no ID number is needed to match them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from cert_svc import reasons, records
from cert_svc.models import AccessRow, ConsentRow
from hutong import audit, peers, prepared
from hutong.auth import Principal
from hutong.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from hutong.node import Node

# principal -> blind indexes of the holder the caller is, under every blind-index key in use (the active key's
# first: what is stored), so a row under either key of a rollover is found (pluggable: other identity sources)
HolderResolver = Callable[[Principal], tuple[str, ...]]
ORG_CONSENT_ROLES = frozenset({"legal_representative", "administrator"})


def identity_holder_resolver(node: Node) -> HolderResolver:
    """A person's blind index from their identity account; an organisation context's from its USCC
    (``hutong.peers.IdentityPeer.holder_indexes``)."""
    identity = peers.identity(node)

    def resolve(principal: Principal) -> tuple[str, ...]:
        if principal.org_uscc:
            return node.pki.blind_indexes(principal.org_uscc)
        if identity is None:
            raise FailedPrecondition(reasons.HOLDER_UNKNOWN, "this node has no identity service to know holders")
        return identity.holder_indexes(principal)

    return resolve


@dataclass(frozen=True)
class Consent:
    consent_id: str
    platform: str
    identifiers: tuple[str, ...]
    purpose: str
    expires_at: datetime
    created_at: datetime
    withdrawn_at: datetime | None

    @classmethod
    def of(cls, row: ConsentRow) -> Consent:
        return cls(row.consent_id, row.platform, tuple(row.series.split(",")), row.purpose, _aware(row.expires_at),
                   _aware(row.created_at), _aware(row.withdrawn_at) if row.withdrawn_at else None)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def require_purpose(purpose: str) -> str:
    purpose = purpose.strip()
    if not purpose:
        raise InvalidArgument(reasons.PURPOSE_REQUIRED, "state the purpose the certificates are used for")
    return purpose[:500]


def grant(node: Node, principal: Principal, holder: tuple[str, ...], *, platform: str, identifiers: Sequence[str],
          purpose: str, expires_at: datetime) -> Consent:
    if principal.org_uscc and not ORG_CONSENT_ROLES & set(principal.roles):
        raise PermissionDenied(reasons.NOT_CERT_HOLDER, "only the organisation's administrators may consent")
    purpose = require_purpose(purpose)
    if not platform.strip() or not identifiers or _aware(expires_at) <= datetime.now(UTC):
        raise InvalidArgument(reasons.CONSENT_INVALID, "a consent names a platform, certificates and a future end")
    with node.db.session() as s:
        series = []
        for identifier in identifiers:
            row = records.find(s, identifier)
            if row.holder_index not in holder:
                raise PermissionDenied(reasons.NOT_CERT_HOLDER, "a consent covers only the holder's certificates")
            series.append(row.series)
        row_c = ConsentRow(consent_id=str(uuid.uuid4()), holder_index=holder[0], platform=platform.strip(),
                           series=",".join(dict.fromkeys(series)), purpose=purpose, expires_at=_aware(expires_at),
                           created_at=datetime.now(UTC))
        s.add(row_c)
        audit.append(s, actor=principal.actor, action="cert.consent.grant", target=row_c.consent_id,
                     details={"platform": row_c.platform, "certificates": len(series), "purpose": purpose,
                              "until": row_c.expires_at.isoformat()})
        return Consent.of(row_c)


def withdraw(node: Node, principal: Principal, holder: tuple[str, ...], consent_id: str) -> Consent:
    with node.db.session() as s:
        row = s.get(ConsentRow, consent_id)
        if row is None or row.holder_index not in holder:
            raise NotFound(reasons.CONSENT_NOT_FOUND, "the caller has no consent with this id")
        if row.withdrawn_at is None:
            row.withdrawn_at = datetime.now(UTC)
            audit.append(s, actor=principal.actor, action="cert.consent.withdraw", target=consent_id,
                         details={"platform": row.platform})
        return Consent.of(row)


def list_consents(node: Node, holder: tuple[str, ...]) -> list[Consent]:
    with node.db.session() as s:
        rows = s.scalars(select(ConsentRow).where(ConsentRow.holder_index.in_(holder))
                         .order_by(ConsentRow.created_at.desc()))
        return [Consent.of(r) for r in rows]


def in_force(s: Session, platform: str, holder: tuple[str, ...], series: str | None = None, *,
             purpose: str | None = None) -> list[ConsentRow]:
    """The platform's consents in force for this holder (``holder``: their blind indexes; covering ``series``
    if given, for ``purpose`` if given: a consent is for the purpose the holder stated, no other); otherwise NO_CONSENT,
    PURPOSE_NOT_CONSENTED, CONSENT_WITHDRAWN or CONSENT_EXPIRED, whichever describes the latest one."""
    rows = [r for r in s.scalars(select(ConsentRow).where(ConsentRow.platform == platform,
                                                          ConsentRow.holder_index.in_(holder))
                                 .order_by(ConsentRow.created_at.desc()))
            if series is None or series in r.series.split(",")]
    if not rows:
        raise PermissionDenied(reasons.NO_CONSENT, "the holder has not consented to this use by this platform")
    now = datetime.now(UTC)
    live = [r for r in rows if r.withdrawn_at is None and _aware(r.expires_at) > now]
    if live and purpose is not None:
        live = [r for r in live if r.purpose == purpose]
        if not live:
            raise PermissionDenied(reasons.PURPOSE_NOT_CONSENTED,
                                   "the holder consented to this platform's use for another purpose, not this one")
    if live:
        return live
    if rows[0].withdrawn_at is not None:
        raise PermissionDenied(reasons.CONSENT_WITHDRAWN, "the holder has withdrawn this consent")
    raise PermissionDenied(reasons.CONSENT_EXPIRED, "the holder's consent has expired")


# A platform's access line, written with its audit record (``record_access``): built once, so it is compiled once.
_ACCESS = insert(cast(Table, AccessRow.__table__)).values(
    {name: bindparam(name) for name in ("holder_index", "at", "platform", "identifier", "purpose", "consent_id",
                                        "action", "reason")})


def record_access(node: Node, principal: Principal, accesses: Sequence[tuple[ConsentRow, str]], purpose: str,
                  action: str) -> None:
    """Each (consent, certificate identifier) in the holder's access log, with its audit record, in one write
    transaction (``hutong.prepared.write``; on PostgreSQL one prepared statement). The caller has read the
    certificates within those consents, and hands them over only once this returns: an access that could not be
    recorded is not given."""
    if not accesses:
        return
    with prepared.write(node.db) as tx:
        for consent, identifier in accesses:
            tx.add(_ACCESS, {"holder_index": consent.holder_index, "at": datetime.now(UTC),
                             "platform": consent.platform, "identifier": identifier, "purpose": purpose,
                             "consent_id": consent.consent_id, "action": action, "reason": ""})
            audit.record(tx, actor=principal.actor, action=f"cert.access.{action}", target=identifier,
                         details={"consent": consent.consent_id, "purpose": purpose})


def record_refusal(node: Node, principal: Principal, holder_index: str, identifier: str, purpose: str,
                   reason: str) -> None:
    """A platform's refused attempt, in the holder's access log (its own transaction: the read rolled back)."""
    with node.db.session() as s:
        s.add(AccessRow(holder_index=holder_index, at=datetime.now(UTC), platform=principal.subject,
                        identifier=identifier, purpose=purpose[:500], consent_id="", action="refused",
                        reason=reason))
        audit.append(s, actor=principal.actor, action="cert.access.refused", target=identifier,
                     details={"reason": reason, "purpose": purpose[:500]})


REFUSALS = frozenset({reasons.NO_CONSENT, reasons.PURPOSE_NOT_CONSENTED, reasons.CONSENT_WITHDRAWN,
                      reasons.CONSENT_EXPIRED})


@dataclass(frozen=True)
class Access:
    at: datetime
    platform: str
    identifier: str
    purpose: str
    consent_id: str
    action: str
    reason: str = ""  # for a refused attempt: the reason the platform was given


def access_log(node: Node, holder: tuple[str, ...], offset: int, limit: int) -> tuple[list[Access], bool]:
    with node.db.session() as s:
        rows = list(s.scalars(select(AccessRow).where(AccessRow.holder_index.in_(holder))
                              .order_by(AccessRow.id.desc()).offset(offset).limit(limit + 1)))
    return ([Access(_aware(r.at), r.platform, r.identifier, r.purpose, r.consent_id, r.action, r.reason or "")
             for r in rows[:limit]], len(rows) > limit)
