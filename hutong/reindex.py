"""Re-indexing after a blind-index key rollover: every stored blind index moves to the active key.

The blind-index key (an HMAC key in the HSM) rolls over like the data key (``hutong.rollover``): *prepare*
makes the new key (pending), *activate* makes it the one every worker stores indexes with, and *reindex* --
this module -- walks every index column in batches and recomputes what an older key made. A stored index
names its key (``pki.blind_index_value``: a successor's carry its id), and while more than one key is in use
every look-up matches the value under each (``NodePki.blind_indexes``), so the node finds old and new rows
throughout and never registers one number twice.

An index is a one-way hash: recomputing it needs the original value. Columns declare on themselves
(``info={INDEXED: Indexed(...)}``) where it comes from:

* a *source* column recovers it from its own row: a person's protected ID number, a certificate's protected
  forms (``Indexed(recover=...)``);
* a *dependent* column (a binding's representative, a consent's or access record's holder, a home link, an
  imported register row) has none of its own: the job finds a source row under the same old index (the person,
  a certificate of the holder) and takes the original from there. Dependents are done before sources, which
  move away from the old index;
* a column whose original the node never had (``Indexed(via_sources=False)``: the register's number-and-name
  match) and dependents no source row explains wait until their value is presented again: a re-import of the
  register, the person matched at registration, the organisation asserted again by its home node. Each of
  those stores the value under the active key, in the same transaction as the act.

The machinery is the data key's (``hutong.rekey``): batches, a cursor row per column committed with each
batch's compare-and-set updates (resumable after kill -9, a row done once), a final sweep, audited start,
progress and finish. The retired keys are released (``needed_until`` = now) only when no stored index
anywhere is still under one of them; until then ``hsm destroy`` refuses them with the count
(BLIND_INDEX_STILL_IN_USE) and ``node keys`` shows it. The role's first key is never destroyed: it makes the
pairwise subjects platforms keep (``NodePki.pseudonym``) and the business codes' synthetic IVs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import case, func, select, text
from sqlalchemy.sql.expression import ColumnElement, literal_column

from hutong import audit, keyring, pki, rekey
from hutong.db import Base, Database, load_models
from hutong.errors import FailedPrecondition, InvalidArgument
from hutong.rekey import RekeyProgress, Target

if TYPE_CHECKING:
    from hutong.node import Node

INDEXED = "blind_index"  # Column.info key: an ``Indexed``
FINISHED = rekey.FINISHED

# (node, the row as a dict of its columns) -> the original value the index is the HMAC of (None: unknown)
Recover = Callable[["Node", dict[str, object]], str | None]


@dataclass(frozen=True)
class Indexed:
    """How a blind-index column's original value is found again (see the module's docstring)."""

    recover: Recover | None = None  # a source column: from its own row (reading ``needs``)
    needs: tuple[str, ...] = ()
    via_sources: bool = True  # a dependent column: through a source row under the same index
    key: str | None = None  # the column the cursor walks (default: the single-column primary key)


@dataclass(frozen=True)
class Column:
    target: Target
    spec: Indexed


def columns() -> list[Column]:
    """Every blind-index column of the schema: dependents first, sources last, each group in a stable order."""
    load_models()
    found: list[Column] = []
    for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
        for c in table.columns:
            spec = c.info.get(INDEXED)
            if not isinstance(spec, Indexed):
                continue
            keys = [k for k in table.primary_key.columns]
            key = spec.key or keys[0].name
            int_key = spec.key is None and keys[0].type.python_type is int
            target = Target(table.name, key, c.name, lambda _: b"", spec.needs, lambda _: None, lambda b: b,
                            int_key=int_key)
            found.append(Column(target, spec))
    return sorted(found, key=lambda col: col.spec.recover is not None)


# -- where it stands ---------------------------------------------------------------------------------------
@dataclass
class Status:
    """Where the re-indexing to ``key_label`` stands (``hsm rotate --dry-run``, ``node keys``, metrics)."""

    key_label: str
    retired: list[str]  # blind-index keys stored indexes may still be under
    columns: dict[str, tuple[int, bool]]  # column -> (rows re-indexed, column walked)
    waiting: int  # stored indexes not under the active key (nothing recovered their original yet)

    @property
    def rows_done(self) -> int:
        return sum(n for n, _ in self.columns.values())

    def describe(self) -> str:
        done = sum(1 for _, f in self.columns.values() if f)
        return (f"{self.rows_done} blind indexes recomputed with {self.key_label} so far; {done} of "
                f"{len(columns())} index columns walked; {self.waiting} stored indexes still under an older key")


def status(node: Node) -> Status | None:
    return status_of(node.db, node.pki.registry.snapshot())


def status_of(db: Database, snap: keyring.Snapshot) -> Status | None:
    """None when no retired blind-index key is still in use (nothing to re-index)."""
    found = rekey.progress_of(db, snap, pki.BLIND_INDEX)
    if found is None:
        return None
    label, retired, progress = found
    return Status(label, retired, progress, waiting(db, label))


def walk_pending(node: Node) -> bool:
    """Whether the job has index columns left to walk for the active key (what the node's own runs look for,
    ``hutong.rekey_task``). Once every column is walked, what still waits for its value is re-indexed when the
    value is presented again, and the run after a re-import releases the old key. No query outside a rollover."""
    found = rekey.progress_of(node.db, node.pki.registry.snapshot(), pki.BLIND_INDEX)
    if found is None:
        return False
    progress = found[2]
    return len(progress) < len(columns()) or not all(walked for _, walked in progress.values())


def waiting(db: Database, active_label: str) -> int:
    """How many stored blind indexes are not under ``active_label`` (every declared column counted)."""
    prefix = pki.blind_index_prefix(active_label)
    total = 0
    with db.session(readonly=True) as s:
        for col in columns():
            t = col.target
            column: ColumnElement[str] = literal_column(t.column)
            other = ~column.like(f"{prefix}%") if prefix else column.like(f"{pki.BLIND_INDEX_MARK}%")
            total += int(s.scalar(select(func.count()).select_from(text(t.table)).where(other)) or 0)
    return total


def referenced_keys(db: Database, snap: keyring.Snapshot) -> dict[str, int]:
    """How many stored blind indexes each key made (``rekey.UNKNOWN_KEY``: an id no key of the registry has),
    for ``hutong node verify``."""
    by_prefix = {pki.blind_index_prefix(e.label): e.label for e in snap.of(pki.BLIND_INDEX)}
    by_prefix.setdefault("", pki.key_label(pki.BLIND_INDEX))
    width = 1 + pki.BLIND_INDEX_ID_LEN
    counts: dict[str, int] = {}
    with db.session(readonly=True) as s:
        for col in columns():
            column: ColumnElement[str] = literal_column(col.target.column)
            prefix = case((column.like(f"{pki.BLIND_INDEX_MARK}%"), func.substr(column, 1, width)), else_="")
            for found, n in s.execute(select(prefix, func.count()).select_from(text(col.target.table))
                                      .group_by(prefix)):
                label = by_prefix.get(str(found), rekey.UNKNOWN_KEY)
                counts[label] = counts.get(label, 0) + int(n)
    return counts


def waiting_on(db: Database, snap: keyring.Snapshot, label: str) -> int:
    """How many stored indexes the blind-index key ``label`` still finds (0 if it is the active key's)."""
    active = snap.active(pki.BLIND_INDEX)
    if active is None or active.label == label:
        return 0
    prefix = pki.blind_index_prefix(label)
    total = 0
    with db.session(readonly=True) as s:
        for col in columns():
            column: ColumnElement[str] = literal_column(col.target.column)
            mine = column.like(f"{prefix}%") if prefix else ~column.like(f"{pki.BLIND_INDEX_MARK}%")
            total += int(s.scalar(select(func.count()).select_from(text(col.target.table)).where(mine)) or 0)
    return total


# -- the job -------------------------------------------------------------------------------------------------
def reindex(node: Node, *, actor: str = "officer", batch: int = rekey.BATCH, pause: float = 0.0,
            max_batches: int | None = None) -> Status:
    """Recompute every recoverable blind index with the active key; resumes where an earlier run stopped.
    Releases the retired keys when nothing stored is under them any more (else says how much waits). One run at
    a time on the node, re-encryption included (``REKEY_RUNNING``)."""
    if not 1 <= batch <= rekey.MAX_BATCH or not 0 <= pause <= rekey.MAX_PAUSE:
        raise InvalidArgument("REKEY_PACE_INVALID", f"--batch-size is 1 to {rekey.MAX_BATCH} records and --pause 0 "
                              f"to {rekey.MAX_PAUSE:g} seconds")
    with rekey.one_runner(node):  # the node's own run (hutong.rekey_task) or an officer's: one at a time
        return _reindex(node, actor, batch, pause, max_batches)


def _reindex(node: Node, actor: str, batch: int, pause: float, max_batches: int | None) -> Status:
    st = status(node)
    if st is None:
        raise FailedPrecondition("REINDEX_NOT_NEEDED", "no retired blind-index key is still in use: prepare and "
                                 "activate a new blind-index key first")
    label = st.key_label
    active = node.pki.registry.snapshot().active(pki.BLIND_INDEX)
    assert active is not None and active.activated_at is not None
    settle = active.activated_at.timestamp() + rekey.SETTLE_SECONDS - time.time()
    if settle > 0:  # a worker still indexing with the old key for a moment would add work behind the cursor
        time.sleep(settle)
    cols = columns()
    now = datetime.now(UTC)
    with node.db.session() as s:
        if not s.scalars(select(RekeyProgress).where(RekeyProgress.key_label == label)).first():
            for col in cols:
                s.add(RekeyProgress(key_label=label, target=col.target.name, rows_done=0, started_at=now,
                                    updated_at=now))
            audit.append(s, actor=actor, action="pki.reindex.start", target=pki.BLIND_INDEX,
                         details={"label": label, "retired": st.retired, "columns": [c.target.name for c in cols],
                                  "waiting": st.waiting})
    convert = _converter(node, cols)
    batches = 0
    for col in cols:
        while max_batches is None or batches < max_batches:
            if rekey._batch(node, col.target, label, batch, actor, convert=convert, role=pki.BLIND_INDEX):
                break
            batches += 1
            if pause:
                time.sleep(pause)
        else:
            return status(node) or st
    swept = sum(rekey._sweep(node, col.target, label, batch, convert=convert) for col in cols)
    return _finish(node, label, st.retired, swept, actor)


def _converter(node: Node, cols: list[Column]) -> rekey.Convert:
    """The batch's per-row step: the row's index recomputed with the target key (None: already, or unknown)."""
    specs = {col.target.name: col for col in cols}
    sources = [col for col in cols if col.spec.recover is not None]
    memo: dict[tuple[str, str], str | None] = {}  # (old index, target key) -> new index, for this run

    def convert(node_: Node, t: Target, row: dict[str, object], label: str) -> object | None:
        old = row[t.column]
        if not isinstance(old, str) or pki.made_by(old, label):
            return None
        col = specs[t.name]
        if col.spec.recover is not None:
            original = col.spec.recover(node, row)
            return node.pki.blind_index_with(label, original) if original is not None else None
        if not col.spec.via_sources:
            return None
        if (old, label) not in memo:
            memo[(old, label)] = _through_sources(node, sources, old, label)
        return memo[(old, label)]

    return convert


def _through_sources(node: Node, sources: list[Column], old: str, label: str) -> str | None:
    """The new index of whatever a source row under ``old`` holds the original of (None: no such row)."""
    for src in sources:
        t = src.target
        with node.db.session(readonly=True) as s:
            found = s.execute(text(f"{rekey._select(t)} WHERE {t.column} = :old LIMIT 1"), {"old": old}).first()
        if found is not None and src.spec.recover is not None:
            original = src.spec.recover(node, dict(found._mapping))
            if original is not None:
                return node.pki.blind_index_with(label, original)
    return None


def _finish(node: Node, label: str, retired: list[str], swept: int, actor: str) -> Status:
    """Release the retired keys if nothing stored is under them any more; audited either way."""
    left = waiting(node.db, label)
    now = datetime.now(UTC)
    with node.db.session() as s:
        released: list[str] = []
        if left == 0:
            if s.get(RekeyProgress, (label, FINISHED)) is None:
                s.add(RekeyProgress(key_label=label, target=FINISHED, rows_done=0, started_at=now, updated_at=now,
                                    finished_at=now))
            for row in keyring.rows(s, pki.BLIND_INDEX, ["retired"]):
                if row.label in retired and row.needed_until is None:
                    row.needed_until = now
                    released.append(row.label)
            keyring.bump(s)
        rows = {p.target: (p.rows_done, p.finished_at is not None)
                for p in s.scalars(select(RekeyProgress).where(RekeyProgress.key_label == label))
                if p.target != FINISHED}
        audit.append(s, actor=actor, action="pki.reindex.finish", target=pki.BLIND_INDEX,
                     details={"label": label, "rows": sum(n for n, _ in rows.values()), "swept": swept,
                              "released": released, "waiting": left})
    node.pki.registry.invalidate()
    return Status(label, [] if left == 0 else retired, rows, left)


def why_kept(db: Database | None, snap: keyring.Snapshot, label: str) -> tuple[str, str] | None:
    """Why a blind-index key cannot be destroyed: (reason, words), None when it can (or is no such key)."""
    entry = snap.entry(label)
    if entry is None or entry.role != pki.BLIND_INDEX:
        return None
    if label == pki.key_label(pki.BLIND_INDEX):
        return ("NODE_KEY_STILL_NEEDED", "it is the blind-index key's first key, which makes the pairwise subjects "
                "platforms keep and the business codes' synthetic IVs: it is never destroyed")
    if entry.state != "retired" or not entry.still_needed():
        return None
    count = waiting_on(db, snap, label) if db is not None else None
    what = f"{count} stored blind indexes are" if count is not None else "stored blind indexes are"
    return ("BLIND_INDEX_STILL_IN_USE", f"{what} still under it: run hutong hsm rotate --label node.blind-index "
            "--step reindex; indexes with no original here wait until re-imported or presented again")
