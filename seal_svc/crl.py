"""Publishing revocation: the seal CA's CRL (revoked seals) and the root's (covering the seal CA and TSA).

A CRL is kept in the database and re-issued (HSM signature) only when a seal was revoked since, or
when it has passed half its validity, so verifying a document does not cost an HSM operation.
"""

from __future__ import annotations

import weakref
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hutong import audit, pki, prepared
from hutong.db import Database
from hutong.node import Node
from seal_svc.models import SealCrlRow, SealRow
from seal_svc.seals import CrlInfo, SealStatus, _utc


def _revoked(session: Session, ca: str) -> list[tuple[int, datetime]]:
    if ca == pki.ROOT:
        return []  # the node's sub-CAs are never revoked by this service
    rows = session.execute(
        select(SealRow.cert_serial, SealRow.revoked_at).where(SealRow.status == SealStatus.REVOKED.value))
    return [(int(serial, 16), _utc(at) or datetime.now(UTC)) for serial, at in rows]


def _fresh_enough(row: SealCrlRow | prepared.Record | None, now: datetime) -> bool:
    if row is None or row.stale:
        return False
    this, nxt = _utc(row.this_update), _utc(row.next_update)
    assert this is not None and nxt is not None
    return now < this + (nxt - this) / 2


def crl_key(node: Node, ca: str, label: str | None = None) -> str:
    """Which CRL (``pki.crl_name``) of ``ca``'s key ``label`` (default: the active one)."""
    return pki.crl_name(ca, label or node.pki.label(ca))


def seal_ca_crls(node: Node, *, hours: int = 24) -> list[CrlInfo]:
    """The CRLs of every seal CA key still published (active first, then a pending or retired one)."""
    return [current_crl(node, pki.SEAL_CA, hours=hours, label=label)
            for label in node.pki.published_labels(pki.SEAL_CA)]


def root_crls(node: Node, *, hours: int = 24) -> list[CrlInfo]:
    """The CRLs of every root key still published (active first): after a root rollover the old root's
    covers the subordinates it certified."""
    return [current_crl(node, pki.ROOT, hours=hours, label=label) for label in node.pki.published_labels(pki.ROOT)]


# Whether a CRL this process already holds is still the current one: its row's number, staleness and dates,
# without the CRL itself, by a prepared statement. Every VerifyPdf asks for the CRLs (revocation is judged now,
# and another worker may have revoked a seal a moment ago); two ORM sessions for it were a fifth of a served
# verification's CPU (issue 19).
_STATE = select(SealCrlRow.number, SealCrlRow.stale, SealCrlRow.this_update, SealCrlRow.next_update).where(
    SealCrlRow.ca == bindparam("ca"))
_held: weakref.WeakKeyDictionary[Database, dict[str, CrlInfo]] = weakref.WeakKeyDictionary()


def current_crl(node: Node, ca: str = pki.SEAL_CA, *, hours: int = 24, label: str | None = None) -> CrlInfo:
    """The newest CRL of ``ca`` (seal CA or root) signed by its key ``label`` (default: the active one),
    issuing a new one if needed."""
    label = label or node.pki.label(ca)
    key = crl_key(node, ca, label)
    now = datetime.now(UTC)
    held = _held.get(node.db, {}).get(key)
    if held is not None:  # the common case: the row still says the same number, not stale, fresh enough
        state = prepared.read_one(node.db, _STATE, {"ca": key})
        if state is not None and state.number == held.number and _fresh_enough(state, now):
            return held
    info = _current(node, ca, key, label, hours, now)
    _held.setdefault(node.db, {})[key] = info
    return info


def _current(node: Node, ca: str, key: str, label: str, hours: int, now: datetime) -> CrlInfo:
    with node.db.session(readonly=True) as s:  # the common case: current, read without the write lock
        row = s.scalars(select(SealCrlRow).where(SealCrlRow.ca == key)).first()
        if row is not None and _fresh_enough(row, now):
            return _info(row)
    with node.db.session() as s:
        # Locks the row (PostgreSQL; SQLite holds the write lock already) so two workers agree on the number.
        row = s.scalars(select(SealCrlRow).where(SealCrlRow.ca == key).with_for_update()).first()
        if row is not None and _fresh_enough(row, now):
            return _info(row)
        number = (row.number + 1) if row else 1
        crl = node.pki.crl(ca=ca, revoked=_revoked(s, ca), number=number, next_update=timedelta(hours=hours),
                           label=label)
        der = crl.public_bytes(serialization.Encoding.DER)
        if row is None:
            row = SealCrlRow(ca=key)
            s.add(row)
        row.number, row.der, row.stale = number, der, 0
        row.this_update, row.next_update = crl.last_update_utc, crl.next_update_utc or now + timedelta(hours=hours)
        audit.append(s, actor="node", action="seal.crl.issue", target=key, details={"number": number})
        return _info(row)


def _info(row: SealCrlRow) -> CrlInfo:
    this, nxt = _utc(row.this_update), _utc(row.next_update)
    assert this is not None and nxt is not None
    return CrlInfo(der=row.der, number=row.number, this_update=this, next_update=nxt)
