"""Which CAs this node's verifier trusts, and with which revocation data.

A ``TrustSource`` (``hutong.verify.trust``) is any callable returning ``TrustMaterial``. ``local_trust``
is this node's own root (with its seal CA, TSA and current CRLs); ``node_trust`` adds every federation
member's (trust list + their published CRLs) -- the default of the node's verifier.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography import x509

from hutong import pki
from hutong.federation import transport
from hutong.federation.settings import federation_settings
from hutong.federation.trustlist import MemberEntry
from hutong.node import Node
from hutong.verify.trust import TrustMaterial, TrustSource, combine
from seal_svc.crl import root_crls, seal_ca_crls

log = logging.getLogger("hutong.seal")


def local_trust(node: Node, *, crl_hours: int = 24) -> TrustSource:
    """This node's root, seal CA and TSA, with fresh CRLs of the seal CA and the root."""

    def source() -> TrustMaterial:
        return TrustMaterial(
            roots=tuple(node.pki.with_retired(pki.ROOT)),
            intermediates=(*node.pki.with_retired(pki.SEAL_CA), *node.pki.with_retired(pki.TSA),
                           *node.pki.cross_certificates()),
            crls_der=(*(c.der for c in seal_ca_crls(node, hours=crl_hours)),
                      *(c.der for c in root_crls(node, hours=crl_hours))),
            seal_cas=tuple(node.pki.with_retired(pki.SEAL_CA)),
        )

    return source


class MemberCrls:
    """Other members' published CRLs (seal CA and root), fetched from their SealService and cached until
    their next update. An unreachable member keeps its last CRLs; once those expire, its seals verify as
    revocation-unknown (indeterminate), never as good."""

    def __init__(self, fetch: Callable[[MemberEntry], tuple[bytes, ...]], *,
                 refresh_seconds: float = 300.0) -> None:
        self._fetch = fetch
        self._refresh = timedelta(seconds=refresh_seconds)  # re-fetch this often even if a CRL is still current
        self._cache: dict[str, tuple[datetime, tuple[bytes, ...]]] = {}
        self._lock = threading.Lock()

    def crls(self, member: MemberEntry) -> tuple[bytes, ...]:
        now = datetime.now(UTC)
        with self._lock:
            cached = self._cache.get(member.node_id)
        if cached and now < cached[0]:
            return cached[1]
        try:
            ders = self._fetch(member)
        except Exception as exc:  # noqa: BLE001 - a member being down must not break verification here
            log.warning("cannot fetch the CRLs of node %s (%s): using what is cached", member.node_id, exc)
            return cached[1] if cached else ()
        next_update = min((x509.load_der_x509_crl(d).next_update_utc or now for d in ders), default=now)
        with self._lock:
            self._cache[member.node_id] = (min(next_update, now + self._refresh), ders)
        return ders


def member_trust(node: Node, crls: MemberCrls | None = None) -> TrustSource:
    """Every other federation member's root (trust anchor), seal CA and TSA, with their published CRLs.

    Fails closed with TRUST_LIST_STALE when the node's trust list is stale past its grace period.
    """
    refresh = federation_settings(node.config).crl_refresh_seconds
    if crls is None:

        crls = MemberCrls(lambda m: transport.fetch_crls(node, m), refresh_seconds=refresh)
    cache = crls

    def source() -> TrustMaterial:
        tl = node.trust.trust_list()
        members = [m for m in (tl.members if tl else ()) if m.node_id != node.id]
        return TrustMaterial(
            roots=tuple(c for m in members for c in m.certificates("root")),
            intermediates=tuple([c for m in members for role in ("seal", "tsa") for c in m.certificates(role)]
                                + [c for m in members for c in m.cross()]),
            crls_der=tuple(d for m in members for d in cache.crls(m)),
            seal_cas=tuple(c for m in members for c in m.certificates("seal")),
        )

    return source


def node_trust(node: Node, *, crl_hours: int = 24) -> TrustSource:
    """What this node's verifier trusts: itself, plus every member of its federation."""
    return combine(local_trust(node, crl_hours=crl_hours), member_trust(node))


