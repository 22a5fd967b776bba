"""The lookup figure's fairness (``bench.fig_lookup``): every repository size is timed in as many rounds as the
others, alternating ABBA so a drift of the machine's speed weighs on each alike, and each size is measured on a
node and database of its own holding exactly that many certificates (PostgreSQL: ``bench.lookup_pg``'s database
per size). No timing is asserted: only what was measured, not how fast."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy

from bench import fig_lookup
from bench.core import MODES
from bench.fig_tlog import server_cpu_reader
from bench.lookup_pg import database_per_size
from bench.seed import SEED_LIST


@pytest.mark.parametrize("names", [[1, 2], [1, 2, 3]])
def test_rounds_alternate_and_every_size_is_timed_alike(names: list[int]) -> None:
    order = list(fig_lookup.round_order(names, 4))
    assert Counter(order) == {n: 4 for n in names}
    # in each pair of rounds every size sits once early and once late: the same mean position for all
    positions: dict[int, int] = Counter()
    for i, n in enumerate(order[: 2 * len(names)]):
        positions[n] += i
    assert len(set(positions.values())) == 1, positions
    assert order[: len(names)] == names and order[len(names): 2 * len(names)] == names[::-1]


@pytest.mark.slow
def test_each_size_is_timed_on_its_own_postgresql_database(postgres_server: str, tmp_path: Path) -> None:
    from tests.conftest import _create_database

    mode = MODES["tiny"]
    sizes = fig_lookup.sizes(mode)
    urls = database_per_size(_create_database(postgres_server), sizes)
    assert len(set(urls.values())) == len(sizes)
    latency: dict[str, list[tuple[float, float]]] = {}
    row = fig_lookup.lookup_row(mode, tmp_path / "lookup", latency, url_for=urls.__getitem__, keep=True,
                                also_idle=server_cpu_reader(urls[sizes[0]]))
    assert row.met is not None, row.note  # measured
    assert [s for s, _ in latency["lookup p99 ms vs stored certificates"]] == sizes
    assert f"{mode.lookups} timed lookups per size" in row.note
    assert "the floor, a bare grpcio Health server timed in the same rounds: p50" in row.note
    assert "the host's steal during the timed rounds: " in row.note
    for size, url in urls.items():
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as c:
                seeded = c.execute(sqlalchemy.text("SELECT count(*) FROM certificates WHERE status_list_id = :l"),
                                   {"l": SEED_LIST}).scalar_one()
        finally:
            engine.dispose()
        assert seeded == size


def test_the_machines_steal_is_read_and_reported_as_a_share() -> None:
    total, stolen = fig_lookup.cpu_times()
    assert total > 0 and 0 <= stolen <= total  # this suite runs on Linux
    note = fig_lookup._steal_note((total - 1000, max(0, stolen - 10)))
    assert note.startswith("; the host's steal during the timed rounds: ") and note.endswith(" % of CPU time")
    share = float(note.split(": ")[1].split(" %")[0])
    assert 0.0 <= share <= 100.0


def test_the_postgresql_clusters_cpu_counts_a_backend_that_has_ended(postgres_server: str) -> None:
    """What the lookup rounds wait on (``bench.lookup_pg``): the cluster's CPU, ended backends included."""
    cpu = server_cpu_reader(f"{postgres_server}/postgres")
    assert cpu is not None  # the test cluster runs on this machine
    before = cpu()
    engine = sqlalchemy.create_engine(f"{postgres_server}/postgres")
    try:
        with engine.connect() as c:  # about a second of a backend's CPU
            c.execute(sqlalchemy.text("SELECT count(*) FROM generate_series(1, 3000000)")).scalar_one()
    finally:
        engine.dispose()  # the backend ends
    assert cpu() > before


def test_a_settled_postgresql_database_leaves_autovacuum_and_the_checkpointer_nothing_to_do(pg_node) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    """What the seeding wrote is frozen (every table's oldest unfrozen transaction is newer than the writes, so
    no autovacuum is due for it) and checkpointed before the figure's timed rounds."""
    from bench.seed import settle

    writes = 50
    for i in range(writes):
        pg_node.audit.record(actor="tester", action="thing.do", target=f"t{i}")
    with pg_node.db.engine.connect() as c:
        before = c.execute(sqlalchemy.text("SELECT date_trunc('second', now())")).scalar_one()
    settle(pg_node)
    with pg_node.db.engine.connect() as c:
        unfrozen = list(c.execute(sqlalchemy.text(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' "
            "AND age(relfrozenxid) >= :writes"), {"writes": writes}).scalars())
        checkpointed = c.execute(sqlalchemy.text("SELECT checkpoint_time FROM pg_control_checkpoint()")).scalar_one()
    assert unfrozen == []
    assert checkpointed >= before
