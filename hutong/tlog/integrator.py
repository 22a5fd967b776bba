"""The integrator: gives committed events their leaf index in batches and signs one checkpoint per batch.

One batch is one database transaction: take the log's lock, read the newest checkpoint (its frontier
and where the queue resumes), take the next committed events, insert their leaf rows (``LogLeaf``:
leaf index, event, leaf hash) with one multi-row statement, hash them into the tree (storing the
perfect subtrees the batch completes, for proofs), sign the new checkpoint in the HSM and store it.
Event rows are never updated. Killed half-way, the transaction rolls back: no event is lost (the
queue resumes after the last *checkpoint*) and no half batch is left.

The queue is ordered by ``(txid, seq)`` -- the writing transaction, then the insertion number -- and
resumes after the last event sequenced. Why that loses nothing although transactions commit out of
order: on PostgreSQL a batch only takes events whose transaction id is below the xmin of the
statement's own snapshot. Every transaction below xmin has ended -- committed and visible in that
snapshot, or rolled back for good -- and every id handed out later is larger (a transaction gets its
id at its first write), so no event can ever appear behind the point the queue resumes from; an event
of a transaction still running (id >= xmin) is above it and is taken by a later batch. ``seq`` alone would not do: a
transaction can take an insertion number, commit after a larger number was sequenced, and be
skipped. On SQLite writers take the database's write lock in turn, so commit order is ``seq`` order
and every event carries the same ``txid``. The price on PostgreSQL: a transaction left open delays
(never loses) the sequencing of events committed after it began.

Several processes may run an integrator; they take turns (PostgreSQL: a transaction-scoped advisory
lock, tried, not waited for; SQLite: the batch is made in a read transaction and stored under the
write lock only if the tree has not grown meanwhile, so a write waits at most for the store, never
for the hashing and the signature). Writers never wait for the integrator on PostgreSQL:
``audit.append`` inserts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, insert, literal, select, text, tuple_
from sqlalchemy.orm import Session

from hsm import CreateKeyRequest, HsmSigner, KeyAlgorithm, KeyManager
from hutong import keyring, prepared
from hutong.audit import EVENTS, AuditRecord, leaf_entry
from hutong.db import Database
from hutong.tlog import merkle, partitions
from hutong.tlog.models import TILE_LEVEL, LogCheckpoint, LogKey, LogLeaf, TreeNode
from hutong.tlog.note import Checkpoint, origin_for, sign, signer_key

log = logging.getLogger("hutong.tlog")

LOG_KEY_LABEL = "node.audit-log"
LOG_KEY_ROLE = "audit-log"  # its role in the node key registry once it has rolled over (hutong.rollover)
_LOCK_ID = 7364823  # PostgreSQL advisory lock of the log's sequencer
DEFAULT_BATCH = 2000
# Seconds between rounds (each round sequences what is pending, in one batch unless a backlog fills batches:
# ``integrate_round``). Writers never wait for it; what it sets is how soon an event has a proof, and the batch
# size: each batch costs a fixed ~4-10 ms of CPU (its statements, the signature), so at 0.2 s a busy node spent as
# much CPU per event on batches of ~100 as on the events themselves.
DEFAULT_INTERVAL = 0.5
# An idle round asks one prepared statement whether anything is queued after where this process last saw the queue
# end (``Integrator.pending``); at least this often (seconds) it reads the newest checkpoint instead, whatever that
# says, so nothing can make the shortcut wrong for longer (a database put back in time under a running server).
FULL_ROUND_EVERY = 10.0


def latest_checkpoint(s: Session) -> LogCheckpoint | None:
    return s.scalars(select(LogCheckpoint).order_by(LogCheckpoint.tree_size.desc()).limit(1)).first()


def queue_position(cp: LogCheckpoint | None) -> tuple[int, int]:
    """The (txid, seq) the queue resumes after: the last event the newest checkpoint's batch sequenced."""
    return (cp.last_txid, cp.last_seq) if cp else (-1, 0)


def after(position: tuple[int, int]) -> ColumnElement[bool]:
    """Events after ``position`` in the integrator's order (a range of ``ix_audit_events_queue``)."""
    return tuple_(EVENTS.c.txid, EVENTS.c.seq) > tuple_(literal(position[0]), literal(position[1]))


# What a leaf commits to, plus the event's place in the queue: selected as plain rows, not ORM objects.
_EVENT_COLUMNS = (AuditRecord.seq, AuditRecord.txid, AuditRecord.at, AuditRecord.actor, AuditRecord.action,
                  AuditRecord.target, AuditRecord.outcome, AuditRecord.details, AuditRecord.request_id,
                  AuditRecord.legacy_hash)

# PostgreSQL: the oldest transaction still running when this statement's snapshot was taken (see above).
_HORIZON_PG = text("CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text) AS bigint)")

# The batch's numbers and hashes travel as two comma-separated strings: adapting Python lists to arrays, element
# by element, cost the integrator more than the statement itself. Leaf indexes are counted from :first.
_LEAVES_PG = text("INSERT INTO audit_leaves (leaf_index, seq, leaf_hash) SELECT :first + v.n - 1, v.seq, v.hash "
                  "FROM unnest(CAST(string_to_array(:seqs, ',') AS bigint[]), string_to_array(:hashes, ',')) "
                  "WITH ORDINALITY AS v(seq, hash, n)")


_PENDING = (select(EVENTS.c.seq)
            .where(tuple_(EVENTS.c.txid, EVENTS.c.seq) > tuple_(bindparam("txid"), bindparam("seq"))).limit(1))


def _take(s: Session, position: tuple[int, int], limit: int) -> Sequence[Any]:
    """The next ``limit`` events after ``position`` that no running transaction can precede any more."""
    q = select(*_EVENT_COLUMNS).where(after(position))
    if s.get_bind().dialect.name == "postgresql":
        q = q.where(EVENTS.c.txid < _HORIZON_PG)
    return s.execute(q.order_by(EVENTS.c.txid, EVENTS.c.seq).limit(limit)).all()


def _insert_leaves(s: Session, seqs: list[int], first: int, leaves: list[bytes]) -> None:
    """Leaf rows ``first``, ``first + 1``, ... for events ``seqs``: one statement for the batch on PostgreSQL,
    one prepared statement run per row on SQLite."""
    hashes = [leaf.hex() for leaf in leaves]
    if s.get_bind().dialect.name == "postgresql":
        s.execute(_LEAVES_PG, {"first": first, "seqs": ",".join(map(str, seqs)), "hashes": ",".join(hashes)})
    else:
        s.execute(insert(LogLeaf), [{"leaf_index": first + i, "seq": q, "leaf_hash": h}
                                    for i, (q, h) in enumerate(zip(seqs, hashes, strict=True))])


def _try_lock(s: Session) -> bool:
    if s.get_bind().dialect.name == "postgresql":
        return bool(s.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_ID}))
    return True  # SQLite: this write transaction already holds the database's write lock


@dataclass
class _Batch:
    """One batch made and signed, not yet stored: it extends the tree of ``size`` leaves by ``seqs``."""

    size: int
    seqs: list[int]
    leaves: list[bytes]
    completed: list[merkle.Node]
    checkpoint: LogCheckpoint
    signer: HsmSigner


class Integrator:
    """Sequences the node's audit events; ``start`` runs it in a background thread."""

    def __init__(self, db: Database, keys: KeyManager, node_id: str, *, batch: int = DEFAULT_BATCH,
                 registry: keyring.KeyRegistry | None = None) -> None:
        self.db = db
        self.keys = keys
        self.origin = origin_for(node_id)
        self.batch = batch
        self.registry = registry or keyring.KeyRegistry(db)  # the node's: a rollover there is seen at once
        self._signers: dict[str, HsmSigner] = {}
        self._recorded_for: HsmSigner | None = None  # the signer whose key row is known stored (checked once)
        self.partitions_due = 0.0  # monotonic time of the next partition maintenance (``hutong.tlog.partitions``)
        # the queue position after which this process has not looked yet: where it last found nothing, or the end
        # of the batch it last stored (everything before a queue position is sequenced)
        self._queue_end: tuple[int, int] | None = None
        self._full_due = 0.0  # monotonic time of the next round that reads the checkpoint whatever ``pending`` says

    def signer(self) -> HsmSigner:
        """The active node log key (ECDSA P-256 in the HSM): ``node.audit-log``, created on first use, until a
        rollover registers a successor (every process follows the key registry without a restart)."""
        entry = self.registry.snapshot().active(LOG_KEY_ROLE)
        return self._signer_for(entry.label if entry else LOG_KEY_LABEL)

    def _signer_for(self, label: str) -> HsmSigner:
        signer = self._signers.get(label)
        if signer is None:
            if label == LOG_KEY_LABEL:
                self.keys.get_or_create_key(CreateKeyRequest(label=LOG_KEY_LABEL, algorithm=KeyAlgorithm.EC_P256))
            signer = self._signers[label] = self.keys.signer(label)
        return signer

    def vkey(self) -> str:
        """The verifier key of the active log key."""
        return signer_key(self.origin, self.signer()).encode()

    def vkeys(self, name: str = "") -> list[str]:
        """Every log key verifiers must accept, active first: during a rollover also the pending successor
        (announced before it signs) and the retired ones (the checkpoints they signed stay valid). ``name``:
        the verifier keys' name (default the log's origin; the hub's witness names the same keys its own way)."""
        name = name or self.origin
        labels = [e.label for e in self.registry.snapshot().published(LOG_KEY_ROLE)]
        active = signer_key(name, self.signer()).encode()
        return [active, *(v for v in (signer_key(name, self._signer_for(lb)).encode() for lb in labels)
                          if v != active)]

    def integrate_once(self) -> int:
        """One batch; returns how many events it sequenced (0: nothing pending or another process is at it)."""
        if self.db.is_sqlite:
            return self._integrate_sqlite()
        with self.db.session() as s:
            if not _try_lock(s):
                return 0
            batch = self._prepare(s)  # under the lock: two processes never both create the log key
            if batch is None:
                return 0
            self._store(s, batch)
        return self._stored(batch)

    def _integrate_sqlite(self) -> int:
        """SQLite: the batch is made (events read, leaves hashed, checkpoint signed) in a read transaction, and the
        write lock -- which every act's write waits for -- is taken only to store it. Made under the write lock, a
        batch of a few hundred events held it for 10-20 ms, and an access-log write (every lookup) queued behind
        it: the lookups' p99 was that wait. If another process stored a batch meanwhile (the tree grew), this one
        is dropped unstored and the next round starts from the newer checkpoint."""
        with self.db.session(readonly=True) as s:  # idle polls end here, having taken no write lock
            batch = self._prepare(s)
        if batch is None:
            return 0
        with self.db.session() as s:
            last = latest_checkpoint(s)
            if (last.tree_size if last else 0) != batch.size:
                return 0
            self._store(s, batch)
        return self._stored(batch)

    def _stored(self, batch: _Batch) -> int:
        """After ``batch`` committed: its key row is known stored, and the queue was looked at up to its end."""
        self._recorded_for = batch.signer
        self._queue_end = queue_position(batch.checkpoint)
        return len(batch.seqs)

    def _prepare(self, s: Session) -> _Batch | None:
        """The next batch after the newest checkpoint, hashed into the tree and signed; None if nothing waits."""
        last = latest_checkpoint(s)
        size = last.tree_size if last else 0
        rows = _take(s, queue_position(last), self.batch)
        if not rows:
            self._queue_end = queue_position(last)
            return None
        signer = self.signer()
        frontier = [bytes.fromhex(h) for h in json.loads(last.frontier)] if last else []
        leaves = [merkle.leaf_hash(leaf_entry(row, size + i)) for i, row in enumerate(rows)]
        completed: list[merkle.Node] = []
        frontier = merkle.frontier_extend(frontier, size, leaves, completed, TILE_LEVEL)
        new_size, root = size + len(rows), merkle.frontier_root(frontier)
        note = sign(Checkpoint(self.origin, new_size, root), self.origin, signer)
        checkpoint = LogCheckpoint(tree_size=new_size, root_hash=root.hex(),
                                   frontier=json.dumps([h.hex() for h in frontier]), note=note.render(),
                                   created_at=datetime.now(UTC), last_txid=rows[-1].txid, last_seq=rows[-1].seq)
        return _Batch(size, [row.seq for row in rows], leaves, completed, checkpoint, signer)

    def _store(self, s: Session, batch: _Batch) -> None:
        """The batch's leaf rows, completed subtrees and checkpoint (and the log key's row, once), in ``s``."""
        _insert_leaves(s, batch.seqs, batch.size, batch.leaves)
        if batch.completed:
            s.execute(insert(TreeNode), [
                {"level": level, "idx": idx, "hash": node.hex()} for level, idx, node in batch.completed])
        s.add(batch.checkpoint)
        if self._recorded_for is not batch.signer:
            vkey = signer_key(self.origin, batch.signer)
            if s.get(LogKey, vkey.key_id.hex()) is None:
                s.add(LogKey(key_id=vkey.key_id.hex(), vkey=vkey.encode(), created_at=datetime.now(UTC)))

    def integrate_all(self) -> int:
        """Sequence everything pending now (tests, the CLI, shutdown); first, every ``partitions.CHECK_EVERY``
        seconds, make the log's next partitions ahead (PostgreSQL)."""
        return self._batches(backlog_only=False)

    def integrate_round(self) -> int:
        """A background round (the integrator's thread, ``serve --workers N``'s parent), when ``pending`` says
        anything may be waiting: partition maintenance when due, then one batch -- more only while each fills
        ``batch`` (a backlog). Not ``integrate_all``'s loop until nothing is left: under a steady load events keep
        arriving while a batch is made, so that loop never paused for the interval and sequenced batches of a
        few dozen events back to back, a fixed ~4-6 ms of CPU each (measured with 16 writers on 2 cores: the
        integrator took 85-100 us of CPU per event, against ~30 with one batch per round). Callers that want
        everything sequenced now, whatever happened to the database meanwhile (the CLI, tests, a publication),
        call ``integrate_all``; an idle node's partition maintenance waits for the next full round
        (FULL_ROUND_EVERY at most)."""
        return self._batches(backlog_only=True) if self.pending() else 0

    def _batches(self, *, backlog_only: bool) -> int:
        """Partition maintenance when due, then batches until one finds nothing -- or, ``backlog_only``, until
        one is not full; how many events they sequenced."""
        self.maintain_partitions()
        total = 0
        while n := self.integrate_once():
            total += n
            if backlog_only and n < self.batch:
                break
        return total

    def pending(self) -> bool:
        """May anything be waiting? An idle node's round was an ORM session reading the newest checkpoint, twice
        a second, ~2.7 ms of CPU each -- most of an idle node's CPU after the readiness check. Now one prepared
        statement: is any event queued after where this process last looked (``_queue_end``)? Another process's
        batches can only make it answer True once more than needed (positions only grow), never False wrongly; anything
        else (the database put back in time under a running server) lasts at most FULL_ROUND_EVERY."""
        now = time.monotonic()
        if self._queue_end is None or now >= self._full_due:
            self._full_due = now + FULL_ROUND_EVERY
            return True
        txid, seq = self._queue_end
        return prepared.read_one(self.db, _PENDING, {"txid": txid, "seq": seq}) is not None

    def maintain_partitions(self) -> None:
        """``partitions.maintain`` when due; a failure is logged and retried next time (inserts go on meanwhile,
        into the DEFAULT partition at worst)."""
        now = time.monotonic()
        if now < self.partitions_due:
            return
        self.partitions_due = now + partitions.CHECK_EVERY
        try:
            partitions.maintain(self.db)
        except Exception:
            log.exception("audit log partition maintenance failed; will retry")

    def start(self, *, interval: float = DEFAULT_INTERVAL) -> threading.Event:
        """Run batches in a daemon thread until the returned event is set (then one last batch)."""
        stop = threading.Event()

        def run() -> None:
            while True:
                stopping = stop.wait(interval)
                try:
                    self.integrate_round()
                except Exception:  # the database or HSM is away: events wait, committed, for the next round
                    log.exception("audit log integration failed; will retry")
                if stopping:
                    return

        threading.Thread(target=run, name="audit-integrator", daemon=True).start()
        return stop
