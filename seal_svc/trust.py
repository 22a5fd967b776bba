"""Which CAs a verifier trusts, and with which revocation data: a pluggable source.

A ``TrustSource`` is any callable returning ``TrustMaterial``. ``local_trust`` is this node's own root
(with its seal CA, TSA and current CRLs); ``node_trust`` adds every federation member's (trust list +
their published CRLs) -- the default of the node's verifier.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import grpc
from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule

from hutong import pki
from hutong.federation.trustlist import MemberEntry
from hutong.node import Node
from hutong.seal.v1 import seal_pb2, seal_pb2_grpc
from seal_svc.crl import current_crl, seal_ca_crls


@dataclass(frozen=True)
class TrustMaterial:
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()  # CA/TSA certificates that help build paths
    crls_der: tuple[bytes, ...] = ()
    # The seal CAs among them: a seal's certificate must be issued by one of these, not merely chain to a root
    # (a department's or the TSA's certificate is no seal). Empty: not checked (material from elsewhere).
    seal_cas: tuple[x509.Certificate, ...] = ()


TrustSource = Callable[[], TrustMaterial]
log = logging.getLogger("hutong.seal")


def local_trust(node: Node, *, crl_hours: int = 24) -> TrustSource:
    """This node's root, seal CA and TSA, with fresh CRLs of the seal CA and the root."""

    def source() -> TrustMaterial:
        return TrustMaterial(
            roots=tuple(node.pki.with_retired(pki.ROOT)),
            intermediates=(*node.pki.with_retired(pki.SEAL_CA), *node.pki.with_retired(pki.TSA)),
            crls_der=(*(c.der for c in seal_ca_crls(node, hours=crl_hours)),
                      current_crl(node, pki.ROOT, hours=crl_hours).der),
            seal_cas=tuple(node.pki.with_retired(pki.SEAL_CA)),
        )

    return source


class MemberCrls:
    """Other members' published CRLs (seal CA and root), fetched from their SealService and cached until
    their next update. An unreachable member keeps its last CRLs; once those expire, its seals verify as
    revocation-unknown (indeterminate), never as good."""

    def __init__(self, fetch: Callable[[MemberEntry], tuple[bytes, ...]] | None = None, *,
                 refresh_seconds: float = 300.0) -> None:
        self._fetch = fetch or fetch_member_crls
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


def fetch_member_crls(member: MemberEntry, *, timeout: float = 5.0) -> tuple[bytes, ...]:
    """GetCrl on the member's first endpoint: its seal CA's and root's CRLs."""
    if not member.endpoints:
        raise ValueError("the member lists no endpoint")
    with grpc.insecure_channel(member.endpoints[0]) as channel:
        resp = seal_pb2_grpc.SealServiceStub(channel).GetCrl(seal_pb2.GetCrlRequest(), timeout=timeout)
    return (bytes(resp.crl_der), bytes(resp.root_crl_der), *(bytes(d) for d in resp.other_crl_der))


def member_trust(node: Node, crls: MemberCrls | None = None) -> TrustSource:
    """Every other federation member's root (trust anchor), seal CA and TSA, with their published CRLs.

    Fails closed with TRUST_LIST_STALE when the node's trust list is stale past its grace period.
    """
    refresh = float(node.config.section("federation").get("crl_refresh_seconds", 300))
    cache = crls or MemberCrls(refresh_seconds=refresh)

    def source() -> TrustMaterial:
        tl = node.trust.trust_list()
        members = [m for m in (tl.members if tl else ()) if m.node_id != node.id]
        return TrustMaterial(
            roots=tuple(c for m in members for c in m.certificates("root")),
            intermediates=tuple(c for m in members for role in ("seal", "tsa") for c in m.certificates(role)),
            crls_der=tuple(d for m in members for d in cache.crls(m)),
            seal_cas=tuple(c for m in members for c in m.certificates("seal")),
        )

    return source


def node_trust(node: Node, *, crl_hours: int = 24) -> TrustSource:
    """What this node's verifier trusts: itself, plus every member of its federation."""
    return combine(local_trust(node, crl_hours=crl_hours), member_trust(node))


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


# Every certificate below a trust anchor must have revocation data (CRLs come with the trust
# material, nothing is fetched): a seal whose status cannot be checked is not reported good.
REVOCATION_REQUIRED = CertRevTrustPolicy(RevocationCheckingPolicy(
    ee_certificate_rule=RevocationCheckingRule.CRL_REQUIRED,
    intermediate_ca_cert_rule=RevocationCheckingRule.CRL_REQUIRED,
))


def validation_context(material: TrustMaterial) -> ValidationContext:
    """pyHanko/certvalidator context over the material: no network, CRLs required, time = now.

    A new context per call (its validation time is now, and it keeps per-validation state); the parsed
    certificates and CRLs in it are reused until the material changes (a CRL re-issued or re-fetched is new
    bytes, so a new parse). When sealing at B-LT/B-LTA pyHanko embeds exactly these in the DSS.
    """
    der = serialization.Encoding.DER
    return ValidationContext(
        trust_roots=[_parsed_cert(c.public_bytes(der)) for c in material.roots],
        other_certs=[_parsed_cert(c.public_bytes(der)) for c in material.intermediates],
        crls=[_parsed_crl(d) for d in material.crls_der],
        allow_fetching=False,
        revinfo_policy=REVOCATION_REQUIRED,
    )


# Parsed in full when first seen (``.native``), so the threads sharing them only read them afterwards.
@lru_cache(maxsize=512)
def _parsed_cert(der: bytes) -> asn1_x509.Certificate:
    cert = asn1_x509.Certificate.load(der)
    _ = cert.native, cert.sha256, cert.issuer_serial
    return cert


@lru_cache(maxsize=128)
def _parsed_crl(der: bytes) -> asn1_crl.CertificateList:
    crl = asn1_crl.CertificateList.load(der)
    _ = crl.native, crl.sha256
    return crl
