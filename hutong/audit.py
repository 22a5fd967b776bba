"""The append-only, hash-chained audit log.

Each record commits to the previous one: ``hash = SHA-256(prev_hash || canonical JSON of the
record)``. Editing, deleting or re-ordering any record breaks the chain at that record, and
``verify_chain`` names the first broken link. Records are appended inside the caller's
transaction, so an act and its audit record are committed together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, String, Text, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from hutong import logs
from hutong.db import Base, Database

GENESIS = "0" * 64


class AuditRecord(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str] = mapped_column(String(300))
    outcome: Mapped[str] = mapped_column(String(40))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


def _canonical(rec: AuditRecord) -> bytes:
    body = {
        "seq": rec.seq,
        "at": rec.at.astimezone(UTC).isoformat(timespec="microseconds") if rec.at.tzinfo else
        rec.at.replace(tzinfo=UTC).isoformat(timespec="microseconds"),
        "actor": rec.actor,
        "action": rec.action,
        "target": rec.target,
        "outcome": rec.outcome,
        "details": rec.details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(prev_hash: str, rec: AuditRecord) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(rec)).hexdigest()


def _lock_tail(session: Session) -> None:
    """Serialise appenders across processes so two records never claim the same predecessor."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7364823)"))
    # SQLite: every write transaction already holds the database write lock (BEGIN IMMEDIATE).


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str = "",
    outcome: str = "ok",
    details: Mapping[str, object] | None = None,
) -> AuditRecord:
    """Append one record in the caller's transaction.

    Never put raw ID numbers, PINs or key material in ``details``: they are stored in clear.
    """
    _lock_tail(session)
    last = session.execute(select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1))
    row = last.first()
    seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
    rec = AuditRecord(
        seq=seq,
        at=datetime.now(UTC),
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        details=json.dumps({**logs.audit_details(), **(details or {})}, sort_keys=True, ensure_ascii=False,
                           default=str),
        prev_hash=prev,
    )
    rec.hash = record_hash(prev, rec)
    session.add(rec)
    session.flush()
    return rec


@dataclass(frozen=True)
class ChainReport:
    records: int
    first_broken: int | None
    problem: str

    @property
    def ok(self) -> bool:
        return self.first_broken is None


def verify_records(records: Iterable[AuditRecord]) -> ChainReport:
    prev, expected_seq, count = GENESIS, 1, 0
    for rec in records:
        count += 1
        if rec.seq != expected_seq:
            return ChainReport(count, expected_seq, f"record {expected_seq} is missing (next is {rec.seq})")
        if rec.prev_hash != prev:
            return ChainReport(count, rec.seq, f"record {rec.seq} does not point at record {rec.seq - 1}")
        if record_hash(prev, rec) != rec.hash:
            return ChainReport(count, rec.seq, f"record {rec.seq} was altered after it was written")
        prev, expected_seq = rec.hash, rec.seq + 1
    return ChainReport(count, None, "chain intact")


def verify_chain(db: Database, *, batch: int = 5000) -> ChainReport:
    """Walk the whole log in order, in batches, and report the first broken link."""

    def stream() -> Iterable[AuditRecord]:
        after = 0
        while True:
            with db.session(readonly=True) as s:
                rows = list(
                    s.scalars(select(AuditRecord).where(AuditRecord.seq > after).order_by(AuditRecord.seq).limit(batch))
                )
            if not rows:
                return
            yield from rows
            after = rows[-1].seq

    return verify_records(stream())


class AuditLog:
    """Convenience wrapper for code that audits in a transaction of its own."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, *, actor: str, action: str, target: str = "", outcome: str = "ok",
               details: Mapping[str, object] | None = None) -> None:
        with self.db.session() as s:
            append(s, actor=actor, action=action, target=target, outcome=outcome, details=details)

    def verify(self) -> ChainReport:
        return verify_chain(self.db)
