"""The lookup figure's fairness (``bench.fig_lookup``): every repository size is timed in as many rounds as the
others, alternating ABBA so a drift of the machine's speed weighs on each alike, and each size is measured on a
node and database of its own holding exactly that many certificates (PostgreSQL: ``bench.lookup_pg``'s database
per size). No timing is asserted: only what was measured, not how fast."""

from __future__ import annotations

import time
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
    assert "every database read into the page cache before the rounds (" in row.note
    assert "(0.00 GB in all)" not in row.note
    assert all(f" MB at {size:,}" in row.note for size in sizes)  # the disks' reads during each size's rounds
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
    assert cpu is not None, "the test cluster runs on this machine, and its data directory is readable"
    before = cpu()
    engine = sqlalchemy.create_engine(f"{postgres_server}/postgres")
    try:
        with engine.connect() as c:  # about a second of a backend's CPU
            c.execute(sqlalchemy.text("SELECT count(*) FROM generate_series(1, 3000000)")).scalar_one()
    finally:
        engine.dispose()  # the backend ends
    # once the postmaster has reaped it (a suite run read the cluster in between: 1.76 s before and after)
    deadline = time.monotonic() + 10
    while (after := cpu()) <= before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert after > before, f"the cluster's CPU went from {before} s to {after} s"


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


_DISKSTATS = """\
 254       0 vda 142053 8121 9642202 36518 918712 61383 337899424 3147743 0 164864 3219709
 254       1 vda1 141000 8000 9600000 36000 918000 61000 337000000 3147000 0 164000 3219000
 253       0 dm-0 5000 0 40000 100 0 0 0 0 0 0 0
   7       0 loop0 12 0 24 0 0 0 0 0 0 0 0
"""


def test_disk_reads_count_whole_disks_once() -> None:
    """A partition's and a mapped volume's reads are the disk's again: only whole disks are counted."""
    disks = {"vda"}
    assert fig_lookup.sectors_read(_DISKSTATS, disks.__contains__) == 9642202
    assert fig_lookup.sectors_read(_DISKSTATS, lambda name: False) == 0
    if any(Path("/sys/block").glob("*/device")):  # a machine with a disk of its own (not only loop devices)
        assert fig_lookup.disk_read_bytes() > 0


def test_a_sqlite_node_is_read_into_memory_whole(node) -> None:  # type: ignore[no-untyped-def]
    from bench.seed import read_into_memory

    database = node.config.data_dir / "hutong.db"
    assert read_into_memory(node.config.data_dir) == database.stat().st_size > 0


def test_a_postgresql_node_is_read_into_memory_with_its_certificates_toast_and_indexes(pg_node) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    """``pg_prewarm`` read every relation of the node's database, the certificates' partitions with their TOAST
    tables and indexes among them (the pages a lookup reads)."""
    from bench.seed import read_into_memory

    with pg_node.db.engine.connect() as c:
        certificates = c.execute(sqlalchemy.text(
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
            "WHERE inhparent = 'certificates'::regclass")).scalar_one()
        everything = c.execute(sqlalchemy.text("SELECT pg_database_size(current_database())")).scalar_one()
    read = read_into_memory(pg_node.config.data_dir)
    assert certificates > 0
    assert certificates <= read <= everything
