"""Write the next schema migration from the models: ``python -m hutong.migrations "what changed"``.

Autogenerates against a scratch SQLite database brought to the current head, then review the file it
writes in hutong/migrations/versions/ (tests/core/test_migrations.py checks migrations and models agree
on SQLite and PostgreSQL).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from hutong.db import Database, alembic_config


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit('usage: python -m hutong.migrations "what changed"')
    with tempfile.TemporaryDirectory() as scratch:
        db = Database.sqlite_in(Path(scratch))
        db.migrate()
        command.revision(alembic_config(db.url), message=sys.argv[1], autogenerate=True)
        db.dispose()


if __name__ == "__main__":
    main()
