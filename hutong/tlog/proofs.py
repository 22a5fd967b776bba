"""Inclusion and consistency proofs, always against a checkpoint the node signed.

Proofs are answered only for tree sizes that have a checkpoint, so an auditor checks each one
against a signed root. Before answering, the root recomputed from the stored leaf hashes must
equal the checkpoint's: a log damaged in the database answers ``AUDIT_LOG_INCONSISTENT``, never a
proof that would not verify.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hutong.audit import AuditRecord
from hutong.db import Database
from hutong.errors import FailedPrecondition, InvalidArgument, NotFound
from hutong.tlog import merkle
from hutong.tlog.integrator import latest_checkpoint
from hutong.tlog.models import LogCheckpoint


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]
    checkpoint: str  # the signed note of tree_size


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    path: list[bytes]
    first_checkpoint: str
    second_checkpoint: str


def _checkpoint(s: Session, size: int) -> LogCheckpoint:
    """The checkpoint of ``size`` (0: the newest)."""
    if size < 0:
        raise NotFound("TREE_SIZE_UNKNOWN", f"tree size {size} is negative: no such checkpoint")
    cp = latest_checkpoint(s) if size == 0 else s.get(LogCheckpoint, size)
    if cp is None:
        raise NotFound("TREE_SIZE_UNKNOWN", "the log has no checkpoint yet" if size == 0
                       else f"the log has no checkpoint of tree size {size}")
    return cp


def _leaves(s: Session, cp: LogCheckpoint) -> list[bytes]:
    hashes = list(s.scalars(select(AuditRecord.leaf_hash).where(AuditRecord.leaf_index < cp.tree_size)
                            .order_by(AuditRecord.leaf_index)))
    leaves = [bytes.fromhex(h) for h in hashes if h]
    if len(leaves) != cp.tree_size or merkle.root(leaves).hex() != cp.root_hash:
        raise FailedPrecondition("AUDIT_LOG_INCONSISTENT",
                                 f"the stored log does not match its checkpoint of size {cp.tree_size}: "
                                 "run hutong audit verify")
    return leaves


def inclusion(db: Database, leaf_index: int, tree_size: int = 0) -> InclusionProof:
    """Leaf ``leaf_index`` is in the tree of ``tree_size`` (0: the newest checkpoint)."""
    with db.session(readonly=True) as s:
        cp = _checkpoint(s, tree_size)
        if not 0 <= leaf_index < cp.tree_size:
            raise InvalidArgument("LEAF_INDEX_OUT_OF_RANGE",
                                  f"leaf index {leaf_index} is not in a tree of {cp.tree_size} records")
        leaves = _leaves(s, cp)
    return InclusionProof(leaf_index, cp.tree_size, leaves[leaf_index], merkle.inclusion_path(leaf_index, leaves),
                          cp.note)


def consistency(db: Database, first: int, second: int = 0) -> ConsistencyProof:
    """The tree of ``second`` (0: the newest checkpoint) extends the tree of ``first``."""
    with db.session(readonly=True) as s:
        new = _checkpoint(s, second)
        if first <= 0 or first > new.tree_size:
            raise InvalidArgument("TREE_SIZES_INVALID",
                                  f"first tree size must be between 1 and {new.tree_size}, not {first}")
        old = _checkpoint(s, first)
        leaves = _leaves(s, new)
    return ConsistencyProof(first, new.tree_size, merkle.consistency_path(first, leaves), old.note, new.note)


def leaf_of_event(db: Database, seq: int) -> int:
    """The leaf index of audit event ``seq`` (its insertion number)."""
    with db.session(readonly=True) as s:
        rec = s.get(AuditRecord, seq)
    if rec is None:
        raise NotFound("AUDIT_EVENT_NOT_FOUND", f"no audit event {seq}")
    if rec.leaf_index is None:
        raise FailedPrecondition("AUDIT_EVENT_PENDING", f"audit event {seq} is not sequenced yet; try again shortly")
    return rec.leaf_index


def latest_note(db: Database) -> str:
    """The newest signed checkpoint (its note); TREE_SIZE_UNKNOWN before the first."""
    with db.session(readonly=True) as s:
        cp = latest_checkpoint(s)
    if cp is None:
        raise NotFound("TREE_SIZE_UNKNOWN", "the log has no checkpoint yet")
    return cp.note
