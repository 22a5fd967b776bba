"""X.509 trust material: does a chain lead to a trusted root, and what does a certificate say of its holder.

Pure functions of certificate bytes (``Certificate`` hashes and compares by its DER), so the expensive parts
are cached per chain. The issuer certificate's authorised-types extension and the seal certificate's subject
(organisation, USCC, seal id) are read here for every verifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

# Private OID (UUID arc, X.667) for the extension listing the type codes an issuer may issue.
AUTHORISED_TYPES_OID = x509.ObjectIdentifier("2.25.178327014306154391062463826412553384321")
USCC_PREFIX = "NTRCN-"  # organizationIdentifier of a legal person (ETSI EN 319 412-1 semantics)


class _TypeCodes(asn1_core.SequenceOf):
    _child_spec = asn1_core.UTF8String


def chain_problem(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], at: datetime) -> str:
    """Why ``chain`` (leaf first) does not lead to one of ``roots`` at time ``at``; empty when it does."""
    if not chain:
        return "no certificate chain"
    for cert in chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            return f"certificate {cert.subject.rfc4514_string()} is outside its validity period"
    return _path_problem(tuple(chain), tuple(roots))


@lru_cache(maxsize=256)
def _path_problem(chain: tuple[x509.Certificate, ...], roots: tuple[x509.Certificate, ...]) -> str:
    """The time-independent part of ``chain_problem`` (signatures, CA flags, anchor), computed once per chain."""
    for child, parent in zip(chain, chain[1:], strict=False):
        if not issued_by(child, parent) or not is_ca(parent):
            return "the certificate chain is broken"
    top = chain[-1]
    if any(top.fingerprint(hashes.SHA256()) == r.fingerprint(hashes.SHA256()) for r in roots):
        return ""
    if any(issued_by(top, r) for r in roots):
        return ""
    return "the chain does not lead to a trusted root"


def issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """True when ``parent`` signed ``child`` (names match and the signature verifies)."""
    try:
        child.verify_directly_issued_by(parent)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def authorised_types_extension(codes: Sequence[str]) -> x509.Extension[x509.ExtensionType]:
    value = x509.UnrecognizedExtension(AUTHORISED_TYPES_OID, _TypeCodes(list(codes)).dump())
    return x509.Extension(AUTHORISED_TYPES_OID, False, value)


def authorised_types(cert: x509.Certificate) -> set[str]:
    """The type codes an issuer certificate is authorised for (empty: none)."""
    return set(_authorised_types(cert))


@lru_cache(maxsize=256)
def _authorised_types(cert: x509.Certificate) -> frozenset[str]:
    try:
        ext = cert.extensions.get_extension_for_oid(AUTHORISED_TYPES_OID).value
    except x509.ExtensionNotFound:
        return frozenset()
    return frozenset(str(v.native) for v in _TypeCodes.load(ext.value))  # type: ignore[attr-defined]


@lru_cache(maxsize=256)
def organisation_id(cert: x509.Certificate) -> str:
    """The subject's organizationIdentifier as written (an issuer's USCC)."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    return str(attrs[0].value) if attrs else ""


@dataclass(frozen=True)
class SealIdentity:
    org_name: str
    org_uscc: str
    seal_id: str
    seal_name: str


def seal_identity(der: bytes) -> SealIdentity:
    """Organisation, USCC and seal id from a seal certificate (DER)."""
    parsed = x509.load_der_x509_certificate(der)

    def first(oid: x509.ObjectIdentifier) -> str:
        attrs = parsed.subject.get_attributes_for_oid(oid)
        value = attrs[0].value if attrs else ""
        return value if isinstance(value, str) else value.decode("utf-8", "replace")

    return SealIdentity(
        org_name=first(NameOID.ORGANIZATION_NAME),
        org_uscc=first(NameOID.ORGANIZATION_IDENTIFIER).removeprefix(USCC_PREFIX),
        seal_id=first(NameOID.SERIAL_NUMBER),
        seal_name=first(NameOID.COMMON_NAME),
    )
