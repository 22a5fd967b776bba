"""Pure JOSE pieces shared by the server and the SDK: compact JWS (ES256), x5c chains, the issuer
certificate's authorised-types extension, and the status list bitstring.

Status lists follow the IETF OAuth Token Status List draft: a JWS (``typ: statuslist+jwt``) whose
``status_list`` claim holds ``bits`` per entry and ``lst`` = base64url(zlib(bytes)), entry ``i`` in
the low-order bits first. No HSM, database or gRPC here: the SDK verifies offline with this module.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from cert_svc import reasons
from hutong.errors import InvalidArgument

CERT_TYP = "hutong-cert+jwt"
QR_TYP = "hutong-cert-qr+jwt"
STATUS_LIST_TYP = "statuslist+jwt"
STATUS_BITS = 4

# Lifecycle state <-> status list value. 0/1/2 as the draft registers them (VALID/INVALID/SUSPENDED);
# the others in its application-specific ranges (0x03, 0x0B-0x0F).
STATUS_VALUES: dict[str, int] = {
    "valid": 0x00, "revoked": 0x01, "suspended": 0x02, "cancelled": 0x03,
    "deregistered": 0x0B, "invalid": 0x0C, "transferred_out": 0x0D,
}
STATUS_NAMES = {v: k for k, v in STATUS_VALUES.items()}

# Private OID (UUID arc, X.667) for the extension listing the type codes an issuer may issue.
AUTHORISED_TYPES_OID = x509.ObjectIdentifier("2.25.178327014306154391062463826412553384321")


class _TypeCodes(asn1_core.SequenceOf):
    _child_spec = asn1_core.UTF8String


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise _invalid("is not base64url") from None


def _invalid(why: str) -> InvalidArgument:
    return InvalidArgument(reasons.JWS_INVALID, f"the JWS {why}")


def _json(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


# -- compact JWS ---------------------------------------------------------------------------------

def sign_compact(header: Mapping[str, Any], payload: Mapping[str, Any], sign_raw: Callable[[bytes], bytes]) -> str:
    """``sign_raw(signing_input) -> r||s`` (ES256, the HSM hashes with SHA-256)."""
    signing_input = b64u(_json({**header, "alg": "ES256"})) + "." + b64u(_json(payload))
    return signing_input + "." + b64u(sign_raw(signing_input.encode()))


class Compact:
    """A parsed compact JWS; nothing is trusted until ``verify`` passes."""

    def __init__(self, token: str) -> None:
        parts = token.strip().split(".")
        if len(parts) != 3:
            raise _invalid("is not in compact serialisation (three dot-separated parts)")
        try:
            self.header: dict[str, Any] = json.loads(b64u_decode(parts[0]))
            self.payload: dict[str, Any] = json.loads(b64u_decode(parts[1]))
        except (ValueError, UnicodeDecodeError):
            raise _invalid("header or payload is not JSON") from None
        if not isinstance(self.header, dict) or not isinstance(self.payload, dict):
            raise _invalid("header or payload is not a JSON object")
        if self.header.get("alg") != "ES256":
            raise _invalid("does not use ES256")
        self.signing_input = (parts[0] + "." + parts[1]).encode()
        self.signature = b64u_decode(parts[2])
        self.token = token.strip()

    def x5c(self) -> list[x509.Certificate]:
        values = self.header.get("x5c") or []
        try:
            if isinstance(values, list) and all(isinstance(v, str) for v in values):
                return list(_load_x5c(tuple(values)))  # the same few issuer chains over and over: parsed once
            return [x509.load_der_x509_certificate(base64.b64decode(c)) for c in values]
        except (ValueError, TypeError):
            raise _invalid("x5c header holds an unreadable certificate") from None

    def verify(self, public_key: Any) -> None:
        """Raise JWS_INVALID unless the signature is by ``public_key`` (P-256)."""
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or len(self.signature) != 64:
            raise _invalid("signature is not an ES256 signature")
        r, s = int.from_bytes(self.signature[:32], "big"), int.from_bytes(self.signature[32:], "big")
        try:
            public_key.verify(encode_dss_signature(r, s), self.signing_input, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise _invalid("signature does not verify: the content was changed or signed by another key") from None


@lru_cache(maxsize=256)
def _load_x5c(values: tuple[str, ...]) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_der_x509_certificate(base64.b64decode(c)) for c in values)


def x5c_value(chain: Sequence[x509.Certificate]) -> list[str]:
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in chain]


def kid_of(cert: x509.Certificate) -> str:
    """RFC 7638 JWK thumbprint of the certificate's EC public key."""
    numbers = cert.public_key().public_numbers()  # type: ignore[union-attr]
    jwk = {"crv": "P-256", "kty": "EC", "x": b64u(numbers.x.to_bytes(32, "big")),  # type: ignore[union-attr]
           "y": b64u(numbers.y.to_bytes(32, "big"))}  # type: ignore[union-attr]
    return b64u(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest())


def digest(token: str) -> str:
    return b64u(hashlib.sha256(token.encode()).digest())


# -- certificate chains --------------------------------------------------------------------------

def chain_problem(chain: Sequence[x509.Certificate], roots: Sequence[x509.Certificate], at: datetime) -> str:
    """Why ``chain`` (leaf first) does not lead to one of ``roots``; empty when it does."""
    if not chain:
        return "no certificate chain"
    for cert in chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            return f"certificate {cert.subject.rfc4514_string()} is outside its validity period"
    return _path_problem(tuple(chain), tuple(roots))


@lru_cache(maxsize=256)
def _path_problem(chain: tuple[x509.Certificate, ...], roots: tuple[x509.Certificate, ...]) -> str:
    """The time-independent part of ``chain_problem`` (signatures, CA flags, anchor): a pure function of the
    certificates' bytes (``Certificate`` hashes and compares by its DER), so it is computed once per chain."""
    for child, parent in zip(chain, chain[1:], strict=False):
        if not _issued_by(child, parent) or not _is_ca(parent):
            return "the certificate chain is broken"
    top = chain[-1]
    if any(top.fingerprint(hashes.SHA256()) == r.fingerprint(hashes.SHA256()) for r in roots):
        return ""
    if any(_issued_by(top, r) for r in roots):
        return ""
    return "the chain does not lead to a trusted root"


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _is_ca(cert: x509.Certificate) -> bool:
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
    attrs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    return str(attrs[0].value) if attrs else ""


# -- status list bitstring -----------------------------------------------------------------------

def pack_status(values: Mapping[int, int], size: int, bits: int = STATUS_BITS) -> str:
    """``{index: value}`` (others 0) -> base64url(zlib(bytes)), ``size`` entries."""
    per_byte = 8 // bits
    data = bytearray((size + per_byte - 1) // per_byte)
    for idx, value in values.items():
        data[idx // per_byte] |= (value & ((1 << bits) - 1)) << ((idx % per_byte) * bits)
    return b64u(zlib.compress(bytes(data), 9))


def unpack_status(lst: str, index: int, bits: int = STATUS_BITS) -> int:
    return status_value(status_bytes(lst), index, bits)


def status_bytes(lst: str) -> bytes:
    """The decompressed bitstring of a status list's ``lst`` (decode once per fetched list)."""
    try:
        return zlib.decompress(b64u_decode(lst))
    except zlib.error:
        raise InvalidArgument(reasons.STATUS_LIST_INVALID, "the status list is not zlib-compressed") from None


def status_value(data: bytes, index: int, bits: int = STATUS_BITS) -> int:
    per_byte = 8 // bits
    if index < 0 or index // per_byte >= len(data):
        raise InvalidArgument(reasons.STATUS_LIST_INVALID, "the status index lies outside the status list")
    return (data[index // per_byte] >> ((index % per_byte) * bits)) & ((1 << bits) - 1)
