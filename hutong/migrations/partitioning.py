"""PostgreSQL migrations: a table rebuilt as a declaratively partitioned table, or back into a plain one, with its
rows, primary key, foreign keys, indexes and the sequence of its serial column.

PostgreSQL cannot turn a table into a partitioned one in place: the table is renamed aside, a new one made
``LIKE`` it (same columns in the same order, same defaults), its partitions created, the rows copied, the old
table dropped, then the keys and indexes made again under their old names. A serial column's sequence is
detached from the old table first (dropping the table would drop it) and given to the new one: the numbers go
on from where they were. Used by migrations 0015 (hash partitions) and 0016 (range partitions); a migration
states everything about its tables, this only carries the steps out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alembic import op


@dataclass(frozen=True)
class Layout:
    """A table's keys and indexes as a migration states them (they are made again after the rebuild)."""

    primary: str  # primary key columns, comma-separated
    foreign: Sequence[tuple[str, str, str]] = ()  # (constraint name, columns, "referred_table (columns)")
    indexes: Sequence[tuple[str, str]] = ()  # (index name, columns)


def rebuild(table: str, layout: Layout, *, partition_by: str | None,
            partitions: Sequence[tuple[str, str]] = ()) -> None:
    """``table`` rebuilt as partitioned ``PARTITION BY {partition_by}`` with ``partitions`` (name, bound clause such
    as ``FOR VALUES WITH (MODULUS 16, REMAINDER 0)`` or ``DEFAULT``), or plain again (``partition_by`` None)."""
    old = f"{table}_unpartitioned" if partition_by else f"{table}_partitioned"
    sequences = [(r[0], r[1]) for r in op.get_bind().exec_driver_sql(
        "SELECT s.relname, a.attname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
        "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
        f"WHERE d.refobjid = '{table}'::regclass AND d.deptype = 'a'")]
    for seq, _ in sequences:  # the serial's sequence outlives the old table: the new one's default uses it
        op.execute(f"ALTER SEQUENCE {seq} OWNED BY NONE")
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{table} TO pk_{old}")
    for name, _ in layout.indexes:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for name, *_ in layout.foreign:
        op.execute(f"ALTER TABLE {old} DROP CONSTRAINT {name}")
    op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS)"
               + (f" PARTITION BY {partition_by}" if partition_by else ""))
    for name, bound in partitions:
        op.execute(f"CREATE TABLE {name} PARTITION OF {table} {bound}")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({layout.primary})")
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old}")
    for seq, column in sequences:
        op.execute(f"ALTER SEQUENCE {seq} OWNED BY {table}.{column}")
    for name, columns, referred in layout.foreign:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({columns}) REFERENCES {referred}")
    for name, columns in layout.indexes:
        op.execute(f"CREATE INDEX {name} ON {table} ({columns})")
