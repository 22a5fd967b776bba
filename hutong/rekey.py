"""Re-encryption after a data-protection key rollover: every protected record moves to the active key.

A data key rollover (``hutong.rollover``) has three steps: *prepare* makes the new AES key (pending),
*activate* makes it the key every worker protects with (the old one retired, still decrypting), and
*reencrypt* -- this module -- walks every protected column in batches and re-encrypts what an older key
made. The node keeps serving throughout: a blob names the key that made it (``pki.data_key_blob``), so
reads take either key, and each row is updated compare-and-set (``WHERE column = old value``) so a value
the node writes meanwhile is never overwritten with a stale one.

Resumable: each batch's updates and its cursor (``node_rekey_progress``: the last primary key done per
column, rows re-encrypted) commit in one transaction, so after a crash (kill -9) the next run goes on
after the last committed batch, and a row is re-encrypted exactly once. A final sweep of every column
catches a value a worker wrote with the old key in the moment before it saw the activation. Then the
retired keys are no longer needed (``needed_until`` = now: ``hsm destroy`` may remove them), the role's
first key included. Audited: start, each column finished, finish.

Individual-business codes (``hutong.business_codes``) are deterministic, their stored value is their own
index, and some are primary keys other rows refer to. They are re-made under the new key (``code_targets``)
in the same batches: a primary key moves together with the rows referring to it (``business_codes.move_key``)
in the batch's transaction; lookups by code meanwhile try every live key (``business_codes.candidates``).

Which columns hold protected blobs is declared on the columns themselves: ``info={PROTECTED: template}``
for a raw blob whose associated data is ``template`` filled with the row's columns, and the column types
``CodesInBlob`` and ``PersonalCertificate`` of ``hutong.business_codes``.
"""

from __future__ import annotations

import base64
import fcntl
import os
import string
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, Integer, String, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from hsm.errors import HsmError
from hutong import audit, business_codes, keyring, pki
from hutong.db import Base, Database, load_models
from hutong.errors import FailedPrecondition, InvalidArgument

if TYPE_CHECKING:
    from hutong.node import Node

PROTECTED = "protected_aad"  # Column.info key: the associated data of a raw protected blob, a str.format template
BATCH = 200
MAX_BATCH = 10_000  # one transaction's worth
MAX_PAUSE = 3600.0
SETTLE_SECONDS = 2 * keyring.REFRESH_SECONDS + 1.0  # every worker has seen the activation after this


class RekeyProgress(Base):
    """How far the re-encryption to one data key got in one column (the cursor survives a crash)."""

    __tablename__ = "node_rekey_progress"

    key_label: Mapped[str] = mapped_column(String(200), primary_key=True)  # the key re-encrypted to
    target: Mapped[str] = mapped_column(String(120), primary_key=True)  # "table.column"
    last_key: Mapped[str | None] = mapped_column(String(200), nullable=True)  # primary key of the last row done
    rows_done: Mapped[int] = mapped_column(Integer, default=0)  # rows re-encrypted (not rows looked at)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


@dataclass(frozen=True)
class Target:
    """One column holding protected blobs, and how a stored value maps to the key's blob and back."""

    table: str
    key: str  # the single-column primary key
    column: str
    aad: Callable[[dict[str, object]], bytes]
    needs: tuple[str, ...]  # other columns the associated data is made of
    decode: Callable[[object], bytes | None]  # stored value -> blob (None: stored in clear)
    encode: Callable[[bytes], object]
    # Deterministic values (codes) instead: the stored value re-made under a key label (None: made by it).
    recode: Callable[[Node, object, str], object | None] | None = None
    children: tuple[tuple[str, str], ...] = ()  # (table, column)s referring to this primary key column
    int_key: bool = False  # an integer primary key (the cursor is kept as text)

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


def _raw(value: object) -> bytes | None:
    return bytes(value) if value is not None else None  # type: ignore[call-overload]  # bytes or memoryview


def _in_blob(value: object) -> bytes | None:
    raw = _raw(value)
    mark = business_codes.BLOB_MARK
    return raw[len(mark):] if raw is not None and raw[:len(mark)] == mark else None


def _in_text(value: object) -> bytes | None:
    if isinstance(value, str) and value.startswith(business_codes.MARK):
        return base64.urlsafe_b64decode(value[len(business_codes.MARK):])
    return None


def targets() -> list[Target]:
    """Every column of the schema that holds protected blobs (declared on the columns), in a stable order."""
    load_models()
    found: list[Target] = []
    for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
        keys = [c.name for c in table.primary_key.columns]
        for c in table.columns:
            template = c.info.get(PROTECTED)
            if isinstance(template, str):
                fields = tuple(f for _, f, _, _ in string.Formatter().parse(template) if f)
                target = Target(table.name, keys[0], c.name, _template(template), fields, _raw, lambda b: b)
            elif isinstance(c.type, business_codes.CodesInBlob):
                target = Target(table.name, keys[0], c.name, lambda _: business_codes.BLOB_AAD, (), _in_blob,
                                lambda b: business_codes.BLOB_MARK + b)
            elif isinstance(c.type, business_codes.PersonalCertificate):
                target = Target(table.name, keys[0], c.name, lambda _: business_codes.CERT_AAD, (), _in_text,
                                lambda b: business_codes.MARK + base64.urlsafe_b64encode(b).decode())
            else:
                continue
            if len(keys) != 1:
                raise RuntimeError(f"{target.name}: protected columns need a single-column primary key")
            found.append(target)
    return found


def code_targets() -> list[Target]:
    """Every column holding individual-business codes (``BusinessCode``, ``CodesInText``), but those referring
    to another's primary key: they move with it. A referenced primary key names the columns referring to it."""
    load_models()
    referring = business_codes.referring_columns()
    followers = {c for cs in referring.values() for c in cs}
    found: list[Target] = []
    for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
        keys = [c.name for c in table.primary_key.columns]
        for c in table.columns:
            recode: Callable[[Node, object, str], object | None]
            if isinstance(c.type, business_codes.BusinessCode):
                recode = _recode_code
            elif isinstance(c.type, business_codes.CodesInText):
                recode = _recode_text
            else:
                continue
            if (table.name, c.name) in followers:
                continue
            if len(keys) != 1:
                raise RuntimeError(f"{table.name}.{c.name}: code columns need a single-column primary key")
            found.append(Target(table.name, keys[0], c.name, lambda _: business_codes.AAD, (), _no_blob, _no_blob,
                                recode, tuple(referring.get((table.name, c.name), ()))))
    return found


def _no_blob(value: object) -> None:
    return None


def _recode_code(node: Node, value: object, label: str) -> object | None:
    if isinstance(value, str) and value.startswith(business_codes.MARK):
        return business_codes.recoded(node.pki, value, label)
    return None


def _recode_text(node: Node, value: object, label: str) -> object | None:
    if isinstance(value, str) and business_codes.MARK in value:
        return business_codes.recoded_text(node.pki, value, label)
    return None


def all_targets() -> list[Target]:
    """What the re-encryption walks: protected blobs, then individual-business codes."""
    return [*targets(), *code_targets()]


def _template(template: str) -> Callable[[dict[str, object]], bytes]:
    return lambda row: template.format(**row).encode()


# -- the job ----------------------------------------------------------------------------------------------
@dataclass
class Status:
    """Where the re-encryption to ``key_label`` stands (``hsm rotate --dry-run`` and ``node keys`` show it)."""

    key_label: str
    retired: list[str]  # data keys still needed to decrypt (until this finishes)
    columns: dict[str, tuple[int, bool]]  # target -> (rows re-encrypted, column finished)

    @property
    def rows_done(self) -> int:
        return sum(n for n, _ in self.columns.values())

    @property
    def finished(self) -> bool:
        return not self.retired

    def describe(self) -> str:
        done = sum(1 for _, f in self.columns.values() if f)
        return (f"{self.rows_done} records re-encrypted to {self.key_label} so far; {done} of "
                f"{len(all_targets())} protected columns done")


def status(node: Node) -> Status | None:
    """The data key's re-encryption: None when no retired data key awaits it (nothing to do)."""
    return status_of(node.db, node.pki.registry.snapshot())


def status_of(db: Database, snap: keyring.Snapshot) -> Status | None:
    """``status`` from a database and a registry snapshot (for commands that do not open the HSM)."""
    found = progress_of(db, snap, pki.DATA_KEY)
    return Status(*found) if found else None


def progress_of(db: Database, snap: keyring.Snapshot,
                role: str) -> tuple[str, list[str], dict[str, tuple[int, bool]]] | None:
    """For a role whose stored values move to its active key (data key, blind index): the active key's label, the
    retired keys stored values may still be under, and each column's (rows done, finished) so far; None when no
    such retired key is left (nothing to do)."""
    active = snap.active(role)
    if active is None:
        return None
    retired = [e.label for e in snap.of(role, "retired") if e.needed_until is None]
    if not retired:
        return None
    with db.session(readonly=True) as s:
        rows = s.scalars(select(RekeyProgress).where(RekeyProgress.key_label == active.label)).all()
        columns = {r.target: (r.rows_done, r.finished_at is not None) for r in rows if r.target != FINISHED}
    return active.label, retired, columns


FINISHED = "*"  # the progress row that says the whole re-encryption to a key is done


REKEY_RUNNING = "REKEY_RUNNING"


@contextmanager
def one_runner(node: Node) -> Iterator[None]:
    """Hold the node's re-encryption lock (a lock file in the data directory: the server's processes and an
    officer's command alike; released by the system if the holder dies) or refuse, ``REKEY_RUNNING``. The
    blind index's re-indexing (``hutong.reindex``) takes the same lock: one background job at a time."""
    fd = os.open(node.config.data_dir / "rekey.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FailedPrecondition(REKEY_RUNNING, "a re-encryption or re-indexing is already running on this node "
                                     "(started by the node itself or by another officer); its progress: hutong node "
                                     "keys") \
                from None
        yield
    finally:
        os.close(fd)


def reencrypt(node: Node, *, actor: str = "officer", batch: int = BATCH, pause: float = 0.0,
              max_batches: int | None = None) -> Status:
    """Re-encrypt every protected record to the active data key; resumes where an earlier run stopped.

    ``pause`` seconds between batches spare the HSM of a busy node. ``max_batches`` stops early (an
    officer's bounded run); the next run goes on from there. One run at a time (``REKEY_RUNNING``)."""
    if not 1 <= batch <= MAX_BATCH or not 0 <= pause <= MAX_PAUSE:
        raise InvalidArgument("REKEY_PACE_INVALID", f"--batch-size is 1 to {MAX_BATCH} records and --pause 0 to "
                              f"{MAX_PAUSE:g} seconds")
    with one_runner(node):
        return _reencrypt(node, actor, batch, pause, max_batches)


def _reencrypt(node: Node, actor: str, batch: int, pause: float, max_batches: int | None) -> Status:
    st = status(node)
    if st is None:
        raise FailedPrecondition("REKEY_NOT_NEEDED", "no retired data-protection key awaits re-encryption: "
                                 "prepare and activate a new data key first")
    target_label = st.key_label
    active = node.pki.registry.snapshot().active(pki.DATA_KEY)
    assert active is not None and active.activated_at is not None
    settle = active.activated_at.timestamp() + SETTLE_SECONDS - time.time()
    if settle > 0:  # workers still protecting with the old key for a moment would add work behind the cursor
        time.sleep(settle)
    now = datetime.now(UTC)
    with node.db.session() as s:
        if not s.scalars(select(RekeyProgress).where(RekeyProgress.key_label == target_label)).first():
            for t in all_targets():
                s.add(RekeyProgress(key_label=target_label, target=t.name, rows_done=0, started_at=now,
                                    updated_at=now))
            audit.append(s, actor=actor, action="pki.rekey.start", target=pki.DATA_KEY,
                         details={"label": target_label, "retired": st.retired,
                                  "columns": [t.name for t in all_targets()]})
    batches = 0
    for t in all_targets():
        while max_batches is None or batches < max_batches:
            if _batch(node, t, target_label, batch, actor):
                break
            batches += 1
            if pause:
                time.sleep(pause)
        else:
            return status(node) or st
    swept = sum(_sweep(node, t, target_label, batch) for t in all_targets())
    _finish(node, target_label, st.retired, swept, actor)
    return Status(target_label, [], st.columns)


def _select(t: Target) -> str:
    extra = "".join(f", {c}" for c in t.needs if c != t.key)
    return f"SELECT {t.key}, {t.column}{extra} FROM {t.table}"


def _reencrypted(node: Node, t: Target, row: dict[str, object], target_label: str) -> object | None:
    """The row's value re-encrypted to ``target_label`` (HSM work, outside any transaction); None when that
    key made it already or it is stored in clear."""
    if t.recode is not None:
        return t.recode(node, row[t.column], target_label)
    blob = t.decode(row[t.column])
    if blob is None or node.pki.data_key_of(blob)[0] == target_label:
        return None
    aad = t.aad(row)
    return t.encode(node.pki.protect_with(target_label, node.pki.unprotect(blob, aad=aad), aad=aad))


def _write(s: Session, t: Target, rows: list[dict[str, object]], new: list[object | None]) -> int:
    """Compare-and-set each new value (a row the node changed meanwhile is left alone); rows changed. A primary
    key column moves with the rows referring to it."""
    changed = 0
    sql = text(f"UPDATE {t.table} SET {t.column} = :new WHERE {t.key} = :key AND {t.column} = :old")
    for row, value in zip(rows, new, strict=True):
        if value is not None and t.key == t.column:
            changed += business_codes.move_key(s, Base.metadata.tables[t.table], t.column, t.children,
                                               old=str(row[t.column]), new=str(value))
        elif value is not None:
            result = s.execute(sql, {"new": value, "key": row[t.key], "old": row[t.column]})
            changed += int(result.rowcount)  # type: ignore[attr-defined]
    return changed


def _read(node: Node, t: Target, after: str | None, size: int) -> list[dict[str, object]]:
    where = "" if after is None else f" WHERE {t.key} > :after"
    cursor = int(after) if t.int_key and after is not None else after
    with node.db.session(readonly=True) as s:
        return [dict(r._mapping) for r in s.execute(text(f"{_select(t)}{where} ORDER BY {t.key} LIMIT :n"),
                                                   {"after": cursor, "n": size})]


# What a batch does to one row: its new value under ``target_label`` (HSM work), None to leave it as it is.
Convert = Callable[["Node", Target, dict[str, object], str], object | None]


def _batch(node: Node, t: Target, target_label: str, size: int, actor: str, convert: Convert | None = None,
           role: str = pki.DATA_KEY) -> bool:
    """One batch of ``t`` after its cursor, committed with the cursor; True when the column is done.
    ``convert`` (default: re-encryption) and ``role`` let the blind-index key's re-indexing (``hutong.reindex``)
    run on the same machinery.

    The HSM work happens between reading the batch and the short write transaction (SQLite has one writer:
    the node's own writes wait no longer than a few row updates)."""
    with node.db.session(readonly=True) as s:
        prog = s.get(RekeyProgress, (target_label, t.name))
        if prog is not None and prog.finished_at is not None:
            return True
        cursor = prog.last_key if prog is not None else None
    rows = _read(node, t, cursor, size)
    new = [(convert or _reencrypted)(node, t, row, target_label) for row in rows]
    with node.db.session() as s:
        prog = s.get(RekeyProgress, (target_label, t.name))
        if prog is None:
            prog = RekeyProgress(key_label=target_label, target=t.name, rows_done=0, started_at=datetime.now(UTC))
            s.add(prog)
        if prog.finished_at is not None or prog.last_key != cursor:
            return prog.finished_at is not None  # another run moved the cursor meanwhile: read again from it
        prog.rows_done += _write(s, t, rows, new)
        now = datetime.now(UTC)
        prog.updated_at = now
        if rows:
            prog.last_key = str(rows[-1][t.key])
        if len(rows) < size:
            prog.finished_at = now
            audit.append(s, actor=actor, action="pki.rekey.progress" if role == pki.DATA_KEY else
                         "pki.reindex.progress", target=role,
                         details={"label": target_label, "column": t.name, "rows": prog.rows_done})
        return prog.finished_at is not None


def _sweep(node: Node, t: Target, target_label: str, size: int, convert: Convert | None = None) -> int:
    """Every row of ``t`` again (a value written with the old key behind the cursor); rows re-encrypted."""
    done = 0
    for rows in _pages(node, t, size):
        new = [(convert or _reencrypted)(node, t, row, target_label) for row in rows]
        if not any(v is not None for v in new):
            continue
        with node.db.session() as s:
            changed = _write(s, t, rows, new)
            prog = s.get(RekeyProgress, (target_label, t.name))
            if prog is not None:
                prog.rows_done += changed
        done += changed
    return done


def _pages(node: Node, t: Target, size: int) -> Iterator[list[dict[str, object]]]:
    after: str | None = None
    while rows := _read(node, t, after, size):
        yield rows
        after = str(rows[-1][t.key])


def _finish(node: Node, target_label: str, retired: list[str], swept: int, actor: str) -> None:
    """Every record is under ``target_label``: the retired keys are no longer needed."""
    now = datetime.now(UTC)
    with node.db.session() as s:
        if s.get(RekeyProgress, (target_label, FINISHED)) is None:
            s.add(RekeyProgress(key_label=target_label, target=FINISHED, rows_done=0, started_at=now,
                                updated_at=now, finished_at=now))
        released = []
        for row in keyring.rows(s, pki.DATA_KEY, ["retired"]):
            if row.label in retired and row.needed_until is None:
                row.needed_until = now
                released.append(row.label)
        keyring.bump(s)
        rows = sum(p.rows_done for p in s.scalars(select(RekeyProgress).where(
            RekeyProgress.key_label == target_label)))
        audit.append(s, actor=actor, action="pki.rekey.finish", target=pki.DATA_KEY,
                     details={"label": target_label, "rows": rows, "swept": swept, "released": released})
    node.pki.registry.invalidate()


def referenced_keys(node: Node) -> dict[str, int]:
    """How many stored blobs name each data key (``UNKNOWN_KEY``: an id no key of the registry has), for
    ``hutong node verify``: every key a record needs must still be kept."""
    counts: dict[str, int] = {}
    for t in targets():
        for rows in _pages(node, t, 1000):
            for row in rows:
                blob = t.decode(row[t.column])
                if blob is None:
                    continue
                try:
                    label = node.pki.data_key_of(blob)[0]
                except HsmError:
                    label = UNKNOWN_KEY
                counts[label] = counts.get(label, 0) + 1
    for t in code_targets():
        for rows in _pages(node, t, 1000):
            for row in rows:
                value = row[t.column]
                for stored in business_codes.stored_codes(value) if isinstance(value, str) else ():
                    try:
                        label = business_codes.revealed(node.pki, stored)[0]
                    except HsmError:
                        label = UNKNOWN_KEY
                    counts[label] = counts.get(label, 0) + 1
    return counts


UNKNOWN_KEY = "(a key the registry does not know)"


def why_kept(node_keys: keyring.Snapshot, label: str) -> str | None:
    """Why a retired data key cannot be destroyed yet (None: it can, or it is not a data key)."""
    entry = node_keys.entry(label)
    if entry is None or entry.role != pki.DATA_KEY or entry.state != "retired" or not entry.still_needed():
        return None
    return "it still decrypts records not yet re-encrypted: run hutong hsm rotate --label node.data-key " \
           "--step reencrypt"
