"""Proofs are built from stored perfect subtrees: O(log n) rows read, still checked with pymerkle.

Every stored subtree is compared with an independent root (pymerkle over the entries it covers); a
proof is shown not to read the leaves off its path by damaging all of them; a damaged stored subtree
makes the node refuse the proof; the migration recomputes the subtrees of an existing log.
"""

from __future__ import annotations

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from pymerkle import InmemoryTree
from pymerkle.proof import InclusionProof
from sqlalchemy import delete, event, func, select, update

from hutong.audit import AuditRecord
from hutong.auditlog import AuditLog
from hutong.db import Database, alembic_config
from hutong.errors import FailedPrecondition
from hutong.node import Node
from hutong.tlog import merkle, proofs
from hutong.tlog.integrator import Integrator
from hutong.tlog.models import TILE_LEVEL, LogCheckpoint, LogLeaf, TreeNode
from tests.audit_helpers import entries


def _entries(db: Database) -> list[bytes]:
    return entries(db)


def _tree(entries: list[bytes]) -> InmemoryTree:
    tree = InmemoryTree(algorithm="sha256")  # RFC 9162 prefixes
    for e in entries:
        tree.append_entry(e)
    return tree


def _grow_to(node: Node, size: int, *, batch: int) -> None:
    """Record events until the log holds ``size`` leaves, integrated in batches of ``batch``."""
    node.tlog.integrate_all()
    with node.db.session(readonly=True) as s:
        have = s.scalar(select(func.count()).select_from(AuditRecord)) or 0
    log = AuditLog(node.db)
    for i in range(size - have):
        log.record(actor="tester", action="thing.do", target=f"t{i}", details={"i": i})
    Integrator(node.db, node.keys, node.id, batch=batch).integrate_all()


def _nodes(db: Database) -> dict[tuple[int, int], str]:
    with db.session(readonly=True) as s:
        return {(n.level, n.idx): n.hash for n in s.scalars(select(TreeNode))}


def test_stored_subtrees_and_proofs_agree_with_pymerkle(any_node: Node) -> None:
    _grow_to(any_node, 150, batch=13)  # batches end inside and across 16-leaf subtrees
    entries = _entries(any_node.db)
    assert len(entries) == 150
    stored = _nodes(any_node.db)
    expected = {(level, idx) for level in range(TILE_LEVEL, 8) for idx in range(150 >> level)}
    assert set(stored) == expected  # every complete subtree of 16 leaves and up, nothing else
    for (level, idx), h in stored.items():
        assert bytes.fromhex(h) == _tree(entries[idx << level:(idx + 1) << level]).get_root()
    tree = _tree(entries)
    with any_node.db.session(readonly=True) as s:
        sizes = list(s.scalars(select(LogCheckpoint.tree_size).order_by(LogCheckpoint.tree_size)))
    for size in sizes[-6:]:
        for index in {0, 15, 16, size // 2, size - 1}:
            p = proofs.inclusion(any_node.db, index, size)
            rule = tree.prove_inclusion(index + 1, size).rule
            InclusionProof("sha256", True, size, index + 1, rule, [p.leaf_hash, *p.path]).verify(
                p.leaf_hash, tree.get_root(size))
        c = proofs.consistency(any_node.db, sizes[0], size)
        assert merkle.verify_consistency(sizes[0], size, tree.get_root(sizes[0]), tree.get_root(size), c.path)
        pm = tree.prove_consistency(sizes[0], size)
        pm.verify(tree.get_root(sizes[0]), tree.get_root(size))  # pymerkle's own proof of the same claim


def test_a_proof_reads_its_path_not_the_log(any_node: Node) -> None:
    """With every leaf hash outside the proven leaf's 16-leaf subtree destroyed, the proof still comes,
    from a handful of statements: the leaves under stored subtrees are never read."""
    _grow_to(any_node, 192, batch=50)  # 192 = 128 + 64: the tree's right edge is all stored subtrees
    entries = _entries(any_node.db)
    tree = _tree(entries)
    index = 100
    tile = range(index & ~15, (index & ~15) + 16)
    with any_node.db.session() as s:
        s.execute(update(LogLeaf).where(LogLeaf.leaf_index.not_in(tile)).values(leaf_hash="00" * 32))
    statements: list[str] = []

    def count(conn, cursor, statement, *_a) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(any_node.db.engine, "before_cursor_execute", count)
    try:
        p = proofs.inclusion(any_node.db, index, 192)
    finally:
        event.remove(any_node.db.engine, "before_cursor_execute", count)
    rule = tree.prove_inclusion(index + 1, 192).rule
    InclusionProof("sha256", True, 192, index + 1, rule, [p.leaf_hash, *p.path]).verify(
        p.leaf_hash, tree.get_root(192))
    assert len([q for q in statements if q.lstrip().upper().startswith("SELECT")]) <= 4
    assert not AuditLog(any_node.db).verify().ok  # the damage itself is what audit verify reports


def test_a_damaged_stored_subtree_refuses_the_proof(node: Node) -> None:
    _grow_to(node, 64, batch=64)
    tree = _tree(_entries(node.db))
    good = proofs.inclusion(node.db, 0, 64)
    assert merkle.verify_inclusion(0, 64, good.leaf_hash, good.path, tree.get_root(64))
    with node.db.session() as s:  # leaf 0's path uses the subtree of leaves 32..63 (level 5, index 1)
        s.execute(update(TreeNode).where(TreeNode.level == 5, TreeNode.idx == 1).values(hash="11" * 32))
    with pytest.raises(FailedPrecondition) as exc:
        proofs.inclusion(node.db, 0, 64)
    assert exc.value.reason == "AUDIT_LOG_INCONSISTENT"
    report = AuditLog(node.db).verify()  # what the refusal says to run names the damaged subtree
    assert report.first_bad == 32 and "stored subtree over records 32..63" in report.problem
    with node.db.session() as s:
        s.execute(delete(TreeNode).where(TreeNode.level == 5, TreeNode.idx == 1))
    with pytest.raises(FailedPrecondition) as exc:  # and a missing one
        proofs.inclusion(node.db, 0, 64)
    assert exc.value.reason == "AUDIT_LOG_INCONSISTENT"


def test_migration_recomputes_the_subtrees_of_an_existing_log(node: Node) -> None:
    _grow_to(node, 100, batch=30)
    before = _nodes(node.db)
    assert before
    cfg = alembic_config(node.db.url)
    ours = next(r for r in ScriptDirectory.from_config(cfg).walk_revisions() if r.path.endswith("_audit_tree_nodes.py"))
    command.downgrade(cfg, str(ours.down_revision))  # the table is dropped: a log as it was before stored subtrees
    command.upgrade(cfg, "head")
    assert _nodes(node.db) == before
    tree = _tree(_entries(node.db))
    p = proofs.inclusion(node.db, 3, 100)
    assert merkle.verify_inclusion(3, 100, p.leaf_hash, p.path, tree.get_root(100))
