"""``hutong.prepared`` (hot statements on the pool's DBAPI connection) gives what SQLAlchemy's own execution gives,
on SQLite and PostgreSQL: the same values of the same Python types, no row as None, a write committed only when
its block ends without error, the affected row count, and DATABASE_UNAVAILABLE when the database is gone."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, insert, select, update

from hutong import prepared
from hutong.db import Database
from hutong.errors import Unavailable
from identity_svc.models import Person, Platform, RefreshToken, TokenFamily

_PLATFORMS = cast(Table, Platform.__table__)
_FAMILIES, _TOKENS = cast(Table, TokenFamily.__table__), cast(Table, RefreshToken.__table__)
# Module-level, built once: prepared statements are cached by the statement object.
_PLATFORM = select(_PLATFORMS).where(_PLATFORMS.c.client_id == bindparam("client_id"))
_JOINED = (select(_TOKENS.c.used_at, _FAMILIES).join(_FAMILIES, _FAMILIES.c.id == _TOKENS.c.family_id)
           .where(_TOKENS.c.token_hash == bindparam("h")))
_FIRST_TWO = select(_TOKENS.c.token_hash).order_by(_TOKENS.c.token_hash).limit(2)
_STORE = insert(_TOKENS)
_SPEND = update(_TOKENS).where(_TOKENS.c.token_hash == bindparam("h"), _TOKENS.c.used_at.is_(None)).values(
    used_at=bindparam("now"))


def _db(node: Any) -> Database:
    return cast(Database, node.db)


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


def test_read_one_gives_the_orm_values(any_node: Any) -> None:
    db = _db(any_node)
    _seed(db)
    row = prepared.read_one(db, _PLATFORM, {"client_id": "p1"})
    assert row is not None
    with db.session(readonly=True) as s:
        orm = s.get(Platform, "p1")
        assert orm is not None
        for column in _PLATFORMS.c:
            value = getattr(orm, cast(Any, Platform).__mapper__.get_property_by_column(column).key)
            assert row[column.name] == value and type(row[column.name]) is type(value), column.name
    assert row.pairwise is True and isinstance(row.created_at, datetime) and row.name == "平台一"
    assert prepared.read_one(db, _PLATFORM, {"client_id": "nobody"}) is None
    joined = prepared.read_one(db, _JOINED, {"h": "h1"})
    assert joined is not None and joined.used_at is None and joined.id == "sid-1" and joined.auth_time == 1.5
    with pytest.raises(AttributeError):
        _ = joined.no_such_column


def test_limit_carried_by_the_statement(any_node: Any) -> None:
    db = _db(any_node)
    _seed(db)
    assert prepared.read_one(db, _FIRST_TWO, {}) == {"token_hash": "h1"}


def test_write_commits_at_the_end_and_rolls_back_on_error(any_node: Any) -> None:
    db = _db(any_node)
    _seed(db)
    with prepared.write(db) as tx:
        assert tx.run(_SPEND, {"h": "h1", "now": 20.0}) == 1
        assert tx.run(_SPEND, {"h": "h1", "now": 21.0}) == 0  # already spent, in the same transaction
        tx.run(_STORE, {"token_hash": "h2", "family_id": "sid-1", "issued_at": 20, "used_at": None})
    with db.session(readonly=True) as s:
        spent, new = s.get(RefreshToken, "h1"), s.get(RefreshToken, "h2")
        assert spent is not None and spent.used_at == 20.0 and new is not None and new.used_at is None

    with pytest.raises(RuntimeError), prepared.write(db) as tx:
        assert tx.run(_SPEND, {"h": "h2", "now": 30.0}) == 1
        tx.run(_STORE, {"token_hash": "h3", "family_id": "sid-1", "issued_at": 30, "used_at": None})
        raise RuntimeError("the caller gives up half-way")
    with db.session(readonly=True) as s:
        h2 = s.get(RefreshToken, "h2")
        assert h2 is not None and h2.used_at is None and s.get(RefreshToken, "h3") is None  # nothing of it stayed


def test_missing_sqlite_file_is_database_unavailable(node: Any, tmp_path: Path) -> None:
    db = _db(node)
    if db.sqlite_file is None:
        pytest.skip("the node's database is not a SQLite file (--db postgresql)")
    _seed(db)
    away = tmp_path / "away.db"
    shutil.move(db.sqlite_file, away)
    try:
        with pytest.raises(Unavailable) as exc:
            prepared.read_one(db, _PLATFORM, {"client_id": "p1"})
        assert exc.value.reason == "DATABASE_UNAVAILABLE"
        with pytest.raises(Unavailable), prepared.write(db) as tx:
            tx.run(_SPEND, {"h": "h1", "now": 1.0})
    finally:
        shutil.move(away, db.sqlite_file)
    assert prepared.read_one(db, _PLATFORM, {"client_id": "p1"}) is not None


def test_a_read_leaves_the_pooled_connection_as_it_found_it(any_node: Any) -> None:
    """The read runs in autocommit (PostgreSQL: one round trip); the connection goes back to the pool out of it,
    so the next transaction on it is a transaction (a rollback undoes its write)."""
    db = Database(_db(any_node).url)  # a pool of its own: the next checkout gets the connection the read used
    try:
        _seed(db)
        db.engine.dispose()
        assert prepared.read_one(db, _PLATFORM, {"client_id": "p1"}) is not None
        assert db.engine.pool.checkedin() == 1
        if not db.is_sqlite:
            raw = db.engine.pool.connect()
            assert raw.dbapi_connection is not None and raw.dbapi_connection.autocommit is False
            raw.close()
        with db.engine.connect() as conn:
            trans = conn.begin()
            conn.execute(_SPEND, {"h": "h1", "now": 5.0})
            trans.rollback()
        with db.session(readonly=True) as s:
            token = s.get(RefreshToken, "h1")
            assert token is not None and token.used_at is None
    finally:
        db.dispose()
