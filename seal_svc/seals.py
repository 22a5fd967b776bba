"""Seals and grants: the domain layer (no gRPC). Every change is audited in its own transaction.

Who may do what:
- manage a seal (create, suspend, reactivate, revoke, grant): a person acting for the seal's
  organisation with one of ``MANAGE_ROLES``, or the node operator (``Principal.is_operator``);
- read a seal: anyone in the organisation's context, a grantee, or the operator;
- use a seal: only the holder of a current grant: a person by account id, and only while their token
  is in the seal's organisation context (else ORG_CONTEXT_REQUIRED); a platform by client id; an
  in-process service (``hutong.auth.service_principal``) by the grant of the platform it acts for.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from hsm import CreateKeyRequest, KeyAlgorithm
from hutong import audit, business_codes, peers, pki, prepared
from hutong.auth import Principal
from hutong.business_codes import is_individual_business, mask_codes
from hutong.convert import DEFAULT_PAGE, MAX_PAGE
from hutong.edge.settings import seal_revocation_extensions
from hutong.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, ResourceExhausted
from hutong.identifiers import normalise_citizen_id, parse_uscc
from hutong.node import Node
from seal_svc import image
from seal_svc.certs import seal_subject
from seal_svc.models import SealCrlRow, SealGrantRow, SealRow
from seal_svc.settings import SealSettings, load_settings

# Roles (organisation context) that may manage the organisation's seals.
MANAGE_ROLES = frozenset({"legal_representative", "administrator"})
KEY_LABEL_PREFIX = "seal."


class SealType(enum.Enum):
    OFFICIAL = "official"
    CONTRACT = "contract"
    FINANCE = "finance"
    INVOICE = "invoice"
    LEGAL_REPRESENTATIVE = "legal_representative"

    @property
    def caption(self) -> str:
        """The words under the star (and the certificate's OU)."""
        return _CAPTIONS[self]


_CAPTIONS = {
    SealType.OFFICIAL: "公章",
    SealType.CONTRACT: "合同专用章",
    SealType.FINANCE: "财务专用章",
    SealType.INVOICE: "发票专用章",
    SealType.LEGAL_REPRESENTATIVE: "法定代表人章",
}


class SealStatus(enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


@dataclass(frozen=True)
class SealInfo:
    seal_id: str
    org_uscc: str
    org_name: str
    type: SealType
    name: str
    status: SealStatus
    certificate: x509.Certificate
    created_at: datetime
    status_changed_at: datetime
    image_png: bytes = b""

    @property
    def certificate_serial(self) -> str:
        return format(self.certificate.serial_number, "x")


@dataclass(frozen=True)
class SealUse:
    """What one sealing learned from its single read of the seal: the seal, its HSM key and the grant to
    charge (``SealService.authorise``), passed on instead of read again."""

    seal: SealInfo
    key_label: str
    grant_id: str


@dataclass(frozen=True)
class GrantInfo:
    grant_id: str
    seal_id: str
    grantee_kind: str  # person / platform
    grantee: str
    not_before: datetime | None
    not_after: datetime | None
    max_uses: int | None
    uses: int
    revoked: bool
    created_at: datetime


@dataclass(frozen=True)
class CrlInfo:
    der: bytes
    number: int
    this_update: datetime
    next_update: datetime


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands timezone-aware columns back naive; they were stored as UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _seal_info(row: SealRow, *, with_image: bool = True) -> SealInfo:
    return SealInfo(
        seal_id=row.id, org_uscc=row.org_uscc, org_name=row.org_name, type=SealType(row.type), name=row.name,
        status=SealStatus(row.status), certificate=x509.load_pem_x509_certificate(row.cert_pem.encode()),
        created_at=_utc(row.created_at) or row.created_at,
        status_changed_at=_utc(row.status_changed_at) or row.status_changed_at,
        image_png=row.image_png if with_image else b"",
    )


def _grant_info(row: SealGrantRow) -> GrantInfo:
    return GrantInfo(
        grant_id=row.id, seal_id=row.seal_id, grantee_kind=row.grantee_kind, grantee=row.grantee,
        not_before=_utc(row.not_before), not_after=_utc(row.not_after), max_uses=row.max_uses, uses=row.uses,
        revoked=row.revoked_at is not None, created_at=_utc(row.created_at) or row.created_at,
    )


def may_manage(principal: Principal, org_uscc: str) -> bool:
    if principal.is_operator:
        return True
    return principal.org_uscc == org_uscc and bool(MANAGE_ROLES.intersection(principal.roles))


def _require_manage(principal: Principal, org_uscc: str) -> None:
    if not may_manage(principal, org_uscc):
        raise PermissionDenied("NOT_ORG_ADMIN", "only the organisation's administrators may manage its seals")


def _grantee(principal: Principal) -> tuple[str, str] | None:
    """Whose grants the caller uses: (grantee kind, grantee)."""
    if principal.kind in ("person", "platform"):
        return principal.kind, principal.subject
    if principal.kind == "service" and principal.platform:
        return "platform", principal.platform
    return None


def _grant_matches(grant: SealGrantRow, principal: Principal) -> bool:
    return _grantee(principal) == (grant.grantee_kind, grant.grantee)


def _require_use_context(principal: Principal, row: SealRow) -> None:
    if principal.kind == "person" and principal.org_uscc != row.org_uscc:
        raise PermissionDenied("ORG_CONTEXT_REQUIRED", "a person uses an organisation's seal only while acting for "
                               "it: switch into the organisation first")


def _load(session: Session, seal_id: str, *, lock: bool = False) -> SealRow:
    stmt = select(SealRow).where(SealRow.id == seal_id)
    row = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NotFound("SEAL_NOT_FOUND", "no seal with this id")
    return row


def check_usable(row: SealRow) -> None:
    if row.status == SealStatus.SUSPENDED.value:
        raise FailedPrecondition("SEAL_SUSPENDED", "the seal is suspended")
    if row.status == SealStatus.REVOKED.value:
        raise FailedPrecondition("SEAL_REVOKED", "the seal has been revoked")


def _usable_grant(grants: list[SealGrantRow], now: datetime) -> SealGrantRow:
    """The grant to charge for one use, or the error that explains why there is none."""
    if not grants:
        raise PermissionDenied("NOT_GRANTED", "the caller holds no grant for this seal")
    problem: Exception | None = None
    for g in grants:
        nb, na = _utc(g.not_before), _utc(g.not_after)
        if (nb and now < nb) or (na and now >= na):
            problem = problem or PermissionDenied("GRANT_EXPIRED", "the caller's grant for this seal is not valid now")
        elif g.max_uses is not None and g.uses >= g.max_uses:
            problem = ResourceExhausted("GRANT_EXHAUSTED", "the caller's grant for this seal has no uses left")
        else:
            return g
    assert problem is not None
    raise problem


class SealService:
    """Seals, grants and the seal CRL of one node. Thread-safe; construct once per node."""

    def __init__(self, node: Node, settings: SealSettings | None = None) -> None:
        self.node = node
        self.settings = settings or load_settings(node)

    # -- seals -----------------------------------------------------------------------------
    def create_seal(self, principal: Principal, *, org_uscc: str, org_name: str, seal_type: SealType,
                    name: str = "", image_png: bytes = b"") -> SealInfo:
        """A new active seal: key pair generated in the HSM, certificate from the node's seal CA."""
        uscc = parse_uscc(org_uscc).code
        _require_manage(principal, uscc)
        org_name = self._org_name(uscc, org_name.strip())
        name = name.strip() or f"{org_name}{seal_type.caption}"
        if not 1 <= len(org_name) <= 60 or not 1 <= len(name) <= 100:
            raise InvalidArgument("SEAL_NAME_INVALID", "organisation name (1-60) and seal name (1-100) are required")
        png = image.check_uploaded_png(image_png) if image_png else image.generate_seal_image(
            org_name, "" if seal_type is SealType.OFFICIAL else seal_type.caption, font_path=self.settings.font_path)
        seal_id = "seal-" + secrets.token_hex(8)
        label = KEY_LABEL_PREFIX + seal_id
        key = self.node.keys.create_key(CreateKeyRequest(label=label, algorithm=KeyAlgorithm.EC_P256))
        try:
            ca_label = self.node.pki.label(pki.SEAL_CA)  # the key that issues is the one whose CRL is named
            cert = self.node.pki.issue(ca=pki.SEAL_CA, ca_label=ca_label, public_key=key.public_key,
                                       subject=seal_subject(org_name=org_name, org_uscc=uscc,
                                                            caption=seal_type.caption, seal_name=name,
                                                            seal_id=seal_id),
                                       extra=seal_revocation_extensions(  # OCSP URL and CRL distribution point
                                           self.node.config, pki.crl_name(pki.SEAL_CA, ca_label)))
            # An individual business's code names a person: its certificate is no public object in the token.
            self.node.keys.import_certificate(label, cert, private=is_individual_business(uscc))
            now = datetime.now(UTC)
            row = SealRow(id=seal_id, org_uscc=uscc, org_name=org_name, type=seal_type.value, name=name,
                          status=SealStatus.ACTIVE.value, key_label=label, image_png=png, created_at=now,
                          created_by=mask_codes(principal.actor), status_changed_at=now,
                          cert_serial=format(cert.serial_number, "x"),
                          cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode())
            with self.node.db.session() as s:
                s.add(row)
                audit.append(s, actor=principal.actor, action="seal.create", target=seal_id,
                             details={"org_uscc": uscc, "type": seal_type.value, "serial": row.cert_serial})
        except BaseException:
            # No seal row exists, so the key must not outlive this failed attempt.
            self.node.keys.destroy_key(label)
            raise
        return _seal_info(row)

    def _org_name(self, uscc: str, given: str) -> str:
        """The registered name when identity knows the organisation (it came from the register)."""
        identity = peers.identity(self.node)
        registered = identity.organisation_name(uscc) if identity is not None else None
        if registered is None:
            if not given:
                raise InvalidArgument("ORG_NAME_REQUIRED", "the organisation is not registered here: give its name")
            return given
        if given and given != registered:
            raise InvalidArgument("ORG_NAME_MISMATCH", "the name differs from the organisation's registered name")
        return registered

    def get_seal(self, principal: Principal, seal_id: str) -> SealInfo:
        with self.node.db.session() as s:
            row = _load(s, seal_id)
            grants = list(s.scalars(select(SealGrantRow).where(SealGrantRow.seal_id == seal_id)))
        if not (principal.is_operator or principal.org_uscc == row.org_uscc
                or any(_grant_matches(g, principal) for g in grants)):
            # Same answer as for an unknown id: seal ids of other organisations are not disclosed.
            raise NotFound("SEAL_NOT_FOUND", "no seal with this id")
        return _seal_info(row)

    def list_seals(self, principal: Principal, *, org_uscc: str = "", page_size: int = 0,
                   page_token: str = "") -> tuple[list[SealInfo], str]:
        org = org_uscc or principal.org_uscc or ""
        if not org:
            raise InvalidArgument("ORG_REQUIRED", "name the organisation (or call in an organisation context)")
        if not principal.is_operator and principal.org_uscc != org:
            raise PermissionDenied("NOT_ORG_MEMBER", "only the organisation's members may list its seals")
        size = min(page_size or DEFAULT_PAGE, MAX_PAGE)  # what convert.page gives an RPC; in-process callers alike
        stmt = select(SealRow).order_by(SealRow.id).limit(size + 1)
        if page_token:
            stmt = stmt.where(SealRow.id > page_token)
        with self.node.db.session() as s:
            stmt = stmt.where(business_codes.matching(s, SealRow.org_uscc, org))
            rows = list(s.scalars(stmt))
        more = len(rows) > size
        rows = rows[:size]
        return [_seal_info(r, with_image=False) for r in rows], (rows[-1].id if more else "")

    def suspend_seal(self, principal: Principal, seal_id: str, reason: str = "") -> SealInfo:
        return self._set_status(principal, seal_id, SealStatus.SUSPENDED, reason)

    def reactivate_seal(self, principal: Principal, seal_id: str) -> SealInfo:
        return self._set_status(principal, seal_id, SealStatus.ACTIVE, "")

    def revoke_seal(self, principal: Principal, seal_id: str, reason: str = "") -> SealInfo:
        """Permanent; the certificate is listed on the next CRL (issued on the next request)."""
        return self._set_status(principal, seal_id, SealStatus.REVOKED, reason)

    def _set_status(self, principal: Principal, seal_id: str, target: SealStatus, reason: str) -> SealInfo:
        with self.node.db.session() as s:
            row = _load(s, seal_id, lock=True)
            _require_manage(principal, row.org_uscc)
            if row.status == SealStatus.REVOKED.value:
                raise FailedPrecondition("SEAL_REVOKED", "the seal has been revoked; revocation is permanent")
            if row.status == target.value:
                return _seal_info(row)  # idempotent
            now = datetime.now(UTC)
            row.status, row.status_changed_at, row.status_reason = target.value, now, reason[:500]
            if target is SealStatus.REVOKED:
                row.revoked_at = now
                # every seal CA key's CRL (the previous keys' too) lists the revoked seal
                s.execute(update(SealCrlRow).where(SealCrlRow.ca != pki.ROOT).values(stale=1))
            audit.append(s, actor=principal.actor, action=f"seal.{_VERB[target]}", target=seal_id,
                         details={"reason": reason[:200], "serial": row.cert_serial})
            return _seal_info(row)

    # -- grants ----------------------------------------------------------------------------
    def grant(self, principal: Principal, seal_id: str, *, grantee_kind: str, grantee: str,
              not_before: datetime | None = None, not_after: datetime | None = None,
              max_uses: int | None = None) -> GrantInfo:
        if grantee_kind not in ("person", "platform") or not grantee.strip():
            raise InvalidArgument("GRANTEE_INVALID", "a grant names a person or a platform")
        if not_before and not_after and not_after <= not_before:
            raise InvalidArgument("GRANT_WINDOW_INVALID", "the grant must end after it begins")
        if max_uses is not None and max_uses < 1:
            raise InvalidArgument("GRANT_LIMIT_INVALID", "a usage limit is at least 1")
        if grantee_kind == "person":
            grantee = self._person_account(grantee)
        with self.node.db.session() as s:
            row = _load(s, seal_id)
            _require_manage(principal, row.org_uscc)
            if row.status == SealStatus.REVOKED.value:
                raise FailedPrecondition("SEAL_REVOKED", "the seal has been revoked")
            grant = SealGrantRow(id="grant-" + secrets.token_hex(8), seal_id=seal_id, grantee_kind=grantee_kind,
                                 grantee=grantee.strip(), not_before=not_before, not_after=not_after,
                                 max_uses=max_uses, uses=0, created_at=datetime.now(UTC),
                                 created_by=mask_codes(principal.actor))
            s.add(grant)
            audit.append(s, actor=principal.actor, action="seal.grant", target=seal_id,
                         details={"grant": grant.id, "grantee": f"{grantee_kind}:{grant.grantee}",
                                  "max_uses": max_uses, "not_after": not_after})
            s.flush()
            return _grant_info(grant)

    def _person_account(self, grantee: str) -> str:
        """A person named by citizen ID number (what an organisation knows of its staff) -> their account here.

        Anything else is taken as an account id already. Platforms never see account ids (pairwise ``sub``).
        """
        try:
            number = normalise_citizen_id(grantee)
        except InvalidArgument:
            return grantee.strip()
        identity = peers.identity(self.node)
        account = identity.person_account(number) if identity is not None else None
        if account is None:
            raise NotFound("PERSON_NOT_FOUND", "no person with this ID number is registered at this node")
        return account

    def list_grants(self, principal: Principal, seal_id: str) -> list[GrantInfo]:
        with self.node.db.session() as s:
            row = _load(s, seal_id)
            _require_manage(principal, row.org_uscc)
            rows = s.scalars(select(SealGrantRow).where(SealGrantRow.seal_id == seal_id)
                             .order_by(SealGrantRow.created_at))
            return [_grant_info(g) for g in rows]

    def revoke_grant(self, principal: Principal, grant_id: str) -> GrantInfo:
        with self.node.db.session() as s:
            grant = s.get(SealGrantRow, grant_id)
            if grant is None:
                raise NotFound("GRANT_NOT_FOUND", "no grant with this id")
            _require_manage(principal, _load(s, grant.seal_id).org_uscc)
            if grant.revoked_at is None:
                grant.revoked_at = datetime.now(UTC)
                audit.append(s, actor=principal.actor, action="seal.grant.revoke", target=grant.seal_id,
                             details={"grant": grant_id})
            return _grant_info(grant)

    # -- use (called by sealing) -------------------------------------------------------------
    def authorise_use(self, principal: Principal, seal_id: str) -> SealInfo:
        """Check, without changing anything, that ``principal`` may use the seal now."""
        return self.authorise(principal, seal_id).seal

    def authorise(self, principal: Principal, seal_id: str) -> SealUse:
        """Like ``authorise_use``, and what sealing needs next: the seal's key label and the grant to charge.

        The one read of the seal row for a sealing; the result is passed on (``record_use(..., use=)``)."""
        with self.node.db.session(readonly=True) as s:  # a read: never queues behind writers
            row = _load(s, seal_id)
            check_usable(row)
            _require_use_context(principal, row)
            grant = _usable_grant(self._grants_of(s, seal_id, principal), datetime.now(UTC))
            return SealUse(seal=_seal_info(row), key_label=row.key_label, grant_id=grant.id)

    def record_use(self, session: Session, principal: Principal, seal_id: str, details: dict[str, object], *,
                   use: SealUse | None = None) -> None:
        """In the caller's transaction: re-check, charge one use to the grant atomically, audit.

        With ``use`` (what ``authorise`` found moments ago) the re-check and the charge are one conditional
        UPDATE of that grant, which also requires the seal to be still active: no row is read again. When
        it charges nothing (the seal was suspended, the grant revoked, used up or expired meanwhile), the
        full check below runs and says why, or charges another usable grant."""
        if use is not None and self._charge(session, use, datetime.now(UTC)):
            grant_id = use.grant_id
        else:
            row = _load(session, seal_id, lock=True)
            check_usable(row)
            _require_use_context(principal, row)
            grant = _usable_grant(self._grants_of(session, seal_id, principal), datetime.now(UTC))
            # Conditional update: two concurrent uses of a one-use grant cannot both succeed.
            charged = session.execute(
                update(SealGrantRow)
                .where(SealGrantRow.id == grant.id, SealGrantRow.revoked_at.is_(None),
                       (SealGrantRow.max_uses.is_(None)) | (SealGrantRow.uses < SealGrantRow.max_uses))
                .values(uses=SealGrantRow.uses + 1)
                .execution_options(synchronize_session=False)
            )
            if charged.rowcount != 1:  # type: ignore[attr-defined]
                raise ResourceExhausted("GRANT_EXHAUSTED", "the caller's grant for this seal has no uses left")
            grant_id = grant.id
        audit.append(session, actor=principal.actor, action="seal.use", target=seal_id,
                     details={"grant": grant_id, **details})

    def record_use_now(self, principal: Principal, seal_id: str, details: dict[str, object], *,
                       use: SealUse) -> None:
        """``record_use`` in a transaction of its own (a sealing that remembers nothing for an idempotency key):
        the charge of ``use``'s grant and the audit record go the audit log's one-round-trip way
        (``hutong.prepared.write`` and ``hutong.audit.record``; on PostgreSQL the charge is one round trip, the
        record and the ``COMMIT`` one more). When the charge changes nothing, ``record_use``'s full check runs in
        a session and says why, or charges another usable grant."""
        with prepared.write(self.node.db) as tx:
            charged = tx.run(_CHARGE, {"grant": use.grant_id, "seal": use.seal.seal_id, "now": datetime.now(UTC)})
            if charged == 1:
                audit.record(tx, actor=principal.actor, action="seal.use", target=seal_id,
                             details={"grant": use.grant_id, **details})
        if charged != 1:
            with self.node.db.session() as s:
                self.record_use(s, principal, seal_id, details)

    @staticmethod
    def _charge(session: Session, use: SealUse, now: datetime) -> bool:
        """One use charged to ``use.grant_id`` if it is still usable and the seal still active (``_CHARGE``)."""
        charged = session.execute(_CHARGE, {"grant": use.grant_id, "seal": use.seal.seal_id, "now": now})
        return bool(charged.rowcount == 1)  # type: ignore[attr-defined]

    @staticmethod
    def _grants_of(session: Session, seal_id: str, principal: Principal) -> list[SealGrantRow]:
        grantee = _grantee(principal)
        if grantee is None:
            return []
        return list(session.scalars(select(SealGrantRow).where(
            SealGrantRow.seal_id == seal_id, SealGrantRow.revoked_at.is_(None),
            SealGrantRow.grantee_kind == grantee[0], SealGrantRow.grantee == grantee[1])))


# One use charged to a grant if it is still usable and its seal still active: one statement, so two concurrent
# uses of a one-use grant cannot both succeed. Built once (``hutong.prepared`` keys its compiled form by it).
_CHARGE = (
    update(SealGrantRow)
    .where(SealGrantRow.id == bindparam("grant"), SealGrantRow.seal_id == bindparam("seal"),
           SealGrantRow.revoked_at.is_(None),
           (SealGrantRow.max_uses.is_(None)) | (SealGrantRow.uses < SealGrantRow.max_uses),
           (SealGrantRow.not_after.is_(None)) | (SealGrantRow.not_after > bindparam("now")),
           select(SealRow.id).where(SealRow.id == bindparam("seal"),
                                    SealRow.status == SealStatus.ACTIVE.value).exists())
    .values(uses=SealGrantRow.uses + 1)
    .execution_options(synchronize_session=False)
)

_VERB = {SealStatus.SUSPENDED: "suspend", SealStatus.ACTIVE: "reactivate", SealStatus.REVOKED: "revoke"}
