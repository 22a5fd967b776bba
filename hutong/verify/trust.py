"""Trust material for sealed-PDF verification: the roots, intermediates, CRLs and seal CAs a verifier uses.

A ``TrustSource`` is any callable returning ``TrustMaterial`` (the node builds its own and its federation
members'; the SDK builds it from a node's ``GetCrl`` answer); ``combine`` makes one out of several.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509


@dataclass(frozen=True)
class TrustMaterial:
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()  # CA/TSA certificates that help build paths
    crls_der: tuple[bytes, ...] = ()
    # The seal CAs among them: a seal's certificate must be issued by one of these, not merely chain to a root
    # (a department's or the TSA's certificate is no seal). Empty: not checked (material from elsewhere).
    seal_cas: tuple[x509.Certificate, ...] = ()


TrustSource = Callable[[], TrustMaterial]


def combine(*sources: TrustSource) -> TrustSource:
    """One source out of several (e.g. this node's and every federation member's)."""

    def source() -> TrustMaterial:
        parts = [s() for s in sources]
        return TrustMaterial(
            roots=tuple(c for p in parts for c in p.roots),
            intermediates=tuple(c for p in parts for c in p.intermediates),
            crls_der=tuple(c for p in parts for c in p.crls_der),
            seal_cas=tuple(c for p in parts for c in p.seal_cas),
        )

    return source
