"""Compact JWS (RFC 7515) with EC keys: the signing input, JWK/JWKS (RFC 7517), thumbprints (RFC 7638).

One code path for every JWS Hutong makes or checks (identity tokens, federation assertions, trust lists,
e-certificates, QR content, status lists). Signing needs only an object that signs raw ECDSA (r||s) —
the HSM's signer in the node; verification uses ``cryptography`` on public keys alone. Header and claims
are serialised as compact JSON with sorted keys, so the same claims always give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from hutong.errors import InvalidArgument, Unauthenticated

JWS_INVALID = "JWS_INVALID"
JWS_MALFORMED = "JWS_MALFORMED"
JWS_UNKNOWN_KEY = "JWS_UNKNOWN_KEY"
KEY_ALGORITHM_UNSUPPORTED = "KEY_ALGORITHM_UNSUPPORTED"

# JWS alg -> (curve name in JWK, hash, coordinate size, cryptography curve class)
_ALGS: dict[str, tuple[str, str, int, type[ec.EllipticCurve]]] = {
    "ES256": ("P-256", "sha256", 32, ec.SECP256R1),
    "ES384": ("P-384", "sha384", 48, ec.SECP384R1),
}
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384}


class RawSigner(Protocol):
    """What signs a JWS: the HSM's ``HsmSigner`` in a node (the key never leaves the token)."""

    @property
    def public_key(self) -> Any: ...

    def sign_raw_ecdsa(self, data: bytes, *, hash_name: str = "sha256") -> bytes: ...


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text: str) -> bytes:
    """base64url without padding; raises ``ValueError`` on anything else."""
    if not isinstance(text, str):
        raise ValueError("not text")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_json(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def alg_of(public_key: Any) -> str:
    """The JWS algorithm of an EC public key (ES256 for P-256, ES384 for P-384)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        for alg, (_, _, _, curve) in _ALGS.items():
            if isinstance(public_key.curve, curve):
                return alg
    raise InvalidArgument(KEY_ALGORITHM_UNSUPPORTED, "only EC P-256 and P-384 keys sign JWS here")


# -- keys --------------------------------------------------------------------------------------------

def public_jwk(public_key: Any, *, kid: str | None = None) -> dict[str, str]:
    """The public JWK of an EC key (``kid`` defaults to its RFC 7638 thumbprint)."""
    alg = alg_of(public_key)
    crv, _, size, _ = _ALGS[alg]
    nums = public_key.public_numbers()
    jwk = {"kty": "EC", "crv": crv, "x": b64u(nums.x.to_bytes(size, "big")), "y": b64u(nums.y.to_bytes(size, "big"))}
    return {**jwk, "kid": kid or thumbprint(jwk), "alg": alg, "use": "sig"}


def rsa_encryption_jwk(public_key: rsa.RSAPublicKey) -> dict[str, str]:
    """Public JWK of an RSA key that receives JWE (RSA-OAEP)."""
    nums = public_key.public_numbers()
    jwk = {"kty": "RSA", "n": b64u(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")),
           "e": b64u(nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big"))}
    return {**jwk, "kid": thumbprint(jwk), "alg": "RSA-OAEP", "use": "enc"}


def thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638 JWK thumbprint: SHA-256 over the required members (EC: crv kty x y; RSA: e kty n)."""
    members = ("e", "kty", "n") if jwk.get("kty") == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({k: jwk[k] for k in members}, separators=(",", ":"), sort_keys=True).encode()
    return b64u(hashlib.sha256(canonical).digest())


def kid_of(cert: x509.Certificate) -> str:
    """The key id of a certificate's EC key: the RFC 7638 thumbprint of its JWK."""
    return public_jwk(cert.public_key())["kid"]


def jwk_public_key(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    """The EC public key a JWK describes (built once per distinct JWK: that is most of a verification)."""
    try:
        return _jwk_key(str(jwk["crv"]), str(jwk["x"]), str(jwk["y"]))
    except (KeyError, TypeError, ValueError):
        raise InvalidArgument(JWS_MALFORMED, "the JWK is not an EC P-256/P-384 public key") from None


@lru_cache(maxsize=256)
def _jwk_key(crv: str, x: str, y: str) -> ec.EllipticCurvePublicKey:
    curve = next(c for name, _, _, c in _ALGS.values() if name == crv)
    return ec.EllipticCurvePublicNumbers(int.from_bytes(b64u_decode(x), "big"), int.from_bytes(b64u_decode(y), "big"),
                                         curve()).public_key()


def x5c_value(chain: Sequence[x509.Certificate]) -> list[str]:
    """``x5c`` members are standard base64 DER (RFC 7515 §4.1.6), not base64url; leaf first."""
    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in chain]


@lru_cache(maxsize=256)
def _load_x5c(values: tuple[str, ...]) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_der_x509_certificate(base64.b64decode(c)) for c in values)


# -- signing -----------------------------------------------------------------------------------------

def sign_compact(
    signer: RawSigner,
    payload: bytes | Mapping[str, Any],
    *,
    kid: str | None = None,
    typ: str | None = None,
    x5c: Sequence[x509.Certificate] = (),
    headers: Mapping[str, Any] | None = None,
) -> str:
    """A compact JWS over ``payload`` (bytes, or claims serialised as canonical JSON), signed by ``signer``."""
    alg = alg_of(signer.public_key)
    header: dict[str, Any] = {**(headers or {}), "alg": alg}
    header["kid"] = kid or header.get("kid") or thumbprint(public_jwk(signer.public_key))
    if typ:
        header["typ"] = typ
    if x5c:
        header["x5c"] = x5c_value(x5c)
    body = payload if isinstance(payload, bytes) else canonical_json(payload)
    signing_input = f"{b64u(canonical_json(header))}.{b64u(body)}"
    signature = signer.sign_raw_ecdsa(signing_input.encode(), hash_name=_ALGS[alg][1])
    return f"{signing_input}.{b64u(signature)}"


def digest(token: str) -> str:
    """base64url(SHA-256) of a token: binds a QR code to the full certificate JWS."""
    return b64u(hashlib.sha256(token.encode()).digest())


# -- verification ------------------------------------------------------------------------------------

class Compact:
    """A parsed compact JWS; nothing in it is trusted until ``verify`` passes.

    Malformed input raises ``InvalidArgument(JWS_INVALID)`` (``json_payload``: the payload must be a JSON
    object, as for every Hutong claims set; ``strict``: the algorithm must be ES256/ES384 — off only to read
    a header for routing, the signature check refuses other algorithms anyway)."""

    def __init__(self, token: str, *, json_payload: bool = True, strict: bool = True) -> None:
        parts = token.strip().split(".") if isinstance(token, str) else []
        if len(parts) != 3:
            raise _invalid("is not in compact serialisation (three dot-separated parts)")
        try:
            self.header: dict[str, Any] = json.loads(b64u_decode(parts[0]))
            self.payload_bytes = b64u_decode(parts[1])
            self.signature = b64u_decode(parts[2])
            self.payload: dict[str, Any] = json.loads(self.payload_bytes) if json_payload else {}
        except (ValueError, UnicodeDecodeError):
            raise _invalid("header or payload is not base64url JSON") from None
        if not isinstance(self.header, dict) or not isinstance(self.payload, dict):
            raise _invalid("header or payload is not a JSON object")
        self.alg = str(self.header.get("alg"))
        if strict and self.alg not in _ALGS:
            raise _invalid("does not use ES256 or ES384")
        self.signing_input = (parts[0] + "." + parts[1]).encode()
        self.token = token.strip()

    def x5c(self) -> list[x509.Certificate]:
        """The certificates the header carries in ``x5c`` (leaf first); parsed once per distinct chain."""
        values = self.header.get("x5c") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _invalid("x5c header does not hold certificates")
        try:
            return list(_load_x5c(tuple(values)))
        except (ValueError, TypeError):
            raise _invalid("x5c header holds an unreadable certificate") from None

    def signature_ok(self, public_key: Any) -> bool:
        """True when the signature is by ``public_key`` with the header's algorithm."""
        if self.alg not in _ALGS:
            return False
        _, hash_name, size, curve = _ALGS[self.alg]
        if (not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, curve)
                or len(self.signature) != 2 * size):
            return False
        r, s = int.from_bytes(self.signature[:size], "big"), int.from_bytes(self.signature[size:], "big")
        try:
            public_key.verify(encode_dss_signature(r, s), self.signing_input, ec.ECDSA(_HASHES[hash_name]()))
            return True
        except InvalidSignature:
            return False

    def verify(self, public_key: Any) -> None:
        """Raise ``InvalidArgument(JWS_INVALID)`` unless the signature is by ``public_key``."""
        if not self.signature_ok(public_key):
            raise _invalid("signature does not verify: the content was changed or signed by another key")


def _invalid(why: str) -> InvalidArgument:
    return InvalidArgument(JWS_INVALID, f"the JWS {why}")


def parse_unverified(token: str) -> Compact:
    """Parse for routing (issuer, type) before verifying: malformed input is ``JWS_MALFORMED``."""
    try:
        return Compact(token, json_payload=False, strict=False)
    except InvalidArgument:
        raise InvalidArgument(JWS_MALFORMED, "not a compact JWS") from None


def unverified_header(token: str) -> dict[str, Any]:
    return parse_unverified(token).header


def decode_payload(token: str) -> bytes:
    """The payload of a compact JWS WITHOUT verifying it (for routing only)."""
    return parse_unverified(token).payload_bytes


def x5c_chain(header: Mapping[str, Any]) -> list[x509.Certificate]:
    """The certificates a JWS header carries in ``x5c`` (leaf first); malformed is ``JWS_MALFORMED``."""
    values = header.get("x5c", [])
    try:
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise TypeError
        return list(_load_x5c(tuple(values)))
    except (ValueError, TypeError):
        raise InvalidArgument(JWS_MALFORMED, "the x5c header does not hold certificates") from None


def select_key(jwks: Mapping[str, Any], kid: Any) -> Mapping[str, Any]:
    """The JWK of a JWKS (``{"keys": [...]}``) named by ``kid``; ``JWS_UNKNOWN_KEY`` when none is."""
    keys = jwks.get("keys")
    matches = [k for k in keys if isinstance(k, Mapping) and k.get("kid") == kid] if isinstance(keys, list) else []
    if not matches:
        raise Unauthenticated(JWS_UNKNOWN_KEY, f"no published key has kid {kid!r}")
    return matches[0]


def verify_compact(token: str, key: Any) -> bytes:
    """Verify against a public key, a JWK, or a JWKS (matched by ``kid``); return the payload.

    Malformed: ``InvalidArgument(JWS_MALFORMED)``; bad signature or algorithm: ``Unauthenticated(JWS_INVALID)``.
    """
    parsed = parse_unverified(token)
    if parsed.alg not in _ALGS:
        raise Unauthenticated(JWS_INVALID, "unexpected JWS algorithm")
    if isinstance(key, ec.EllipticCurvePublicKey):
        public_key = key
    else:
        jwk = select_key(key, parsed.header.get("kid")) if "keys" in key else key
        if jwk.get("alg", parsed.alg) != parsed.alg:
            raise Unauthenticated(JWS_INVALID, "unexpected JWS algorithm")
        public_key = jwk_public_key(jwk)
    if not parsed.signature_ok(public_key):
        raise Unauthenticated(JWS_INVALID, "the signature does not verify")
    return parsed.payload_bytes
