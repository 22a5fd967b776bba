"""PostgreSQL: the audit log's range partitions, made ahead of the log by the node itself.

``audit_events`` and ``audit_leaves`` are partitioned by ranges of their growing key (migration 0016: ``seq``
and ``leaf_index``), with a DEFAULT partition. Every insert goes to the newest range; once that one is
``AHEAD`` full, ``maintain`` makes the next range of the same size, so inserts never reach the DEFAULT
partition while the node runs. The integrator calls it every ``CHECK_EVERY`` seconds (one catalog read and one
``max()`` per table; nothing on the insert path). If the node was down or behind and rows did land in the
DEFAULT partition (an insert never fails for want of a partition), they are moved, in the same transaction, into
the partition made for their range before it is attached.

How a partition is made: a table ``LIKE`` the parent, then ``ATTACH PARTITION`` -- it takes a SHARE UPDATE
EXCLUSIVE lock on the parent (inserts and reads go on; ``CREATE TABLE ... PARTITION OF`` would block them) and an
exclusive lock on the DEFAULT partition while it checks it holds no row of the new range (empty: instant). Every
lock is tried for at most ``LOCK_TIMEOUT``: behind a long transaction the round gives up and the next one tries
again, rather than queueing every reader of the log behind it. Two processes never make the same partition: the
round runs under an advisory lock, tried, not waited for.

SQLite (the embedded default) has no partitioning: nothing to do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from hutong.db import Database

log = logging.getLogger("hutong.tlog")

TABLES = (("audit_events", "seq"), ("audit_leaves", "leaf_index"))  # (table, partition key): migration 0016
AHEAD = 0.5  # the next range is made once the newest one is this full
CHECK_EVERY = 60.0  # seconds between the integrator's rounds of maintenance
LOCK_TIMEOUT = "2s"
_LOCK_ID = 7364824  # PostgreSQL advisory lock of partition maintenance (the sequencer's is 7364823)
_RANGE = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True)
class Partition:
    name: str
    lower: int | None  # None: the DEFAULT partition
    upper: int | None


def partitions_of(conn: Connection, table: str) -> list[Partition]:
    """The partitions of ``table``, ranges in key order, then the DEFAULT one (empty: the table is not partitioned)."""
    rows = conn.exec_driver_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(%(t)s)", {"t": table}).all()
    found = []
    for name, bound in rows:
        m = _RANGE.search(bound or "")
        found.append(Partition(name, int(m[1]), int(m[2])) if m else Partition(name, None, None))
    return sorted(found, key=lambda p: (p.lower is None, p.lower or 0))


def ranges_ahead(partitions: Sequence[Partition], high: int) -> list[tuple[int, int]]:
    """The ranges to make so that the newest one holds ``high`` (the largest key stored) and is less than ``AHEAD``
    full: each as wide as the newest range there is. None when the table has no range partition."""
    ranges = [p for p in partitions if p.lower is not None and p.upper is not None]
    if not ranges:
        return []
    lower, upper = ranges[-1].lower, ranges[-1].upper
    assert lower is not None and upper is not None
    width, made = upper - lower, []
    while high >= lower + width * AHEAD:
        lower, upper = upper, upper + width
        made.append((lower, upper))
    return made


def _make(conn: Connection, table: str, key: str, lower: int, upper: int, default: Partition | None) -> str:
    """Range ``[lower, upper)`` of ``table`` made and attached, holding the rows the DEFAULT partition had of it."""
    name = f"{table}_p{lower}"
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS)")
    if default is not None:
        where = f"WHERE {key} >= {lower} AND {key} < {upper}"
        moved = conn.exec_driver_sql(f"WITH m AS (DELETE FROM {default.name} {where} RETURNING *) "  # noqa: S608
                                     f"INSERT INTO {name} SELECT * FROM m").rowcount
        if moved:
            log.warning("%d rows of %s were in its DEFAULT partition (the node was behind): moved to %s",
                        moved, table, name)
    conn.exec_driver_sql(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({lower}) TO ({upper})")
    return name


def maintain(db: Database) -> list[str]:
    """Make the audit log's next ranges where the newest is ``AHEAD`` full; returns the partitions made."""
    if db.is_sqlite:
        return []
    made: list[str] = []
    with db.engine.begin() as conn:
        if not conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({_LOCK_ID})").scalar():
            return []  # another process is at it
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        for table, key in TABLES:
            parts = partitions_of(conn, table)
            high = conn.exec_driver_sql(f"SELECT max({key}) FROM {table}").scalar()  # noqa: S608 - fixed names
            default = next((p for p in parts if p.lower is None), None)
            for lower, upper in ranges_ahead(parts, -1 if high is None else int(high)):
                made.append(_make(conn, table, key, lower, upper, default))
    if made:
        log.info("audit log partitions made ahead: %s", ", ".join(made))
    return made
