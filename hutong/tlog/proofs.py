"""Inclusion and consistency proofs, always against a checkpoint the node signed.

Proofs are answered only for tree sizes that have a checkpoint, so an auditor checks each one
against a signed root. A proof is built from the perfect subtrees the integrator stored
(``TreeNode``, from ``TILE_LEVEL`` up) and the few leaf hashes below that level: O(log n) rows
read, not the whole log. Before answering, the node checks the proof itself against the signed
root(s): a log damaged in the database answers ``AUDIT_LOG_INCONSISTENT``, never a proof that
would not verify.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from hutong.audit import AuditRecord
from hutong.db import Database
from hutong.errors import FailedPrecondition, InvalidArgument, NotFound
from hutong.tlog import merkle
from hutong.tlog.integrator import latest_checkpoint
from hutong.tlog.models import TILE_LEVEL, LogCheckpoint, LogLeaf, TreeNode


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


def _inconsistent(size: int) -> FailedPrecondition:
    return FailedPrecondition("AUDIT_LOG_INCONSISTENT",
                              f"the stored log does not match its checkpoint of size {size}: run hutong audit verify")


def _roots(s: Session, ranges: list[tuple[int, int]], size: int) -> list[bytes]:
    """MTH of each leaf range, from stored subtrees (two queries, O(log n) rows)."""
    pieces = {r: merkle.perfect_pieces(*r) for r in ranges}
    wanted = {p for ps in pieces.values() for p in ps}
    nodes = sorted(p for p in wanted if p[0] >= TILE_LEVEL)
    leaf_indexes = sorted({i for level, idx in wanted if level < TILE_LEVEL
                           for i in range(idx << level, (idx + 1) << level)})
    stored: dict[tuple[int, int], bytes] = {}
    if nodes:
        rows = s.execute(select(TreeNode.level, TreeNode.idx, TreeNode.hash)
                         .where(tuple_(TreeNode.level, TreeNode.idx).in_(nodes)))
        stored = {(r.level, r.idx): bytes.fromhex(r.hash) for r in rows}
    leaves: dict[int, bytes] = {}
    if leaf_indexes:
        rows = s.execute(select(LogLeaf.leaf_index, LogLeaf.leaf_hash).where(LogLeaf.leaf_index.in_(leaf_indexes)))
        leaves = {r.leaf_index: bytes.fromhex(r.leaf_hash) for r in rows}

    def piece(level: int, idx: int) -> bytes:
        if level >= TILE_LEVEL:
            return stored[(level, idx)]
        return merkle.root([leaves[i] for i in range(idx << level, (idx + 1) << level)])

    try:
        return [merkle.join([piece(*p) for p in pieces[r]]) for r in ranges]
    except (KeyError, ValueError):  # a stored node or leaf hash is missing or not hex
        raise _inconsistent(size) from None


def _leaf(s: Session, leaf_index: int, size: int) -> bytes:
    value = s.scalar(select(LogLeaf.leaf_hash).where(LogLeaf.leaf_index == leaf_index))
    try:
        return bytes.fromhex(value or "")
    except ValueError:
        raise _inconsistent(size) from None


def inclusion(db: Database, leaf_index: int, tree_size: int = 0) -> InclusionProof:
    """Leaf ``leaf_index`` is in the tree of ``tree_size`` (0: the newest checkpoint)."""
    with db.session(readonly=True) as s:
        cp = _checkpoint(s, tree_size)
        if not 0 <= leaf_index < cp.tree_size:
            raise InvalidArgument("LEAF_INDEX_OUT_OF_RANGE",
                                  f"leaf index {leaf_index} is not in a tree of {cp.tree_size} records")
        leaf = _leaf(s, leaf_index, cp.tree_size)
        path = _roots(s, merkle.inclusion_ranges(leaf_index, cp.tree_size), cp.tree_size)
    if not merkle.verify_inclusion(leaf_index, cp.tree_size, leaf, path, bytes.fromhex(cp.root_hash)):
        raise _inconsistent(cp.tree_size)
    return InclusionProof(leaf_index, cp.tree_size, leaf, path, cp.note)


def consistency(db: Database, first: int, second: int = 0) -> ConsistencyProof:
    """The tree of ``second`` (0: the newest checkpoint) extends the tree of ``first``."""
    with db.session(readonly=True) as s:
        new = _checkpoint(s, second)
        if first <= 0 or first > new.tree_size:
            raise InvalidArgument("TREE_SIZES_INVALID",
                                  f"first tree size must be between 1 and {new.tree_size}, not {first}")
        old = _checkpoint(s, first)
        path = _roots(s, merkle.consistency_ranges(first, new.tree_size), new.tree_size)
    if not merkle.verify_consistency(first, new.tree_size, bytes.fromhex(old.root_hash), bytes.fromhex(new.root_hash),
                                     path):
        raise _inconsistent(new.tree_size)
    return ConsistencyProof(first, new.tree_size, path, old.note, new.note)


def leaf_of_event(db: Database, seq: int) -> int:
    """The leaf index of audit event ``seq`` (its insertion number)."""
    with db.session(readonly=True) as s:
        index = s.scalar(select(LogLeaf.leaf_index).where(LogLeaf.seq == seq))
        exists = index is not None or s.scalar(select(AuditRecord.seq).where(AuditRecord.seq == seq)) is not None
    if not exists:
        raise NotFound("AUDIT_EVENT_NOT_FOUND", f"no audit event {seq}")
    if index is None:
        raise FailedPrecondition("AUDIT_EVENT_PENDING", f"audit event {seq} is not sequenced yet; try again shortly")
    return index


def latest_note(db: Database) -> str:
    """The newest signed checkpoint (its note); TREE_SIZE_UNKNOWN before the first."""
    with db.session(readonly=True) as s:
        cp = latest_checkpoint(s)
    if cp is None:
        raise NotFound("TREE_SIZE_UNKNOWN", "the log has no checkpoint yet")
    return cp.note
