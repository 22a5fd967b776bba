"""The audit log as a Merkle log: proofs checked with pymerkle (RFC 9162 mode), tampering named.

Every case runs on SQLite and PostgreSQL with a real SoftHSM token signing the checkpoints.
"""

from __future__ import annotations

import base64

import pytest
from pymerkle import InmemoryTree
from pymerkle.proof import InclusionProof
from sqlalchemy import delete, func, select, update

from hutong import audit
from hutong.audit import AuditRecord
from hutong.auditlog import AuditLog
from hutong.errors import FailedPrecondition, InvalidArgument, NotFound
from hutong.node import Node
from hutong.tlog import merkle, proofs
from hutong.tlog.models import LogCheckpoint, LogLeaf
from hutong.tlog.note import VerifierKey, parse_note
from tests.audit_helpers import entries, event_at, leaf_count


def _fill(node: Node, n: int, *, batches: int = 1) -> None:
    log = AuditLog(node.db)
    per = n // batches
    for b in range(batches):
        for i in range(per):
            log.record(actor="tester", action="thing.do", target=f"t{b}-{i}", details={"i": i, "名称": "测试"})
        node.tlog.integrate_all()


def _entries(node: Node) -> list[bytes]:
    return entries(node.db)


def _pymerkle(entries: list[bytes]) -> InmemoryTree:
    tree = InmemoryTree(algorithm="sha256")  # security on: RFC 9162 0x00 / 0x01 prefixes
    for e in entries:
        tree.append_entry(e)
    return tree


def test_checkpoints_and_proofs_agree_with_pymerkle(any_node: Node) -> None:
    node = any_node
    node.tlog.integrate_all()
    before = len(_entries(node))
    _fill(node, 21, batches=3)
    entries = _entries(node)
    tree = _pymerkle(entries)
    with node.db.session(readonly=True) as s:
        sizes = list(s.scalars(select(LogCheckpoint.tree_size).order_by(LogCheckpoint.tree_size)))
    assert sizes[-3:] == [before + 7, before + 14, before + 21]
    vkey = VerifierKey.decode(node.tlog.vkey())
    for size in sizes:
        p = proofs.inclusion(node.db, size - 1, size)
        note = parse_note(p.checkpoint)
        assert vkey.verifies(note) and note.checkpoint.size == size
        assert note.checkpoint.root == tree.get_root(size)  # independent root
        for index in {0, size // 2, size - 1}:
            p = proofs.inclusion(node.db, index, size)
            assert p.leaf_hash == tree.get_leaf(index + 1)
            rule = tree.prove_inclusion(index + 1, size).rule
            InclusionProof("sha256", True, size, index + 1, rule, [p.leaf_hash, *p.path]).verify(
                p.leaf_hash, tree.get_root(size))  # pymerkle checks our path, hash by hash
    for first in sizes:
        c = proofs.consistency(node.db, first, sizes[-1])
        assert merkle.verify_consistency(first, sizes[-1], tree.get_root(first), tree.get_root(sizes[-1]), c.path)
        if c.path:
            forged = [bytes(32), *c.path[1:]]
            assert not merkle.verify_consistency(first, sizes[-1], tree.get_root(first), tree.get_root(sizes[-1]),
                                                 forged)
    assert AuditLog(node.db).verify().ok


def test_one_signature_per_batch(node: Node) -> None:
    node.tlog.integrate_all()
    with node.db.session(readonly=True) as s:
        before = s.scalar(select(func.count()).select_from(LogCheckpoint))
    _fill(node, 50)
    with node.db.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(LogCheckpoint)) == (before or 0) + 1


def test_checkpoint_is_a_signed_note(node: Node) -> None:
    _fill(node, 3)
    p = proofs.inclusion(node.db, 0)
    text, _, sigs = p.checkpoint.rpartition("\n\n")
    origin, size, root = text.split("\n")
    assert origin == f"hutong.node/{node.id}/audit" and int(size) == p.tree_size
    assert base64.b64decode(root) == merkle.root([proofs.inclusion(node.db, i).leaf_hash for i in range(p.tree_size)])
    assert sigs.startswith(f"\u2014 {origin} ") and sigs.endswith("\n")
    tampered = parse_note(p.checkpoint.replace(f"\n{size}\n", f"\n{int(size) + 1}\n"))
    assert not VerifierKey.decode(node.tlog.vkey()).verifies(tampered)


def test_event_is_written_in_the_callers_transaction(any_node: Node) -> None:
    db = any_node.db
    with db.session(readonly=True) as s:
        before = s.scalar(select(func.count()).select_from(AuditRecord))
    with pytest.raises(RuntimeError), db.session() as s:
        audit.append(s, actor="a", action="x.y")
        raise RuntimeError("act failed")
    with db.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(AuditRecord)) == before


def _leaf_count(node: Node) -> int:
    """The index of the newest leaf (all pending events sequenced first)."""
    node.tlog.integrate_all()
    return leaf_count(node.db) - 1


def test_altered_record_is_named(any_node: Node) -> None:
    _fill(any_node, 6, batches=2)
    n = _leaf_count(any_node)
    with any_node.db.session() as s:
        s.execute(update(AuditRecord).where(event_at(n - 2)).values(target="forged"))
    report = AuditLog(any_node.db).verify()
    assert report.first_bad == n - 2 and "altered" in report.problem


def test_deleted_record_is_named(any_node: Node) -> None:
    _fill(any_node, 6, batches=2)
    n = _leaf_count(any_node)
    with any_node.db.session() as s:
        s.execute(delete(AuditRecord).where(event_at(n - 3)))
    report = AuditLog(any_node.db).verify()
    assert report.first_bad == n - 3 and "missing" in report.problem


def test_deleted_tail_is_named(any_node: Node) -> None:
    """Unlike the linear chain, dropping the newest records is caught: a signed checkpoint covers them."""
    _fill(any_node, 4)
    n = _leaf_count(any_node)
    with any_node.db.session() as s:
        s.execute(delete(AuditRecord).where(event_at(n - 1, n)))
    report = AuditLog(any_node.db).verify()
    assert report.first_bad == n - 1 and "missing" in report.problem


def test_reordered_records_are_named(any_node: Node) -> None:
    _fill(any_node, 6)
    n = _leaf_count(any_node)
    a, b = n - 4, n - 2
    with any_node.db.session() as s:
        la, lb = s.get_one(LogLeaf, a), s.get_one(LogLeaf, b)
        for leaf, idx in ((la, -1), (lb, a), (la, b)):  # swap positions (and their stored leaf hashes)
            leaf.leaf_index = idx
            s.flush()
        la.leaf_hash, lb.leaf_hash = lb.leaf_hash, la.leaf_hash
    report = AuditLog(any_node.db).verify()
    assert report.first_bad == a and "moved" in report.problem


def test_an_event_logged_twice_is_named(any_node: Node) -> None:
    """A second leaf for one event (the leaf table's event number is not a unique key: see verify) is named,
    even with its leaf hash made to match, before the checkpoint's root would only name its batch."""
    _fill(any_node, 8, batches=2)
    n = _leaf_count(any_node)
    with any_node.db.session() as s:
        leaf = s.get_one(LogLeaf, n - 1)
        leaf.seq = s.get_one(LogLeaf, n - 3).seq
        rec = s.scalars(select(AuditRecord).where(AuditRecord.seq == leaf.seq)).one()
        leaf.leaf_hash = merkle.leaf_hash(audit.leaf_entry(rec, n - 1)).hex()
    report = AuditLog(any_node.db).verify()
    assert report.first_bad == n - 1 and "a second time" in report.problem and f"record {n - 3}" in report.problem


def test_rewritten_leaf_hashes_are_caught_by_the_signed_checkpoint(any_node: Node) -> None:
    _fill(any_node, 8, batches=2)
    n = _leaf_count(any_node)
    with any_node.db.session() as s:
        rec = s.scalars(select(AuditRecord).where(event_at(n - 1))).one()
        rec.target = "forged"
        s.get_one(LogLeaf, n - 1).leaf_hash = merkle.leaf_hash(audit.leaf_entry(rec, n - 1)).hex()
    report = AuditLog(any_node.db).verify()
    assert report.first_bad == n - 3  # the batch of 4 that holds the forged record
    assert "does not match its checkpoint" in report.problem


def test_pending_events_are_counted_not_failed(node: Node) -> None:
    node.tlog.integrate_all()
    AuditLog(node.db).record(actor="a", action="x.y")
    report = AuditLog(node.db).verify()
    assert report.ok and report.pending == 1


# -- bad proof requests: a reason each, nothing stored changed ------------------------------------

def _snapshot(node: Node) -> tuple[int, int]:
    with node.db.session(readonly=True) as s:
        return (s.scalar(select(func.count()).select_from(AuditRecord)) or 0,
                s.scalar(select(func.count()).select_from(LogCheckpoint)) or 0)


@pytest.mark.parametrize(("call", "error", "reason"), [
    (lambda db, n: proofs.inclusion(db, 0, n + 1), NotFound, "TREE_SIZE_UNKNOWN"),
    (lambda db, n: proofs.inclusion(db, n, n), InvalidArgument, "LEAF_INDEX_OUT_OF_RANGE"),
    (lambda db, n: proofs.inclusion(db, -1, n), InvalidArgument, "LEAF_INDEX_OUT_OF_RANGE"),
    (lambda db, n: proofs.inclusion(db, 0, -5), NotFound, "TREE_SIZE_UNKNOWN"),
    (lambda db, n: proofs.consistency(db, n + 1, n), InvalidArgument, "TREE_SIZES_INVALID"),
    (lambda db, n: proofs.consistency(db, 0, n), InvalidArgument, "TREE_SIZES_INVALID"),
    (lambda db, n: proofs.consistency(db, n - 1, n), NotFound, "TREE_SIZE_UNKNOWN"),
    (lambda db, n: proofs.leaf_of_event(db, 10**9), NotFound, "AUDIT_EVENT_NOT_FOUND"),
])
def test_bad_proof_requests(node: Node, call, error, reason) -> None:  # type: ignore[no-untyped-def]
    _fill(node, 3)
    n = _leaf_count(node) + 1
    before = _snapshot(node)
    with pytest.raises(error) as exc:
        call(node.db, n)
    assert exc.value.reason == reason
    assert _snapshot(node) == before


def test_proof_from_a_damaged_log_is_refused(node: Node) -> None:
    _fill(node, 3)
    with node.db.session() as s:
        s.execute(update(LogLeaf).where(LogLeaf.leaf_index == 0).values(leaf_hash="00" * 32))
    with pytest.raises(FailedPrecondition) as exc:
        proofs.inclusion(node.db, 1)
    assert exc.value.reason == "AUDIT_LOG_INCONSISTENT"


def test_pending_event_has_no_proof_yet(node: Node) -> None:
    with node.db.session() as s:
        seq = audit.append(s, actor="a", action="x.y")
    with pytest.raises(FailedPrecondition) as exc:
        proofs.leaf_of_event(node.db, seq)
    assert exc.value.reason == "AUDIT_EVENT_PENDING"
    node.tlog.integrate_all()
    assert proofs.inclusion(node.db, proofs.leaf_of_event(node.db, seq)).leaf_hash
