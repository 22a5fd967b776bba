"""Token buckets keyed by caller, shared by every worker process of a node.

``hutong serve --workers N`` runs N processes behind one port. Buckets kept in each process's own memory
would let a caller whose connections the kernel spreads over the N workers get N times the rate. So the
parent makes one table in shared memory (``Buckets.shared``) before it spawns the workers, passes it to
each, and each installs it (``install``) before it wires its services; a limiter then takes its table from
``for_limits()``. A single process (``--workers 1``, tests, tools) gets a table in its own memory: the
same code either way.

The table has a fixed number of slots, addressed by a 64-bit hash of the key with a short linear probe.
When every slot of a key's probe run holds another key, the fullest bucket there is forgotten: a
forgotten bucket starts full again, which gives its caller nothing it would not have after waiting.
Slots are never emptied, so a key's slot always comes before the first empty one of its run. Times
are ``time.monotonic()`` values, one clock for every process of the machine.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
from multiprocessing.context import SpawnContext
from typing import Any

SLOTS = 1 << 16  # 65,536 callers tracked at once (24 bytes each)
PROBE = 8


class Buckets:
    """Token buckets: ``take`` one token from a key's bucket, refilled at ``rate`` per second up to ``burst``."""

    def __init__(self, keys: Any, values: Any, lock: Any) -> None:
        self._keys = keys  # uint64 per slot: the key's hash, 0 = empty
        self._values = values  # two doubles per slot: tokens, time of the last update
        self._lock = lock
        self._slots = len(keys)

    @classmethod
    def local(cls, slots: int = SLOTS) -> Buckets:
        """A table in this process's memory."""
        return cls((ctypes.c_uint64 * slots)(), (ctypes.c_double * (2 * slots))(), threading.Lock())

    @classmethod
    def shared(cls, ctx: SpawnContext, slots: int = SLOTS) -> Buckets:
        """A table in shared memory for the processes ``ctx`` starts: pass it to them as a Process argument."""
        return cls(ctx.RawArray(ctypes.c_uint64, slots), ctx.RawArray(ctypes.c_double, 2 * slots), ctx.Lock())

    def __getstate__(self) -> dict[str, Any]:  # pickled only while spawning a worker (shared tables)
        return {"keys": self._keys, "values": self._values, "lock": self._lock}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["keys"], state["values"], state["lock"])  # type: ignore[misc]

    def take(self, key: str, *, rate: float, burst: float, now: float) -> float | None:
        """Take one token from ``key``'s bucket. None when it was taken; otherwise the tokens the bucket
        holds (less than one), from which the caller works out how long to wait."""
        h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") or 1
        keys, values = self._keys, self._values
        with self._lock:
            slot, tokens = self._find(h, rate, burst, now)
            if keys[slot] != h:  # a new key (or one forgotten): a full bucket
                keys[slot], tokens = h, burst
            if tokens < 1.0:
                values[2 * slot], values[2 * slot + 1] = tokens, now
                return tokens
            values[2 * slot], values[2 * slot + 1] = tokens - 1.0, now
            return None

    def _find(self, h: int, rate: float, burst: float, now: float) -> tuple[int, float]:
        """The slot holding ``h`` and its refilled tokens; else the first empty slot, else the fullest one."""
        keys, values = self._keys, self._values
        victim, fullest = -1, -1.0
        for step in range(min(PROBE, self._slots)):
            slot = (h + step) % self._slots
            held = keys[slot]
            if held == 0:
                return slot, burst
            tokens = min(burst, values[2 * slot] + (now - values[2 * slot + 1]) * rate)
            if held == h:
                return slot, tokens
            if tokens > fullest:
                victim, fullest = slot, tokens
        return victim, burst


_installed: Buckets | None = None


def install(table: Buckets) -> None:
    """Make ``table`` (from the parent) the one every limiter of this worker process uses."""
    global _installed
    _installed = table


def for_limits() -> Buckets:
    """The worker's shared table if the parent made one; else a table of the caller's own."""
    return _installed if _installed is not None else Buckets.local()
