"""``Identity``: what every identity_svc domain function needs, built once per node.

Domain functions take an ``Identity`` first and plain values after; they open their own
transactions (``idn.node.db.session()``) and raise ``hutong.errors`` with stable reasons.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

from argon2 import PasswordHasher, Type
from sqlalchemy.orm import Session

from hutong.errors import InvalidArgument
from hutong.node import Node
from identity_svc.rotations import RecentRotations
from identity_svc.settings import IdentitySettings, load_settings
from identity_svc.signing import TokenSigner
from identity_svc.vocabulary import LEVELS as LEVELS  # re-exported
from identity_svc.vocabulary import Level as Level


def level_rank(level: str) -> int:
    return LEVELS.index(level)  # type: ignore[arg-type]


def check_level(level: str) -> Level:
    if level not in LEVELS:
        raise InvalidArgument("LEVEL_INVALID", f"level of assurance must be one of {', '.join(LEVELS)}")
    return level  # type: ignore[return-value]


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass
class Identity:
    node: Node
    settings: IdentitySettings
    clock: Callable[[], float] = field(default=time.time)  # seconds since the epoch; tests may replace it

    @classmethod
    def of(cls, node: Node) -> Identity:
        return cls(node=node, settings=load_settings(node))

    @cached_property
    def hasher(self) -> PasswordHasher:
        s = self.settings
        return PasswordHasher(time_cost=s.argon2_time_cost, memory_cost=s.argon2_memory_kib,
                              parallelism=s.argon2_parallelism, type=Type.ID)

    @cached_property
    def signer(self) -> TokenSigner:
        return TokenSigner(self.node)

    @cached_property
    def rotations(self) -> RecentRotations:
        """The refresh tokens this process issued lately and their sessions (``identity_svc.rotations``)."""
        return RecentRotations()

    @cached_property
    def dummy_password_hash(self) -> str:
        """Verified when the person does not exist, so that an unknown identity costs as much time as a
        wrong password and the two cannot be told apart."""
        return self.hasher.hash("not the password of anyone")

    def now(self) -> float:
        return self.clock()

    @contextmanager
    def transaction(self, session: Session | None = None) -> Iterator[Session]:
        """The caller's open transaction (another service binding its own change to ours), else a new one."""
        if session is not None:
            yield session
            return
        with self.node.db.session() as s:
            yield s

    # -- personal data: protected at rest, found by blind index (both keys in the HSM) -----------
    def person_index(self, citizen_id: str) -> str:
        """Blind index of a normalised citizen ID number (the same value every service computes), under the
        active key: what is stored. Look-ups match ``person_indexes`` (during a rollover, every key in use)."""
        return self.node.pki.blind_index(citizen_id)

    def person_indexes(self, citizen_id: str) -> tuple[str, ...]:
        return self.node.pki.blind_indexes(citizen_id)

    def keyed_hash(self, purpose: str, value: str) -> str:
        """A blind index for something other than a bare ID number, separated by purpose (active key)."""
        return self.node.pki.blind_index(f"{purpose}:{value}")

    def keyed_hashes(self, purpose: str, value: str) -> tuple[str, ...]:
        return self.node.pki.blind_indexes(f"{purpose}:{value}")

    def pseudonym(self, purpose: str, value: str) -> str:
        """A keyed hash shown outside the node (pairwise subjects): the same under every blind-index key."""
        return self.node.pki.pseudonym(f"{purpose}:{value}")

    def protect(self, purpose: str, value: str) -> bytes:
        return self.node.pki.protect(value.encode(), aad=purpose.encode())

    def unprotect(self, purpose: str, blob: bytes) -> str:
        return self.node.pki.unprotect(blob, aad=purpose.encode()).decode()
