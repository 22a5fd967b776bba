"""Identity SDK: typed methods over the identity gRPC services.

    platform = IdentityClient(channel, client_id="portal", client_secret=secret)
    platform.register_person("11010519491231002X", "张三", "correct horse 1")
    tokens = platform.login("11010519491231002X", "correct horse 1", totp_code="123456")
    claims = platform.verify_id_token(tokens.id_token)          # offline, against the cached JWKS
    person = platform.as_person(tokens.access_token)            # calls made on the person's behalf
    person.begin_totp_enrolment()

Every failure raises the ``hutong.errors`` class of its status with the server's stable ``reason``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from hutong.auth import AUTHORIZATION, CLIENT_ID, CLIENT_SECRET
from hutong.identity.v1 import identity_pb2 as pb
from hutong.identity.v1 import identity_pb2_grpc as pb_grpc
from hutong.rpc import error_from_rpc
from hutong_client.tokens import TokenKind, verify_token

T = TypeVar("T")
Role = Literal["administrator", "staff"]
_ROLES = {"administrator": pb.GRANT_ROLE_ADMINISTRATOR, "staff": pb.GRANT_ROLE_STAFF}


@contextmanager
def _typed_errors() -> Iterator[None]:
    try:
        yield
    except grpc.RpcError as exc:
        raise error_from_rpc(exc) from None


def _ts(when: datetime | None) -> Timestamp | None:
    if when is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


class IdentityClient:
    def __init__(self, channel: grpc.Channel, *, client_id: str = "", client_secret: str = "",
                 access_token: str = "", timeout: float = 30.0) -> None:
        self.channel = channel
        self.client_id, self._client_secret, self._access_token = client_id, client_secret, access_token
        self.timeout = timeout
        self._identity = pb_grpc.IdentityServiceStub(channel)
        self._orgs = pb_grpc.OrganisationServiceStub(channel)
        self._jwks: tuple[dict[str, Any], str] | None = None

    def as_person(self, access_token: str) -> IdentityClient:
        """A client making calls on behalf of the person this access token was issued for."""
        return IdentityClient(self.channel, client_id=self.client_id, client_secret=self._client_secret,
                              access_token=access_token, timeout=self.timeout)

    def _metadata(self) -> list[tuple[str, str]]:
        md = [(CLIENT_ID, self.client_id), (CLIENT_SECRET, self._client_secret)] if self.client_id else []
        return md + ([(AUTHORIZATION, f"Bearer {self._access_token}")] if self._access_token else [])

    def _call(self, method: Callable[..., T], request: Any) -> T:
        with _typed_errors():
            return method(request, metadata=self._metadata(), timeout=self.timeout)

    # -- persons and logins (platform credentials) --------------------------------------------
    def register_person(self, id_number: str, name: str, password: str) -> str:
        """Returns the person's ``sub`` for this platform."""
        req = pb.RegisterPersonRequest(id_number=id_number, name=name, password=password)
        return self._call(self._identity.RegisterPerson, req).subject

    def create_login_challenge(self, id_number: str) -> pb.CreateLoginChallengeResponse:
        return self._call(self._identity.CreateLoginChallenge, pb.CreateLoginChallengeRequest(id_number=id_number))

    def login(self, id_number: str, password: str, *, totp_code: str = "", challenge_id: str = "",
              signature: bytes = b"", scopes: Sequence[str] = (), nonce: str = "") -> pb.TokenSet:
        req = pb.LoginRequest(id_number=id_number, password=password, scopes=list(scopes), nonce=nonce)
        if totp_code:
            req.totp_code = totp_code
        elif challenge_id:
            req.key_signature.CopyFrom(pb.KeySignature(challenge_id=challenge_id, signature=signature))
        return self._call(self._identity.Login, req).tokens

    def refresh(self, refresh_token: str) -> pb.TokenSet:
        return self._call(self._identity.RefreshToken, pb.RefreshTokenRequest(refresh_token=refresh_token)).tokens

    def revoke(self, token: str) -> None:
        self._call(self._identity.RevokeToken, pb.RevokeTokenRequest(token=token))

    def introspect(self, token: str) -> pb.IntrospectTokenResponse:
        return self._call(self._identity.IntrospectToken, pb.IntrospectTokenRequest(token=token))

    # -- keys and offline verification -----------------------------------------------------------
    def jwks(self, *, refresh: bool = False) -> tuple[dict[str, Any], str]:
        """The node's JWKS and token issuer (cached after the first call)."""
        if self._jwks is None or refresh:
            resp = self._call(self._identity.GetJwks, pb.GetJwksRequest())
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
        return self._call(self._identity.BeginTotpEnrolment, pb.BeginTotpEnrolmentRequest())

    def confirm_totp_enrolment(self, code: str) -> None:
        self._call(self._identity.ConfirmTotpEnrolment, pb.ConfirmTotpEnrolmentRequest(code=code))

    def register_public_key(self, *, public_key_pem: str = "", certificate: bytes = b"") -> str:
        req = (pb.RegisterPublicKeyRequest(public_key_pem=public_key_pem) if public_key_pem
               else pb.RegisterPublicKeyRequest(certificate=certificate))
        return self._call(self._identity.RegisterPublicKey, req).key_id

    def logout_everywhere(self) -> int:
        return self._call(self._identity.LogoutEverywhere, pb.LogoutEverywhereRequest()).sessions_ended

    # -- organisations (access token) ------------------------------------------------------------
    def register_organisation(self, uscc: str, name: str) -> pb.Organisation:
        req = pb.RegisterOrganisationRequest(uscc=uscc, name=name)
        return self._call(self._orgs.RegisterOrganisation, req).organisation

    def create_grant(self, uscc: str, id_number: str, role: Role, *, all_matters: bool = False,
                     matters: Sequence[str] = (), valid_from: datetime | None = None,
                     valid_until: datetime | None = None) -> pb.Grant:
        req = pb.CreateGrantRequest(uscc=uscc, id_number=id_number, role=_ROLES[role], all_matters=all_matters,
                                    matters=list(matters), valid_from=_ts(valid_from), valid_until=_ts(valid_until))
        return self._call(self._orgs.CreateGrant, req).grant

    def revoke_grant(self, uscc: str, grant_id: str) -> pb.Grant:
        return self._call(self._orgs.RevokeGrant, pb.RevokeGrantRequest(uscc=uscc, grant_id=grant_id)).grant

    def list_grants(self, uscc: str, *, page_size: int = 100) -> list[pb.Grant]:
        grants: list[pb.Grant] = []
        token = ""
        while True:
            req = pb.ListGrantsRequest(uscc=uscc)
            req.page.page_size, req.page.page_token = page_size, token
            resp = self._call(self._orgs.ListGrants, req)
            grants.extend(resp.grants)
            token = resp.page.next_page_token
            if not token:
                return grants

    def my_organisations(self) -> list[pb.Organisation]:
        return list(self._call(self._orgs.ListMyOrganisations, pb.ListMyOrganisationsRequest()).organisations)

    def switch_organisation(self, uscc: str) -> pb.TokenSet:
        return self._call(self._orgs.SwitchOrganisation, pb.SwitchOrganisationRequest(uscc=uscc)).tokens
