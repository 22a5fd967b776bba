"""The append-only audit log: events written with the act, sequenced into a verifiable Merkle log.

``append`` inserts one *unsequenced* event in the caller's transaction, so an act and its record
are committed together or not at all -- and, unlike the linear hash chain this replaced, it reads
and locks nothing: concurrent writers do not queue on the log's tail. An integrator
(``hutong.tlog.integrator``) later gives committed events their leaf index in batches, hashes
them into an RFC 9162 Merkle tree and signs one checkpoint per batch in the HSM.
``hutong.tlog.verify`` checks every leaf, the tree and every checkpoint and names the first bad
record; ``hutong.tlog.proofs`` answers inclusion and consistency proofs.

What a leaf commits to is ``leaf_entry``: the record's fields *and its leaf index*, so moving a
record to another position is as visible as editing it.

``hutong.auditlog.AuditLog`` is the node's handle on the whole log (record, verify): it sits above both this
module and ``hutong.tlog``, which builds on this one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    FetchedValue,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    insert,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from hutong import logs, prepared
from hutong.business_codes import mask_codes
from hutong.db import Base

# SQLite only auto-numbers an INTEGER PRIMARY KEY (the rowid); PostgreSQL wants a 64-bit identity.
_ID = BigInteger().with_variant(Integer(), "sqlite")


class AuditRecord(Base):
    __tablename__ = "audit_events"

    # Insertion order, assigned by the database without reading the log (not the log position).
    seq: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    # The writing transaction, stamped by the database (``server_default``, set per dialect by the migration):
    # on PostgreSQL its top-level transaction id, so the integrator can tell which events can no longer be
    # joined by an older, still running transaction (``hutong.tlog.integrator``); on SQLite, whose writers take
    # turns, a constant. Events carried over from before the leaf table hold 0 (sequenced) or 1 (waiting).
    txid: Mapped[int] = mapped_column(BigInteger, server_default=FetchedValue())
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))  # not indexed: every audited act would pay for it
    target: Mapped[str] = mapped_column(String(300))
    outcome: Mapped[str] = mapped_column(String(40))
    details: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(100))  # the RPC that caused the event, when known
    # Records carried over from the linear hash chain keep their chain hash (committed in their leaf).
    legacy_hash: Mapped[str | None] = mapped_column(String(64))

    # The integrator's queue, in the order it sequences: events after the last one it sequenced. An event is
    # written once and never updated: its position in the log is a row of ``hutong.tlog.models.LogLeaf``.
    __table_args__ = (Index("ix_audit_events_queue", "txid", "seq"),)


def _iso(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat(timespec="microseconds")


class EventFields(Protocol):
    """What a leaf commits to: an ``AuditRecord`` or a row selected with these columns."""

    @property
    def at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def details(self) -> str: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def legacy_hash(self) -> str | None: ...


def leaf_entry(rec: EventFields, index: int) -> bytes:
    """The bytes leaf ``index`` commits to (canonical JSON; optional fields only when present)."""
    body: dict[str, object] = {
        "index": index,
        "at": _iso(rec.at),
        "actor": rec.actor,
        "action": rec.action,
        "target": rec.target,
        "outcome": rec.outcome,
        "details": rec.details,
    }
    if rec.request_id is not None:
        body["request_id"] = rec.request_id
    if rec.legacy_hash is not None:
        body["legacy_hash"] = rec.legacy_hash
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# The table itself, for Core statements on hot paths (appending here, numbering in the integrator).
EVENTS = cast(Table, AuditRecord.__table__)
_INSERT = insert(EVENTS)
# The columns a writer gives (``seq`` and ``txid`` are the database's), as named parameters: compiled once and
# run on the driver connection (``hutong.prepared``).
_RECORD = insert(EVENTS).values({name: bindparam(name) for name in
                                 ("at", "actor", "action", "target", "outcome", "details", "request_id")})
_APPEND = _RECORD.returning(EVENTS.c.seq)


@dataclass(frozen=True)
class Event:
    """One event for ``append_many`` (the arguments of ``append``)."""

    actor: str
    action: str
    target: str = ""
    outcome: str = "ok"
    details: Mapping[str, object] | None = None
    request_id: str | None = None


def _values(actor: str, action: str, target: str, outcome: str, details: Mapping[str, object] | None,
            request_id: str | None) -> dict[str, object]:
    return {  # individual-business codes (personal data) only masked
        "at": datetime.now(UTC),
        "actor": mask_codes(actor),
        "action": action,
        "target": mask_codes(target),
        "outcome": outcome,
        "details": mask_codes(json.dumps(dict(details or {}), sort_keys=True, ensure_ascii=False, default=str)),
        "request_id": request_id if request_id is not None else logs.current_request_id(),
    }


def append(
    session: Session | Connection,
    *,
    actor: str,
    action: str,
    target: str = "",
    outcome: str = "ok",
    details: Mapping[str, object] | None = None,
    request_id: str | None = None,
) -> int:
    """Record one event in the caller's transaction (an insert; nothing is read or locked); returns its
    insertion number (``seq``). ``session``: the act's ORM session, or its plain connection on hot paths
    (``Database.transaction``).

    Never put raw ID numbers, PINs or key material in ``details``: they are stored in clear.
    """
    values = _values(actor, action, target, outcome, details, request_id)
    # One INSERT ... RETURNING, without the ORM's unit of work and no mapped object built for the answer: this
    # runs in every audited act. The statement is compiled once and run on the transaction's driver connection
    # (``Connection.execute`` around it cost more than the insert itself).
    conn = session.connection() if isinstance(session, Session) else session
    row = prepared.on_connection(conn, _APPEND, values)
    assert row is not None  # an INSERT ... RETURNING returns its row
    return int(row["seq"])


def record(
    tx: prepared.Writer,
    *,
    actor: str,
    action: str,
    target: str = "",
    outcome: str = "ok",
    details: Mapping[str, object] | None = None,
    request_id: str | None = None,
) -> None:
    """``append`` for an act written with ``hutong.prepared.write``: the hot audited acts, a seal's use
    (``SealService.record_use_now``) and a platform's certificate read (``consent.record_access``); the others use
    ``append`` in their session. The record is queued in the act's transaction, and on PostgreSQL sent with the
    ``COMMIT`` in one round trip -- or, when the act's outcome is not read, with the act as one prepared statement.
    Committed with the act or not at all, as ``append``; nothing is read or locked."""
    tx.add(_RECORD, _values(actor, action, target, outcome, details, request_id))


def append_many(session: Session | Connection, events: Sequence[Event]) -> None:
    """Record several events in the caller's transaction with one executemany INSERT (a batch's acts: one
    statement for the chunk instead of one round trip per event); as ``append``, nothing is read or locked."""
    if events:
        session.execute(_INSERT, [_values(e.actor, e.action, e.target, e.outcome, e.details, e.request_id)
                                  for e in events])
