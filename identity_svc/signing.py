"""Signing ES256 JWTs with the node's token key in the HSM, and publishing the key as a JWKS.

python-jose builds the JOSE structures (header, payload, compact serialisation); the signature
itself comes from the HSM as raw r||s, which is exactly the JWS ES256 form (RFC 7518 §3.4).
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cached_property
from typing import Any

from jose import jwk, jws
from jose.backends.base import Key
from jose.exceptions import JWSError

from hsm import HsmSigner
from hutong import pki
from hutong.errors import HutongError
from hutong.node import Node

ALGORITHM = "ES256"
ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068: keeps access tokens and ID tokens apart
ID_TOKEN_TYPE = "JWT"


class _HsmKey(Key):
    """A python-jose key whose private half stays in the HSM."""

    def __init__(self, signer: HsmSigner) -> None:  # no super().__init__: nothing to parse
        self._signer = signer

    def sign(self, msg: bytes) -> bytes:
        return self._signer.sign_raw_ecdsa(msg, hash_name="sha256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(public_jwk: dict[str, str]) -> str:
    """RFC 7638 JWK thumbprint of an EC key: the key id clients match on."""
    members = {k: public_jwk[k] for k in ("crv", "kty", "x", "y")}
    return _b64(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())


class TokenSigner:
    def __init__(self, node: Node) -> None:
        self._node = node

    @cached_property
    def _signer(self) -> HsmSigner:
        return self._node.pki.signer(pki.TOKEN)

    @cached_property
    def public_jwk(self) -> dict[str, str]:
        key: dict[str, str] = jwk.construct(self._signer.public_key, ALGORITHM).to_dict()
        return {**key, "kid": thumbprint(key), "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    def jwks_json(self) -> str:
        return json.dumps(self.jwks(), separators=(",", ":"))

    def sign(self, claims: dict[str, Any], *, typ: str) -> str:
        headers = {"kid": self.public_jwk["kid"], "typ": typ}
        try:
            token: str = jws.sign(claims, _HsmKey(self._signer), headers=headers, algorithm=ALGORITHM)
        except JWSError as exc:
            # python-jose wraps whatever the key raised; an HSM failure must keep its own reason.
            cause = exc.args[0] if exc.args else None
            if isinstance(cause, HutongError):
                raise cause from None
            raise
        return token
