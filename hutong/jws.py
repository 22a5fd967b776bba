"""Compact JWS signed in the HSM, verified with python-jose: tokens, licences and trust lists.

The signing input is built here and signed by an ``HsmSigner`` (raw r||s for ES256/ES384, as
RFC 7515 wants); verification is python-jose's, against a JWK or a JWKS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk as jose_jwk
from jose import jws as jose_jws
from jose.exceptions import JOSEError
from jose.utils import base64url_decode, base64url_encode

from hsm import HsmSigner, KeyAlgorithm
from hutong.errors import InvalidArgument, Unauthenticated

_ALG = {KeyAlgorithm.EC_P256: ("ES256", "sha256", "P-256", 32), KeyAlgorithm.EC_P384: ("ES384", "sha384", "P-384", 48)}


def _b64(data: bytes) -> str:
    return base64url_encode(data).decode()


def _json(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def public_jwk(public_key: ec.EllipticCurvePublicKey, *, kid: str | None = None) -> dict[str, str]:
    """The public JWK of an EC key (``kid`` defaults to its RFC 7638 thumbprint)."""
    alg = KeyAlgorithm.of_public_key(public_key)
    if alg not in _ALG:
        raise InvalidArgument("KEY_ALGORITHM_UNSUPPORTED", "only EC P-256 and P-384 keys sign JWS here")
    name, _, crv, size = _ALG[alg]
    nums = public_key.public_numbers()
    jwk = {"kty": "EC", "crv": crv, "x": _b64(nums.x.to_bytes(size, "big")), "y": _b64(nums.y.to_bytes(size, "big"))}
    return {**jwk, "kid": kid or thumbprint(jwk), "alg": name, "use": "sig"}


def rsa_encryption_jwk(public_key: rsa.RSAPublicKey) -> dict[str, str]:
    """Public JWK of an RSA key that receives JWE (RSA-OAEP)."""
    nums = public_key.public_numbers()
    jwk = {"kty": "RSA", "n": _b64(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")),
           "e": _b64(nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big"))}
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":")).encode()
    return {**jwk, "kid": _b64(hashlib.sha256(canonical).digest()), "alg": "RSA-OAEP", "use": "enc"}


def thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638 JWK thumbprint (EC members only)."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":")).encode()
    return _b64(hashlib.sha256(canonical).digest())


def sign_compact(
    signer: HsmSigner,
    payload: bytes | Mapping[str, Any],
    *,
    kid: str | None = None,
    typ: str | None = None,
    x5c: Sequence[x509.Certificate] = (),
    headers: Mapping[str, Any] | None = None,
) -> str:
    """A compact JWS over ``payload`` (bytes, or a claims mapping serialised as JSON)."""
    if signer.algorithm not in _ALG:
        raise InvalidArgument("KEY_ALGORITHM_UNSUPPORTED", "only EC P-256 and P-384 keys sign JWS here")
    alg, hash_name, _, _ = _ALG[signer.algorithm]
    header: dict[str, Any] = {"alg": alg, **(headers or {})}
    header["kid"] = kid or thumbprint(public_jwk(signer.public_key))  # type: ignore[arg-type]
    if typ:
        header["typ"] = typ
    if x5c:
        header["x5c"] = [base64url_std(c.public_bytes(serialization.Encoding.DER)) for c in x5c]
    body = payload if isinstance(payload, bytes) else _json(payload)
    signing_input = f"{_b64(_json(header))}.{_b64(body)}"
    signature = signer.sign_raw_ecdsa(signing_input.encode(), hash_name=hash_name)
    return f"{signing_input}.{_b64(signature)}"


def base64url_std(der: bytes) -> str:
    """x5c members are standard base64 (RFC 7515 §4.1.6), not base64url."""
    import base64

    return base64.b64encode(der).decode()


def unverified_header(token: str) -> dict[str, Any]:
    try:
        header: dict[str, Any] = jose_jws.get_unverified_header(token)
    except JOSEError:
        raise InvalidArgument("JWS_MALFORMED", "not a compact JWS") from None
    return header


def x5c_chain(header: Mapping[str, Any]) -> list[x509.Certificate]:
    """The certificates a JWS header carries in ``x5c`` (leaf first)."""
    import base64

    try:
        return [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header.get("x5c", [])]
    except (ValueError, TypeError):
        raise InvalidArgument("JWS_MALFORMED", "the x5c header does not hold certificates") from None


def verify_compact(token: str, key: ec.EllipticCurvePublicKey | Mapping[str, Any]) -> bytes:
    """Verify against a public key, a JWK, or a JWKS (``{"keys": [...]}``, matched by ``kid``); return the payload.

    Raises ``Unauthenticated("JWS_INVALID")`` when the signature does not verify.
    """
    header = unverified_header(token)
    if isinstance(key, ec.EllipticCurvePublicKey):
        jwk: Mapping[str, Any] = public_jwk(key)
    elif "keys" in key:
        matches = [k for k in key["keys"] if k.get("kid") == header.get("kid")]
        if not matches:
            raise Unauthenticated("JWS_UNKNOWN_KEY", f"no published key has kid {header.get('kid')!r}")
        jwk = matches[0]
    else:
        jwk = key
    if header.get("alg") not in ("ES256", "ES384") or header.get("alg") != jwk.get("alg", header.get("alg")):
        raise Unauthenticated("JWS_INVALID", "unexpected JWS algorithm")
    try:
        payload: bytes = jose_jws.verify(token, jose_jwk.construct(dict(jwk), header["alg"]), header["alg"])
    except JOSEError:
        raise Unauthenticated("JWS_INVALID", "the signature does not verify") from None
    return payload


def decode_payload(token: str) -> bytes:
    """The payload of a compact JWS WITHOUT verifying it (for routing only)."""
    try:
        return base64url_decode(token.split(".")[1].encode())
    except (IndexError, ValueError):
        raise InvalidArgument("JWS_MALFORMED", "not a compact JWS") from None
