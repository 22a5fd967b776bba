"""The integrator's queue skips no committed event, whatever order transactions commit in.

Events are numbered (``seq``) when inserted but transactions commit in any order, and a transaction that
rolls back leaves a hole in the numbering for good. The queue takes events in ``(txid, seq)`` order, only
those of transactions older than every running one (PostgreSQL): these cases pin that down with real
concurrent transactions, and the carry-over of an existing log (sequenced and waiting events, checkpoints)
from the schema where the leaf index was a column of the event.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hutong import audit
from hutong.auditlog import AuditLog
from hutong.db import alembic_config
from hutong.node import Node
from hutong.tlog import proofs
from hutong.tlog.integrator import Integrator
from hutong.tlog.models import LogLeaf
from tests.audit_helpers import entries


def _leaf_of(node: Node, seq: int) -> int | None:
    with node.db.session(readonly=True) as s:
        return s.scalar(select(LogLeaf.leaf_index).where(LogLeaf.seq == seq))


def test_an_older_event_committed_after_a_newer_one_is_sequenced(pg_node: Node) -> None:
    node = pg_node
    node.tlog.integrate_all()
    slow = Session(node.db.engine)  # an act still running: its event has the smaller number
    try:
        older = audit.append(slow, actor="slow", action="queue.older")
        with node.db.session() as s:
            newer = audit.append(s, actor="fast", action="queue.newer")
        assert older < newer
        node.tlog.integrate_all()
        # Neither is sequenced yet: the newer one waits for the transaction that began before it.
        assert _leaf_of(node, newer) is None and _leaf_of(node, older) is None
        assert AuditLog(node.db).verify().pending == 1  # the committed one (the other is invisible)
        slow.commit()
    finally:
        slow.close()
    node.tlog.integrate_all()
    a, b = _leaf_of(node, older), _leaf_of(node, newer)
    assert a is not None and b is not None and a + 1 == b
    report = AuditLog(node.db).verify()
    assert report.ok and report.pending == 0


def test_a_rolled_back_event_leaves_a_hole_that_does_not_stall_the_queue(any_node: Node) -> None:
    node = any_node
    with pytest.raises(RuntimeError), node.db.session() as s:
        audit.append(s, actor="a", action="queue.rolled-back")
        raise RuntimeError("the act failed")
    with node.db.session() as s:
        kept = audit.append(s, actor="a", action="queue.kept")
    node.tlog.integrate_all()
    assert proofs.leaf_of_event(node.db, kept) >= 0
    report = AuditLog(node.db).verify()
    assert report.ok and report.pending == 0


def test_concurrent_writers_with_the_integrator_running_lose_nothing(pg_node: Node) -> None:
    """8 writers x 40 audited acts, some rolled back, while the integrator thread sequences batches."""
    node = pg_node
    node.tlog.batch = 7  # many small batches, each racing the writers
    running = set(threading.enumerate())
    stop = node.tlog.start(interval=0.001)
    integrator = next(t for t in threading.enumerate() if t not in running and t.name == "audit-integrator")
    committed: list[list[int]] = [[] for _ in range(8)]

    def writer(w: int) -> None:
        for i in range(40):
            try:
                with node.db.session() as s:
                    s.execute(text("SELECT pg_sleep(0.001 * :n)"), {"n": (w * 7 + i) % 4})  # vary the overlap
                    seq = audit.append(s, actor=f"w{w}", action="queue.write", target=str(i))
                    if i % 9 == 4:
                        raise RuntimeError("rolled back")
                committed[w].append(seq)
            except RuntimeError:
                pass

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stop.set()
    integrator.join(timeout=60)  # its last round (it holds the log's lock meanwhile), then it ends
    node.tlog.integrate_all()
    with node.db.session(readonly=True) as s:
        sequenced = set(s.scalars(select(LogLeaf.seq)))
    want = {seq for seqs in committed for seq in seqs}
    assert len(want) == 8 * 40 - 8 * 4  # i = 4, 13, 22, 31 rolled back in each writer
    assert want <= sequenced
    report = AuditLog(node.db).verify()
    assert report.ok and report.pending == 0


def _columns_before(node: Node) -> list[tuple[int, int | None]]:
    with node.db.session(readonly=True) as s:
        return [(r[0], r[1]) for r in s.execute(text("SELECT seq, leaf_index FROM audit_events ORDER BY seq"))]


def test_an_existing_log_is_carried_into_the_leaf_table(any_node: Node) -> None:
    """Down to the schema where events held their leaf index, and back: every leaf, checkpoint and waiting
    event kept; the waiting ones are sequenced next, in insertion order, and the log verifies."""
    node = any_node
    log = AuditLog(node.db)
    for i in range(5):
        log.record(actor="t", action="carry.do", target=str(i))
    node.tlog.integrate_all()
    for i in range(3):
        log.record(actor="t", action="carry.wait", target=str(i))
    before = log.verify()
    leaves_before = entries(node.db)
    assert before.ok and before.pending == 3
    cfg = alembic_config(node.db.url)
    ours = next(r for r in ScriptDirectory.from_config(cfg).walk_revisions() if r.path.endswith("_audit_leaves.py"))
    command.downgrade(cfg, str(ours.down_revision))
    old = _columns_before(node)
    assert [index for _, index in old] == [*range(len(leaves_before)), None, None, None]
    node.db.dispose()
    command.upgrade(cfg, "head")
    node.db.dispose()  # pooled connections may hold the old table's statements
    after = log.verify()
    assert (after.ok, after.records, after.pending, after.checkpoints) == \
        (True, before.records, 3, before.checkpoints)
    assert entries(node.db) == leaves_before
    with node.db.session() as s:
        newest = audit.append(s, actor="t", action="carry.new")
    node.tlog.integrate_all()
    waiting = [seq for seq, index in old if index is None]
    assert [_leaf_of(node, seq) for seq in [*waiting, newest]] == list(range(len(leaves_before), len(old) + 1))
    report = log.verify()
    assert report.ok and report.pending == 0


def _during_signature(node: Node, act: Callable[[], None]) -> None:
    """Run ``act`` once, while the integrator signs its next checkpoint (the batch made, not yet stored)."""
    signer = node.tlog.signer()
    original = signer.sign
    done: list[bool] = []

    def sign(data: bytes, **kw: Any) -> bytes:
        if not done:
            done.append(True)
            act()
        return original(data, **kw)

    signer.sign = sign  # type: ignore[method-assign]
    try:
        node.tlog.integrate_once()
    finally:
        signer.sign = original  # type: ignore[method-assign]
    assert done


def test_sqlite_writes_do_not_wait_for_a_batch_being_made(node: Node) -> None:
    """The batch is hashed and signed before the write lock is taken: a write in another connection with no
    patience for the lock (busy timeout 0) commits while the integrator signs."""
    if not node.db.is_sqlite:
        pytest.skip("SQLite's write lock")
    with node.db.session() as s:
        first = audit.append(s, actor="a", action="queue.first")
    written: list[int] = []

    def write_now() -> None:
        raw = sqlite3.connect(node.db.engine.url.database or "", timeout=0, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")  # "database is locked" at once if the integrator held the lock
            raw.execute("COMMIT")
            written.append(1)
        finally:
            raw.close()
        with node.db.session() as s2:
            written.append(audit.append(s2, actor="b", action="queue.during"))

    _during_signature(node, write_now)
    assert proofs.leaf_of_event(node.db, first) >= 0  # the batch was stored after the write
    node.tlog.integrate_all()
    assert proofs.leaf_of_event(node.db, written[1]) >= 0
    report = AuditLog(node.db).verify()
    assert report.ok and report.pending == 0


def test_a_batch_made_while_another_was_stored_is_dropped_not_duplicated(any_node: Node) -> None:
    """Two integrators of one node (say, a CLI's and the server's): the one that finds the tree grown since it
    made its batch stores nothing; the next round carries on from the newer checkpoint."""
    node = any_node
    node.tlog.integrate_all()  # what setting the node up recorded
    with node.db.session() as s:
        seqs = [audit.append(s, actor="a", action=f"queue.{i}") for i in range(3)]
    other = Integrator(node.db, node.keys, node.id, registry=node.pki.registry)
    stored: list[int] = []
    _during_signature(node, lambda: stored.append(other.integrate_once()))
    # SQLite: the other stored the three first; PostgreSQL: its advisory lock kept the other out meanwhile.
    assert stored == ([3] if node.db.is_sqlite else [0])
    node.tlog.integrate_all()
    with node.db.session(readonly=True) as s:
        leaves = s.scalars(select(LogLeaf.seq).order_by(LogLeaf.leaf_index)).all()
    assert [q for q in leaves if q in seqs] == seqs  # each event once, in order
    report = AuditLog(node.db).verify()
    assert report.ok and report.pending == 0


def test_a_round_makes_one_batch_while_events_keep_arriving_and_more_only_for_a_backlog(
        any_node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a steady load an event arrives while each batch is made: a background round still ends after one
    batch (and waits for the interval), instead of sequencing tiny batches back to back at a fixed CPU cost each.
    A backlog -- batches that come out full -- is sequenced in the same round."""
    node = any_node
    node.tlog.integrate_all()
    for i in range(5):
        node.audit.record(actor="tester", action="queue.steady", target=str(i))
    once = node.tlog.integrate_once
    batches: list[int] = []
    arriving = [3]  # an event arrives while each of the next three batches is made

    def integrate_once() -> int:
        n = once()
        batches.append(n)
        if arriving[0]:
            arriving[0] -= 1
            node.audit.record(actor="tester", action="queue.arrived", target=str(len(batches)))
        return n

    monkeypatch.setattr(node.tlog, "integrate_once", integrate_once)
    assert node.tlog.integrate_round() == 5 and batches == [5]
    assert node.tlog.integrate_round() == 1 and batches == [5, 1]  # the next round: the one that arrived
    arriving[0] = 0
    for i in range(4):
        node.audit.record(actor="tester", action="queue.backlog", target=str(i))
    node.tlog.batch = 2
    assert node.tlog.integrate_round() == 5 and batches[2:] == [2, 2, 1]  # 1 arrived + 4: two full batches first
    assert node.tlog.integrate_round() == 0  # nothing after the batch it stored last: no batch made
    assert batches[5:] == []
    report = AuditLog(node.db).verify()
    assert report.ok and report.pending == 0


def test_an_idle_round_reads_no_checkpoint_and_a_new_event_is_still_sequenced(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """Background rounds ask one prepared statement whether anything is queued after where the process last found
    nothing (``Integrator.pending``); only then do they read the newest checkpoint and make a batch."""
    from hutong.tlog import integrator

    reads = [0]
    latest = integrator.latest_checkpoint

    def counted(s: Session) -> Any:
        reads[0] += 1
        return latest(s)

    monkeypatch.setattr(integrator, "latest_checkpoint", counted)
    node.tlog.integrate_all()
    node.tlog.integrate_round()  # a process's first round is a full one
    before = reads[0]
    assert [node.tlog.integrate_round() for _ in range(3)] == [0, 0, 0]
    assert reads[0] == before  # idle: no checkpoint read, no ORM session
    with node.db.session() as s:
        seq = audit.append(s, actor="tester", action="queue.idle.then.one")
    assert node.tlog.integrate_round() == 1
    assert _leaf_of(node, seq) is not None
    assert AuditLog(node.db).verify().ok


def test_a_database_put_back_under_a_running_integrator_is_caught_up_within_full_round_every(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    from hutong.tlog import integrator
    from hutong.tlog.models import LogCheckpoint

    node.audit.record(actor="tester", action="queue.before.rewind")
    node.tlog.integrate_round()  # a process's first round is a full one
    with node.db.session() as s:  # as a restore of an older copy would leave it: nothing sequenced
        s.execute(LogLeaf.__table__.delete())
        s.execute(LogCheckpoint.__table__.delete())
    assert node.tlog.integrate_round() == 0  # the shortcut still believes the queue ends where it saw it end
    later = integrator.time.monotonic() + integrator.FULL_ROUND_EVERY + 1
    monkeypatch.setattr(integrator, "time", SimpleNamespace(monotonic=lambda: later))
    assert node.tlog.integrate_round() >= 1  # a full round: everything sequenced again
    assert AuditLog(node.db).verify().ok
