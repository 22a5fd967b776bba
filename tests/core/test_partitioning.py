"""PostgreSQL partitioning. Migration 0015: an existing node's certificates and access log are carried into
hash-partitioned tables row for row, a lookup by identifier (or by holder) reads one partition, the access log's
ids go on from where they were, and the downgrade brings the plain tables back with the same rows. Migration 0016:
the audit log's events and leaves carried into range partitions and back; on a serving node's log (tiny
partitions) the node makes the ranges ahead, a burst past them waits in the DEFAULT partition and is moved, and
proofs, ``hutong audit verify`` and the plans of the reads by key work across partitions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from pymerkle import InmemoryTree
from pymerkle.proof import InclusionProof
from sqlalchemy import Connection, text, update

from hutong.audit import AuditRecord
from hutong.auditlog import AuditLog
from hutong.cli import main
from hutong.db import Database, alembic_config
from hutong.node import Node
from hutong.tlog import merkle, partitions, proofs
from tests.audit_helpers import entries, event_at

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


def _assert_plain_again(c: Connection, before: dict[str, list[tuple[object, ...]]]) -> None:
    """After a downgrade: each table plain again (not partitioned), with the rows it had before the upgrade."""
    for table, rows in before.items():
        assert _rows(c, table) == rows
        assert c.execute(text("SELECT relkind FROM pg_class WHERE relname = :t"), {"t": table}).scalar_one() == "r"


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
        _assert_plain_again(c, before)


# -- the audit log (migration 0016): ranges by the log's growing keys, made ahead by the node ------------------

SIZE = 8  # records a partition in these tests (the migration's is 1,000 M)
EVENTS = 20


def _upgrade(db: Database, revision: str = "head") -> None:
    cfg = alembic_config(db.url)
    cfg.attributes["audit_partition_size"] = SIZE
    command.upgrade(cfg, revision)


def _where(c: Connection, table: str) -> dict[str, int]:
    """Rows of ``table`` per partition."""
    return {name: n for name, n in c.execute(text(f"SELECT tableoid::regclass::text, count(*) "  # noqa: S608
                                                  f"FROM {table} GROUP BY 1"))}


def _scanned(c: Connection, query: str) -> set[str]:
    """The partitions a query's plan reads."""
    import re

    plan = "\n".join(c.execute(text(f"EXPLAIN {query}")).scalars())
    return set(re.findall(r"(?:Seq Scan|Heap Scan|Scan using \S+) on (audit_\w+)", plan))  # tables, not indexes


@pytest.fixture
def old_log(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A node's database at 0015 with an audit log: EVENTS events, the first 15 of them sequenced."""
    from tests.conftest import _create_database

    db = Database(_create_database(request.getfixturevalue("postgres_server")))
    db.ping(creating=True)
    command.upgrade(alembic_config(db.url), "0015")
    with db.engine.begin() as c:
        c.execute(text("INSERT INTO audit_events (at, actor, action, target, outcome, details) "
                       "SELECT now(), 'a', 'thing.do', 't' || n, 'ok', '{}' FROM generate_series(1, :n) n"),
                  {"n": EVENTS})
        c.execute(text("INSERT INTO audit_leaves (leaf_index, seq, leaf_hash) "
                       "SELECT seq - 1, seq, md5(seq::text) || md5(seq::text) FROM audit_events WHERE seq <= 15"))
    yield db
    db.dispose()


def test_audit_log_carried_into_ranges_and_back(old_log: Database) -> None:
    tables = ("audit_events", "audit_leaves")
    with old_log.engine.connect() as c:
        before = {t: _rows(c, t) for t in tables}
    _upgrade(old_log)
    with old_log.engine.begin() as c:
        for table in tables:
            assert _rows(c, table) == before[table]
            assert c.execute(text("SELECT relkind FROM pg_class WHERE relname = :t"), {"t": table}).scalar_one() == "p"
        # [0, 8), [8, 16), [16, 24) hold the rows, [24, 32) is ahead; nothing in the DEFAULT partition
        assert _where(c, "audit_events") == {"audit_events_p0": 7, "audit_events_p8": 8, "audit_events_p16": 5}
        assert _where(c, "audit_leaves") == {"audit_leaves_p0": 8, "audit_leaves_p8": 7}
        assert c.execute(text("SELECT to_regclass('audit_events_p24') IS NOT NULL")).scalar_one()
        seq = c.execute(text("INSERT INTO audit_events (at, actor, action, target, outcome, details) "
                             "VALUES (now(), 'a', 'thing.do', 'new', 'ok', '{}') RETURNING seq")).scalar_one()
        assert seq == EVENTS + 1  # the insertion numbers went on
        c.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": seq})
    command.downgrade(alembic_config(old_log.url), "0015")
    with old_log.engine.connect() as c:
        _assert_plain_again(c, before)
        assert c.execute(text("SELECT count(*) FROM pg_constraint WHERE conname = 'uq_audit_leaves_seq'")).scalar_one()


@pytest.fixture
def small_partitions_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A node on PostgreSQL whose audit log is partitioned every SIZE records (migrated before the node starts)."""
    import uuid

    from hutong.node import init_node
    from hutong.wiring import wire
    from tests.conftest import _create_database

    db = Database(_create_database(request.getfixturevalue("postgres_server")))
    _upgrade(db)
    db.dispose()
    data_dir = tmp_path_factory.mktemp("node-small-partitions")
    node_id = "sp-" + uuid.uuid4().hex[:8]
    (data_dir / "hutong.toml").write_text(f'database_url = "{db.url}"\n[node]\nid = "{node_id}"\nname = "Node"\n'
                                          f'[hsm]\ntoken_label = "{node_id}"\n')
    node = wire(init_node(data_dir))
    yield node
    node.close()


def test_audit_log_partitions_made_ahead_proved_and_verified(small_partitions_node: Node, capsys) -> None:  # type: ignore[no-untyped-def]
    node = small_partitions_node
    log = AuditLog(node.db)

    def defaults() -> tuple[int, int]:
        with node.db.engine.connect() as c:
            return (c.execute(text("SELECT count(*) FROM audit_events_default")).scalar_one(),
                    c.execute(text("SELECT count(*) FROM audit_leaves_default")).scalar_one())

    node.tlog.integrate_all()  # the first round makes the partitions the start-up's events need
    assert defaults() == (0, 0)
    # A burst past every range made so far, with no maintenance meanwhile: no insert fails, the excess waits in
    # the DEFAULT partitions...
    for i in range(3 * SIZE):
        log.record(actor="tester", action="thing.burst", target=f"b{i}")
    node.tlog.integrate_all()  # maintenance not due again yet: the leaves too go past the ranges
    assert all(defaults())
    # ... and the next round of maintenance moves it into the ranges it makes
    node.tlog.partitions_due = 0
    node.tlog.integrate_all()
    assert defaults() == (0, 0)
    # Steady state: maintenance every round makes each range before the log reaches it
    for b in range(4):
        for i in range(SIZE // 2):
            log.record(actor="tester", action="thing.do", target=f"s{b}-{i}")
        node.tlog.partitions_due = 0
        node.tlog.integrate_all()
        assert defaults() == (0, 0)
    with node.db.engine.connect() as c:
        spread = {t: _where(c, t) for t in ("audit_events", "audit_leaves")}
        assert all(len(s) >= 5 for s in spread.values()), spread
        ahead = partitions.partitions_of(c, "audit_leaves")[-2]  # the newest range (the DEFAULT comes last)
        sizes = c.execute(text("SELECT tree_size FROM audit_checkpoints ORDER BY tree_size")).scalars().all()
        size = sizes[-1]
        assert ahead.lower is not None and size - 1 < ahead.lower + SIZE * partitions.AHEAD  # made ahead
        seqs = c.execute(text("SELECT seq FROM audit_leaves ORDER BY leaf_index")).scalars().all()

    # Proofs across every partition, checked hash by hash by pymerkle; events found by their number
    tree = InmemoryTree(algorithm="sha256")
    for e in entries(node.db):
        tree.append_entry(e)
    assert tree.get_size() == size
    for index in range(0, size, 3):
        p = proofs.inclusion(node.db, index, size)
        rule = tree.prove_inclusion(index + 1, size).rule
        InclusionProof("sha256", True, size, index + 1, rule, [p.leaf_hash, *p.path]).verify(
            p.leaf_hash, tree.get_root(size))
        assert proofs.leaf_of_event(node.db, seqs[index]) == index
    for first in sizes[:-1]:  # checkpoints from every range of the log
        c_proof = proofs.consistency(node.db, first, size)
        assert merkle.verify_consistency(first, size, tree.get_root(first), tree.get_root(size), c_proof.path)
    assert main(["audit", "verify", "--data-dir", str(node.config.data_dir)]) == 0
    assert "intact" in capsys.readouterr().out
    # An edited record in an older partition is still named
    with node.db.session() as s:
        s.execute(update(AuditRecord).where(event_at(SIZE + 1)).values(actor="mallory"))
    assert main(["audit", "verify", "--data-dir", str(node.config.data_dir)]) == 1
    assert f"BROKEN at record {SIZE + 1}" in capsys.readouterr().out

    # The reads by key are pruned to the partitions holding the key
    with node.db.engine.connect() as c:
        assert _scanned(c, f"SELECT * FROM audit_events WHERE seq = {seqs[SIZE + 1]}") == {
            f"audit_events_p{seqs[SIZE + 1] // SIZE * SIZE}"}
        assert _scanned(c, f"SELECT leaf_hash FROM audit_leaves WHERE leaf_index = {SIZE + 1}") == {
            f"audit_leaves_p{SIZE}"}
        assert _scanned(c, f"SELECT leaf_hash FROM audit_leaves WHERE leaf_index IN (1, {2 * SIZE + 3})") == {
            "audit_leaves_p0", f"audit_leaves_p{2 * SIZE}"}
        walk = _scanned(c, f"SELECT leaf_index FROM audit_leaves WHERE leaf_index > {2 * SIZE} "
                           "ORDER BY leaf_index LIMIT 5000")  # audit verify's walk: older ranges skipped
        assert "audit_leaves_p0" not in walk and f"audit_leaves_p{SIZE}" not in walk and walk


def test_audit_log_partition_maintenance_gives_way_to_a_long_transaction(small_partitions_node: Node,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Behind a transaction holding the DEFAULT partition, maintenance gives up after its lock timeout instead of
    queueing every reader behind it; events are written and sequenced meanwhile, and the next round catches up."""
    node = small_partitions_node
    log = AuditLog(node.db)
    node.tlog.integrate_all()
    with node.db.engine.connect() as reader:
        reader.execute(text("SELECT count(*) FROM audit_events_default"))  # left open: holds its lock
        for i in range(2 * SIZE):
            log.record(actor="tester", action="thing.do", target=f"t{i}")
        node.tlog.partitions_due = 0
        assert node.tlog.integrate_all() == 2 * SIZE  # the batch is made, maintenance is not
        assert "audit log partition maintenance failed" in caplog.text and "lock timeout" in caplog.text
        with node.db.engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM audit_events_default")).scalar_one() > 0
        reader.rollback()
    node.tlog.partitions_due = 0
    node.tlog.integrate_all()
    with node.db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM audit_events_default")).scalar_one() == 0
    assert AuditLog(node.db).verify().ok
