"""Status lists (IETF OAuth Token Status List draft): the bitstring, the signed list, a verifier's cache.

A status list is a JWS (``typ: statuslist+jwt``) whose ``status_list`` claim holds ``bits`` per entry and
``lst`` = base64url(zlib(bytes)), entry ``i`` in the low-order bits first. A list is accepted only while fresh
(``iat + ttl``); a stale one is refused with STATUS_LIST_STALE rather than trusted.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Protocol

from cryptography import x509

from hutong.errors import FailedPrecondition, HutongError, InvalidArgument
from hutong.verify import jose
from hutong.verify.x509 import chain_problem, organisation_id

STATUS_LIST_TYP = "statuslist+jwt"
STATUS_BITS = 4
STATUS_LIST_INVALID = "STATUS_LIST_INVALID"
STATUS_LIST_STALE = "STATUS_LIST_STALE"

# Lifecycle state <-> status list value. 0/1/2 as the draft registers them (VALID/INVALID/SUSPENDED);
# the others in its application-specific ranges (0x03, 0x0B-0x0F).
STATUS_VALUES: dict[str, int] = {
    "valid": 0x00, "revoked": 0x01, "suspended": 0x02, "cancelled": 0x03,
    "deregistered": 0x0B, "invalid": 0x0C, "transferred_out": 0x0D,
}
STATUS_NAMES = {v: k for k, v in STATUS_VALUES.items()}

Roots = Callable[[], Sequence[x509.Certificate]]  # pluggable: federation adds member nodes' roots


def pack_status(values: Mapping[int, int], size: int, bits: int = STATUS_BITS) -> str:
    """``{index: value}`` (others 0) -> base64url(zlib(bytes)), ``size`` entries."""
    per_byte = 8 // bits
    data = bytearray((size + per_byte - 1) // per_byte)
    for idx, value in values.items():
        data[idx // per_byte] |= (value & ((1 << bits) - 1)) << ((idx % per_byte) * bits)
    return jose.b64u(zlib.compress(bytes(data), 9))


def unpack_status(lst: str, index: int, bits: int = STATUS_BITS) -> int:
    return status_value(status_bytes(lst), index, bits)


def status_bytes(lst: str) -> bytes:
    """The decompressed bitstring of a status list's ``lst`` (decode once per fetched list)."""
    try:
        return zlib.decompress(jose.b64u_decode(lst))
    except (zlib.error, ValueError):
        raise InvalidArgument(STATUS_LIST_INVALID, "the status list is not zlib-compressed") from None


def status_value(data: bytes, index: int, bits: int = STATUS_BITS) -> int:
    per_byte = 8 // bits
    if index < 0 or index // per_byte >= len(data):
        raise InvalidArgument(STATUS_LIST_INVALID, "the status index lies outside the status list")
    return (data[index // per_byte] >> ((index % per_byte) * bits)) & ((1 << bits) - 1)


@dataclass(frozen=True)
class StatusList:
    uri: str
    issuer: str
    issued_at: int
    ttl: int
    bits: int
    lst: str

    def fresh(self, now: float) -> bool:
        return now < self.issued_at + self.ttl

    @cached_property
    def _data(self) -> bytes:  # decompressed once per fetched list, not per lookup
        return status_bytes(self.lst)

    def status_at(self, index: int) -> str:
        return STATUS_NAMES.get(status_value(self._data, index, self.bits), "invalid")


def parse_status_list(token: str, roots: Sequence[x509.Certificate], now: float | None = None) -> StatusList:
    """Verify a status list token's signature and issuer chain (not its freshness)."""
    try:
        parsed = jose.Compact(token)
        chain = parsed.x5c()
    except HutongError:
        raise InvalidArgument(STATUS_LIST_INVALID, "the status list is not a compact JWS") from None
    problem = chain_problem(chain, roots, datetime.fromtimestamp(now or time.time(), UTC))
    if parsed.header.get("typ") != STATUS_LIST_TYP or problem:
        raise InvalidArgument(STATUS_LIST_INVALID, f"the status list is not trusted: {problem or 'typ'}")
    try:
        parsed.verify(chain[0].public_key())
        p = parsed.payload
        return StatusList(uri=str(p["sub"]), issuer=organisation_id(chain[0]), issued_at=int(p["iat"]),
                          ttl=int(p["ttl"]), bits=int(p["status_list"]["bits"]), lst=str(p["status_list"]["lst"]))
    except (HutongError, KeyError, TypeError, ValueError):
        raise InvalidArgument(STATUS_LIST_INVALID, "the status list's signature or content is wrong") from None


def stale_error(uri: str) -> FailedPrecondition:
    return FailedPrecondition(STATUS_LIST_STALE, f"status list {uri} is older than its time-to-live",
                              metadata={"list": uri})


class CacheObserver(Protocol):
    """What a cache reports (the node's metrics; nothing in the SDK)."""

    def used(self, age_seconds: float) -> None: ...

    def stale(self) -> None: ...


class _Silent:
    def used(self, age_seconds: float) -> None:
        pass

    def stale(self) -> None:
        pass


class StatusListCache:
    """Verifier-side cache: a list is used until its TTL runs out, then fetched again; a list that
    cannot be refreshed is refused (STATUS_LIST_STALE), never used stale."""

    def __init__(self, roots: Roots, fetch: Callable[[str], str] | None = None,
                 clock: Callable[[], float] = time.time, observer: CacheObserver | None = None) -> None:
        self._roots, self._fetch, self._clock = roots, fetch, clock
        self._observer: CacheObserver = observer or _Silent()
        self._lists: dict[str, StatusList] = {}
        self._lock = threading.Lock()

    def put(self, token: str) -> StatusList:
        lst = parse_status_list(token, self._roots(), self._clock())
        with self._lock:
            self._lists[lst.uri] = lst
        return lst

    def get(self, uri: str) -> StatusList:
        with self._lock:
            cached = self._lists.get(uri)
        if cached is not None and cached.fresh(self._clock()):
            self._observer.used(self._clock() - cached.issued_at)
            return cached
        if self._fetch is None:
            self._observer.stale()
            raise stale_error(uri)
        lst = self.put(self._fetch(uri))
        if not lst.fresh(self._clock()):
            self._observer.stale()
            raise stale_error(uri)
        self._observer.used(self._clock() - lst.issued_at)
        return lst

    def status_of(self, claims: Mapping[str, Any]) -> str:
        try:
            ref = claims["status"]["status_list"]
            uri, index = str(ref["uri"]), int(ref["idx"])
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument(jose.JWS_INVALID, "the JWS has no usable status reference") from None
        lst = self.get(uri)
        if lst.issuer != claims.get("iss"):
            raise InvalidArgument(STATUS_LIST_INVALID, "the status list was signed by another issuer")
        return lst.status_at(index)
