"""Statements compiled once and run on the pool's DBAPI connection: the hottest paths' reads and writes.

Why: on the calls a node serves most (a platform authenticating, a token refresh, a certificate lookup) the
statements themselves take tens of microseconds on SQLite, while SQLAlchemy's ``Connection`` around them (checkout
events, the autobegin that emits ``BEGIN`` as a statement of its own, the compiled-cache lookup, result metadata,
commit, reset) costs ~200 us per transaction, measured with a profile of a served lookup. Here a Core statement is
compiled once per dialect (its SQL text, the order of its parameters, its columns' result processors) and run
straight on a pooled DBAPI connection; the types come out as the ORM would give them (a SQLite ``DateTime`` as a
``datetime``, a ``Boolean`` as a ``bool``), because the same SQLAlchemy type processors are applied.

- ``read_one(db, stmt, params)``: one statement, its first row as a ``Record`` (or None), in autocommit: one
  statement is its own read transaction, consistent, never taking SQLite's write lock, and on PostgreSQL one
  round trip (no transaction left for the pool to roll back).
- ``write(db)``: a write transaction (SQLite ``BEGIN IMMEDIATE``, as ``Database`` takes it) whose ``run(stmt,
  params)`` returns the affected row count; committed when the block ends, rolled back on any exception.

Only for statements built once at import time (the cache is keyed by the statement object) and whose bound
parameters are all given by the caller or built into the statement (``limit``). Database errors become
``DATABASE_UNAVAILABLE`` as in ``Database.session``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.sql.expression import Executable

from hutong.db import Database
from hutong.errors import Unavailable

Processor = Callable[[Any], Any]


@dataclass
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # parameter names in order (qmark/format styles); None: named style
    binds: dict[str, Processor]  # parameter name -> the type's bind processor (only those that have one)
    defaults: dict[str, Any]  # parameters the statement carries itself (a LIMIT's value)
    keys: tuple[str, ...]  # result column names
    types: tuple[Any, ...]  # result column types
    # per result column: the type's result processor for the driver's column type (PostgreSQL's depend on it),
    # found at the first execution from the cursor's description
    results: tuple[Processor | None, ...] | None = None


_CACHE: dict[tuple[int, str], _Compiled] = {}
_KEEP: list[Executable] = []  # the statements compiled (their ids key the cache: they must stay alive)


def _compile(db: Database, stmt: Executable) -> _Compiled:
    key = (id(stmt), db.engine.dialect.name)
    found = _CACHE.get(key)
    if found is not None:
        return found
    dialect = db.engine.dialect
    compiled: Any = stmt.compile(dialect=dialect)  # type: ignore[attr-defined]  # every Core statement has it
    binds = {}
    for name, param in compiled.binds.items():
        proc = param.type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            binds[name] = proc
    defaults = {name: param.value for name, param in compiled.binds.items()
                if not param.required and param.value is not None}
    columns = list(getattr(stmt, "selected_columns", None) or [])
    returning = getattr(compiled, "returning", None) or []
    columns = columns or list(returning)
    keys = tuple(str(c.name) for c in columns)
    types = tuple(c.type.dialect_impl(dialect) for c in columns)
    positional = tuple(compiled.positiontup) if compiled.positional else None
    made = _Compiled(str(compiled), positional, binds, defaults, keys, types)
    _KEEP.append(stmt)
    _CACHE[key] = made
    return made


def _parameters(c: _Compiled, params: Mapping[str, Any]) -> Any:
    values = {**c.defaults, **params} if c.defaults else dict(params)
    for name, proc in c.binds.items():
        if name in values:
            values[name] = proc(values[name])
    if c.positional is not None:
        return tuple(values[name] for name in c.positional)
    return values


class Record(dict[str, Any]):
    """A result row: column name to value, also readable as attributes (``row.client_id``) like a Core row."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _row(db: Database, c: _Compiled, cursor: Any, raw: Any) -> Record:
    if c.results is None:
        dialect = db.engine.dialect
        c.results = tuple(t.result_processor(dialect, d[1]) for t, d in zip(c.types, cursor.description, strict=True))
    return Record(zip(c.keys, [p(v) if p is not None else v for p, v in zip(c.results, raw, strict=True)],
                      strict=True))


def _unavailable(db: Database) -> tuple[type[BaseException], ...]:
    dbapi = db.engine.dialect.dbapi
    return (dbapi.OperationalError,) if dbapi is not None else ()


class Writer:
    """The statements of one write transaction (see ``write``)."""

    def __init__(self, db: Database, cursor: Any) -> None:
        self._db, self._cursor = db, cursor

    def run(self, stmt: Executable, params: Mapping[str, Any]) -> int:
        """Execute ``stmt``; the number of rows it changed."""
        c = _compile(self._db, stmt)
        self._cursor.execute(c.sql, _parameters(c, params))
        return int(self._cursor.rowcount)


@contextmanager
def _autocommit(db: Database, conn: Any) -> Iterator[None]:
    """PostgreSQL: the one statement in autocommit (its own transaction, as on SQLite), so no transaction is left
    for the pool to roll back as the connection returns: one round trip per read instead of two. The driver's
    setting is put back before the connection goes back to the pool (the next user expects a transaction)."""
    if db.is_sqlite:
        yield
        return
    dbapi = conn.dbapi_connection
    dbapi.autocommit = True
    try:
        yield
    finally:
        try:
            dbapi.autocommit = False
        except Exception:  # noqa: BLE001 - a broken connection: the pool must not hand it out again
            conn.invalidate()


def read_one(db: Database, stmt: Executable, params: Mapping[str, Any]) -> Record | None:
    """The first row of a one-statement read (None: no row)."""
    db._check_file()  # noqa: SLF001 - the same check as every Database transaction
    c = _compile(db, stmt)
    try:
        conn = db.engine.pool.connect()
        try:
            with _autocommit(db, conn):
                cursor = conn.cursor()
                cursor.execute(c.sql, _parameters(c, params))
                raw = cursor.fetchone()
                row = None if raw is None else _row(db, c, cursor, raw)
                cursor.close()
        finally:
            conn.close()  # back to the pool
    except _unavailable(db) as exc:
        raise Unavailable("DATABASE_UNAVAILABLE", "the database cannot be reached") from exc
    return row


# SQLite: this process's writers on this path take turns on a lock of their own before asking for SQLite's. A
# writer that finds the database locked waits in SQLite's busy handler, which sleeps 1, 2, 5, 10 ... ms between
# tries, for a lock held ~0.1 ms: under a refresh load most of a grant's latency was that sleeping.
_SQLITE_WRITERS: dict[str, threading.Lock] = {}


def _writers(db: Database) -> threading.Lock | contextlib.nullcontext[None]:
    if not db.is_sqlite:
        return contextlib.nullcontext()
    return _SQLITE_WRITERS.get(db.url) or _SQLITE_WRITERS.setdefault(db.url, threading.Lock())


@contextmanager
def write(db: Database) -> Iterator[Writer]:
    """One write transaction on a pooled DBAPI connection: committed on success, rolled back otherwise."""
    db._check_file()  # noqa: SLF001 - the same check as every Database transaction
    with _writers(db):
        yield from _write(db)


def _write(db: Database) -> Iterator[Writer]:
    try:
        conn = db.engine.pool.connect()
        try:
            cursor = conn.cursor()
            if db.is_sqlite:
                cursor.execute("BEGIN IMMEDIATE")  # the write lock up front, as Database's write transactions
            try:
                yield Writer(db, cursor)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            cursor.close()
        finally:
            conn.close()
    except _unavailable(db) as exc:
        raise Unavailable("DATABASE_UNAVAILABLE", "the database cannot be reached") from exc
