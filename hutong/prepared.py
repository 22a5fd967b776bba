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
  params)`` returns the affected row count and whose ``add(stmt, params)`` takes a statement whose outcome the
  caller does not read (an audited act and its audit record, ``hutong.audit.record``); committed when the block
  ends, rolled back on any exception. On PostgreSQL what ``add`` takes is held back and sent with the end of
  the transaction: an act and its record are one round trip (an implicit transaction: both or neither), where
  one statement at a time made four (``BEGIN``, act, record, ``COMMIT``), each a wake-up of the server and of
  the writer (measured: bench/README.md, "Run H — tlog"). When only held writes make the transaction, they go
  as *one statement* (``WITH w0 AS (act) INSERT INTO audit_events ...``) bound by the server and prepared once
  per connection, so the server no longer parses and plans them every time (``_joined``; "Run Q"). A ``run``
  (whose outcome must be read) is sent at once, in one simple query with what ``add`` held before it and with
  the ``BEGIN`` when the transaction begins there; what ``add`` holds after it goes with the ``COMMIT``: a
  refresh's spend, then its new token and the ``COMMIT``, are two round trips (were four: ``BEGIN``, spend,
  store, ``COMMIT``). The driver's pipeline mode also sends one round trip, but cost more client CPU than the
  four round trips did; the joined statement bound on the client and unprepared cost more on both sides than
  a simple query of several statements.
- ``on_connection(conn, stmt, params)``: one statement on the driver connection of a transaction SQLAlchemy
  already began (an ORM session's or ``Database.transaction``'s): ``audit.append`` in every audited act.

Only for statements built once at import time (the cache is keyed by the statement object) and whose bound
parameters are all given by the caller or built into the statement (``limit``). Database errors become
``DATABASE_UNAVAILABLE`` as in ``Database.session``.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError
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
    # an INSERT, UPDATE or DELETE returning nothing: it may be one part of a joined statement (``Writer``)
    dml: bool = False
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
    return _compile_for(db.engine.dialect, stmt, key)


def _compile_for(dialect: Dialect, stmt: Executable, key: tuple[int, str]) -> _Compiled:
    compiled: Any = stmt.compile(dialect=dialect)  # type: ignore[attr-defined]  # every Core statement has it
    if compiled.isinsert and compiled.implicit_returning:
        # PostgreSQL's implicit RETURNING of the generated key, which nothing here reads (``Writer.add`` reads no
        # outcome, ``run`` a row count): left out, as in an executemany, so the insert can be part of a joined one
        compiled = stmt.compile(dialect=dialect, for_executemany=True)  # type: ignore[attr-defined]
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
    dml = bool(compiled.isinsert or compiled.isupdate or compiled.isdelete) and not returning
    made = _Compiled(str(compiled), positional, binds, defaults, keys, types, dml)
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
    return _record(db.engine.dialect, c, cursor, raw)


def _record(dialect: Dialect, c: _Compiled, cursor: Any, raw: Any) -> Record:
    if c.results is None:
        c.results = tuple(t.result_processor(dialect, d[1]) for t, d in zip(c.types, cursor.description, strict=True))
    return Record(zip(c.keys, [p(v) if p is not None else v for p, v in zip(c.results, raw, strict=True)],
                      strict=True))


def _unavailable(db: Database) -> tuple[type[BaseException], ...]:
    dbapi = db.engine.dialect.dbapi
    return (dbapi.OperationalError,) if dbapi is not None else ()


class Writer:
    """The statements of one write transaction (see ``write``)."""

    def __init__(self, db: Database, cursor: Any, held: Any = None) -> None:
        # held: PostgreSQL's client-side binding cursor; ``add`` keeps its statements, with their parameters,
        # until they are sent
        self._db, self._cursor, self._held = db, cursor, held
        self._queue: list[tuple[_Compiled, Any]] = []

    def run(self, stmt: Executable, params: Mapping[str, Any]) -> int:
        """Execute ``stmt``; the number of rows it changed."""
        c = _compile(self._db, stmt)
        if self._held is None:
            self._cursor.execute(c.sql, _parameters(c, params))
            return int(self._cursor.rowcount)
        # PostgreSQL: what ``add`` held and the statement in one query, and the transaction's BEGIN with them when
        # it begins here (the driver would send its own BEGIN as a round trip of its own: the connection is put in
        # autocommit for the rest of the transaction, and ``write`` puts it back)
        parts = [*self._bound(), self._held.mogrify(c.sql, _parameters(c, params))]
        conn = self._held.connection
        if conn.info.transaction_status == _PG_IDLE:
            conn.autocommit = True
            parts.insert(0, "BEGIN")
        self._held.execute(";".join(parts), prepare=False)
        while self._held.nextset():  # the statement's own result is the last
            pass
        return int(self._held.rowcount)

    def add(self, stmt: Executable, params: Mapping[str, Any]) -> None:
        """Execute ``stmt`` without reading its outcome: on PostgreSQL it is sent with the end of the transaction
        (or before the next ``run``); if it fails, the transaction is rolled back and the error raised then.
        Statements held together may be sent as one (``_send_held``): none may read what another writes."""
        c = _compile(self._db, stmt)
        if self._held is None:
            self._cursor.execute(c.sql, _parameters(c, params))
        else:
            self._queue.append((c, _parameters(c, params)))

    def _bound(self) -> list[str]:
        """The held statements as SQL text, each bound by the driver's client-side binding (its quoting of every
        value, not string formatting); the queue emptied."""
        bound = [self._held.mogrify(c.sql, params) for c, params in self._queue]
        self._queue = []
        return bound

    def _send_held(self) -> None:
        """The end of the transaction: what ``add`` still holds is sent (PostgreSQL)."""
        if not self._queue:
            return
        conn = self._held.connection
        if conn.info.transaction_status == _PG_IDLE:
            # nothing sent before: the statements alone are the transaction, sent in autocommit (no BEGIN, no
            # COMMIT; any error rolls all of them back)
            conn.autocommit = True
            try:
                joined = _joined(self._queue)
                if joined is not None:
                    self._queue = []
                    conn.execute(joined[0], joined[1], prepare=True).close()
                else:
                    self._held.execute(";".join(self._bound()), prepare=False)  # one simple query
            finally:
                conn.autocommit = False
        else:
            # a transaction is open (a ``run`` before): the held statements and its COMMIT in one query, one round
            # trip instead of two; on an error the rest is skipped, the transaction stays aborted and is rolled
            # back; the driver's own commit then finds the connection idle and sends nothing
            self._held.execute(";".join(self._bound()) + ";COMMIT", prepare=False)


# PostgreSQL: held writes joined into one statement, by the compiled statements joined (see ``_joined``); at most
# JOIN_AT_MOST of them (an act and its record are two; a platform's list of many certificates goes as a simple
# query of many statements rather than as one statement prepared for that count alone).
_JOINED: dict[tuple[int, ...], str] = {}
JOIN_AT_MOST = 8
_PLACEHOLDER = re.compile(r"%%|%\(([^)]*)\)s")


def _renamed(sql: str, prefix: str) -> str:
    """``sql`` with every named placeholder's name prefixed (``%(a)s`` to ``%(w0_a)s``; a literal ``%%`` kept)."""
    return _PLACEHOLDER.sub(lambda m: m[0] if m[0] == "%%" else f"%({prefix}{m[1]})s", sql)


def _joined(queue: Sequence[tuple[_Compiled, Any]]) -> tuple[str, dict[str, Any]] | None:
    """Held writes as one statement and its parameters, run with the server's binding and prepared once per
    connection (the driver's ``prepare=True``); None when they cannot be (a statement that is not a plain
    INSERT, UPDATE or DELETE, or not in named style, or more than JOIN_AT_MOST), and are sent as one simple
    query of several instead.

    Why: an audited act and its record as two statements of one simple query were parsed and planned by the
    server every time, and each bound on the client (``mogrify``); as one prepared statement -- ``WITH w0 AS
    (act) INSERT INTO audit_events ...`` -- the server plans it once per connection, and an audited write took
    ~30 % less CPU in the writer and ~45 % less in the server (bench/README.md, "Run Q"). The parts of a joined
    statement run on one snapshot, in no set order: none can see what another writes, which is why ``add`` is
    only for statements whose outcome nobody in the transaction reads."""
    if len(queue) > JOIN_AT_MOST or any(not c.dml or c.positional is not None for c, _ in queue):
        return None
    if len(queue) == 1:
        return queue[0][0].sql, queue[0][1]
    key = tuple(id(c) for c, _ in queue)
    sql = _JOINED.get(key)
    if sql is None:
        parts = [_renamed(c.sql, f"w{k}_") for k, (c, _) in enumerate(queue)]
        sql = _JOINED[key] = "WITH " + ", ".join(f"w{k} AS ({part})" for k, part in enumerate(parts[:-1])) \
            + " " + parts[-1]
    return sql, {f"w{k}_{name}": value for k, (_, params) in enumerate(queue) for name, value in params.items()}


_PG_IDLE = 0  # libpq's PQTRANS_IDLE: no transaction open on the connection


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
            if db.is_sqlite:
                cursor = conn.cursor()
                cursor.execute("BEGIN IMMEDIATE")  # the write lock up front, as Database's write transactions
                writer = Writer(db, cursor)
            else:
                cursor = _client_cursor(conn.dbapi_connection)
                writer = Writer(db, cursor, cursor)
            try:
                yield writer
                writer._send_held()  # noqa: SLF001 - the end of the writer's transaction
            except BaseException:
                conn.rollback()
                raise
            conn.commit()  # nothing to do when the held statements were the transaction (or ended it)
            cursor.close()
        finally:
            if not db.is_sqlite and conn.dbapi_connection is not None and conn.dbapi_connection.autocommit:
                _out_of_autocommit(conn)  # ``run`` began the transaction itself
            conn.close()
    except _unavailable(db) as exc:
        raise Unavailable("DATABASE_UNAVAILABLE", "the database cannot be reached") from exc


def _out_of_autocommit(conn: Any) -> None:
    """The driver's setting put back before the connection goes back to the pool (the next user expects a
    transaction); a connection that cannot (broken, or still in a transaction) is not handed out again."""
    try:
        conn.dbapi_connection.autocommit = False
    except Exception:  # noqa: BLE001 - see the docstring
        conn.invalidate()


def _client_cursor(dbapi: Any) -> Any:
    import psycopg  # the PostgreSQL driver, present whenever a PostgreSQL database is

    return psycopg.ClientCursor(dbapi)


def on_connection(conn: Connection, stmt: Executable, params: Mapping[str, Any]) -> Record | None:
    """Run ``stmt`` on the driver connection under ``conn`` -- in the transaction SQLAlchemy began there, so it
    commits or rolls back with the rest -- without ``Connection.execute``'s machinery (~100 us, more than the
    statement); its first row (None: none). A connection not in a transaction yet takes the ordinary way, which
    begins one as SQLAlchemy does. Database errors as ``Connection.execute`` raises them (wrapped)."""
    if not conn.in_transaction() or conn.closed:
        result = conn.execute(stmt, dict(params))
        first = result.first() if result.returns_rows else None
        return None if first is None else Record(first._mapping)
    dialect = conn.dialect
    key = (id(stmt), dialect.name)
    c = _CACHE.get(key) or _compile_for(dialect, stmt, key)
    dbapi = conn.connection
    cursor = dbapi.cursor()
    try:
        cursor.execute(c.sql, _parameters(c, params))
        raw = cursor.fetchone() if c.keys else None
        row = None if raw is None else _record(dialect, c, cursor, raw)
    except Exception as exc:
        dbapi_errors = dialect.loaded_dbapi.Error
        if isinstance(exc, dbapi_errors):
            raise DBAPIError.instance(c.sql, params, exc, dbapi_errors, hide_parameters=True,  # audit details
                                      dialect=dialect) from exc
        raise
    finally:
        cursor.close()
    return row
