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
import threading
from collections.abc import Mapping
from typing import Any, Literal

from jose import jwk, jws, jwt
from jose.backends.base import Key
from jose.exceptions import ExpiredSignatureError, JOSEError

from hutong.errors import Unauthenticated

TokenKind = Literal["access", "id"]
_TYP = {"access": "at+jwt", "id": "JWT"}
ALGORITHMS = ["ES256"]
_KEYS: dict[tuple[Any, ...], tuple[tuple[Any, Key], ...]] = {}  # JWKS content -> (kid, constructed key)
_KEYS_LOCK = threading.Lock()
_KEYS_MAX = 64


def _key_set(keys: Mapping[str, Any]) -> tuple[tuple[Any, Key], ...] | None:
    """The JWKS's keys constructed once per JWKS content (building an EC key from x/y is most of a verify);
    None when the set is not a plain list of JWKs, and jose then reads it as before."""
    try:
        ident = tuple(tuple(sorted(k.items())) for k in keys["keys"])
        hash(ident)
    except (KeyError, TypeError, AttributeError):
        return None
    with _KEYS_LOCK:
        cached = _KEYS.get(ident)
    if cached is None:
        try:
            cached = tuple((k.get("kid"), jwk.construct(k, ALGORITHMS[0])) for k in keys["keys"])
        except JOSEError:
            return None
        with _KEYS_LOCK:
            if len(_KEYS) >= _KEYS_MAX:
                _KEYS.clear()
            _KEYS[ident] = cached
    return cached


def _keys_for(keys: Mapping[str, Any], header: Mapping[str, Any]) -> Any:
    """What jose verifies against: the constructed keys, the one named by ``kid`` first."""
    constructed = _key_set(keys)
    if constructed is None:
        return keys
    kid = header.get("kid")
    return [k for i, k in constructed if i == kid] + [k for i, k in constructed if i != kid]


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
        claims: dict[str, Any] = jwt.decode(token, _keys_for(keys, header), algorithms=ALGORITHMS, options=options)
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
