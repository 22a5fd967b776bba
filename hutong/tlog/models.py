"""Tables of the transparency log besides the events themselves (``hutong.audit.AuditRecord``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hutong.db import Base


class LogCheckpoint(Base):
    """One signed checkpoint per integrated batch; ``frontier`` lets the next batch extend the tree."""

    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    frontier: Mapped[str] = mapped_column(Text)  # JSON list of hex roots of the right-edge perfect subtrees
    note: Mapped[str] = mapped_column(Text)  # the signed note
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Where the integrator's queue resumes: the (txid, seq) of the last event this batch sequenced, in the
    # order it takes events (``hutong.audit.AuditRecord.txid``).
    last_txid: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class LogLeaf(Base):
    """Leaf ``leaf_index`` of the log is event ``seq``: the log's order, kept apart from the events.

    The integrator only inserts here (one multi-row statement per batch): the event rows, written by every
    audited act, are never updated, so sequencing costs no second version of each event, no dead rows to
    vacuum and no lock a writer could meet. No foreign key: a deleted event must show in ``audit verify``.
    """

    __tablename__ = "audit_leaves"

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # The event (``AuditRecord.seq``). Indexed, not unique: on PostgreSQL the table is partitioned by leaf index
    # (migration 0016), and a unique key must hold the partition key; an event has one leaf because one
    # sequencer, under the log's lock, takes the queue in strictly increasing order (and verify names a repeat).
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))  # hex RFC 9162 leaf hash


class LogKey(Base):
    """Verifier keys this node's log has signed with (published in the trust list; kept for auditors)."""

    __tablename__ = "audit_log_keys"

    key_id: Mapped[str] = mapped_column(String(8), primary_key=True)
    vkey: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CosignedCheckpoint(Base):
    """Checkpoints cosigned by the hub: on the hub, what it witnessed; on a member, what it fetched."""

    __tablename__ = "audit_cosigned"

    origin: Mapped[str] = mapped_column(String(200), primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# Perfect subtrees of 2**TILE_LEVEL leaves and up are stored as the integrator completes them; a proof
# reads one row per subtree it needs and at most 2**TILE_LEVEL - 1 leaf hashes per range below that
# level, O(log n) rows in all. Storing each level from 4 costs about one row per eight events.
TILE_LEVEL = 4


class TreeNode(Base):
    """The root of the complete perfect subtree covering leaves [idx << level, (idx + 1) << level)."""

    __tablename__ = "audit_tree_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
