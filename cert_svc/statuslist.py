"""Server side of the status lists: random index assignment and signed, cached list tokens.

Each issuer has lists of ``LIST_SIZE`` entries; a certificate gets a random free index (so a list
position says nothing about issuance order) and a new list opens once one is ``FILL`` full. The
list token is signed by the issuer key and re-signed when a status changed since the last
signing or half its TTL has passed, so a verifier that refreshes on TTL sees any change within
one TTL.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cert_svc import issuers, reasons
from cert_svc.issuers import Issuer
from cert_svc.models import CertificateRow, StatusListRow
from cert_svc.settings import load_settings
from hutong.errors import NotFound
from hutong.node import Node
from hutong.verify import jose
from hutong.verify import statuslist as bits

LIST_SIZE = 131072  # the herd-privacy minimum the W3C Bitstring Status List recommends
FILL = 0.75  # keep random picks cheap: open a new list at 75 % use


def ttl_seconds(node: Node) -> int:
    return load_settings(node.config).status_list_ttl


def _open_list(s: Session, issuer_uscc: str) -> StatusListRow:
    # The issuer's lists locked until commit: picking free indexes and counting them is one writer at a time,
    # which is what keeps a (list, index) pair unique (no unique key: see migration 0015).
    rows = list(s.scalars(select(StatusListRow).where(StatusListRow.issuer_uscc == issuer_uscc)
                          .order_by(StatusListRow.list_id).with_for_update()))
    for row in rows:
        if row.used < row.size * FILL:
            return row
    row = StatusListRow(list_id=f"{issuer_uscc}-{len(rows) + 1}", issuer_uscc=issuer_uscc, size=LIST_SIZE,
                        used=0, changed_at=datetime.now(UTC))
    s.add(row)
    s.flush()
    return row


def assign(s: Session, issuer_uscc: str, count: int,
           exclude: Collection[tuple[str, int]] = ()) -> list[tuple[str, int]]:
    """``count`` fresh (list id, random index) pairs, none stored and none in ``exclude``: reserved in the caller's
    transaction, which either stores them before it commits, or (``reserve``) checks them again when it does."""
    out: list[tuple[str, int]] = []
    while len(out) < count:
        row = _open_list(s, issuer_uscc)
        room = min(count - len(out), int(row.size * FILL) - row.used)
        picked = _pick(s, row, room, {i for list_id, i in exclude if list_id == row.list_id})
        row.used += len(picked)
        s.flush()
        out.extend((row.list_id, i) for i in picked)
    return out


def _pick(s: Session, row: StatusListRow, count: int, exclude: set[int]) -> list[int]:
    chosen: set[int] = set()
    while len(chosen) < count:
        wanted = {secrets.randbelow(row.size) for _ in range((count - len(chosen)) * 2)} - chosen - exclude
        taken = set(s.scalars(select(CertificateRow.status_index).where(
            CertificateRow.status_list_id == row.list_id, CertificateRow.status_index.in_(wanted))))
        chosen |= set(list(wanted - taken)[: count - len(chosen)])
    return list(chosen)


def reserve(node: Node, issuer_uscc: str, count: int) -> list[tuple[str, int]]:
    """``assign`` in a short transaction of its own, committed: a batch signs its rows (the status reference is in
    the signed claims) without holding the issuer's lists, then stores them, keeping only the references no
    concurrent writer stored meanwhile (``taken``, in the storing transaction). Holding the lists while signing
    made one issuer's batches one writer at a time across the server's workers (profiled: the second worker
    waited). A reference reserved and never stored is a slot left unused; ``used`` counts it all the same."""
    with node.db.session() as s:
        return assign(s, issuer_uscc, count)


def taken(s: Session, issuer_uscc: str, refs: Collection[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which of ``refs`` a certificate already holds, with the issuer's lists locked until the caller commits (so
    nobody stores one of the others before it does: the (list, index) pairs stay unique)."""
    if not refs:
        return set()
    s.scalars(select(StatusListRow.list_id).where(StatusListRow.issuer_uscc == issuer_uscc)
              .order_by(StatusListRow.list_id).with_for_update()).all()
    found: set[tuple[str, int]] = set()
    for list_id in {list_id for list_id, _ in refs}:
        indexes = [i for lid, i in refs if lid == list_id]
        found |= {(list_id, i) for i in s.scalars(select(CertificateRow.status_index).where(
            CertificateRow.status_list_id == list_id, CertificateRow.status_index.in_(indexes)))}
    return found


def touch(s: Session, list_ids: Sequence[str]) -> None:
    """Mark lists changed (a status changed) so the next fetch re-signs them."""
    for list_id in set(list_ids):
        row = s.get(StatusListRow, list_id)
        if row is not None:
            row.changed_at = datetime.now(UTC)


def token(node: Node, list_id: str) -> str:
    """The current signed token of a list (cached while still current)."""
    ttl = ttl_seconds(node)
    with node.db.session() as s:
        row = s.get(StatusListRow, list_id)
        if row is None:
            raise NotFound(reasons.STATUS_LIST_NOT_FOUND, "no status list has this id")
        if row.token and row.signed_at and _current(row, ttl):
            return row.token
        issuer = issuers.get(s, row.issuer_uscc)
        values = {idx: bits.STATUS_VALUES[st] for idx, st in s.execute(
            select(CertificateRow.status_index, CertificateRow.status).where(
                CertificateRow.status_list_id == list_id, CertificateRow.status != "valid"))}
        signed = _sign(node, issuer, list_id, values, row.size, ttl)
        row.token, row.signed_at = signed, datetime.now(UTC)
        return signed


def _current(row: StatusListRow, ttl: int) -> bool:
    signed_at = _aware(row.signed_at)
    return signed_at >= _aware(row.changed_at) and datetime.now(UTC) - signed_at < timedelta(seconds=ttl / 2)


def _aware(at: datetime | None) -> datetime:
    # SQLite returns naive datetimes; everything is stored in UTC.
    assert at is not None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _sign(node: Node, issuer: Issuer, list_id: str, values: dict[int, int], size: int, ttl: int) -> str:
    now = int(time.time())
    payload = {"sub": list_id, "iss": issuer.uscc, "iat": now, "exp": now + ttl, "ttl": ttl,
               "status_list": {"bits": bits.STATUS_BITS, "lst": bits.pack_status(values, size)}}
    return jose.sign_compact(node.keys.signer(issuer.key_label), payload, typ=bits.STATUS_LIST_TYP, kid=issuer.kid,
                             headers={"x5c": jose.x5c_value(issuers.chain(node, issuer)[:2])})

