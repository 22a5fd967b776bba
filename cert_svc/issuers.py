"""Issuing departments: a signing key in the HSM, a certificate from the node's issuer CA that lists
the type codes the department may issue, and who may act for it.

A department acts either as a platform (client credentials) linked to its issuer record, or as a
person in the department's organisation context (token ``org_uscc`` = the issuer's USCC) holding the
``matter:cert-issue`` role or all matters (``matter:*``, as identity_svc grants them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from cert_svc import catalogue, reasons
from cert_svc.models import IssuerRow
from hsm import CreateKeyRequest, KeyAlgorithm, KeyInfo
from hutong import audit, identifiers, pki
from hutong.auth import OPERATOR_SCOPE, Principal
from hutong.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from hutong.node import Node
from hutong.verify.jose import kid_of
from hutong.verify.x509 import authorised_types_extension

ISSUER_ROLES = frozenset({"matter:cert-issue", "matter:*"})
KEY_PREFIX = "cert.issuer."


@dataclass(frozen=True)
class Issuer:
    uscc: str
    name: str
    type_codes: tuple[str, ...]
    platform_client_id: str | None
    seal_id: str | None
    key_label: str
    kid: str
    cert_pem: str
    created_at: datetime

    def public_view(self) -> Issuer:
        """What a public catalogue read shows: no internal ids (platform client id, seal id)."""
        return replace(self, platform_client_id=None, seal_id=None)

    @classmethod
    def of(cls, row: IssuerRow) -> Issuer:
        return cls(uscc=row.uscc, name=row.name, type_codes=tuple(filter(None, row.type_codes.split(","))),
                   platform_client_id=row.platform_client_id, seal_id=row.seal_id, key_label=row.key_label, kid=row.kid,
                   cert_pem=row.cert_pem, created_at=row.created_at)

    @cached_property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem.encode())


def require_operator(principal: Principal) -> None:
    """The catalogue and the issuers are the node operator's: a platform registered with ``node:operate``."""
    if not principal.is_operator:
        raise PermissionDenied(reasons.OPERATOR_REQUIRED, "only the node operator (a platform registered with "
                               f"the {OPERATOR_SCOPE} scope) may do this")


def chain(node: Node, issuer: Issuer) -> list[x509.Certificate]:
    """Issuer certificate, issuer CA, root (leaf first)."""
    return [issuer.certificate, *node.pki.issuer_chain(issuer.certificate)]  # the issuer CA key that certified it


def chain_der(node: Node, issuer: Issuer) -> list[bytes]:
    return [c.public_bytes(Encoding.DER) for c in chain(node, issuer)]


def _check_types(session: Session, codes: Sequence[str]) -> tuple[str, ...]:
    out = []
    for code in codes:
        out.append(catalogue.get_type(session, code, for_issuing=True).code)
    return tuple(sorted(set(out)))


def _certify(node: Node, uscc: str, name: str, public_key: object, codes: Sequence[str]) -> x509.Certificate:
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, uscc),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{name} e-certificate issuer"),
    ])
    return node.pki.issue(ca=pki.ISSUER_CA, subject=subject, public_key=public_key,  # type: ignore[arg-type]
                          extra=[authorised_types_extension(codes)])


def register(node: Node, principal: Principal, *, uscc: str, name: str, type_codes: Sequence[str],
             platform_client_id: str | None = None, seal_id: str | None = None) -> Issuer:
    require_operator(principal)
    uscc = identifiers.normalise_uscc(uscc)
    if not name.strip():
        raise InvalidArgument(reasons.ISSUER_INVALID, "an issuer needs a name")
    with node.db.session() as s:
        codes = _check_types(s, type_codes)
        _check_free(s, uscc, platform_client_id)
    label = KEY_PREFIX + uscc
    info = _issuer_key(node, label)
    cert = _certify(node, uscc, name.strip(), info.public_key, codes)
    with node.db.session() as s:
        _check_free(s, uscc, platform_client_id)  # again in the writing transaction: a registration may have
        row = IssuerRow(uscc=uscc, name=name.strip(), key_label=label, kid=kid_of(cert),  # landed meanwhile
                        cert_pem=cert.public_bytes(Encoding.PEM).decode(), type_codes=",".join(codes),
                        platform_client_id=platform_client_id or None, seal_id=seal_id or None,
                        created_at=datetime.now(UTC))
        s.add(row)
        audit.append(s, actor=principal.actor, action="cert.issuer.register", target=uscc,
                     details={"types": list(codes), "platform": platform_client_id or ""})
        return Issuer.of(row)


def _check_free(s: Session, uscc: str, platform_client_id: str | None) -> None:
    """The department is not registered yet, and the platform (if any) issues for no other department."""
    if s.get(IssuerRow, uscc) is not None:
        raise AlreadyExists(reasons.ISSUER_EXISTS, "this department is already registered as an issuer")
    if platform_client_id and s.scalar(
            select(IssuerRow.uscc).where(IssuerRow.platform_client_id == platform_client_id)) is not None:
        raise AlreadyExists(reasons.ISSUER_PLATFORM_TAKEN,
                            "this platform already issues for another department: one platform, one issuer")


def _issuer_key(node: Node, label: str) -> KeyInfo:
    # A key left by a registration that failed after creating it is reused, not duplicated.
    return node.keys.get_or_create_key(CreateKeyRequest(label=label, algorithm=KeyAlgorithm.EC_P256))


def authorise(node: Node, principal: Principal, *, uscc: str, type_codes: Sequence[str]) -> Issuer:
    """Replace the authorised types; the certificate is re-issued (same key) to carry them."""
    require_operator(principal)
    with node.db.session() as s:
        codes = _check_types(s, type_codes)
        row = _row(s, uscc)
        old = Issuer.of(row)
    cert = _certify(node, old.uscc, old.name, old.certificate.public_key(), codes)
    with node.db.session() as s:
        row = _row(s, uscc)
        row.cert_pem, row.type_codes = cert.public_bytes(Encoding.PEM).decode(), ",".join(codes)
        audit.append(s, actor=principal.actor, action="cert.issuer.authorise", target=row.uscc,
                     details={"types": list(codes), "previous": list(old.type_codes)})
        return Issuer.of(row)


def _row(s: Session, uscc: str) -> IssuerRow:
    row = s.get(IssuerRow, uscc.strip().upper())
    if row is None:
        raise NotFound(reasons.ISSUER_NOT_FOUND, "no issuer is registered with this USCC")
    return row


def get(s: Session, uscc: str) -> Issuer:
    return Issuer.of(_row(s, uscc))


def list_all(s: Session) -> list[Issuer]:
    return [Issuer.of(r) for r in s.scalars(select(IssuerRow).order_by(IssuerRow.uscc))]


def by_kid(s: Session, kid: str) -> Issuer | None:
    row = s.scalars(select(IssuerRow).where(IssuerRow.kid == kid)).first()
    return Issuer.of(row) if row else None


def acting_issuer(s: Session, principal: Principal) -> Issuer:
    """The department the caller acts for, or NOT_AN_ISSUER."""
    row: IssuerRow | None = None
    if principal.kind == "platform":
        row = s.scalars(select(IssuerRow).where(IssuerRow.platform_client_id == principal.subject)).first()
    elif principal.kind == "person" and principal.org_uscc and ISSUER_ROLES & set(principal.roles):
        row = s.get(IssuerRow, principal.org_uscc)
    if row is None:
        raise PermissionDenied(reasons.NOT_AN_ISSUER, "the caller does not act for a registered issuing department")
    return Issuer.of(row)


def acts_for(principal: Principal, issuer_uscc: str | None, issuer_platform: str | None) -> bool:
    """Whether the caller acts for the registered department ``issuer_uscc`` (None: none registered) whose
    platform is ``issuer_platform``: what ``acting_issuer`` answers by a lookup, tested against a department
    already read (a certificate's issuer)."""
    if issuer_uscc is None:
        return False
    if principal.kind == "platform":
        return issuer_platform is not None and issuer_platform == principal.subject
    return (principal.kind == "person" and principal.org_uscc == issuer_uscc
            and bool(ISSUER_ROLES & set(principal.roles)))


def require_authorised(issuer: Issuer, type_code: str) -> None:
    if type_code not in issuer.type_codes:
        raise PermissionDenied(reasons.ISSUER_NOT_AUTHORISED, "this department is not authorised for this type")


def require_issuer_of(issuer: Issuer, issuer_uscc: str, type_code: str) -> None:
    """Only the department that issued a certificate, still authorised for its type, may change it."""
    if issuer_uscc != issuer.uscc:
        raise PermissionDenied(reasons.ISSUER_NOT_AUTHORISED, "only the issuing department may change this")
    require_authorised(issuer, type_code)
