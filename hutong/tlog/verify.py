"""Verify the whole log: every leaf, the tree at every checkpoint, every checkpoint's signature.

Walks the sequenced events in leaf order, recomputing each leaf hash from the record itself (the
leaf commits to its index, so an edited *or moved* record is named), growing the tree and comparing
its root with each signed checkpoint and with each checkpoint the hub cosigned, and each perfect
subtree it regrows with the one stored for proofs. Deleted records
show as a gap, or -- at the tail -- as a signed checkpoint larger than the log. Someone who also
rewrote the stored leaf hashes is caught by the first checkpoint whose root no longer matches:
the report then names that checkpoint's batch, the finest place the signatures can pin.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, tuple_

from hutong.audit import AuditRecord, leaf_entry
from hutong.db import Database
from hutong.errors import HutongError
from hutong.tlog import merkle
from hutong.tlog.integrator import after, latest_checkpoint, queue_position
from hutong.tlog.models import TILE_LEVEL, CosignedCheckpoint, LogCheckpoint, LogKey, LogLeaf, TreeNode
from hutong.tlog.note import Note, VerifierKey, parse_note


@dataclass(frozen=True)
class LogReport:
    records: int  # sequenced events checked
    pending: int  # events committed but not yet sequenced
    checkpoints: int
    cosigned: int
    first_bad: int | None  # leaf index of the first bad record (or first of the batch it hides in)
    problem: str

    @property
    def ok(self) -> bool:
        return self.first_bad is None

    # Kept for callers of the linear chain's report.
    @property
    def first_broken(self) -> int | None:
        return self.first_bad


@dataclass(frozen=True)
class _Signed:
    size: int
    root: bytes
    label: str  # "checkpoint" or "cosigned checkpoint"
    note: str


# A leaf row with the fields of its event; the event's columns are all NULL when the event row is gone.
_LEAF_ROW = (LogLeaf.leaf_index, LogLeaf.leaf_hash, LogLeaf.seq, AuditRecord.at, AuditRecord.actor,
             AuditRecord.action, AuditRecord.target, AuditRecord.outcome, AuditRecord.details, AuditRecord.request_id,
             AuditRecord.legacy_hash)


def _leaves(db: Database, batch: int) -> Iterator[Any]:  # rows of _LEAF_ROW
    last = -1
    while True:
        with db.session(readonly=True) as s:
            rows = s.execute(select(*_LEAF_ROW).outerjoin(AuditRecord, AuditRecord.seq == LogLeaf.seq)
                             .where(LogLeaf.leaf_index > last).order_by(LogLeaf.leaf_index).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].leaf_index


def _newest_checkpoint_size(db: Database) -> int:
    with db.session(readonly=True) as s:
        return s.scalar(select(func.max(LogCheckpoint.tree_size))) or 0


def _repeated_events(db: Database) -> dict[int, int]:
    """Each leaf that logs an event an earlier leaf already logs, by index, with the earlier leaf's index.

    The leaf table cannot declare its event number unique (on PostgreSQL it is range-partitioned by leaf index,
    and a partitioned table's unique key must hold the partition key), so only the single sequencer keeps one
    leaf per event; this is where a second leaf for an event, whoever wrote it, is found. One pass over the
    event-number index; empty in a sound log.
    """
    with db.session(readonly=True) as s:
        twice = select(LogLeaf.seq).group_by(LogLeaf.seq).having(func.count() > 1).subquery()
        rows = s.execute(select(LogLeaf.seq, LogLeaf.leaf_index).where(LogLeaf.seq.in_(select(twice.c.seq)))
                         .order_by(LogLeaf.seq, LogLeaf.leaf_index)).all()
    first: dict[int, int] = {}
    repeated: dict[int, int] = {}
    for seq, index in rows:
        if seq in first:
            repeated[index] = first[seq]
        else:
            first[seq] = index
    return repeated


def _signed_problem(raw: str, size: int, root: bytes, keys: Sequence[VerifierKey], origin: str | None) -> str:
    try:
        note: Note = parse_note(raw)
    except HutongError as exc:
        return exc.message
    cp = note.checkpoint
    if cp.size != size or cp.root != root:
        return "its stored size or root differs from its signed note"
    if origin is not None and cp.origin != origin:
        return f"it names another log ({cp.origin})"
    if not any(k.verifies(note) for k in keys):
        return "its signature does not verify with the log's key"
    return ""


def _stored_nodes_problem(db: Database, regrown: list[merkle.Node]) -> tuple[int, str] | None:
    """The first regrown perfect subtree whose stored copy (what proofs are built from) differs."""
    with db.session(readonly=True) as s:
        stored = {(n.level, n.idx): n.hash for n in s.execute(
            select(TreeNode.level, TreeNode.idx, TreeNode.hash)
            .where(tuple_(TreeNode.level, TreeNode.idx).in_([(lv, i) for lv, i, _ in regrown])))}
    for level, idx, node in sorted(regrown, key=lambda n: (n[1] << n[0], -n[0])):
        if stored.get((level, idx)) != node.hex():
            first, last = idx << level, ((idx + 1) << level) - 1
            return first, (f"the stored subtree over records {first}..{last} is missing or altered: the records "
                           "verify, but proofs over them are refused until it is restored")
    return None


def verify_log(db: Database, *, keys: Sequence[VerifierKey] | None = None, batch: int = 5000) -> LogReport:
    """Check the log; ``keys`` are the log's verifier keys (default: those recorded in the database)."""
    with db.session(readonly=True) as s:
        if keys is None:
            keys = [VerifierKey.decode(v) for v in s.scalars(select(LogKey.vkey))]
        signed = [_Signed(c.tree_size, bytes.fromhex(c.root_hash), "checkpoint", c.note)
                  for c in s.scalars(select(LogCheckpoint).order_by(LogCheckpoint.tree_size))]
        origin = parse_note(signed[-1].note).checkpoint.origin if signed else None
        cosigned = [_Signed(c.tree_size, bytes.fromhex(c.root_hash), "cosigned checkpoint", c.note)
                    for c in s.scalars(select(CosignedCheckpoint).where(CosignedCheckpoint.origin == origin)
                                       .order_by(CosignedCheckpoint.tree_size))] if origin else []
        pending = s.scalar(select(func.count()).select_from(AuditRecord)
                           .where(after(queue_position(latest_checkpoint(s))))) or 0
    marks = sorted([*signed, *cosigned], key=lambda m: (m.size, m.label))
    counts = dict(records=0, pending=pending, checkpoints=len(signed), cosigned=len(cosigned))

    def bad(index: int, problem: str) -> LogReport:
        return LogReport(**counts, first_bad=index, problem=problem)

    frontier: list[bytes] = []
    size, mark_i, batch_start = 0, 0, 0
    repeated = _repeated_events(db)

    def check_marks() -> LogReport | None:
        nonlocal mark_i, batch_start
        while mark_i < len(marks) and marks[mark_i].size == size:
            m = marks[mark_i]
            root = merkle.frontier_root(frontier)
            if m.root != root:
                where = (f"history was rewritten after the hub cosigned size {m.size}" if m.label.startswith("co")
                         else f"a record in leaves {batch_start}..{m.size - 1} was changed "
                         "(leaf hashes rewritten to hide it)")
                return bad(batch_start, f"the tree at size {m.size} does not match its {m.label}: {where}")
            if m.label == "checkpoint":
                problem = _signed_problem(m.note, m.size, m.root, keys, origin)
                if problem:
                    return bad(batch_start, f"checkpoint at size {m.size} is not valid: {problem}")
                batch_start = m.size
            mark_i += 1
        return None

    completed: list[merkle.Node] = []  # perfect subtrees regrown, to compare with the stored ones in chunks

    def check_nodes() -> LogReport | None:
        problem = _stored_nodes_problem(db, completed)
        completed.clear()
        return bad(problem[0], problem[1]) if problem else None

    for rec in _leaves(db, batch):
        index = rec.leaf_index
        if index != size:
            return bad(size, f"record {size} is missing (the next record is {index})")
        if rec.at is None:
            return bad(index, f"record {index} is missing (its event {rec.seq} was deleted)")
        if index in repeated:
            return bad(index, f"record {index} logs event {rec.seq} a second time (record {repeated[index]} "
                       "already logs it)")
        leaf = merkle.leaf_hash(leaf_entry(rec, index))
        if rec.leaf_hash != leaf.hex():
            return bad(index, f"record {index} was altered or moved after it was logged")
        frontier = merkle.frontier_extend(frontier, size, [leaf], completed, TILE_LEVEL)
        size += 1
        counts["records"] = size
        if (report := check_marks()) is not None:
            return report
        if len(completed) >= 500 and (report := check_nodes()) is not None:
            return report
    if completed and (report := check_nodes()) is not None:
        return report
    if mark_i < len(marks):
        m = marks[mark_i]
        return bad(size, f"records {size}..{m.size - 1} are missing: a {m.label} covers {m.size} records")
    if size and (not signed or signed[-1].size != size) and _newest_checkpoint_size(db) < size:
        # Leaves past the checkpoints read above are a batch the integrator committed (with its checkpoint,
        # in one transaction) while this walk ran: they are checked on the next run. Only leaves that no
        # checkpoint covers even now were sequenced without being signed.
        return bad(batch_start, f"records {batch_start}..{size - 1} are sequenced but no checkpoint signs them")
    return LogReport(**counts, first_bad=None, problem="log intact")
