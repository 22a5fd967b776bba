"""Offline verification of Hutong ID and access tokens against a node's JWKS.

Anyone holding the node's JWKS (``IdentityClient.jwks()``, or the federation trust list) can check a
token without calling the node: signature (ES256), issuer, audience, expiry and token type::

    claims = verify_token(token, jwks, issuer="urn:hutong:node:province-a", audience="my-client-id")

Failures raise ``hutong.errors.Unauthenticated`` with the same reasons the node uses:
TOKEN_INVALID (malformed or bad signature), TOKEN_EXPIRED, TOKEN_WRONG_ISSUER, TOKEN_WRONG_AUDIENCE,
TOKEN_WRONG_TYPE. Revocation cannot be seen offline: use introspection where that matters.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Literal

from hutong.errors import HutongError, Unauthenticated
from hutong.verify import jose

TokenKind = Literal["access", "id"]
_TYP = {"access": "at+jwt", "id": "JWT"}
ALGORITHMS = ["ES256"]


def _invalid(why: str) -> Unauthenticated:
    return Unauthenticated("TOKEN_INVALID", why)


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud", [])
    return [aud] if isinstance(aud, str) else list(aud)


def _signed_claims(token: str, keys: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a token signed by one of the JWKS's keys (the one its ``kid`` names first)."""
    try:
        parsed = jose.Compact(token)
    except HutongError:
        raise _invalid("the token is not a compact JWS") from None
    if parsed.alg not in ALGORITHMS:
        raise _invalid("the token's signature or structure is invalid")
    listed = keys.get("keys") if isinstance(keys, Mapping) else None
    if not isinstance(listed, list):
        raise _invalid("the key set is not a JWKS")
    kid = parsed.header.get("kid")
    ordered = [k for k in listed if isinstance(k, Mapping) and k.get("kid") == kid]
    ordered += [k for k in listed if isinstance(k, Mapping) and k.get("kid") != kid]
    for jwk in ordered:
        try:
            if jwk.get("alg", parsed.alg) == parsed.alg and parsed.signature_ok(jose.jwk_public_key(jwk)):
                return parsed.header, parsed.payload
        except HutongError:
            continue  # a key of another kind in the set
    raise _invalid("the token's signature or structure is invalid")


def _check_times(claims: Mapping[str, Any], leeway: int) -> None:
    now = time.time()
    for name in ("exp", "nbf", "iat"):
        if name in claims and (not isinstance(claims[name], int | float) or isinstance(claims[name], bool)):
            raise _invalid(f"the token's {name} is not a number")
    if "exp" not in claims:
        raise _invalid("the token has no expiry")
    if claims["exp"] < now - leeway:
        raise Unauthenticated("TOKEN_EXPIRED", "the token has expired")
    if "nbf" in claims and claims["nbf"] > now + leeway:
        raise _invalid("the token is not valid yet")


def verify_token(
    token: str,
    jwks: Mapping[str, Any] | str,
    *,
    issuer: str,
    audience: str | None,
    kind: TokenKind | None = None,
    leeway: int = 30,
) -> dict[str, Any]:
    """Verify ``token`` and return its claims. ``audience=None`` skips the audience check (the node's
    own introspection does that itself); relying platforms always pass their client id."""
    try:
        keys = json.loads(jwks) if isinstance(jwks, str) else jwks
    except ValueError:
        raise _invalid("the key set is not JSON") from None
    header, claims = _signed_claims(token, keys)
    _check_times(claims, leeway)
    if claims.get("iss") != issuer:
        raise Unauthenticated("TOKEN_WRONG_ISSUER", "the token was issued by another node")
    if audience is not None and audience not in _audiences(claims):
        raise Unauthenticated("TOKEN_WRONG_AUDIENCE", "the token was issued to another platform")
    if kind is not None and header.get("typ") != _TYP[kind]:
        raise Unauthenticated("TOKEN_WRONG_TYPE", f"this is not an {kind} token")
    return claims
