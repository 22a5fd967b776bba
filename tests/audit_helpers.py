"""Reading and tampering with the audit log's tables in tests: events by leaf, entries in log order.

An event's position in the log is a row of ``audit_leaves`` (``LogLeaf``); the event row itself has none.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select

from hutong.audit import AuditRecord, leaf_entry
from hutong.db import Database
from hutong.tlog.models import LogLeaf


def event_at(*indexes: int) -> ColumnElement[bool]:
    """``where`` clause: the events at these leaf indexes."""
    return AuditRecord.seq.in_(select(LogLeaf.seq).where(LogLeaf.leaf_index.in_(indexes)))


def entries(db: Database) -> list[bytes]:
    """What every leaf commits to, in log order (from the records themselves, not the stored leaf hashes)."""
    with db.session(readonly=True) as s:
        rows = s.execute(select(LogLeaf.leaf_index, AuditRecord).join(AuditRecord, AuditRecord.seq == LogLeaf.seq)
                         .order_by(LogLeaf.leaf_index)).all()
    return [leaf_entry(rec, index) for index, rec in rows]


def leaf_count(db: Database) -> int:
    with db.session(readonly=True) as s:
        return len(s.scalars(select(LogLeaf.leaf_index)).all())
