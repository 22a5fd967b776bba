"""An audited act on the hot path: the act and its record in one ``hutong.prepared.write`` transaction
(``audit.record``; on PostgreSQL held back and sent as one query at the end), and ``audit.append`` run on the
caller's driver connection. Both or neither are stored, whatever fails and wherever; values come back exactly as
given (quotes, backslashes, ``%``, CJK); the log sequences the records and verifies. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from hutong import audit, prepared
from hutong.audit import AuditRecord
from hutong.db import Database
from hutong.node import Node
from identity_svc.models import Person, Platform, RefreshToken, TokenFamily

_TOKENS = cast(Table, RefreshToken.__table__)
_STORE = insert(_TOKENS)  # module-level: prepared statements are cached by the statement object
_SPEND = update(_TOKENS).where(_TOKENS.c.token_hash == bindparam("h"), _TOKENS.c.used_at.is_(None)).values(
    used_at=bindparam("now"))
# a value the client-side binding must carry exactly
_AWKWARD = {"quote": "it's \"quoted\"", "backslash": "a\\b\\\\c", "percent": "100% %(actor)s %s", "名称": "印章 测试",
            "newline": "one\ntwo", "semicolon": "x'); DELETE FROM audit_events; --"}


def _seed(db: Database) -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with db.session() as s:
        s.add(Platform(client_id="p1", name="平台一", secret_hash="0" * 64, scopes="openid", required_acr="low",
                       pairwise=True, created_at=created))
        s.add(Person(id="person-1", id_index="i" * 64, id_protected=b"x", name_protected=b"y", password_hash="-",
                     created_at=created))
        s.flush()
        s.add(TokenFamily(id="sid-1", person_id="person-1", client_id="p1", acr="low", amr="pwd", scopes="openid",
                          auth_time=1.5, expires_at=9e9))
    with db.session() as s:
        s.add(RefreshToken(token_hash="h1", family_id="sid-1", issued_at=10))


def _token(h: str) -> dict[str, Any]:
    return {"token_hash": h, "family_id": "sid-1", "issued_at": 20, "used_at": None}


def _events(db: Database) -> list[AuditRecord]:
    with db.session(readonly=True) as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.action.like("test.%")).order_by(AuditRecord.seq)))


def _stored(db: Database, h: str) -> RefreshToken | None:
    with db.session(readonly=True) as s:
        return s.get(RefreshToken, h)


def test_record_is_stored_with_the_act_exactly_and_sequenced(any_node: Node) -> None:
    db = any_node.db
    _seed(db)
    with db.session(readonly=True) as s:
        before = s.scalar(select(func.count()).select_from(AuditRecord))
    with prepared.write(db) as tx:
        tx.add(_STORE, _token("h2"))
        audit.record(tx, actor="platform:p1", action="test.act", target="token:h2", details=_AWKWARD,
                     request_id="req-1")
    assert _stored(db, "h2") is not None
    [event] = _events(db)
    assert (event.actor, event.target, event.outcome, event.request_id) == ("platform:p1", "token:h2", "ok", "req-1")
    assert json.loads(event.details) == _AWKWARD
    with db.session(readonly=True) as s:  # the injection-shaped value was a value: nothing else happened
        assert s.scalar(select(func.count()).select_from(AuditRecord)) == before + 1
    assert any_node.tlog.integrate_all() >= 1
    report = any_node.audit.verify()
    assert report.ok and report.pending == 0


def test_a_failing_act_takes_its_record_with_it(any_node: Node) -> None:
    """The record goes first and the act fails (a duplicate key): neither is stored, and the error is the
    driver's integrity error, raised as the block ends."""
    db = any_node.db
    _seed(db)
    dbapi = db.engine.dialect.dbapi
    assert dbapi is not None
    with pytest.raises(dbapi.IntegrityError), prepared.write(db) as tx:
        audit.record(tx, actor="platform:p1", action="test.lost", target="token:h1")
        tx.add(_STORE, _token("h3"))
        tx.add(_STORE, _token("h1"))  # already stored
    assert _events(db) == [] and _stored(db, "h3") is None
    # the connection is usable again and the next transaction commits
    with prepared.write(db) as tx:
        tx.add(_STORE, _token("h4"))
        audit.record(tx, actor="platform:p1", action="test.kept")
    assert [e.action for e in _events(db)] == ["test.kept"] and _stored(db, "h4") is not None


def test_the_callers_error_stores_nothing(any_node: Node) -> None:
    db = any_node.db
    _seed(db)
    with pytest.raises(RuntimeError), prepared.write(db) as tx:
        tx.add(_STORE, _token("h5"))
        audit.record(tx, actor="platform:p1", action="test.given-up")
        raise RuntimeError("the act gives up before the end")
    assert _events(db) == [] and _stored(db, "h5") is None


def test_a_run_sees_what_was_added_before_it_and_all_commit_together(any_node: Node) -> None:
    db = any_node.db
    _seed(db)
    with prepared.write(db) as tx:
        tx.add(_STORE, _token("h6"))
        assert tx.run(_SPEND, {"h": "h6", "now": 30.0}) == 1  # the held insert went first
        audit.record(tx, actor="platform:p1", action="test.spent", target="token:h6")
    spent = _stored(db, "h6")
    assert spent is not None and spent.used_at == 30.0 and [e.action for e in _events(db)] == ["test.spent"]

    with pytest.raises(RuntimeError), prepared.write(db) as tx:  # after a run, a failure still undoes all
        tx.add(_STORE, _token("h7"))
        assert tx.run(_SPEND, {"h": "h7", "now": 31.0}) == 1
        audit.record(tx, actor="platform:p1", action="test.undone")
        raise RuntimeError("late failure")
    assert _stored(db, "h7") is None and [e.action for e in _events(db)] == ["test.spent"]


def test_after_a_run_a_failing_held_statement_undoes_the_run_and_the_record(any_node: Node) -> None:
    """After a ``run`` PostgreSQL gets what ``add`` held and the ``COMMIT`` as one query: a failure in it skips
    the ``COMMIT``, so the run's change is rolled back with the record, and the connection serves the next
    transaction, which commits."""
    db = any_node.db
    _seed(db)
    dbapi = db.engine.dialect.dbapi
    assert dbapi is not None
    with pytest.raises(dbapi.IntegrityError), prepared.write(db) as tx:
        assert tx.run(_SPEND, {"h": "h1", "now": 40.0}) == 1
        audit.record(tx, actor="platform:p1", action="test.failed-after-run")
        tx.add(_STORE, _token("h1"))  # already stored
    spent = _stored(db, "h1")
    assert spent is not None and spent.used_at is None and _events(db) == []
    with prepared.write(db) as tx:
        assert tx.run(_SPEND, {"h": "h1", "now": 41.0}) == 1
        tx.add(_STORE, _token("h9"))
        audit.record(tx, actor="platform:p1", action="test.after-run")
    spent, new = _stored(db, "h1"), _stored(db, "h9")
    assert spent is not None and spent.used_at == 41.0 and new is not None
    assert [e.action for e in _events(db)] == ["test.after-run"]


def test_a_failing_run_that_began_the_transaction_undoes_what_was_held_before_it(any_node: Node) -> None:
    """On PostgreSQL the ``BEGIN``, what ``add`` held and the ``run`` are one query: the run fails (a duplicate
    key), nothing held before it is stored, and the connection goes back to the pool out of autocommit."""
    db = Database(any_node.db.url)  # a pool of its own: the next checkout gets the same connection
    try:
        _seed(db)
        db.engine.dispose()
        dbapi = db.engine.dialect.dbapi
        assert dbapi is not None
        with pytest.raises(dbapi.IntegrityError), prepared.write(db) as tx:
            tx.add(_STORE, _token("h10"))
            audit.record(tx, actor="platform:p1", action="test.before-failed-run")
            tx.run(_STORE, _token("h1"))  # already stored
        assert _stored(db, "h10") is None and _events(db) == []
        if not db.is_sqlite:
            raw = db.engine.pool.connect()
            assert raw.dbapi_connection is not None and raw.dbapi_connection.autocommit is False
            raw.close()
        with prepared.write(db) as tx:
            assert tx.run(_SPEND, {"h": "h1", "now": 50.0}) == 1
            audit.record(tx, actor="platform:p1", action="test.after-failed-run")
        assert [e.action for e in _events(db)] == ["test.after-failed-run"]
    finally:
        db.dispose()


def test_the_pooled_connection_goes_back_as_it_came(any_node: Node) -> None:
    """PostgreSQL sends held statements in autocommit; the connection returns to the pool out of it, so the
    next user's transaction is one (its rollback undoes its write)."""
    db = Database(any_node.db.url)  # a pool of its own: the next checkout gets the same connection
    try:
        _seed(db)
        db.engine.dispose()
        with prepared.write(db) as tx:
            tx.add(_STORE, _token("h8"))
            audit.record(tx, actor="platform:p1", action="test.pool")
        with prepared.write(db) as tx:  # a run, then the held record sent with the COMMIT
            assert tx.run(_SPEND, {"h": "h1", "now": 4.0}) == 1
            audit.record(tx, actor="platform:p1", action="test.pool-after-run")
        assert db.engine.pool.checkedin() == 1
        if not db.is_sqlite:
            raw = db.engine.pool.connect()
            assert raw.dbapi_connection is not None and raw.dbapi_connection.autocommit is False
            raw.close()
        with db.engine.connect() as conn:
            trans = conn.begin()
            conn.execute(_SPEND, {"h": "h8", "now": 5.0})
            trans.rollback()
        token = _stored(db, "h8")
        assert token is not None and token.used_at is None
    finally:
        db.dispose()


def test_held_writes_alone_are_one_prepared_statement_on_postgresql(pg_node: Node,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing sent before the end, what ``add`` held goes as one statement (``WITH w0 AS (act) INSERT INTO
    audit_events ...``) with the server's binding, prepared: each write's rows and record are stored exactly,
    and a statement that cannot be part of one (an INSERT with its own RETURNING) sends them as several."""
    import psycopg

    db = pg_node.db
    _seed(db)
    sent: list[tuple[str, bool | None]] = []
    here = threading.get_ident()
    execute = psycopg.Connection.execute

    def spy(self: psycopg.Connection[Any], query: Any, params: Any = None, *, prepare: bool | None = None,
            binary: bool = False) -> Any:
        if threading.get_ident() == here:  # the node's own threads, if any, are not this test's writes
            sent.append((str(query), prepare))
        return execute(self, query, params, prepare=prepare, binary=binary)

    monkeypatch.setattr(psycopg.Connection, "execute", spy)
    for i in range(3):
        with prepared.write(db) as tx:
            tx.add(_STORE, _token(f"j{i}"))
            audit.record(tx, actor="platform:p1", action="test.joined", target=f"token:j{i}", details=_AWKWARD)
    assert len(sent) == 3 and all(prepare is True for _, prepare in sent), sent
    assert all(q.startswith("WITH w0 AS (INSERT INTO identity_refresh_tokens ") and "INSERT INTO audit_events" in q
               for q, _ in sent), sent
    assert [e.target for e in _events(db)] == ["token:j0", "token:j1", "token:j2"]
    assert all(json.loads(e.details) == _AWKWARD for e in _events(db))
    assert all(_stored(db, f"j{i}") is not None for i in range(3))

    sent.clear()
    with prepared.write(db) as tx:
        tx.add(_STORE, _token("j3"))
        tx.add(audit._APPEND, {"at": datetime.now(UTC), "actor": "platform:p1", "action": "test.not-joined",  # noqa: SLF001
                               "target": "", "outcome": "ok", "details": "{}", "request_id": None})
    assert sent == [] and _stored(db, "j3") is not None  # the simple query of two, on the client-side cursor
    assert [e.action for e in _events(db)][-1] == "test.not-joined"

    with prepared.write(db) as tx:  # more than JOIN_AT_MOST: a simple query of them all
        for i in range(4, 4 + prepared.JOIN_AT_MOST):
            tx.add(_STORE, _token(f"j{i}"))
            audit.record(tx, actor="platform:p1", action="test.many", target=f"token:j{i}")
    assert sent == [] and all(_stored(db, f"j{i}") is not None for i in range(4, 4 + prepared.JOIN_AT_MOST))
    assert [e.action for e in _events(db)].count("test.many") == prepared.JOIN_AT_MOST
    assert _log_verifies(pg_node)


def _log_verifies(node: Node) -> bool:
    node.tlog.integrate_all()
    report = node.audit.verify()
    return report.ok and report.pending == 0


def test_placeholders_of_joined_statements_are_renamed_and_literal_percents_kept() -> None:
    assert prepared._renamed("INSERT INTO t (a, b) VALUES (%(a)s, %(b_1)s) -- 50%% '%%(c)s'", "w1_") == \
        "INSERT INTO t (a, b) VALUES (%(w1_a)s, %(w1_b_1)s) -- 50%% '%%(c)s'"  # noqa: SLF001


def test_append_runs_in_the_callers_transaction_on_either_handle(any_node: Node) -> None:
    db = any_node.db
    _seed(db)
    with db.session() as s:  # an ORM session
        seq = audit.append(s, actor="person:1", action="test.session", details=_AWKWARD)
    with db.transaction() as c:  # a plain connection, in a transaction
        assert audit.append(c, actor="person:1", action="test.connection") > seq
    with db.engine.connect() as c:  # one not in a transaction yet: the ordinary way, which begins one
        audit.append(c, actor="person:1", action="test.autobegin")
        c.commit()
    with pytest.raises(RuntimeError), db.transaction() as c:
        audit.append(c, actor="person:1", action="test.rolled-back")
        raise RuntimeError("act failed")
    events = _events(db)
    assert [e.action for e in events] == ["test.session", "test.connection", "test.autobegin"]
    assert json.loads(events[0].details) == _AWKWARD


def test_a_database_error_on_the_driver_connection_is_sqlalchemys_without_the_values(any_node: Node) -> None:
    """What callers catch (``Database.session`` maps SQLAlchemy's errors) is what they get, and the values,
    which hold audit details, are not in the message."""
    db = any_node.db
    _seed(db)
    with pytest.raises(IntegrityError) as exc, db.transaction() as c:
        prepared.on_connection(c, _STORE, {**_token("h1"), "family_id": "sid-1"})
    assert "sid-1" not in str(exc.value)
    assert _stored(db, "h1") is not None
