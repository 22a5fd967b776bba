"""Anonymous verification by identifier is rate limited per caller.

Random serials make identifiers unguessable; the limit bounds what someone holding many candidate
identifiers (or a leaked list) can learn per minute about their status without credentials. A token
bucket per caller key (the peer address for anonymous calls; behind the HTTP edge the client's address,
``hutong.edge.clients``), in a table every worker process of the node shares (``hutong.buckets``), so the
limit holds for the node as a whole whichever worker a connection lands on.
Authenticated callers are not limited here. Settings (``[cert]``):
``verify_per_minute`` (default 60) and ``verify_burst`` (default 20).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from cert_svc import reasons
from cert_svc.settings import load_settings
from hutong import buckets
from hutong.errors import ResourceExhausted
from hutong.node import Node


class RateLimiter:
    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 table: buckets.Buckets | None = None) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._table = table or buckets.for_limits()

    @classmethod
    def for_verification(cls, node: Node) -> RateLimiter:
        cfg = load_settings(node.config)
        return cls(cfg.verify_per_minute, cfg.verify_burst)

    def take(self, key: str) -> None:
        """One request for ``key``; VERIFY_RATE_LIMITED (with retry_after_seconds) when its bucket is empty."""
        short = self._table.take(f"verify:{key}", rate=self.rate, burst=self.burst, now=self.clock())
        if short is not None:
            wait = max(1, math.ceil((1.0 - short) / self.rate)) if self.rate > 0 else 60
            raise ResourceExhausted(reasons.VERIFY_RATE_LIMITED,
                                    f"too many anonymous verifications: try again in {wait} s, or call with "
                                    "credentials", metadata={"retry_after_seconds": str(wait)})


def caller_key(peer: str) -> str:
    """``ipv4:127.0.0.1:5000`` -> ``127.0.0.1`` (one bucket per address, whatever the port)."""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return rest.rpartition(":")[0] or rest
    return peer
