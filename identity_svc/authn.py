"""Who is calling: gRPC metadata -> ``hutong.auth.Principal``. Used by every service.

    authn = TokenAuthenticator(node)
    principal = authn.authenticate(hutong.rpc.metadata_dict(context))

- ``authorization: Bearer <access token>`` -> a ``person`` principal: ``subject`` is the local account
  id (never an ID number), ``platform`` the client id the token was issued to, ``acr`` the level reached,
  ``scopes``; in an organisation context also ``org_uscc`` and the ``roles`` in force *now* (see
  ``identity_svc.orgs``) -- a revoked grant fails at the next use with ``GRANT_REVOKED``. If the call
  also carries platform credentials, the token must have been issued to that platform.
- ``x-hutong-client-id`` + ``x-hutong-client-secret`` only -> a ``platform`` principal.

Failures: ``Unauthenticated`` TOKEN_MISSING, TOKEN_INVALID (malformed, tampered, wrong type),
TOKEN_EXPIRED, TOKEN_REVOKED, TOKEN_WRONG_AUDIENCE, TOKEN_WRONG_ISSUER, CLIENT_AUTHENTICATION_FAILED;
``PermissionDenied`` GRANT_REVOKED.
"""

from __future__ import annotations

from collections.abc import Mapping

from hutong import logs
from hutong.auth import AUTHORIZATION, CLIENT_ID, CLIENT_SECRET, PEER_CERT_SHA256, Principal
from hutong.errors import PermissionDenied, Unauthenticated
from hutong.node import Node
from identity_svc.core import Identity, level_rank
from identity_svc.platforms import PlatformInfo, authenticate_platform
from identity_svc.sessions import AccessCheck, verify_access_token


def bearer_token(metadata: Mapping[str, str]) -> str:
    value = metadata.get(AUTHORIZATION, "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("TOKEN_MISSING", "this call needs 'authorization: Bearer <access token>'")
    return token.strip()


class TokenAuthenticator:
    """Implements ``hutong.auth.Authenticator``; cheap to share between threads."""

    def __init__(self, node: Node | Identity) -> None:
        self.idn = node if isinstance(node, Identity) else Identity.of(node)

    def authenticate(self, metadata: Mapping[str, str]) -> Principal:
        """The caller: a person (bearer token) or else a platform (client credentials)."""
        if metadata.get(AUTHORIZATION):
            return self.person(metadata)
        if metadata.get(CLIENT_ID) or metadata.get(PEER_CERT_SHA256):
            p = self.platform(metadata)
            return Principal(kind="platform", subject=p.client_id, platform=p.client_id,
                             scopes=tuple(sorted(p.scopes)))
        raise Unauthenticated("TOKEN_MISSING", "this call needs an access token or platform credentials")

    def person(self, metadata: Mapping[str, str], *, min_acr: str = "low") -> Principal:
        """A person principal from the bearer token; refuses below ``min_acr`` with STEP_UP_REQUIRED."""
        return self.principal_of(self.access(metadata), min_acr=min_acr)

    def access(self, metadata: Mapping[str, str]) -> AccessCheck:
        """The verified access token and its session (for identity_svc's own calls)."""
        audience = self.platform(metadata).client_id if metadata.get(CLIENT_ID) or metadata.get(PEER_CERT_SHA256) \
            else None
        return verify_access_token(self.idn, bearer_token(metadata), audience=audience)

    def platform(self, metadata: Mapping[str, str]) -> PlatformInfo:
        """The calling platform, from its client credentials."""
        info = authenticate_platform(self.idn, metadata.get(CLIENT_ID, ""), metadata.get(CLIENT_SECRET, ""),
                                     metadata.get(PEER_CERT_SHA256, ""))
        logs.set_caller("platform", info.client_id)
        return info

    @staticmethod
    def principal_of(check: AccessCheck, *, min_acr: str = "low") -> Principal:
        f = check.family
        logs.set_caller("person", f.client_id, f.person_id)  # the local account id: a pseudonym
        if level_rank(f.acr) < level_rank(min_acr):
            raise PermissionDenied("STEP_UP_REQUIRED", f"this needs level {min_acr}; the session is at {f.acr}",
                                   metadata={"required_acr": min_acr, "acr": f.acr})
        return Principal(kind="person", subject=f.person_id, platform=f.client_id, org_uscc=f.org_uscc,
                         roles=check.roles, acr=f.acr, token_id=str(check.claims.get("jti", "")),
                         scopes=tuple(f.scopes.split()))
