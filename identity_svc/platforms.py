"""Relying platforms: registered by the operator (``hutong platform add``), authenticated per call.

Scopes a platform may be registered for:
- ``openid``: always; a pairwise ``sub`` (or the local account id when ``pairwise`` is off);
- ``profile``: the person's name;
- ``id_number``: the citizen ID number itself (only platforms registered for it ever receive it);
- ``node:operate`` (``hutong.auth.OPERATOR_SCOPE``): the platform is the node operator's (it manages the
  certificate catalogue, issuers and any organisation's seals). It belongs to the platform's own
  credentials: persons' tokens never carry it (``login`` refuses it with SCOPE_NOT_ALLOWED).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import bindparam, select

from hutong import audit, prepared
from hutong.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from identity_svc.core import Identity, Level, check_level
from identity_svc.credentials import client_secret_matches, hash_client_secret, new_client_secret
from identity_svc.models import Platform
from identity_svc.vocabulary import SCOPES as SCOPES  # re-exported: callers use platforms.SCOPES

_CLIENT_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{2,79}")


@dataclass(frozen=True)
class PlatformInfo:
    client_id: str
    name: str
    scopes: frozenset[str]
    required_acr: Level
    pairwise: bool
    redirect_uris: tuple[str, ...] = ()  # OpenID Connect: compared exactly, never by prefix
    backchannel_logout_uri: str = ""  # OpenID Connect Back-Channel Logout 1.0


@dataclass(frozen=True)
class NewPlatform:
    info: PlatformInfo
    client_secret: str  # shown once; only its hash is stored


def _info(row: Any) -> PlatformInfo:  # a Platform or a row of its table
    return PlatformInfo(client_id=row.client_id, name=row.name, scopes=frozenset(row.scopes.split()),
                        required_acr=check_level(row.required_acr), pairwise=row.pairwise,
                        redirect_uris=tuple((row.redirect_uris or "").split()),
                        backchannel_logout_uri=row.backchannel_logout_uri or "")


def check_uri(uri: str, what: str) -> str:
    """An absolute https URI without fragment (http only to a loopback host, for development and tests)."""
    parts = urlsplit(uri)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if (parts.scheme != "https" and not (parts.scheme == "http" and loopback)) or not parts.hostname \
            or parts.fragment or any(c.isspace() for c in uri) or len(uri) > 500:
        raise InvalidArgument("REDIRECT_URI_INVALID",
                              f"the {what} must be an absolute https URI without fragment (http only for loopback)")
    return uri


def check_scopes(scopes: list[str] | tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise InvalidArgument("SCOPE_UNKNOWN", f"unknown scope(s) {', '.join(sorted(unknown))}; known: {SCOPES}")
    return frozenset(scopes) | {"openid"}


def add_platform(idn: Identity, *, client_id: str, name: str, scopes: list[str] | tuple[str, ...] = ("openid",),
                 required_acr: str = "substantial", pairwise: bool = True, client_cert_pem: bytes = b"",
                 redirect_uris: list[str] | tuple[str, ...] = (), backchannel_logout_uri: str = "") -> NewPlatform:
    """Register a platform; it authenticates with the returned secret, or with ``client_cert_pem`` over mTLS.
    ``redirect_uris`` and ``backchannel_logout_uri`` are for its OpenID Connect login (``hutong.oidc``)."""
    if not _CLIENT_ID_RE.fullmatch(client_id):
        raise InvalidArgument("CLIENT_ID_INVALID", "a client id has 3-80 characters: a-z 0-9 . _ -")
    uris = tuple(dict.fromkeys(check_uri(u, "redirect URI") for u in redirect_uris))
    logout_uri = check_uri(backchannel_logout_uri, "back-channel logout URI") if backchannel_logout_uri else ""
    info = PlatformInfo(client_id, name.strip() or client_id, check_scopes(scopes), check_level(required_acr),
                        pairwise, uris, logout_uri)
    secret = new_client_secret()
    with idn.node.db.session() as s:
        if s.get(Platform, client_id) is not None:
            raise AlreadyExists("PLATFORM_EXISTS", f"platform {client_id} is already registered")
        s.add(Platform(client_id=client_id, name=info.name, secret_hash=hash_client_secret(secret),
                       scopes=" ".join(sorted(info.scopes)), required_acr=info.required_acr, pairwise=pairwise,
                       cert_sha256=cert_fingerprint(client_cert_pem) if client_cert_pem else None,
                       created_at=datetime.now(UTC), redirect_uris="\n".join(uris) or None,
                       backchannel_logout_uri=logout_uri or None))
        audit.append(s, actor="operator", action="identity.platform.add", target=client_id,
                     details={"scopes": sorted(info.scopes), "required_acr": info.required_acr, "pairwise": pairwise,
                              "redirect_uris": list(uris), "backchannel_logout_uri": logout_uri})
    return NewPlatform(info=info, client_secret=secret)


def list_platforms(idn: Identity) -> list[PlatformInfo]:
    with idn.node.db.session() as s:
        return [_info(p) for p in s.scalars(select(Platform).order_by(Platform.client_id))]


def get_platform(idn: Identity, client_id: str) -> PlatformInfo:
    with idn.node.db.session(readonly=True) as s:
        row = s.get(Platform, client_id)
    if row is None:
        raise NotFound("PLATFORM_NOT_FOUND", f"no platform {client_id}")
    return _info(row)


def cert_fingerprint(pem: bytes) -> str:
    """SHA-256 (hex) of a client certificate's DER: what the server sees of an mTLS peer."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise InvalidArgument("CLIENT_CERTIFICATE_INVALID", "the platform's client certificate is not PEM") from None
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


_PLATFORM_ROW = select(Platform.__table__).where(Platform.client_id == bindparam("client_id"))


def _platform_row(idn: Identity, client_id: str) -> Any:
    """The platform's row, by one prepared read-only statement on the pool's connection: every platform call
    authenticates, and an ORM session (identity map, unit of work, commit) or even a Core transaction costs
    several times the query itself (``hutong.prepared``)."""
    return prepared.read_one(idn.node.db, _PLATFORM_ROW, {"client_id": client_id})


# Client credentials verified in this process, remembered for VERIFIED_SECONDS: a platform calls many times a
# second (every lookup it makes authenticates), and reading its row was ~15 % of a lookup's handler CPU. Keyed by
# database, client id and the secret's hash (never the secret), so only the very credentials that matched are
# answered from here; a wrong secret always reads the row. Platforms are never changed or removed in place
# today; should that come, this is the bound on how long a worker still accepts the old credentials.
VERIFIED_SECONDS = 2.0
_VERIFIED_MAX = 4096
_verified: dict[tuple[str, str, str], tuple[float, PlatformInfo]] = {}
_clock = time.monotonic


def authenticate_platform(idn: Identity, client_id: str, secret: str, peer_cert_sha256: str = "") -> PlatformInfo:
    """The platform by client id + secret, or by the mTLS client certificate it was registered with."""
    if client_id and secret:
        key = (idn.node.db.url, client_id, hash_client_secret(secret))
        now = _clock()
        found = _verified.get(key)
        if found is not None and found[0] > now:
            return found[1]
        row = _platform_row(idn, client_id)
        if row is None or not client_secret_matches(row.secret_hash, secret):
            raise Unauthenticated("CLIENT_AUTHENTICATION_FAILED", "unknown client id or wrong client secret")
        info = _info(row)
        if len(_verified) >= _VERIFIED_MAX:  # bounded: many platforms (or forged ids) only restart the memory
            _verified.clear()
        _verified[key] = (now + VERIFIED_SECONDS, info)
        return info
    if peer_cert_sha256:
        with idn.node.db.session(readonly=True) as s:
            row = s.scalars(select(Platform).where(Platform.cert_sha256 == peer_cert_sha256)).first()
        if row is None or (client_id and row.client_id != client_id):
            raise Unauthenticated("CLIENT_AUTHENTICATION_FAILED", "this client certificate belongs to no platform")
        return _info(row)
    raise Unauthenticated("CLIENT_CREDENTIALS_MISSING",
                          "this call needs the platform's client id and secret, or its mTLS client certificate")
