"""Storage: one SQLAlchemy 2.0 engine per node, SQLite (WAL) embedded, PostgreSQL by URL.

Every service declares its tables on ``Base``; the schema is owned by the Alembic migrations in
``hutong/migrations`` (``Database.migrate``). Write transactions on SQLite start with
``BEGIN IMMEDIATE`` so concurrent worker processes queue instead of failing half-way.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event, text
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from hutong.errors import ConfigError, Unavailable
from hutong.sqlite_files import check_writable

# Modules that declare tables on Base. Alembic and tests import them all so the metadata is whole.
MODEL_MODULES = (
    "hutong.audit",
    "hutong.idempotency",
    "hutong.tlog.models",
    "hutong.pki",
    "hutong.rekey",
    "hutong.federation.models",
    "hutong.federation.assertion",
    "identity_svc.models",
    "hutong.oidc.models",
    "seal_svc.models",
    "cert_svc.models",
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def load_models() -> MetaData:
    """Import every model module (those not yet written are skipped) and return the full metadata."""
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return Base.metadata


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin); pysqlite's implicit BEGIN is deferred.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # Reads through a memory map of the file (its first GiB) rather than a read() into each connection's small page
    # cache: at 100,000 stored certificates a lookup's server CPU fell 2.8 -> 2.1 ms and its p99 9 -> 5 ms
    # (bench, lookup figure). The price is SQLite's documented one: an I/O error on a mapped page is a signal, not an
    # error code -- acceptable for the embedded default, whose file is local.
    cur.execute("PRAGMA mmap_size=1073741824")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the write lock up front so two processes never deadlock upgrading a read lock;
    # read-only transactions stay deferred and run concurrently under WAL.
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("hutong_readonly") else "BEGIN IMMEDIATE")


# A pooled PostgreSQL connection idle in the pool longer than this is pinged before use (a round trip); one
# checked in more recently is used as it is. ``pool_pre_ping`` pinged on every checkout: one round trip more in
# every transaction of a busy node, 10 % of an audited write's client CPU. A server restarted within the
# window costs the request that meets the dead connection DATABASE_UNAVAILABLE, and that error invalidates
# the whole pool, so the next ones reconnect.
PING_AFTER_IDLE_S = 1.0


def _ping_idle(engine: Engine) -> None:
    def fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info["hutong_idle_since"] = time.monotonic()

    def checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("hutong_idle_since", 0.0) > PING_AFTER_IDLE_S:
            try:
                engine.dialect.do_ping(dbapi_conn)
            except Exception as exc:  # the pool drops this connection and checks out a new one
                raise DisconnectionError(f"pooled connection is dead: {exc}") from exc

    event.listen(engine, "connect", fresh)
    event.listen(engine, "checkin", fresh)
    event.listen(engine, "checkout", checkout)


def _normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _private_file(path: str | None) -> None:
    """The SQLite file holds personal data (sealed, but still): 0600 from its creation on. SQLite gives its
    -wal and -shm files the database file's mode."""
    if not path or path == ":memory:":
        return
    with contextlib.suppress(OSError):  # an unwritable location is reported by the first query, with its reason
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)


class Database:
    """The node's database: engine, sessions and schema migration."""

    def __init__(self, url: str) -> None:
        self.url = _normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"future": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=10)  # liveness: _ping_idle
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except Exception as exc:  # bad URL, missing driver
            raise ConfigError("DATABASE_URL_INVALID", f"database URL cannot be used: {exc}") from None
        if self.is_sqlite:
            if self.engine.url.database not in (None, "", ":memory:"):
                check_writable(Path(self.engine.url.database))  # DATABASE_UNWRITABLE, not SIGBUS later
            _private_file(self.engine.url.database)
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            _ping_idle(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        db_file = self.engine.url.database if self.is_sqlite else None
        self.sqlite_file = Path(db_file) if db_file and db_file != ":memory:" else None

    @classmethod
    def sqlite_in(cls, directory: Path) -> Database:
        return cls(f"sqlite:///{directory / 'hutong.db'}")

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception.

        ``readonly=True`` for transactions that only read: on SQLite they do not queue behind writers.
        Do not open a second session inside a write session on SQLite: it waits for the first one.
        """
        self._check_file()
        with self._sessions() as s:
            try:
                if readonly:
                    s.connection(execution_options={"hutong_readonly": True})
                yield s
                s.commit()
            except OperationalError as exc:
                s.rollback()
                raise Unavailable("DATABASE_UNAVAILABLE", "the database cannot be reached") from exc
            except BaseException:
                s.rollback()
                raise

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Connection]:
        """One transaction on a plain connection, without an ORM session: for the hottest paths (a token
        refresh), where the session's identity map and unit of work cost more than the statements themselves.
        Committed on success, rolled back on any exception; ``readonly`` as in ``session``."""
        self._check_file()
        try:
            with self.engine.connect() as conn:
                if readonly:
                    conn.execution_options(hutong_readonly=True)
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise Unavailable("DATABASE_UNAVAILABLE", "the database cannot be reached") from exc

    def _check_file(self) -> None:
        """SQLite: the database file is still where the node keeps it. Pooled connections would otherwise go on
        reading and writing a file that was moved or deleted under them, unnoticed."""
        if self.sqlite_file is not None and not self.sqlite_file.exists():
            raise Unavailable("DATABASE_UNAVAILABLE", f"the database file {self.sqlite_file.name} is missing")

    def ping(self, *, creating: bool = False) -> None:
        """The database answers (DATABASE_UNAVAILABLE otherwise); ``creating``: SQLite may make the file."""
        if not creating:
            self._check_file()
        try:
            with self.engine.connect() as c:
                c.execute(text("SELECT 1"))
        except OperationalError as exc:
            raise Unavailable(
                "DATABASE_UNAVAILABLE", f"database cannot be reached ({self.engine.url.render_as_string()})"
            ) from exc

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command  # Alembic only when the schema is brought up, never per request

        self.ping(creating=True)
        command.upgrade(alembic_config(self.url), "head")

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    here = Path(__file__).parent
    cfg = Config()
    cfg.set_main_option("script_location", str(here / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg
