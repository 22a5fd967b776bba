"""Who is calling the HTTP edge: the client's address, for per-caller limits.

Behind a reverse proxy every request arrives from the proxy's address, so a limit keyed on the socket
peer would put every caller in one bucket. ``[edge] trusted_proxies`` lists the proxies (addresses or
CIDR networks) whose ``X-Forwarded-For`` is believed: walking that header from the right (each proxy
appends the address it saw), the first address that is not itself a trusted proxy is the caller. From
any other peer the header is ignored, so a caller cannot pick a fresh bucket by inventing one.

The answer is shaped like a gRPC peer (``ipv4:203.0.113.5:0``), so the gRPC API and the edge key
their limits the same way (``cert_svc.ratelimit.caller_key``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(spec: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1"`` -> networks; ValueError on anything else."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.5:51234"
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_address(peer_host: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The caller's address as a gRPC-style peer string; ``edge:unknown`` when the socket has none."""
    peer = _address(peer_host or "")
    if peer is None:
        return "edge:unknown"
    if any(peer in net for net in trusted):
        hops = [h for header in forwarded_for for h in header.split(",") if h.strip()]
        for hop in reversed(hops):
            seen = _address(hop)
            if seen is None:  # a malformed hop: nothing left of it can be believed
                break
            peer = seen
            if not any(seen in net for net in trusted):
                break
    kind = "ipv6" if peer.version == 6 else "ipv4"
    host = f"[{peer}]" if peer.version == 6 else str(peer)
    return f"{kind}:{host}:0"
