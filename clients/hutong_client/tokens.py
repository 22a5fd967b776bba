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
from collections.abc import Mapping
from typing import Any, Literal

from jose import jws, jwt
from jose.exceptions import ExpiredSignatureError, JOSEError

from hutong.errors import Unauthenticated

TokenKind = Literal["access", "id"]
_TYP = {"access": "at+jwt", "id": "JWT"}
ALGORITHMS = ["ES256"]


def _header(token: str) -> dict[str, Any]:
    try:
        header: dict[str, Any] = jws.get_unverified_header(token)
    except JOSEError:
        raise Unauthenticated("TOKEN_INVALID", "the token is not a compact JWS") from None
    return header


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud", [])
    return [aud] if isinstance(aud, str) else list(aud)


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
    keys = json.loads(jwks) if isinstance(jwks, str) else dict(jwks)
    header = _header(token)
    options = {"verify_aud": False, "verify_iss": False, "verify_sub": False, "verify_jti": False,
               "verify_at_hash": False, "leeway": leeway}
    try:
        claims: dict[str, Any] = jwt.decode(token, keys, algorithms=ALGORITHMS, options=options)
    except ExpiredSignatureError:
        raise Unauthenticated("TOKEN_EXPIRED", "the token has expired") from None
    except JOSEError:
        raise Unauthenticated("TOKEN_INVALID", "the token's signature or structure is invalid") from None
    if not isinstance(claims.get("exp"), int | float):
        raise Unauthenticated("TOKEN_INVALID", "the token has no expiry")
    if claims.get("iss") != issuer:
        raise Unauthenticated("TOKEN_WRONG_ISSUER", "the token was issued by another node")
    if audience is not None and audience not in _audiences(claims):
        raise Unauthenticated("TOKEN_WRONG_AUDIENCE", "the token was issued to another platform")
    if kind is not None and header.get("typ") != _TYP[kind]:
        raise Unauthenticated("TOKEN_WRONG_TYPE", f"this is not an {kind} token")
    return claims
