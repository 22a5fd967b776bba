"""Filling the certificate repository to a given size, fast enough for a million rows.

Rows are stored exactly as issuance stores them: the forms (a real certificate's JWS and QR) protected with the
node's data key in the HSM (AES-256-GCM, the row's identifier as associated data), so the server's lookups
decrypt and read them as usual. Encryption goes through PyKCS11 directly in worker processes with the key handle
found once and the result copied out of PyKCS11's byte vector without iterating it (``hsm.KeyManager.encrypt``
costs ~0.6 ms a call plus ~0.8 us a byte for those two reasons; see the benchmark note). The blob format is
``hsm.KeyManager``'s, and ``check`` proves each seeded batch opens with ``NodePki.unprotect``.
"""

from __future__ import annotations

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

    def grow_to(self, total: int, *, procs: int = 2, chunk: int = 2000) -> None:
        from sqlalchemy import insert

        from cert_svc.models import CertificateRow, StatusListRow
        from hutong.node import open_node

        if total <= self.count:
            return
        node = open_node(self.data_dir)
        try:
            with node.db.session() as s:
                if s.get(StatusListRow, SEED_LIST) is None:
                    s.add(StatusListRow(list_id=SEED_LIST, issuer_uscc=self.issuer_uscc, size=10_000_000, used=0,
                                        changed_at=datetime.now(UTC)))
            holder_index = node.pki.blind_index(self.issuer_uscc)
            now, today = datetime.now(UTC), date.today()
            table = CertificateRow
            with ProcessPoolExecutor(max_workers=procs, mp_context=get_context("spawn")) as pool:
                # A few chunks in flight, not all: a million protected rows (~4 KB each) would otherwise wait in memory.
                pending = (pool.submit(_protect_range, str(self.data_dir), self.type_code, self.issuer_uscc,
                                       self.forms, a, b) for a, b in _chunks(self.count, total, chunk))
                window = deque(itertools.islice(pending, 2 * procs))
                while window:
                    protected = window.popleft().result(timeout=600)
                    window.extend(itertools.islice(pending, 1))
                    rows = [{"identifier": ident, "series": ident.rsplit(".", 2)[0], "version": 1,
                             "type_code": self.type_code, "issuer_uscc": self.issuer_uscc,
                             "holder_kind": "organisation", "holder_index": holder_index, "protected_forms": blob,
                             "valid_from": today, "valid_until": None, "status": "valid", "status_reason": "",
                             "status_changed_at": now, "status_list_id": SEED_LIST, "status_index": n,
                             "issued_at": now} for n, ident, blob in protected]
                    with node.db.session() as s:
                        s.execute(insert(table), rows)
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


def settle(node: Any) -> None:
    """Leave the database as a node that has been serving a while would be, so every repository size is
    measured in the same state: SQLite's WAL (hundreds of MB of fresh rows) checkpointed into the database file
    and truncated, rather than checkpointed by whichever server write comes first, during the measurement;
    PostgreSQL's new rows vacuumed and analysed now rather than by autovacuum during it."""
    from sqlalchemy import text

    from cert_svc.models import CertificateRow

    if node.db.is_sqlite:
        raw = node.db.engine.raw_connection()  # autocommit: the checkpoint outside any transaction
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()
        return
    with node.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM (ANALYZE) {CertificateRow.__tablename__}"))
