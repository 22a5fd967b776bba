"""kill -9 while events are written and batches integrated: no committed event lost, no half batch.

A child process writes audited acts (printing each committed event's number) while an integrator
thread sequences and signs batches; the test kills it with SIGKILL several times, at different
moments, and checks the log after each kill, then finishes integration and checks again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import select

from hutong.audit import AuditRecord
from hutong.node import Node
from hutong.tlog.models import LogLeaf
from hutong.tlog.verify import verify_log

CHILD = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from hutong import audit
    from hutong.node import open_node

    node = open_node(Path(sys.argv[1]))
    node.tlog.batch = 40

    def integrate():
        while True:
            node.tlog.integrate_once()

    threading.Thread(target=integrate, daemon=True).start()
    n = 0
    while True:
        with node.db.session() as s:
            seq = audit.append(s, actor="crash", action="crash.act", target=str(n))
        print(seq, flush=True)
        n += 1
""")


@pytest.mark.slow
def test_kill_9_loses_no_committed_event_and_leaves_no_half_batch(any_node: Node) -> None:
    node = any_node
    committed: list[int] = []
    for kill_after in (60, 150, 95):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(node.config.data_dir)], stdout=subprocess.PIPE,
                                text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
        assert proc.stdout is not None
        for _ in range(kill_after):
            line = proc.stdout.readline()
            assert line, "the writer stopped early"
            committed.append(int(line))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        committed.extend(int(x) for x in proc.stdout.read().split())  # printed before the kill landed
        report = verify_log(node.db)
        assert report.ok, report.problem  # every sequenced leaf is under a signed checkpoint: no half batch
        with node.db.session(readonly=True) as s:
            present = set(s.scalars(select(AuditRecord.seq).where(AuditRecord.action == "crash.act")))
        assert set(committed) <= present  # no committed event lost
    node.tlog.integrate_all()
    report = verify_log(node.db)
    with node.db.session(readonly=True) as s:
        sequenced = set(s.scalars(select(LogLeaf.seq)))
    assert report.ok and report.pending == 0
    assert set(committed) <= sequenced  # every committed event got its leaf: none skipped by the queue
