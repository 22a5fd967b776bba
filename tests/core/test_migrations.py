"""The Alembic migrations build exactly the schema the models declare, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

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
        diff = compare_metadata(MigrationContext.configure(conn), load_models())
    db.dispose()
    assert diff == [], f"write a migration for: {diff}"


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    db = Database.sqlite_in(tmp_path)
    db.migrate()
    db.migrate()
    db.dispose()
