"""The audit log's hash chain: intact chains verify, any edit, deletion or re-ordering is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, text, update

from hutong import audit
from hutong.audit import AuditLog, AuditRecord
from hutong.db import Database


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        database = Database.sqlite_in(tmp_path)
    else:
        from tests.conftest import _create_database

        database = Database(_create_database(request.getfixturevalue("postgres_server")))
    database.migrate()
    return database


def _fill(db: Database, n: int = 5) -> AuditLog:
    log = AuditLog(db)
    for i in range(n):
        log.record(actor="tester", action="thing.do", target=f"t{i}", details={"i": i, "名称": "测试"})
    return log


def test_intact_chain_verifies(db: Database) -> None:
    report = _fill(db).verify()
    assert report.ok and report.records == 5 and report.first_broken is None


def test_empty_log_is_intact(db: Database) -> None:
    assert AuditLog(db).verify().ok


def test_edited_record_is_named(db: Database) -> None:
    log = _fill(db)
    with db.session() as s:
        s.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(target="forged"))
    report = log.verify()
    assert not report.ok and report.first_broken == 3
    assert "altered" in report.problem


def test_deleted_record_is_named(db: Database) -> None:
    log = _fill(db)
    with db.session() as s:
        s.execute(delete(AuditRecord).where(AuditRecord.seq == 2))
    report = log.verify()
    assert report.first_broken == 2 and "missing" in report.problem


def test_rehashed_record_still_breaks_the_next_link(db: Database) -> None:
    """Recomputing one record's own hash does not help: the next record still points at the old one."""
    log = _fill(db)
    with db.session() as s:
        rec = s.get(AuditRecord, 2)
        assert rec is not None
        rec.details = '{"i": 99}'
        rec.hash = audit.record_hash(rec.prev_hash, rec)
    assert log.verify().first_broken == 3


def test_truncated_tail_is_not_detectable_but_prefix_is_intact(db: Database) -> None:
    log = _fill(db)
    with db.session() as s:
        s.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    # Removing the newest record leaves a valid shorter chain; operators anchor the head hash externally.
    assert log.verify().ok


def test_append_happens_in_callers_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as s:
        audit.append(s, actor="a", action="x.y")
        raise RuntimeError("act failed")
    assert AuditLog(db).verify().records == 0
