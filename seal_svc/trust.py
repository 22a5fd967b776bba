"""Which CAs a verifier trusts, and with which revocation data: a pluggable source.

A ``TrustSource`` is any callable returning ``TrustMaterial``. The default is this node's own root
(with its seal CA, TSA and current CRLs); the federation adds every member's through ``combine``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import crl as asn1_crl
from cryptography import x509
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.policy_decl import CertRevTrustPolicy, RevocationCheckingPolicy, RevocationCheckingRule

from hutong import pki
from hutong.node import Node
from seal_svc.crl import current_crl
from seal_svc.pdf_signer import to_asn1


@dataclass(frozen=True)
class TrustMaterial:
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()  # CA/TSA certificates that help build paths
    crls_der: tuple[bytes, ...] = ()


TrustSource = Callable[[], TrustMaterial]


def local_trust(node: Node, *, crl_hours: int = 24) -> TrustSource:
    """This node's root, seal CA and TSA, with fresh CRLs of the seal CA and the root."""

    def source() -> TrustMaterial:
        return TrustMaterial(
            roots=(node.pki.certificate(pki.ROOT),),
            intermediates=(node.pki.certificate(pki.SEAL_CA), node.pki.certificate(pki.TSA)),
            crls_der=(current_crl(node, pki.SEAL_CA, hours=crl_hours).der,
                      current_crl(node, pki.ROOT, hours=crl_hours).der),
        )

    return source


def combine(*sources: TrustSource) -> TrustSource:
    """One source out of several (e.g. this node's and every federation member's)."""

    def source() -> TrustMaterial:
        parts = [s() for s in sources]
        return TrustMaterial(
            roots=tuple(c for p in parts for c in p.roots),
            intermediates=tuple(c for p in parts for c in p.intermediates),
            crls_der=tuple(c for p in parts for c in p.crls_der),
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

    When sealing at B-LT/B-LTA pyHanko embeds exactly these certificates and CRLs in the DSS.
    """
    return ValidationContext(
        trust_roots=[to_asn1(c) for c in material.roots],
        other_certs=[to_asn1(c) for c in material.intermediates],
        crls=[asn1_crl.CertificateList.load(d) for d in material.crls_der],
        allow_fetching=False,
        revinfo_policy=REVOCATION_REQUIRED,
    )
