"""The OpenID Connect provider's HTTP endpoints (Starlette), mounted at the root of the HTTP edge.

    GET  /.well-known/openid-configuration   discovery (OIDC Discovery 1.0, RFC 8414)
    GET  /oidc/jwks                           the node's token keys (the JWKS of gRPC GetJwks and the trust list)
    GET  /oidc/authorize                      authorization code + PKCE S256; the login pages
    POST /oidc/login, /oidc/organisation      the login forms (CSRF-protected)
    POST /oidc/token                          code exchange, refresh (rotation and reuse detection of gRPC)
    GET|POST /oidc/userinfo                   claims for the access token's scopes        (``tokens``)
    GET|POST /oidc/logout                     RP-initiated logout 1.0 + back-channel logout (``logout``)
    GET  /oidc/federation/start, POST /oidc/federation/return   log in at the home node (``home_flow``)

The issuer is ``[identity] issuer``: it must be the public https URL of the edge (http for loopback only),
since OIDC requires ``iss`` == the discovery document's ``issuer``; with the default ``urn:`` issuer
``routes`` returns nothing and the provider is off. Blocking work (database, HSM, Argon2) runs in the
thread pool. Logged URLs carry no ID numbers: those arrive only in POSTed form bodies (an ``id_token_hint``
may carry one if the platform is registered for ``id_number``: platforms should POST their logout then).
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.oauth2.rfc6749.errors import OAuth2Error
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hutong.edge.http import read_body, require_content_type
from hutong.edge.settings import EdgeSettings, base_url
from hutong.errors import FailedPrecondition, HutongError, InvalidArgument, PermissionDenied, ResourceExhausted
from hutong.node import Node
from identity_svc import login as idlogin
from identity_svc.core import LEVELS, Identity, level_rank
from identity_svc.persons import find_person

from . import flow, home, home_flow, logout, pages, tokens
from .provider import AUTH_METHODS, HttpRequest, Provider

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"
FORM_LIMIT = 64 * 1024  # the largest form or token request (ID token hints, claims requests) with room to spare
CSRF_COOKIE, SESSION_COOKIE = flow.CSRF_COOKIE, flow.SESSION_COOKIE
CLAIMS = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "name", "id_number",
          "org_uscc", "org_name", "roles", "act"]

_MESSAGES = {
    "INVALID_CREDENTIALS": "证件号码或密码错误。Unknown person or wrong password.",
    "TOTP_INVALID": "动态口令错误、过期或已使用。The one-time code is wrong, expired or used.",
    "TOTP_NOT_ENROLLED": "您尚未绑定动态口令，请改用证书密钥。No authenticator enrolled: use your key.",
    "NO_KEY_REGISTERED": "您尚未登记证书密钥，请改用动态口令。No key registered: use a one-time code.",
    "KEY_SIGNATURE_INVALID": "签名验证失败。The signature does not verify.",
    "CHALLENGE_INVALID": "挑战已失效，请重新获取。The challenge expired: get a new one.",
    "STEP_UP_REQUIRED": "该平台要求更高认证等级，请输入动态口令或使用证书密钥。A second factor is required.",
    "UNMET": "该平台要求的认证等级需要第二因素，您尚未绑定。The level asked for needs a second factor you have not "
             "enrolled.",
}


def is_url_issuer(issuer: str) -> bool:
    parts = urlsplit(issuer)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    return bool(parts.hostname) and (parts.scheme == "https" or (parts.scheme == "http" and loopback)) \
        and not parts.query and not parts.fragment


def _message(err: HutongError) -> str:
    if isinstance(err, ResourceExhausted):
        wait = err.metadata.get("retry_after_seconds", "")
        return f"尝试次数过多，请 {wait} 秒后再试。Too many failed attempts: try again in {wait} s."
    return _MESSAGES.get(err.reason, err.message)


class OidcApp:
    """The endpoints over one node's identity service."""

    def __init__(self, node: Node) -> None:
        self.idn = Identity.of(node)
        self.issuer = self.idn.settings.issuer.rstrip("/")
        self.server = Provider(self.idn)
        self.secure = self.issuer.startswith("https://")

    # -- plumbing ---------------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"{self.issuer}{path}"

    def html(self, body: str, status: int = 200, csrf: str = "", redirect_uri: str = "") -> HTMLResponse:
        r = HTMLResponse(body, status, headers={"Content-Security-Policy": pages.csp(redirect_uri),
                                                "Cache-Control": "no-store"})
        if csrf:
            r.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="lax", secure=self.secure, path="/oidc")
        return r

    def oauth_request(self, request: Request, form: list[tuple[str, str]] | None = None,
                 query: list[tuple[str, str]] | None = None) -> HttpRequest:
        q = query if query is not None else list(request.query_params.multi_items())
        # authlib checks the URL's scheme; behind the edge's TLS terminator the public URL is the issuer's.
        return HttpRequest(request.method, self.url(request.url.path), request.headers, q, form or [])

    def routes(self) -> list[BaseRoute]:
        Handler = Callable[[Request, list[tuple[str, str]]], Response]

        def threaded(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                form: list[tuple[str, str]] = []
                if request.method == "POST":
                    # OAuth endpoints and the forms take application/x-www-form-urlencoded only, bounded.
                    require_content_type(request, [FORM])
                    body = await read_body(request, FORM_LIMIT)
                    try:
                        form = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
                    except (UnicodeDecodeError, ValueError):
                        raise InvalidArgument("HTTP_BODY_MALFORMED", "the form body is not URL-encoded UTF-8") from None
                return await run_in_threadpool(fn, request, form)
            return endpoint

        return [
            Route("/.well-known/openid-configuration", self.discovery, methods=["GET"]),
            Route(pages.STYLESHEET, self.stylesheet, methods=["GET"]),
            Route("/oidc/jwks", self.jwks, methods=["GET"]),
            Route("/oidc/authorize", threaded(self.authorize), methods=["GET"]),
            Route("/oidc/login", threaded(self.login), methods=["POST"]),
            Route("/oidc/organisation", threaded(self.organisation), methods=["POST"]),
            Route("/oidc/token", threaded(lambda r, f: tokens.token(self, r, f)), methods=["POST"]),
            Route("/oidc/userinfo", threaded(lambda r, f: tokens.userinfo(self, r, f)), methods=["GET", "POST"]),
            Route("/oidc/logout", threaded(lambda r, f: logout.logout(self, r, f)), methods=["GET", "POST"]),
            Route(home.START_PATH, threaded(lambda r, f: home_flow.start(self, r)), methods=["GET"]),
            Route(home.RETURN_PATH, threaded(lambda r, f: home_flow.back_from_home(self, r, f)), methods=["POST"]),
        ]

    # -- discovery and keys -----------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.url("/oidc/authorize"),
            "token_endpoint": self.url("/oidc/token"),
            "userinfo_endpoint": self.url("/oidc/userinfo"),
            "jwks_uri": self.url("/oidc/jwks"),
            "end_session_endpoint": self.url("/oidc/logout"),
            "scopes_supported": ["openid", "profile", "id_number"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["pairwise", "public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "userinfo_signing_alg_values_supported": [],
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": list(LEVELS),
            "claims_supported": CLAIMS,
            "claims_parameter_supported": True,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "ui_locales_supported": ["zh-CN", "en"],
        }

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(self.metadata(), headers={"Cache-Control": "public, max-age=300"})

    async def stylesheet(self, request: Request) -> Response:
        return Response(pages.CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    async def jwks(self, request: Request) -> Response:
        keys = await run_in_threadpool(self.idn.signer.jwks)
        return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})

    # -- authorization ----------------------------------------------------------------------------------
    def redirect_error(self, req: HttpRequest, redirect_uri: str, error: str, description: str) -> Response:
        params = {"error": error, "error_description": description}
        if req.payload.state:
            params["state"] = req.payload.state
        sep = "&" if "?" in redirect_uri else "?"
        return self.server.handle_response(302, "", [("Location", f"{redirect_uri}{sep}{urlencode(params)}")])

    def authorize(self, request: Request, _form: list[tuple[str, str]]) -> Response:
        req = self.oauth_request(request)
        try:
            grant = self.server.get_consent_grant(req)
        except OAuth2Error as err:
            if err.redirect_uri:
                return self.server.handle_error_response(req, err)
            return self.html(pages.error("请求无效", f"{err.error}: {err.description or ''}"), 400)
        data = req.payload.data
        redirect_uri = grant.redirect_uri
        if "openid" not in (data.get("scope") or "").split():
            return self.redirect_error(req, redirect_uri, "invalid_scope", "the openid scope is required")
        for name, code in (("request", "request_not_supported"), ("request_uri", "request_uri_not_supported")):
            if name in data:  # OIDC Core §6: request objects are not offered (discovery says so)
                return self.redirect_error(req, redirect_uri, code, f"the {name} parameter is not supported")
        platform = grant.client.info
        try:
            # Scopes unknown here (email, offline_access, ...) were dropped by authlib (``Client.get_allowed_scope``);
            # known ones the platform is not registered for are refused, as at the gRPC login.
            idlogin.granted_scopes(platform, tuple(grant.request.scope.split()))
            required = flow.required_level(platform, data.get("acr_values", ""), data.get("claims", ""))
        except HutongError as err:
            code = "unmet_authentication_requirements" if err.reason == "UNMET_AUTHENTICATION_REQUIREMENTS" \
                else "invalid_scope" if err.reason.startswith("SCOPE") else "invalid_request"
            return self.redirect_error(req, redirect_uri, code, err.message)
        prompt = set(data.get("prompt", "").split())
        session = flow.browser_session(self.idn, request.cookies.get(SESSION_COOKIE, ""))
        if session is not None and "login" not in prompt and self._session_fits(session, required, data):
            if "none" in prompt:  # no page may be shown: the person acts for themselves
                return self.issue(req, grant, flow.Approval(session.verified, session.auth_time, None,
                                                            session.id_hash), None)
            return self._after_login(req, grant, session.verified, session.auth_time, session.id_hash, None,
                                     request.cookies.get(CSRF_COOKIE, ""))
        if "none" in prompt:
            return self.redirect_error(req, redirect_uri, "login_required", "the person must log in")
        csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        tx = flow.start_request(self.idn, platform.client_id, urlencode(req.payload.datalist, doseq=True),
                                required, csrf)
        return self.html(pages.login(platform_name=platform.name, tx=tx, csrf=csrf, required_acr=required,
                                     home_nodes=self.home_nodes()), csrf=csrf, redirect_uri=redirect_uri)

    @staticmethod
    def level_fits(session: flow.BrowserSession, required: str) -> bool:
        return level_rank(session.verified.acr) >= level_rank(required)

    def _session_fits(self, session: flow.BrowserSession, required: str, data: dict[str, str]) -> bool:
        if not self.level_fits(session, required):
            return False
        max_age = data.get("max_age", "")
        return not (max_age.isdigit() and self.idn.now() - session.auth_time > int(max_age))

    def _after_login(self, req: HttpRequest, grant: Any, verified: idlogin.Verified, auth_time: float,
                     browser_session: str | None, tx: str | None, csrf: str = "") -> Response:
        """Offer the organisations the person may act for, or answer the platform straight away."""
        orgs = flow.organisations(self.idn, verified.person_id)
        if orgs:
            if tx is None:  # single sign-on: a pending login to carry the choice
                csrf = csrf or secrets.token_urlsafe(24)
                tx = flow.start_request(self.idn, grant.client.info.client_id,
                                        urlencode(req.payload.datalist, doseq=True), verified.acr, csrf)
                flow.record_verified(self.idn, tx, verified, auth_time, browser_session or "")
            return self.html(pages.choose_organisation(tx=tx, csrf=csrf, person_label="本人 me",
                                                       organisations=[(o.uscc, o.name) for o in orgs]), csrf=csrf,
                             redirect_uri=grant.redirect_uri)
        return self.issue(req, grant, flow.Approval(verified, auth_time, None, browser_session), tx)

    def issue(self, req: HttpRequest, grant: Any, approval: flow.Approval, tx: str | None) -> Response:
        response = self.server.create_authorization_response(req, grant_user=approval, grant=grant)
        if tx is not None:
            flow.finish_request(self.idn, tx)
        return response  # type: ignore[no-any-return]

    def resume(self, request: Request, pending: flow.Pending) -> tuple[HttpRequest, Any]:
        """The pending authorization request, validated again (the platform may have changed meanwhile)."""
        req = self.oauth_request(request, query=parse_qsl(pending.params, keep_blank_values=True))
        req.method = "GET"
        return req, self.server.get_consent_grant(req)

    def login(self, request: Request, form: list[tuple[str, str]]) -> Response:
        f = dict(form)
        csrf = request.cookies.get(CSRF_COOKIE, "")
        req: HttpRequest | None = None
        grant: Any = None
        try:
            if not csrf or f.get("csrf") != csrf:
                raise PermissionDenied("CSRF_TOKEN_INVALID", "the form does not come from this browser")
            pending = flow.pending(self.idn, f.get("tx", ""), csrf)
            if pending.client_id.startswith(home.NODE_CLIENT_PREFIX):  # at the home node, for a visited node
                platform, back = home_flow.platform_for(self, pending)
            else:
                req, grant = self.resume(request, pending)
                platform, back = grant.client.info, grant.redirect_uri
        except (HutongError, OAuth2Error) as err:
            return self.html(pages.error("登录请求无效", getattr(err, "message", "") or str(err)), 400)
        if f.get("action") == "home" and req is not None:
            return home_flow.go_home(self, pending, f.get("home", ""))
        page_args: dict[str, Any] = {"platform_name": platform.name, "tx": pending.id, "csrf": csrf,
                     "required_acr": pending.required_acr, "id_number": f.get("id_number", ""),
                     "home_nodes": self.home_nodes() if req is not None else []}
        if f.get("action") == "challenge":
            try:
                ch = idlogin.create_challenge(self.idn, platform, f.get("id_number", ""))
            except HutongError as err:
                return self.html(pages.login(**page_args, error=_message(err)), 400, redirect_uri=back)
            challenge = {"challenge_id": ch.challenge_id, "to_sign_b64": base64.b64encode(ch.to_sign).decode()}
            return self.html(pages.login(**page_args, challenge=challenge), redirect_uri=back)
        try:
            signature = base64.b64decode(f.get("signature", ""), validate=True) if f.get("challenge_id") else b""
        except (binascii.Error, ValueError):
            return self.html(pages.login(**page_args, error=_MESSAGES["KEY_SIGNATURE_INVALID"]), 400, redirect_uri=back)
        attempt = idlogin.LoginRequest(f.get("id_number", ""), f.get("password", ""), totp_code=f.get("totp_code", ""),
                                       challenge_id=f.get("challenge_id", ""), signature=signature)
        try:
            verified = idlogin.authenticate(self.idn, platform, attempt, required_acr=pending.required_acr)
        except HutongError as err:
            if err.reason == "STEP_UP_REQUIRED" and not self._can_step_up(attempt.id_number):
                if req is None:
                    return self.html(pages.error("认证等级不足", _MESSAGES["UNMET"]), 400)
                return self.redirect_error(req, back, "unmet_authentication_requirements",
                                            f"level {pending.required_acr} needs a second factor this person has not "
                                            "enrolled")
            status = 429 if isinstance(err, ResourceExhausted) else 400 if err.reason != "STEP_UP_REQUIRED" else 200
            return self.html(pages.login(**page_args, error=_message(err), step_up=err.reason == "STEP_UP_REQUIRED"),
                             status, redirect_uri=back)
        cookie, session = flow.open_browser_session(self.idn, verified)
        flow.record_verified(self.idn, pending.id, verified, session.auth_time, session.id_hash)
        if req is None:
            response = home_flow.after_home_login(self, pending, verified, session.auth_time, csrf)
        else:
            response = self._after_login(req, grant, verified, session.auth_time, session.id_hash, pending.id, csrf)
        self.set_session_cookie(response, cookie)
        return response

    def set_session_cookie(self, response: Response, cookie: str) -> None:
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax", secure=self.secure, path="/oidc",
                            max_age=flow.BROWSER_SESSION_SECONDS)

    def home_nodes(self) -> list[tuple[str, str]]:
        return [(h.node_id, h.name) for h in home.members(self.idn.node)]

    def _can_step_up(self, id_number: str) -> bool:
        """Whether the person (whose password just checked out) has any second factor enrolled."""
        with self.idn.node.db.session(readonly=True) as s:
            person = find_person(self.idn, s, id_number)
            return person is not None and (person.totp_confirmed or person.public_key_der is not None)

    def organisation(self, request: Request, form: list[tuple[str, str]]) -> Response:
        f = dict(form)
        csrf = request.cookies.get(CSRF_COOKIE, "")
        try:
            if not csrf or f.get("csrf") != csrf:
                raise PermissionDenied("CSRF_TOKEN_INVALID", "the form does not come from this browser")
            pending = flow.pending(self.idn, f.get("tx", ""), csrf)
            if pending.verified is None or pending.auth_time is None:
                raise FailedPrecondition("LOGIN_REQUEST_EXPIRED", "log in first")
            uscc = f.get("org", "")
            if pending.client_id.startswith(home.NODE_CLIENT_PREFIX):  # at the home node, for a visited node
                claim = flow.organisation_claim(self.idn, pending.verified.person_id, uscc) if uscc else None
                return home_flow.to_visited(self, pending, pending.verified, pending.auth_time, claim)
            req, grant = self.resume(request, pending)
            org = flow.check_organisation(self.idn, pending.verified.person_id, uscc) if uscc else None
        except (HutongError, OAuth2Error) as err:
            return self.html(pages.error("请求无效", getattr(err, "message", "") or str(err)), 400)
        approval = flow.Approval(pending.verified, pending.auth_time, org, pending.browser_session or None)
        return self.issue(req, grant, approval, pending.id)


def routes(node: Node, settings: EdgeSettings) -> list[BaseRoute]:
    """The provider's routes for the HTTP edge (``hutong.edge.app.ROUTE_PROVIDERS``), mounted at its root; none
    when ``[identity] issuer`` is not a URL (the provider is then off)."""
    app = OidcApp(node)
    if not is_url_issuer(app.issuer):
        log.warning("OpenID Connect provider off: [identity] issuer %r is not the edge's https URL", app.issuer)
        return []
    if app.issuer != base_url(node.config, settings):
        log.warning("[identity] issuer %s differs from the edge's public base URL %s: platforms discover the "
                    "provider at the issuer", app.issuer, base_url(node.config, settings))
    return app.routes()
