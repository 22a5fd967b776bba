"""Identity SDK: persons, logins, sessions that refresh themselves, organisations, offline token checks.

    platform = IdentityClient(channel, client_id="portal", client_secret=secret)
    platform.register_person("11010519491231002X", "张三", "correct horse 1")
    session = platform.login_session("11010519491231002X", "correct horse 1", totp_code="123456")
    claims = platform.verify_id_token(session.tokens.id_token)   # offline, against the cached JWKS
    person = platform.as_person(session)                          # calls on the person's behalf,
    person.begin_totp_enrolment()                                 # token refreshed before it expires

Every failure raises the ``hutong.errors`` class of its status with the node's stable ``reason``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from hutong.identity.v1 import identity_pb2 as pb
from hutong.identity.v1 import identity_pb2_grpc as pb_grpc
from hutong.verify.tokens import TokenKind, verify_token
from hutong_client._channel import (
    DEFAULT_TIMEOUT,
    Caller,
    Credentials,
    Page,
    RetryPolicy,
    fetch_page,
    iterate_pages,
)

Role = Literal["administrator", "staff"]
_ROLES = {"administrator": pb.GRANT_ROLE_ADMINISTRATOR, "staff": pb.GRANT_ROLE_STAFF}


def _ts(when: datetime | None) -> Timestamp | None:
    if when is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


def keep_id_token(new: pb.TokenSet, old: pb.TokenSet | None) -> pb.TokenSet:
    """A refresh answers without an ID token (OpenID Connect Core 12.2): the session keeps the one of its login."""
    if new.id_token or old is None or not old.id_token:
        return new
    kept = pb.TokenSet()
    kept.CopyFrom(new)
    kept.id_token = old.id_token
    return kept


class Session:
    """A person's session at a platform: the current token set, refreshed shortly before the access token
    expires (or when the node said TOKEN_EXPIRED). Refresh tokens rotate: each refresh spends the old
    one; ``on_refresh`` receives every new token set (to persist it). Safe to share between threads.
    """

    def __init__(self, tokens: pb.TokenSet, refresher: Callable[[str], pb.TokenSet], *, margin: float = 60.0,
                 clock: Callable[[], float] = time.time,
                 on_refresh: Callable[[pb.TokenSet], None] | None = None) -> None:
        self._refresher, self._margin, self._clock, self._on_refresh = refresher, margin, clock, on_refresh
        self._lock = threading.Lock()
        self._set(tokens)

    def _set(self, tokens: pb.TokenSet) -> None:
        self._tokens = keep_id_token(tokens, getattr(self, "_tokens", None))
        self._expires_at = self._clock() + tokens.expires_in
        self._early = min(self._margin, tokens.expires_in / 2)

    @property
    def tokens(self) -> pb.TokenSet:
        return self._tokens

    @property
    def expires_at(self) -> float:
        """When the current access token expires (``clock`` seconds)."""
        return self._expires_at

    def access_token(self) -> str:
        """A current access token, refreshed first when it is about to expire."""
        with self._lock:
            if self._clock() >= self._expires_at - self._early:
                self._refresh_locked()
            return self._tokens.access_token

    def refresh(self) -> pb.TokenSet:
        """Exchange the refresh token now (the old one is spent); returns the new token set."""
        with self._lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> pb.TokenSet:
        self._set(self._refresher(self._tokens.refresh_token))
        if self._on_refresh is not None:
            self._on_refresh(self._tokens)
        return self._tokens


class IdentityClient:
    """IdentityService and OrganisationService. Platform calls use the client id + secret; person calls
    (TOTP, keys, organisations) a client from ``as_person``."""

    def __init__(self, channel: grpc.Channel, *, client_id: str = "", client_secret: str = "",
                 access_token: str | Session = "", timeout: float = DEFAULT_TIMEOUT,
                 retry: RetryPolicy | None = None, caller: Caller | None = None) -> None:
        creds = Credentials(client_id, client_secret, access_token or None)
        self._caller = caller.with_credentials(creds) if caller else Caller(channel, creds, timeout=timeout,
                                                                            retry=retry)
        self.channel = self._caller.channel
        self.client_id, self._client_secret = client_id, client_secret
        self.timeout = self._caller.timeout
        self._identity = pb_grpc.IdentityServiceStub(self.channel)
        self._orgs = pb_grpc.OrganisationServiceStub(self.channel)
        self._jwks: tuple[dict[str, Any], str] | None = None

    def as_person(self, token: str | Session) -> IdentityClient:
        """A client making calls on behalf of the person this access token (or session) belongs to."""
        return IdentityClient(self.channel, client_id=self.client_id, client_secret=self._client_secret,
                              access_token=token, caller=self._caller)

    # -- persons and logins (platform credentials) --------------------------------------------
    def register_person(self, id_number: str, name: str, password: str) -> str:
        """Returns the person's ``sub`` for this platform."""
        req = pb.RegisterPersonRequest(id_number=id_number, name=name, password=password)
        return self._caller.unary(self._identity.RegisterPerson, req).subject

    def create_login_challenge(self, id_number: str) -> pb.CreateLoginChallengeResponse:
        req = pb.CreateLoginChallengeRequest(id_number=id_number)
        return self._caller.unary(self._identity.CreateLoginChallenge, req)

    def login(self, id_number: str, password: str, *, totp_code: str = "", challenge_id: str = "",
              signature: bytes = b"", scopes: Sequence[str] = (), nonce: str = "") -> pb.TokenSet:
        req = pb.LoginRequest(id_number=id_number, password=password, scopes=list(scopes), nonce=nonce)
        if totp_code:
            req.totp_code = totp_code
        elif challenge_id:
            req.key_signature.CopyFrom(pb.KeySignature(challenge_id=challenge_id, signature=signature))
        return self._caller.unary(self._identity.Login, req).tokens

    def login_session(self, id_number: str, password: str, *, margin: float = 60.0,
                      on_refresh: Callable[[pb.TokenSet], None] | None = None, **login: Any) -> Session:
        """``login`` and wrap the tokens in a ``Session`` that refreshes itself through this platform."""
        return self.session(self.login(id_number, password, **login), margin=margin, on_refresh=on_refresh)

    def session(self, tokens: pb.TokenSet, *, margin: float = 60.0,
                on_refresh: Callable[[pb.TokenSet], None] | None = None) -> Session:
        """A self-refreshing session from a token set (e.g. one persisted earlier, or from ``switch_organisation``)."""
        return Session(tokens, self.refresh, margin=margin, on_refresh=on_refresh)

    def refresh(self, refresh_token: str) -> pb.TokenSet:
        req = pb.RefreshTokenRequest(refresh_token=refresh_token)
        return self._caller.unary(self._identity.RefreshToken, req).tokens

    def revoke(self, token: str) -> None:
        self._caller.unary(self._identity.RevokeToken, pb.RevokeTokenRequest(token=token), idempotent=True)

    def introspect(self, token: str) -> pb.IntrospectTokenResponse:
        req = pb.IntrospectTokenRequest(token=token)
        return self._caller.unary(self._identity.IntrospectToken, req, idempotent=True)

    # -- keys and offline verification -----------------------------------------------------------
    def jwks(self, *, refresh: bool = False) -> tuple[dict[str, Any], str]:
        """The node's JWKS and token issuer (cached after the first call)."""
        if self._jwks is None or refresh:
            resp = self._caller.unary(self._identity.GetJwks, pb.GetJwksRequest(), idempotent=True)
            self._jwks = (json.loads(resp.jwks_json), resp.issuer)
        return self._jwks

    def verify(self, token: str, *, kind: TokenKind = "id") -> dict[str, Any]:
        """Verify a token offline for this platform (its client id is the expected audience)."""
        keys, issuer = self.jwks()
        return verify_token(token, keys, issuer=issuer, audience=self.client_id or None, kind=kind)

    def verify_id_token(self, token: str) -> dict[str, Any]:
        return self.verify(token, kind="id")

    # -- the person's own account (access token) -----------------------------------------------
    def begin_totp_enrolment(self) -> pb.BeginTotpEnrolmentResponse:
        return self._caller.unary(self._identity.BeginTotpEnrolment, pb.BeginTotpEnrolmentRequest())

    def confirm_totp_enrolment(self, code: str) -> None:
        self._caller.unary(self._identity.ConfirmTotpEnrolment, pb.ConfirmTotpEnrolmentRequest(code=code))

    def register_public_key(self, *, public_key_pem: str = "", certificate: bytes = b"") -> str:
        req = (pb.RegisterPublicKeyRequest(public_key_pem=public_key_pem) if public_key_pem
               else pb.RegisterPublicKeyRequest(certificate=certificate))
        return self._caller.unary(self._identity.RegisterPublicKey, req).key_id

    def logout_everywhere(self) -> int:
        return self._caller.unary(self._identity.LogoutEverywhere, pb.LogoutEverywhereRequest()).sessions_ended

    # -- across nodes ----------------------------------------------------------------------------
    def create_federation_assertion(self, audience_node: str) -> str:
        """At the person's home node (access token): an assertion for member node ``audience_node``, valid
        two minutes, readable only by that node."""
        req = pb.CreateFederationAssertionRequest(audience_node=audience_node)
        return str(self._caller.unary(self._identity.CreateFederationAssertion, req).assertion)

    def exchange_federation_assertion(self, assertion: str) -> pb.TokenSet:
        """At the visited node (platform credentials): this node's tokens for the person, no registration."""
        req = pb.ExchangeFederationAssertionRequest(assertion=assertion)
        return self._caller.unary(self._identity.ExchangeFederationAssertion, req).tokens

    # -- organisations (access token) ------------------------------------------------------------
    def register_organisation(self, uscc: str, name: str) -> pb.Organisation:
        req = pb.RegisterOrganisationRequest(uscc=uscc, name=name)
        return self._caller.unary(self._orgs.RegisterOrganisation, req).organisation

    def create_grant(self, uscc: str, id_number: str, role: Role, *, all_matters: bool = False,
                     matters: Sequence[str] = (), valid_from: datetime | None = None,
                     valid_until: datetime | None = None) -> pb.Grant:
        req = pb.CreateGrantRequest(uscc=uscc, id_number=id_number, role=_ROLES[role], all_matters=all_matters,
                                    matters=list(matters), valid_from=_ts(valid_from), valid_until=_ts(valid_until))
        return self._caller.unary(self._orgs.CreateGrant, req).grant

    def revoke_grant(self, uscc: str, grant_id: str) -> pb.Grant:
        req = pb.RevokeGrantRequest(uscc=uscc, grant_id=grant_id)
        return self._caller.unary(self._orgs.RevokeGrant, req).grant

    def list_grants(self, uscc: str, *, page_size: int = 100) -> list[pb.Grant]:
        """Every grant of the organisation (all pages)."""
        return list(self.iter_grants(uscc, page_size=page_size))

    def iter_grants(self, uscc: str, *, page_size: int = 100, page_token: str = "") -> Iterator[pb.Grant]:
        """The organisation's grants, page by page as the iteration goes (from ``page_token`` when given)."""
        return iterate_pages(self._caller, self._orgs.ListGrants, pb.ListGrantsRequest(uscc=uscc), "grants",
                             page_size=page_size, page_token=page_token)

    def grants_page(self, uscc: str, *, page_size: int = 0, page_token: str = "") -> Page:
        """One page of the organisation's grants and the token of the next ("" after the last)."""
        return fetch_page(self._caller, self._orgs.ListGrants, pb.ListGrantsRequest(uscc=uscc), "grants",
                          page_size=page_size, page_token=page_token)

    def my_organisations(self) -> list[pb.Organisation]:
        resp = self._caller.unary(self._orgs.ListMyOrganisations, pb.ListMyOrganisationsRequest(), idempotent=True)
        return list(resp.organisations)

    def switch_organisation(self, uscc: str) -> pb.TokenSet:
        req = pb.SwitchOrganisationRequest(uscc=uscc)
        return self._caller.unary(self._orgs.SwitchOrganisation, req).tokens
