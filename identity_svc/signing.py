"""Signing ES256 JWTs with the node's token key in the HSM, and publishing the key as a JWKS.

The compact JWS is built by ``hutong.verify.jose`` (shared by tokens, licences and trust lists); the
signature comes from the HSM as raw r||s, exactly the JWS ES256 form (RFC 7518 §3.4).
"""

from __future__ import annotations

import json
from typing import Any

from hsm import HsmSigner
from hutong import pki
from hutong.node import Node
from hutong.verify import jose

ALGORITHM = "ES256"
ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068: keeps access tokens and ID tokens apart
ID_TOKEN_TYPE = "JWT"


def token_jwks(node: Node) -> dict[str, Any]:
    """The node's token-verification keys as a JWKS (what GetJwks and the trust list publish)."""
    return {"keys": [jose.public_jwk(c.public_key()) for c in node.pki.with_retired(pki.TOKEN)]}  # type: ignore[arg-type]


class TokenSigner:
    """Signs with the node's *active* token key, as the key registry says now: after a rollover every worker
    process switches to the new key by itself (it was published, as pending, before)."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._jwks: dict[str, dict[str, str]] = {}  # per key label

    def _current(self) -> tuple[HsmSigner, dict[str, str]]:
        signer = self._node.pki.signer(pki.TOKEN)
        jwk = self._jwks.get(signer.key.label)
        if jwk is None:
            jwk = self._jwks[signer.key.label] = jose.public_jwk(signer.public_key)  # type: ignore[arg-type]
        return signer, jwk

    @property
    def public_jwk(self) -> dict[str, str]:
        """The active token key as a JWK; ``kid`` is its RFC 7638 thumbprint (what the trust list publishes too)."""
        return self._current()[1]

    def jwks(self) -> dict[str, Any]:
        """The current key and retired ones still valid: tokens signed before a rotation keep verifying."""
        return token_jwks(self._node)

    def jwks_json(self) -> str:
        return json.dumps(self.jwks(), separators=(",", ":"))

    def sign(self, claims: dict[str, Any], *, typ: str) -> str:
        signer, jwk = self._current()
        return jose.sign_compact(signer, claims, typ=typ, kid=jwk["kid"])
