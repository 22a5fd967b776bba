"""The Alembic migrations build exactly the schema the models declare, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from hutong.db import Database, load_models


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrated_schema_matches_the_models(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if backend == "sqlite":
        db = Database.sqlite_in(tmp_path)
    else:
        from tests.conftest import _create_database

        db = Database(_create_database(request.getfixturevalue("postgres_server")))
    db.migrate()
    with db.engine.connect() as conn:
        partitions = set(partitions_of(conn))
        context = MigrationContext.configure(conn, opts={
            "include_name": lambda name, kind, _parent: not (kind == "table" and name in partitions)})
        diff = compare_metadata(context, load_models())
    db.dispose()
    assert diff == [], f"write a migration for: {diff}"
    if backend == "postgresql":  # the tables declared partitioned are (migrations 0015, 0016)
        assert {p.rsplit("_p", 1)[0] for p in partitions} >= {"certificates", "cert_access_log", "audit_events",
                                                              "audit_leaves"}


def partitions_of(conn: Connection) -> list[str]:
    """The partitions of partitioned tables (PostgreSQL): storage of a declared table, not tables of their own."""
    if conn.dialect.name != "postgresql":
        return []
    return list(conn.exec_driver_sql("SELECT relname FROM pg_class WHERE relispartition AND relkind = 'r'").scalars())


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    db = Database.sqlite_in(tmp_path)
    db.migrate()
    db.migrate()
    db.dispose()
