"""The node's key registry: which HSM key serves each role, and in which state. It lives in the database.

Every role (root CA, seal CA, issuer CA, TSA, token signing, trust-list signing, federation decryption,
blind index, data key) has exactly one *active* key -- the one the node signs, decrypts or indexes with
-- and, during a rollover, one *pending* key: published (JWKS, trust-list descriptor, trust anchors) but
not yet used. Keys that were active before are *retired*: still published and accepted for
verification until ``needed_until`` (None: as long as the key exists).

HSM labels never change once a key exists, so a worker that read the registry a moment ago signs with
a key that is still there. Several worker processes share one database: each keeps a snapshot and
re-reads it when the single-row ``version`` counter moved (checked at most every ``REFRESH_SECONDS``);
every change of the registry bumps the counter in the same transaction. Because the successor of a key
is published (pending) long before it is activated, a worker that activates a moment late only keeps
signing with a key that is still valid and published.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from cryptography import x509
from sqlalchemy import DateTime, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from hutong import prepared
from hutong.db import Base, Database

State = Literal["pending", "active", "retired"]
REFRESH_SECONDS = 0.25


class NodeKey(Base):
    __tablename__ = "node_keys"

    label: Mapped[str] = mapped_column(String(200), primary_key=True)  # the HSM label; never changes
    role: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16))
    certificate: Mapped[str | None] = mapped_column(Text, nullable=True)  # PEM; None for secret/decryption keys
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    needed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class NodeKeyVersion(Base):
    """One row: bumped by every change of ``node_keys``, so workers notice cheaply."""

    __tablename__ = "node_key_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


@dataclass(frozen=True)
class KeyEntry:
    label: str
    role: str
    state: State
    certificate_pem: str | None
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None
    needed_until: datetime | None

    @property
    def certificate(self) -> x509.Certificate | None:
        return _parse(self.certificate_pem) if self.certificate_pem else None

    def still_needed(self, now: datetime | None = None) -> bool:
        """Active and pending keys always; retired ones until ``needed_until`` (None: always)."""
        if self.state != "retired":
            return True
        return self.needed_until is None or _aware(self.needed_until) > (now or datetime.now(UTC))


_parsed: dict[str, x509.Certificate] = {}


def _parse(pem: str) -> x509.Certificate:
    cert = _parsed.get(pem)
    if cert is None:
        cert = _parsed[pem] = x509.load_pem_x509_certificate(pem.encode())
    return cert


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # SQLite returns naive UTC


@dataclass(frozen=True)
class Snapshot:
    version: int
    entries: tuple[KeyEntry, ...]

    def of(self, role: str, *states: State) -> list[KeyEntry]:
        """Entries of ``role`` in ``states`` (all states if none), newest first."""
        found = [e for e in self.entries if e.role == role and (not states or e.state in states)]
        return sorted(found, key=lambda e: e.created_at, reverse=True)

    def active(self, role: str) -> KeyEntry | None:
        found = self.of(role, "active")
        return found[0] if found else None

    def pending(self, role: str) -> KeyEntry | None:
        found = self.of(role, "pending")
        return found[0] if found else None

    def published(self, role: str, now: datetime | None = None) -> list[KeyEntry]:
        """What verifiers must accept: the active key, the pending one, retired ones still needed."""
        order = {"active": 0, "pending": 1, "retired": 2}
        return sorted((e for e in self.of(role) if e.still_needed(now)), key=lambda e: order[e.state])

    def entry(self, label: str) -> KeyEntry | None:
        return next((e for e in self.entries if e.label == label), None)


class KeyRegistry:
    """A process's view of the registry: a snapshot re-read when the version counter moves."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._snapshot: Snapshot | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        snap = self._snapshot
        if snap is not None and time.monotonic() - self._checked < REFRESH_SECONDS:
            return snap
        with self._lock:
            snap = self._snapshot
            if snap is not None and time.monotonic() - self._checked < REFRESH_SECONDS:
                return snap  # another thread checked while this one waited for the lock
            # The counter alone, by a prepared statement: this runs every REFRESH_SECONDS in every worker on the
            # signing paths, where an ORM session for it cost ~4 ms (a profile of served refreshes).
            row = prepared.read_one(self.db, _VERSION, {})
            version = int(row.version or 0) if row is not None else 0
            if snap is None or snap.version != version:
                with self.db.session(readonly=True) as s:  # the rows and their version, consistently
                    version = current_version(s)
                    rows = s.scalars(select(NodeKey)).all()
                    snap = self._snapshot = Snapshot(version, tuple(_entry(r) for r in rows))
            self._checked = time.monotonic()
            return snap

    def invalidate(self) -> None:
        """Re-read at the next use (after this process changed the registry)."""
        with self._lock:
            self._checked = 0.0
            self._snapshot = None


def _entry(r: NodeKey) -> KeyEntry:
    return KeyEntry(label=r.label, role=r.role, state=r.state,  # type: ignore[arg-type]
                    certificate_pem=r.certificate, created_at=_aware(r.created_at),
                    activated_at=_aware(r.activated_at) if r.activated_at else None,
                    retired_at=_aware(r.retired_at) if r.retired_at else None,
                    needed_until=_aware(r.needed_until) if r.needed_until else None)


_VERSION = select(NodeKeyVersion.version).where(NodeKeyVersion.id == 1)


def current_version(s: Session) -> int:
    return int(s.scalar(select(NodeKeyVersion.version).where(NodeKeyVersion.id == 1)) or 0)


def bump(s: Session) -> None:
    """Inside the transaction that changes ``node_keys``: tell every worker to re-read."""
    if s.execute(update(NodeKeyVersion).where(NodeKeyVersion.id == 1)
                 .values(version=NodeKeyVersion.version + 1)).rowcount == 0:  # type: ignore[attr-defined]
        s.add(NodeKeyVersion(id=1, version=1))


def add(s: Session, *, label: str, role: str, state: State, certificate_pem: str | None = None,
        activated: bool = False) -> NodeKey:
    now = datetime.now(UTC)
    row = NodeKey(label=label, role=role, state=state, certificate=certificate_pem, created_at=now,
                  activated_at=now if activated else None)
    s.add(row)
    bump(s)
    return row


def rows(s: Session, role: str, states: Iterable[State]) -> list[NodeKey]:
    return list(s.scalars(select(NodeKey).where(NodeKey.role == role, NodeKey.state.in_(list(states)))
                          .order_by(NodeKey.created_at.desc())))
