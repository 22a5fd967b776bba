"""An existing node's linear hash chain is verified and carried into the Merkle log, record for record."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import BigInteger, DateTime, Text, column, insert, select, table

from hutong.audit import AuditRecord
from hutong.db import Database, alembic_config
from hutong.node import Node
from hutong.tlog.integrator import Integrator
from hutong.tlog.models import LogLeaf
from hutong.tlog.verify import verify_log

GENESIS = "0" * 64
OLD = table("audit_log", column("seq", BigInteger()), column("at", DateTime(timezone=True)),
            *(column(c, Text()) for c in ("actor", "action", "target", "outcome", "details", "prev_hash", "hash")))


def _chain_hash(prev: str, seq: int, at: datetime, actor: str, action: str, target: str, details: str) -> str:
    """The linear chain's hash exactly as it was computed before the Merkle log (an independent copy)."""
    body = {"seq": seq, "at": at.isoformat(timespec="microseconds"), "actor": actor, "action": action,
            "target": target, "outcome": "ok", "details": details}
    return hashlib.sha256(prev.encode() + json.dumps(body, sort_keys=True, separators=(",", ":"),
                                                     ensure_ascii=False).encode()).hexdigest()


def _old_node_db(url: str, n: int, *, break_at: int | None = None) -> Database:
    db = Database(url)
    command.upgrade(alembic_config(db.url), "0003")  # the revision before the Merkle log
    prev = GENESIS
    with db.engine.begin() as c:
        for seq in range(1, n + 1):
            at = datetime(2026, 1, 1, 8, 0, seq % 60, seq, tzinfo=UTC)
            details = json.dumps({"i": seq, "名称": "测试"}, sort_keys=True, ensure_ascii=False)
            h = _chain_hash(prev, seq, at, "officer", "thing.do", f"t{seq}", details)
            target = "forged" if seq == break_at else f"t{seq}"
            c.execute(insert(OLD).values(seq=seq, at=at, actor="officer", action="thing.do", target=target,
                                         outcome="ok", details=details, prev_hash=prev, hash=h))
            prev = h
    return db


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    from tests.conftest import _create_database

    return str(_create_database(request.getfixturevalue("postgres_server")))


def test_linear_chain_is_carried_into_the_merkle_log(url: str, node: Node) -> None:
    db = _old_node_db(url, 25)
    db.migrate()
    with db.session(readonly=True) as s:
        rows = list(s.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
    assert [r.seq for r in rows] == list(range(1, 27))
    assert all(r.legacy_hash for r in rows[:25]) and rows[24].target == "t25"
    verdict = rows[25]
    assert verdict.action == "audit.migrate-linear-chain" and verdict.outcome == "ok"
    assert json.loads(verdict.details) == {"records": 25, "chain_head": rows[24].legacy_hash,
                                           "verdict": "chain intact"}
    with db.session() as s:  # new events keep numbering after the carried ones
        from hutong import audit

        assert audit.append(s, actor="a", action="x.y") == 27
    Integrator(db, node.keys, "migrated").integrate_all()
    with db.session(readonly=True) as s:
        assert [(r.seq, r.leaf_index) for r in s.execute(select(LogLeaf.seq, LogLeaf.leaf_index)
                                                          .order_by(LogLeaf.seq))] == \
            [(seq, seq - 1) for seq in range(1, 28)]
    report = verify_log(db)
    assert report.ok and report.records == 27
    db.dispose()


def test_broken_chain_is_carried_whole_and_the_break_recorded(url: str) -> None:
    db = _old_node_db(url, 6, break_at=4)
    db.migrate()
    with db.session(readonly=True) as s:
        rows = list(s.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
    assert len(rows) == 7 and rows[3].target == "forged"
    assert rows[6].outcome == "chain-broken"
    assert json.loads(rows[6].details)["verdict"] == "record 4 does not verify"
    db.dispose()
