"""Reading stored certificates: lookup by identifier, decryption of the signed forms, the view
returned to callers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, inspect, select
from sqlalchemy.orm import Session

from cert_svc import reasons
from cert_svc.models import CertificateRow, IssuerRow
from hutong import identifiers, prepared
from hutong.db import Database
from hutong.errors import NotFound
from hutong.node import Node
from hutong.verify import jose


@dataclass(frozen=True)
class Holder:
    kind: str  # person / organisation
    id: str
    name: str = ""


@dataclass(frozen=True)
class CertView:
    identifier: str
    type_code: str
    type_name: str
    issuer_uscc: str
    issuer_name: str
    holder: Holder
    fields: dict[str, str]
    valid_from: date
    valid_until: date | None
    status: str
    status_reason: str
    version: int
    issued_at: datetime
    status_changed_at: datetime
    jws: str
    qr: str
    links: dict[str, str] = field(default_factory=dict)  # supersedes, superseded_by, predecessor, successor
    # ID-number fields kept out of the signed form (e.g. the legal representative's): server-side use only
    private_fields: dict[str, str] = field(default_factory=dict)


def holder_key(kind: str, holder_id: str) -> str:
    """What the blind index is computed over: the normalised ID number or USCC itself."""
    return identifiers.normalise_citizen_id(holder_id) if kind == "person" else identifiers.normalise_uscc(holder_id)


def aad(identifier: str) -> bytes:
    # Binds the ciphertext to its row: a blob copied onto another certificate does not decrypt.
    return b"cert:" + identifier.encode()


def protect_forms(node: Node, identifier: str, token: str, qr: str, private: Mapping[str, Any] | None = None) -> bytes:
    """The signed forms, and what is kept out of them (``private``: a person holder's ID number, ID-number
    fields), encrypted together at rest."""
    data = {"jws": token, "qr": qr, **({"private": dict(private)} if private else {})}
    return node.pki.protect(json.dumps(data, ensure_ascii=False).encode(), aad=aad(identifier))


def find(s: Session, identifier: str) -> CertificateRow:
    """The row of a well-formed identifier (IDENTIFIER reasons for a malformed one)."""
    canonical = str(identifiers.parse_certificate_id(identifier))
    row = s.get(CertificateRow, canonical)
    if row is None:
        raise NotFound(reasons.CERT_NOT_FOUND, "no certificate has this identifier")
    return row


_CERTS, _ISSUERS = cast(Table, CertificateRow.__table__), cast(Table, IssuerRow.__table__)
# The row and its issuer's platform in one statement, built once (building costs more than SQLite's run).
_READ = (select(_CERTS, _ISSUERS.c.uscc.label("registered_issuer"),
                _ISSUERS.c.platform_client_id.label("issuer_platform"))
         .outerjoin(_ISSUERS, _ISSUERS.c.uscc == _CERTS.c.issuer_uscc)
         .where(_CERTS.c.identifier == bindparam("wanted")))
_ATTRIBUTE = {c.name: a.key for a in inspect(CertificateRow).column_attrs for c in a.columns}  # column -> attribute


# A stored certificate as read: the ORM row (in a session) or, on the read-only path, the same values by attribute
# name in a ``prepared.Record`` (building a detached ORM instance cost ~60 us of the lookup, for nothing).
Stored = CertificateRow | prepared.Record


@dataclass(frozen=True)
class Read:
    """A certificate's row (attribute names as on ``CertificateRow``) and its issuing department as registered
    (None: no longer registered)."""

    row: Stored
    issuer_uscc: str | None
    issuer_platform: str | None


def read(db: Database, identifier: str) -> Read:
    """A certificate and its issuing department, by a well-formed identifier, in one prepared read-only statement
    (``hutong.prepared``: no ORM session, no transaction around it): the lookup every GetCertificate of an issuer
    or holder makes."""
    canonical = str(identifiers.parse_certificate_id(identifier))
    values = prepared.read_one(db, _READ, {"wanted": canonical})
    if values is None:
        raise NotFound(reasons.CERT_NOT_FOUND, "no certificate has this identifier")
    issuer_uscc, platform = values.pop("registered_issuer"), values.pop("issuer_platform")
    return Read(prepared.Record({_ATTRIBUTE[k]: v for k, v in values.items()}), issuer_uscc, platform)


def series_of(identifier: str) -> str:
    cid = identifiers.parse_certificate_id(identifier)
    return ".".join((identifiers.CERT_ID_PREFIX, cid.type_code, cid.issuer_uscc, cid.serial))


def latest(s: Session, series: str) -> CertificateRow | None:
    return s.scalars(select(CertificateRow).where(CertificateRow.series == series)
                     .order_by(CertificateRow.version.desc()).limit(1)).first()


def view(node: Node, row: Stored, forms: tuple[str, str] | None = None,
         private: Mapping[str, Any] | None = None) -> CertView:
    """What a caller sees of a certificate. ``forms``: the (JWS, QR) just signed (with ``private``, what was kept
    out of them), so issuing answers without decrypting in the HSM what it has just encrypted; otherwise they
    are read from the row."""
    if forms is None:
        stored = json.loads(node.pki.unprotect(row.protected_forms, aad=aad(row.identifier)))
        forms, private = (stored["jws"], stored["qr"]), stored.get("private", {})
    private = private or {}
    claims = jose.Compact(forms[0]).payload
    h = claims["holder"]
    links = {k: v for k, v in (("supersedes", row.supersedes), ("superseded_by", row.superseded_by),
                               ("predecessor", row.predecessor), ("successor", row.successor)) if v}
    return CertView(
        identifier=row.identifier, type_code=row.type_code, type_name=claims.get("type_name", ""),
        issuer_uscc=row.issuer_uscc, issuer_name=claims.get("iss_name", ""),
        holder=Holder(kind=h["kind"], id=h.get("id") or private.get("holder_id", ""), name=h.get("name", "")),
        fields=dict(claims["fields"]), private_fields=dict(private.get("fields", {})),
        valid_from=row.valid_from, valid_until=row.valid_until, status=row.status, status_reason=row.status_reason,
        version=row.version, issued_at=row.issued_at, status_changed_at=row.status_changed_at,
        jws=forms[0], qr=forms[1], links=links,
    )
