"""Filling the certificate repository to a given size, fast enough for a million rows.

Rows are stored exactly as issuance stores them: the forms (a real certificate's JWS and QR) protected with the
node's data key in the HSM (AES-256-GCM, the row's identifier as associated data), so the server's lookups
decrypt and read them as usual. Encryption is ``hsm.KeyManager.encrypt`` (its steady state
calls the module through ctypes: ~0.08 ms for a 4 KB row) in a few worker processes, while this process inserts
the rows in bulk (``_BulkInsert``). ``check`` proves the last seeded row opens with ``NodePki.unprotect``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

SEED_LIST = "bench-seed-list"
SEED_YEAR = "1990"  # serials 1990nnnnnnn never collide with issuance's current-year serials


def _data_protector(data_dir: str) -> Callable[[bytes, bytes], bytes]:
    """The node's own data-protection encryption (AES-GCM in the token), as the services store data."""
    from hsm import KeyManager
    from hutong.config import load_config
    from hutong.node import hsm_config
    from hutong.pki import DATA_KEY, key_label

    manager = KeyManager(hsm_config(load_config(Path(data_dir))))
    return lambda plaintext, aad: manager.encrypt(key_label(DATA_KEY), plaintext, aad=aad)


def identifier(type_code: str, issuer_uscc: str, n: int) -> str:
    from hutong.identifiers import build_certificate_id

    return str(build_certificate_id(type_code, issuer_uscc, f"{SEED_YEAR}{n:07d}", 1))


def _protect_range(data_dir: str, type_code: str, issuer_uscc: str, forms: bytes, start: int,
                   stop: int) -> list[tuple[int, str, bytes]]:
    from cert_svc.records import aad

    protect = _PROTECTORS.get(data_dir) or _PROTECTORS.setdefault(data_dir, _data_protector(data_dir))
    out = []
    for n in range(start, stop):
        ident = identifier(type_code, issuer_uscc, n)
        out.append((n, ident, protect(forms, aad(ident))))
    return out


_PROTECTORS: dict[str, Callable[[bytes, bytes], bytes]] = {}


def _chunks(start: int, stop: int, size: int) -> Iterator[tuple[int, int]]:
    for a in range(start, stop, size):
        yield a, min(stop, a + size)


class Repository:
    """Grows the certificates table of a node with protected copies of one real certificate."""

    def __init__(self, data_dir: Path, type_code: str, issuer_uscc: str, jws: str, qr: str) -> None:
        self.data_dir, self.type_code, self.issuer_uscc = data_dir, type_code, issuer_uscc
        self.forms = json.dumps({"jws": jws, "qr": qr}).encode()
        self.count = 0

    def grow_to(self, total: int, *, procs: int = 2, chunk: int = 5000) -> None:
        from cert_svc.models import StatusListRow
        from hutong.node import open_node

        if total <= self.count:
            return
        node = open_node(self.data_dir)
        try:
            with node.db.session() as s:
                if s.get(StatusListRow, SEED_LIST) is None:
                    s.add(StatusListRow(list_id=SEED_LIST, issuer_uscc=self.issuer_uscc, size=10_000_000, used=0,
                                        changed_at=datetime.now(UTC)))
            now = datetime.now(UTC)
            same = {"version": 1, "type_code": self.type_code, "issuer_uscc": self.issuer_uscc,
                    "holder_kind": "organisation", "holder_index": node.pki.blind_index(self.issuer_uscc),
                    "valid_from": date.today(), "valid_until": None, "status": "valid", "status_reason": "",
                    "status_changed_at": now, "status_list_id": SEED_LIST, "issued_at": now}
            with ProcessPoolExecutor(max_workers=procs, mp_context=get_context("spawn")) as pool, \
                    _BulkInsert(node.db, same) as bulk:
                # A few chunks in flight, not all: a million protected rows (~4 KB each) would otherwise wait in memory.
                pending = (pool.submit(_protect_range, str(self.data_dir), self.type_code, self.issuer_uscc,
                                       self.forms, a, b) for a, b in _chunks(self.count, total, chunk))
                window = deque(itertools.islice(pending, 2 * procs))
                while window:
                    protected = window.popleft().result(timeout=600)
                    window.extend(itertools.islice(pending, 1))
                    bulk.add(protected)
            self.check(node, total - 1)
            settle(node)
            self.count = total
        finally:
            node.close()

    def check(self, node: Any, n: int) -> None:
        """A seeded row opens with the node's own ``unprotect`` (the format is right)."""
        from cert_svc import records

        with node.db.session() as s:
            records.view(node, records.find(s, identifier(self.type_code, self.issuer_uscc, n)))


class _BulkInsert:
    """Certificate rows inserted in bulk on the driver's own connection, one transaction per chunk: ``executemany``
    on SQLite, ``COPY`` on PostgreSQL. The ORM's per-row work (a dict per row, each value through its column
    type) cost as much CPU as the encryption; here the columns alike in every seeded row go through their
    column type's bind processor (the product's own encoding: what the ORM would have stored) once, and only
    the identifier, series, status slot and protected forms change from row to row."""

    VARYING = ("identifier", "series", "status_index", "protected_forms")

    def __init__(self, db: Any, same: dict[str, Any]) -> None:
        from cert_svc.models import CertificateRow

        table = CertificateRow.__tablename__
        self.sqlite = db.is_sqlite
        dialect = db.engine.dialect
        keys = [*self.VARYING, *same]
        by_attribute = CertificateRow.__mapper__.columns  # the stored names may differ (sealed_forms)
        columns = [by_attribute[k] for k in keys]
        constants = []
        for key, value in same.items():
            process = by_attribute[key].type._cached_bind_processor(dialect)
            constants.append(process(value) if process else value)
        self._constants = tuple(constants)
        names = ", ".join(c.name for c in columns)
        self._sql = (f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})" if self.sqlite
                     else f"COPY {table} ({names}) FROM STDIN")
        self._raw = db.engine.raw_connection()

    def add(self, protected: list[tuple[int, str, bytes]]) -> None:
        rows = [(ident, ident.rsplit(".", 2)[0], n, blob, *self._constants) for n, ident, blob in protected]
        cursor = self._raw.cursor()
        try:
            if self.sqlite:  # the node's connections leave transactions to the caller (isolation_level None)
                cursor.execute("BEGIN IMMEDIATE")
                cursor.executemany(self._sql, rows)
            else:
                with cursor.copy(self._sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            self._raw.commit()
        except BaseException:
            self._raw.rollback()
            raise
        finally:
            cursor.close()

    def __enter__(self) -> _BulkInsert:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()


def settle(node: Any) -> None:
    """Leave the database as a node that has been serving a while would be, so every repository size is
    measured in the same state: SQLite's WAL (hundreds of MB of fresh rows) checkpointed into the database file
    and truncated, rather than checkpointed by whichever server write comes first, during the measurement;
    PostgreSQL's database vacuumed (frozen) and analysed, then checkpointed, now rather than by autovacuum and
    the checkpointer during it.

    Why the whole database frozen, not only the certificates analysed: a full-mode run showed an autovacuum worker
    on the 100,000-row node's database (3.8 s of CPU, 845 MB written) during the timed rounds, after that
    table's own VACUUM; and the pages a vacuum dirties are written by the next checkpoint, whenever it comes."""
    from sqlalchemy import exc, text

    if node.db.is_sqlite:
        raw = node.db.engine.raw_connection()  # autocommit: the checkpoint outside any transaction
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()
        return
    with node.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (FREEZE, ANALYZE)"))
        with contextlib.suppress(exc.ProgrammingError):  # a role without pg_checkpoint (``--url``): the idle
            conn.execute(text("CHECKPOINT"))            # wait before the timed rounds still sees it


# Every relation with storage in a PostgreSQL database -- tables, their TOAST tables, indexes, materialised views --
# and the bytes ``pg_prewarm`` read of them ('read' mode: through the operating system's page cache, not into
# PostgreSQL's own buffers).
_PREWARM = ("SELECT coalesce(sum(pg_prewarm(c.oid, 'read')), 0) * current_setting('block_size')::bigint "
            "FROM pg_class c WHERE c.relkind IN ('r', 't', 'i', 'm') AND c.relpersistence = 'p'")


def read_into_memory(data_dir: Path) -> int:
    """Read a seeded node's database through once, so that the operating system holds all of it in its page
    cache, as on a node that has answered lookups for a while with its data smaller than its memory; the bytes
    read (0: this PostgreSQL role may not use ``pg_prewarm``).

    Why: a full-mode run on PostgreSQL read 12 MB from the disk during the 2,000 timed lookups at 10^6 (0.7
    blocks a lookup), and as much at 10^5, although the database was a third of the machine's memory: part of what
    the seeding had written (rows, their WAL, the freeze) was no longer in the page cache, and the lookups that
    met it waited for the disk. Those waits were the p99 the row reported (6.2 ms at 10^6; 5.0 ms with the
    databases read through first, the disk then read 0.3 MB during the rounds). The rounds now time lookups on a
    node's steady state, and the row reports what the disk read during them."""
    from sqlalchemy import exc, text

    from hutong.config import load_config
    from hutong.db import Database

    db = Database(load_config(data_dir).effective_database_url)
    try:
        if db.sqlite_file is not None:
            return _read_file(db.sqlite_file)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            try:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
                return int(conn.execute(text(_PREWARM)).scalar_one())
            except exc.DBAPIError:  # not our cluster (``--url``): no rights to the extension
                return 0
    finally:
        db.dispose()


def _read_file(path: Path) -> int:
    total = 0
    with path.open("rb", buffering=0) as f:
        while chunk := f.read(1 << 20):
            total += len(chunk)
    return total
