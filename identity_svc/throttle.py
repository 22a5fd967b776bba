"""Brute-force protection: failed logins throttled per identity and per client.

After ``free`` failures an attempt must wait ``base * 2**(failures - free)`` seconds (capped) after
the last failure; at ``lockout`` failures the key is locked for ``lockout_seconds``. A success
clears the identity's counter. Failures older than ``failure_memory_seconds`` are forgotten.
Refusals carry ``retry_after_seconds`` in the error metadata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy.orm import Session

from hutong import logs, metrics
from hutong.errors import ResourceExhausted
from identity_svc.core import Identity
from identity_svc.models import Throttle


@dataclass(frozen=True)
class Policy:
    free: int
    lockout: int
    throttled_reason: str
    locked_reason: str


def identity_key(id_index: str) -> str:
    return f"person:{id_index}"


def client_key(client_id: str) -> str:
    return f"client:{client_id}"


def policies(idn: Identity) -> tuple[Policy, Policy]:
    s = idn.settings
    return (Policy(s.free_failures, s.lockout_failures, "LOGIN_THROTTLED", "ACCOUNT_LOCKED"),
            Policy(s.client_free_failures, s.client_lockout_failures, "CLIENT_THROTTLED", "CLIENT_LOCKED"))


def _delay(idn: Identity, failures: int, free: int) -> float:
    if failures < free:
        return 0.0
    return min(idn.settings.base_delay_seconds * 2 ** (failures - free), idn.settings.max_delay_seconds)


def _refuse(reason: str, wait: float, what: str) -> ResourceExhausted:
    seconds = max(1, math.ceil(wait))
    return ResourceExhausted(reason, f"too many failed logins {what}: try again in {seconds} s",
                             metadata={"retry_after_seconds": str(seconds)})


def _current(idn: Identity, row: Throttle | None, now: float) -> Throttle | None:
    if row is None or now - row.last_failure_at > idn.settings.failure_memory_seconds:
        return None
    return row


def check(idn: Identity, s: Session, keys: list[tuple[str, Policy]]) -> None:
    """Refuse the attempt if any key is locked or still waiting out its delay."""
    now = idn.now()
    for key, policy in keys:
        row = _current(idn, s.get(Throttle, key), now)
        if row is None:
            continue
        what = "for this identity" if key.startswith("person:") else "through this platform"
        if row.locked_until > now:
            raise _refuse(policy.locked_reason, row.locked_until - now, what)
        wait = row.last_failure_at + _delay(idn, row.failures, policy.free) - now
        if wait > 0:
            raise _refuse(policy.throttled_reason, wait, what)


def record_failure(idn: Identity, s: Session, keys: list[tuple[str, Policy]]) -> None:
    now = idn.now()
    for key, policy in keys:
        row = s.get(Throttle, key)
        if row is None:
            row = Throttle(key=key, failures=0, last_failure_at=now, locked_until=0.0)
            s.add(row)
        elif _current(idn, row, now) is None:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= policy.lockout:
            row.locked_until = now + idn.settings.lockout_seconds
            kind = "identity" if key.startswith("person:") else "platform"
            metrics.lockout(kind)
            logs.security_event("lockout", key_kind=kind, seconds=idn.settings.lockout_seconds)
            row.failures = 0  # after the lockout the identity starts afresh
    s.flush()


def clear(s: Session, key: str) -> None:
    row = s.get(Throttle, key)
    if row is not None:
        s.delete(row)
