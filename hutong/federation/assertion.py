"""Federation assertions: node A vouches for a person -- or makes a request -- to node B, readable only by B.

A signs the claims (compact JWS, ES256, A's token key — verifiable from A's JWKS in the trust
list) and encrypts that JWS to B's federation encryption key (JWE, RSA-OAEP + A256GCM, B's key
from the trust list). B decrypts inside its HSM (the content key is unwrapped in the token),
checks the signature against the trust list, the audience, the lifetime and that the assertion
was not seen before. Short-lived by design: two minutes.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jose import jwe as jose_jwe
from jose.exceptions import JOSEError
from jose.utils import base64url_decode
from sqlalchemy import DateTime, String, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from hsm import HsmError
from hsm.errors import Unavailable as HsmUnavailable
from hutong import pki
from hutong.db import Base
from hutong.errors import HutongError, InvalidArgument, PermissionDenied, Unauthenticated, Unavailable
from hutong.node import Node
from hutong.verify import jose

TYP = "hutong-federation-assertion+jwt"
LIFETIME = timedelta(minutes=2)
CLOCK_SKEW = timedelta(seconds=30)


class SeenAssertion(Base):
    """Assertion ids already accepted (replay protection), kept until they expire."""

    __tablename__ = "federation_seen_assertions"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Assertion:
    issuer_node: str
    audience_node: str
    claims: dict[str, Any]


def issue(node: Node, *, audience_node: str, op: str, claims: Mapping[str, Any]) -> str:
    """Sign ``claims`` for operation ``op`` as this node and encrypt them to ``audience_node``'s key."""
    enc_jwk = node.trust.member(audience_node).enc_jwk
    if not enc_jwk:
        raise PermissionDenied("NODE_CANNOT_RECEIVE", f"node {audience_node!r} publishes no encryption key")
    now = datetime.now(UTC)
    body = {**claims, "op": op, "iss": node.id, "aud": audience_node, "iat": int(now.timestamp()),
            "exp": int((now + LIFETIME).timestamp()), "jti": secrets.token_urlsafe(16)}
    inner = jose.sign_compact(node.pki.signer(pki.TOKEN), body, typ=TYP)
    token: bytes = jose_jwe.encrypt(inner.encode(), dict(enc_jwk), encryption="A256GCM", algorithm="RSA-OAEP",
                                    cty="JWT", kid=enc_jwk.get("kid"))
    return token.decode()


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    """Decoded JSON that must be an object: a list, string or number in a JOSE header or payload is malformed."""
    try:
        value = json.loads(data)
    except ValueError:  # includes UnicodeDecodeError
        value = None
    if not isinstance(value, dict):
        raise InvalidArgument("ASSERTION_MALFORMED", f"the federation assertion's {what} is not a JSON object")
    return value


def _decrypt(node: Node, token: str) -> str:
    """Open the JWE: the content key is unwrapped inside this node's HSM."""
    try:
        if not token.isascii():
            raise ValueError("not ASCII")
        header_b64, ek_b64, iv_b64, ct_b64, tag_b64 = token.split(".")
        header_json = base64url_decode(header_b64.encode())
        parts = [base64url_decode(p.encode()) for p in (ek_b64, iv_b64, ct_b64, tag_b64)]
    except (ValueError, JOSEError):
        raise InvalidArgument("ASSERTION_MALFORMED", "the federation assertion is not a compact JWE") from None
    header = _json_object(header_json, "JWE header")
    if header.get("alg") != "RSA-OAEP" or header.get("enc") != "A256GCM":
        raise InvalidArgument("ASSERTION_MALFORMED", "unsupported JWE algorithms")
    ek, iv, ct, tag = parts
    try:
        cek = node.pki.federation_decrypt(ek)
        return AESGCM(cek).decrypt(iv, ct + tag, header_b64.encode()).decode()
    except (Unavailable, HsmUnavailable):  # the HSM, not the assertion: the sender may retry
        raise
    except (HutongError, HsmError, ValueError, InvalidTag):  # one answer for every failure: no decryption oracle
        raise Unauthenticated("ASSERTION_INVALID", "the federation assertion was altered or is not for this node") \
            from None


def accept(node: Node, token: str, *, op: str | None) -> Assertion:
    """Decrypt, verify against the trust list, check operation, audience, lifetime and replay; record the jti.

    ``op=None`` accepts any operation (a dispatcher that routes on ``claims["op"]``).
    """
    inner = _decrypt(node, token)
    if inner.count(".") != 2 or not inner.isascii():
        raise InvalidArgument("ASSERTION_MALFORMED", "the federation assertion does not hold a compact JWS")
    try:
        header_json = base64url_decode(inner.split(".")[0].encode())
    except ValueError:
        raise InvalidArgument("ASSERTION_MALFORMED", "the federation assertion's JWS header is not base64url") \
            from None
    if _json_object(header_json, "JWS header").get("typ") != TYP:
        raise InvalidArgument("ASSERTION_MALFORMED", "this is not a federation assertion")
    issuer = _json_object(jose.decode_payload(inner), "payload").get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise InvalidArgument("ASSERTION_MALFORMED", "the federation assertion names no issuing node")
    jwks = node.trust.member(issuer).jwks  # NODE_NOT_IN_TRUST_LIST for strangers and removed members
    try:
        claims = _json_object(jose.verify_compact(inner, jwks), "payload")
    except Unauthenticated:
        raise Unauthenticated("ASSERTION_INVALID", f"the assertion is not signed by node {issuer!r}") from None
    jti = claims.get("jti")
    if not isinstance(claims.get("exp"), int) or not isinstance(jti, str) or not 0 < len(jti) <= 64:
        raise InvalidArgument("ASSERTION_MALFORMED", "the federation assertion lacks its lifetime or id")
    if op is not None and claims.get("op") != op:
        raise Unauthenticated("ASSERTION_INVALID", f"this assertion is not for {op!r}")
    if claims.get("aud") != node.id:
        raise Unauthenticated("ASSERTION_WRONG_AUDIENCE", f"the assertion is for {claims.get('aud')!r}, not this node")
    now = datetime.now(UTC)
    if not now.timestamp() - 86400 < claims["exp"] < now.timestamp() + 86400:  # also keeps datetime in range
        raise Unauthenticated("ASSERTION_EXPIRED", "the federation assertion's lifetime is not current: ask the "
                                                   "home node again")
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    if expires + CLOCK_SKEW < now:
        raise Unauthenticated("ASSERTION_EXPIRED", "the federation assertion has expired: ask the home node again")
    _remember(node, str(claims["jti"]), expires)
    return Assertion(issuer_node=issuer, audience_node=node.id, claims=claims)


def _remember(node: Node, jti: str, expires: datetime) -> None:
    try:
        with node.db.session() as s:
            s.execute(delete(SeenAssertion).where(SeenAssertion.expires_at < datetime.now(UTC) - CLOCK_SKEW))
            s.add(SeenAssertion(jti=jti, expires_at=expires))
    except IntegrityError:
        raise Unauthenticated("ASSERTION_REPLAYED", "this federation assertion was already used") from None
