"""PostgreSQL pool liveness: connections idle a while are pinged before use, busy ones are not.

A real backend is killed under a pooled connection (``pg_terminate_backend``), as a server restart would.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from hutong import db as dbmod
from hutong.db import Database
from hutong.errors import Unavailable
from hutong.node import Node


def _pid(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(text("SELECT pg_backend_pid()")))


def _kill(node: Node, pid: int) -> None:
    with node.db.session() as s:
        assert s.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": pid})


def test_an_idle_dead_connection_is_replaced_unseen(pg_node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(pg_node.db.url)
    try:
        pid = _pid(db)
        _kill(pg_node, pid)
        monkeypatch.setattr(dbmod, "PING_AFTER_IDLE_S", 0.0)  # every pooled connection counts as idle
        assert _pid(db) != pid  # pinged, found dead, replaced: the caller saw nothing
    finally:
        db.dispose()


def test_a_busy_dead_connection_fails_one_call_then_the_pool_reconnects(pg_node: Node,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(pg_node.db.url)
    try:
        monkeypatch.setattr(dbmod, "PING_AFTER_IDLE_S", 3600.0)  # never idle long enough to be pinged
        pid = _pid(db)
        _kill(pg_node, pid)
        with pytest.raises(Unavailable) as exc:
            _pid(db)
        assert exc.value.reason == "DATABASE_UNAVAILABLE"
        assert _pid(db) != pid
    finally:
        db.dispose()
