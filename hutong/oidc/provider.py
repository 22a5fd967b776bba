"""authlib's OAuth 2.0 authorization server, wired to the identity service.

authlib has no Starlette integration; its framework-agnostic ``AuthorizationServer`` needs three hooks:
``create_oauth2_request`` (here: requests are already built by ``oauth2_request`` from a Starlette request's
method, URL, headers, query and form), ``handle_response`` (a Starlette ``Response``) and ``send_signal``.

authlib validates the authorization request (client, exact redirect URI, response type, scope), issues and
checks codes, authenticates clients at the token endpoint (client_secret_basic / client_secret_post) and
checks PKCE; PKCE with S256 is required of every client (``S256Required``). Tokens are not authlib's: the code
exchange starts an identity-service session (``flow.exchange``), so ID tokens are signed ES256 in the HSM.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from starlette.responses import JSONResponse, RedirectResponse, Response

from hutong import logs
from hutong.errors import HutongError
from identity_svc.core import Identity
from identity_svc.platforms import PlatformInfo, authenticate_platform, get_platform

from . import flow

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
GRANT_TYPES = ("authorization_code", "refresh_token")


class _Payload(OAuth2Payload):
    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for k, v in items:
            self._data.setdefault(k, v)
            self._datalist[k].append(v)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class HttpRequest(OAuth2Request):  # type: ignore[misc]
    """An HTTP request as authlib reads it (query parameters, then form fields)."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], query: Sequence[tuple[str, str]],
                 form: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(method, uri, headers=headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = _Payload([*query, *form])

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class Client(ClientMixin):  # type: ignore[misc]
    """A registered platform as an OAuth client."""

    def __init__(self, idn: Identity, info: PlatformInfo) -> None:
        self.idn, self.info = idn, info

    def get_client_id(self) -> str:
        return self.info.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # OIDC Core §3.1.2.1: redirect_uri is required

    def get_allowed_scope(self, scope: str) -> str:
        # Scopes this provider does not know are ignored; known but unregistered ones are refused later
        # (``granted_scopes``), as at the gRPC login.
        return " ".join(s for s in (scope or "").split() if s in ("openid", "profile", "id_number"))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.info.redirect_uris  # exact string match, never a prefix

    def check_client_secret(self, client_secret: str) -> bool:
        try:
            authenticate_platform(self.idn, self.info.client_id, client_secret)
        except HutongError:
            return False
        return True

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


class S256Required(CodeChallenge):  # type: ignore[misc]
    """PKCE (RFC 7636) for every client, confidential ones too, and only with S256."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256",
                                      redirect_uri=redirect_uri)
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256", redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @property
    def idn(self) -> Identity:
        return self.server.idn  # type: ignore[no-any-return]

    def save_authorization_code(self, code: str, request: Any) -> None:
        flow.save_code(self.idn, code, client_id=request.client.get_client_id(),
                       redirect_uri=request.payload.redirect_uri, scope=request.scope,
                       nonce=request.payload.data.get("nonce", ""),
                       code_challenge=request.payload.data["code_challenge"], approval=request.user)

    def query_authorization_code(self, code: str, client: Client) -> flow.CodeRecord | None:
        return flow.consume_code(self.idn, code, client.get_client_id())

    def delete_authorization_code(self, authorization_code: flow.CodeRecord) -> None:
        pass  # spent when it was read (``flow.consume_code``): two exchanges cannot both pass

    def authenticate_user(self, authorization_code: flow.CodeRecord) -> flow.CodeRecord:
        return authorization_code  # the spent code carries the person, level and methods


class Provider(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, idn: Identity) -> None:
        super().__init__(scopes_supported=None)
        self.idn = idn
        self.register_grant(CodeGrant, [S256Required()])

    def authenticate_client(self, request: Any, methods: Any, endpoint: str = "token") -> Client:
        """authlib's client authentication; the platform it proved is then the caller of the access line."""
        client: Client = super().authenticate_client(request, methods, endpoint)
        logs.set_caller("platform", client.get_client_id())
        return client

    def query_client(self, client_id: str) -> Client | None:
        try:
            return Client(self.idn, get_platform(self.idn, client_id))
        except HutongError:
            return None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        pass  # the session behind the tokens was stored when they were made

    def generate_token(self, grant_type: str, client: Client, user: flow.CodeRecord | None = None,
                       scope: str | None = None, expires_in: int | None = None,
                       include_refresh_token: bool = True) -> dict[str, Any]:
        assert user is not None
        return flow.exchange(self.idn, user)

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        assert isinstance(request, OAuth2Request)
        return request

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def handle_response(self, status: int, body: Any, headers: Sequence[tuple[str, str]]) -> Response:
        hdrs = dict(headers)
        if status == 302:
            location = hdrs.pop("Location")
            # RFC 9207: every authorization response (errors too) names the issuer.
            sep = "&" if "?" in location else "?"
            return RedirectResponse(f"{location}{sep}iss={quote(self.idn.settings.issuer, safe='')}", 302,
                                    headers={"Cache-Control": "no-store"})
        hdrs.pop("Content-Type", None)
        if isinstance(body, dict):
            return JSONResponse(body, status, headers={**hdrs, "Cache-Control": "no-store"})
        return Response(body if isinstance(body, str) else json.dumps(body), status, headers=hdrs)
