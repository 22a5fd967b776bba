"""Client-supplied idempotency keys: a retried call returns the first call's result instead of acting again.

Why: sealing uses up a grant and issuing creates certificates; a caller whose connection broke cannot know
whether the node acted. With a key (metadata ``idempotency-key``), it simply calls again:

- the first call *claims* the key (a row committed before any work: a second call with the key while the
  first is still running is refused with ``IDEMPOTENCY_KEY_IN_USE``), then saves its result **in the same
  transaction as the act** (the grant use, the issued rows), so the act and its remembered result commit
  together or not at all;
- a later call with the same key and the same request gets the saved result back (nothing done, nothing
  charged); with another request it is refused (``IDEMPOTENCY_KEY_REUSED``);
- a call that failed before acting releases its claim; a claim left by a crashed process is taken over after
  ``STALE_AFTER`` seconds, with whatever partial result it saved (an issuing batch resumes after the rows
  it had committed).

Keys are scoped by caller (``Principal.actor``) and operation: two callers never see each other's results.
Results are kept for ``KEEP_SECONDS`` (older rows are removed when new keys are claimed).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass

from sqlalchemy import Boolean, Float, String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from hutong.auth import IDEMPOTENCY_KEY
from hutong.business_codes import CodesInBlob
from hutong.db import Base, Database
from hutong.errors import FailedPrecondition, InvalidArgument

HEADER = IDEMPOTENCY_KEY  # gRPC metadata key
STALE_AFTER = 600.0  # seconds a claim may go without saving before another call may take it over
KEEP_SECONDS = 24 * 3600.0
_KEY_OK = re.compile(r"^[A-Za-z0-9._:/-]{1,200}$")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of actor, operation and key
    operation: Mapped[str] = mapped_column(String(60))
    request_sha256: Mapped[str] = mapped_column(String(64))
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[bytes] = mapped_column(CodesInBlob, default=b"")  # an answer naming a 92-code: protected
    created_at: Mapped[float] = mapped_column(Float, index=True)
    touched_at: Mapped[float] = mapped_column(Float)


def check_key(key: str) -> str:
    if not _KEY_OK.match(key):
        raise InvalidArgument("IDEMPOTENCY_KEY_INVALID", "an idempotency key is 1-200 characters of letters, digits "
                              "and . _ : / - (a UUID will do)")
    return key


@dataclass(frozen=True)
class Claim:
    """A key this call holds: ``result`` is what an earlier call saved (complete when ``done``), else b""."""

    record_id: str
    done: bool
    result: bytes


def request_digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def claim(db: Database, *, actor: str, operation: str, key: str, request_sha256: str) -> Claim:
    """Claim ``key`` for this call, or return the result a completed call saved under it."""
    record_id = hashlib.sha256(f"{actor}\n{operation}\n{check_key(key)}".encode()).hexdigest()
    now = time.time()
    with db.session() as s:
        s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - KEEP_SECONDS))
    try:
        with db.session() as s:
            s.add(IdempotencyRecord(id=record_id, operation=operation, request_sha256=request_sha256, done=False,
                                    result=b"", created_at=now, touched_at=now))
        return Claim(record_id, False, b"")
    except IntegrityError:
        pass
    with db.session() as s:
        rec = s.get(IdempotencyRecord, record_id)
        if rec is None:  # released meanwhile: try once more
            return claim(db, actor=actor, operation=operation, key=key, request_sha256=request_sha256)
        if rec.request_sha256 != request_sha256 or rec.operation != operation:
            raise FailedPrecondition("IDEMPOTENCY_KEY_REUSED", "this idempotency key was used for another request: "
                                     "use a new key for a new request")
        if rec.done:
            return Claim(record_id, True, rec.result)
        if now - rec.touched_at < STALE_AFTER:
            raise FailedPrecondition("IDEMPOTENCY_KEY_IN_USE", "a call with this idempotency key is still in "
                                     "progress: retry in a moment", metadata={"retry_after_seconds": "2"})
        # Left by a process that stopped: take it over (exactly one caller wins the conditional update).
        taken = s.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == record_id,
                                                          IdempotencyRecord.touched_at == rec.touched_at)
                          .values(touched_at=now))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise FailedPrecondition("IDEMPOTENCY_KEY_IN_USE", "a call with this idempotency key is in progress")
        return Claim(record_id, False, rec.result)


def save(s: Session, held: Claim, result: bytes, *, done: bool) -> None:
    """Remember ``result`` in the caller's transaction (the one that acts)."""
    s.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == held.record_id)
              .values(result=result, done=done, touched_at=time.time()))


def release(db: Database, held: Claim) -> None:
    """Give the key up after a failure that changed nothing (a fresh claim that saved nothing)."""
    with db.session() as s:
        s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == held.record_id,
                                                  IdempotencyRecord.done.is_(False),
                                                  IdempotencyRecord.result == b""))


def record_ids(s: Session) -> list[str]:  # for tests and operators' queries
    return list(s.scalars(select(IdempotencyRecord.id)))
