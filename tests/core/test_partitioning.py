"""PostgreSQL partitioning (migration 0015): an existing node's certificates and access log are carried into
hash-partitioned tables row for row, a lookup by identifier (or by holder) reads one partition, the access log's
ids go on from where they were, and the downgrade brings the plain tables back with the same rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Connection, text

from hutong.db import Database, alembic_config

ROWS, ACCESSES = 300, 60


@pytest.fixture
def old_node(request: pytest.FixtureRequest) -> Iterator[Database]:
    from tests.conftest import _create_database

    db = Database(_create_database(request.getfixturevalue("postgres_server")))
    db.ping(creating=True)
    command.upgrade(alembic_config(db.url), "0014")  # the revision before partitioning
    with db.engine.begin() as c:
        c.execute(text("INSERT INTO cert_types VALUES ('T1', 't', '{}', true, now())"))
        c.execute(text("INSERT INTO cert_issuers (uscc, name, key_label, kid, cert_pem, type_codes, created_at) "
                       "VALUES ('I1', 'i', 'k', 'kid', 'pem', 'T1', now())"))
        c.execute(text("INSERT INTO cert_status_lists (list_id, issuer_uscc, size, used, changed_at) "
                       "VALUES ('I1-1', 'I1', 131072, 0, now())"))
        c.execute(text(
            "INSERT INTO certificates (identifier, series, version, type_code, issuer_uscc, holder_kind, "
            "holder_index, sealed_forms, valid_from, status, status_reason, status_changed_at, status_list_id, "
            "status_index, issued_at) SELECT 'C' || n, 'S' || n, 1, 'T1', 'I1', 'person', md5(n::text), "
            "'\\x00'::bytea, current_date, 'valid', '', now(), 'I1-1', n, now() FROM generate_series(1, :rows) n"),
            {"rows": ROWS})
        c.execute(text("INSERT INTO cert_access_log (holder_index, at, platform, identifier, purpose, consent_id, "
                       "action) SELECT md5((n % 7)::text), now(), 'p', 'C' || n, 'why', 'c', 'read' "
                       "FROM generate_series(1, :n) n"), {"n": ACCESSES})
    yield db
    db.dispose()


def _rows(c: Connection, table: str) -> list[tuple[object, ...]]:
    return sorted(tuple(r) for r in c.execute(text(f"SELECT * FROM {table}")))  # noqa: S608 - fixed names


def test_carried_over_partitioned_pruned_and_back(old_node: Database) -> None:
    with old_node.engine.connect() as c:
        before = {t: _rows(c, t) for t in ("certificates", "cert_access_log")}
    old_node.migrate()
    with old_node.engine.begin() as c:
        for table in before:
            assert _rows(c, table) == before[table]
            kind = c.execute(text("SELECT relkind FROM pg_class WHERE relname = :t"), {"t": table}).scalar_one()
            assert kind == "p"  # partitioned
            spread = c.execute(text(f"SELECT count(DISTINCT tableoid) FROM {table}")).scalar_one()  # noqa: S608
            assert spread > 4  # rows hashed over the partitions
        plan = "\n".join(c.execute(text("EXPLAIN SELECT * FROM certificates WHERE identifier = 'C7'")).scalars())
        assert plan.count("certificates_p") == 1, plan
        plan = "\n".join(c.execute(text("EXPLAIN SELECT * FROM cert_access_log WHERE holder_index = md5('3')"))
                         .scalars())
        assert plan.count("cert_access_log_p") == 1, plan
        new_id = c.execute(text("INSERT INTO cert_access_log (holder_index, at, platform, identifier, purpose, "
                                "consent_id, action) VALUES ('h', now(), 'p', 'C1', 'why', 'c', 'read') "
                                "RETURNING id")).scalar_one()
        assert new_id == ACCESSES + 1  # the id's sequence went on
        c.execute(text("DELETE FROM cert_access_log WHERE id = :id"), {"id": new_id})
    command.downgrade(alembic_config(old_node.url), "0014")
    with old_node.engine.connect() as c:
        for table in before:
            assert _rows(c, table) == before[table]
            assert c.execute(text("SELECT relkind FROM pg_class WHERE relname = :t"), {"t": table}).scalar_one() == "r"
