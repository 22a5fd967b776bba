"""RP-Initiated Logout 1.0 at ``end_session_endpoint``.

With an ``id_token_hint`` naming a session this browser opened, logout is immediate; otherwise the person
confirms on a page (CSRF-protected), so that no other site can log anyone out. ``post_logout_redirect_uri``
must be one of the platform's registered redirect URIs. Every platform session of the browser login ends and
each platform is told on its back-channel logout URI (``flow.logout``).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hutong.errors import HutongError
from hutong.verify.jose import verify_compact
from identity_svc.platforms import get_platform

from . import flow, pages

if TYPE_CHECKING:
    from .app import OidcApp


def logout(app: OidcApp, request: Request, form: list[tuple[str, str]]) -> Response:
    params = {**dict(request.query_params), **dict(form)}
    hint = params.get("id_token_hint", "")
    client_id = params.get("client_id", "")
    hinted: dict[str, Any] | None = None
    if hint:
        try:
            import json

            hinted = json.loads(verify_compact(hint, app.idn.signer.jwks()))
            assert hinted is not None
            if hinted.get("iss") != app.issuer:
                raise ValueError("another issuer")
            client_id = client_id or str(hinted.get("aud", ""))
        except (HutongError, ValueError, AssertionError):
            return app.html(pages.error("退出请求无效", "id_token_hint is not an ID token of this provider"), 400)
    redirect = params.get("post_logout_redirect_uri", "")
    if redirect:
        try:
            platform = get_platform(app.idn, client_id)
        except HutongError:
            return app.html(pages.error("退出请求无效", "post_logout_redirect_uri needs client_id or "
                                                     "id_token_hint of a registered platform"), 400)
        if redirect not in platform.redirect_uris:
            return app.html(pages.error("退出请求无效", "post_logout_redirect_uri is not registered"), 400)
    session = flow.browser_session(app.idn, request.cookies.get(flow.SESSION_COOKIE, ""))
    csrf = request.cookies.get(flow.CSRF_COOKIE, "")
    confirmed = request.method == "POST" and csrf and params.get("csrf") == csrf and params.get("confirm") == "yes"
    hint_matches = session is not None and hinted is not None and \
        flow.opened_by(app.idn, session, str(hinted.get("sid", "")))
    if session is not None and not confirmed and not hint_matches:
        csrf = csrf or secrets.token_urlsafe(24)
        keep = {k: v for k, v in params.items() if k in ("post_logout_redirect_uri", "state", "client_id",
                                                        "id_token_hint")}
        return app.html(pages.logout_confirm(csrf=csrf, params=keep), csrf=csrf, redirect_uri=redirect)
    if session is not None:
        flow.logout(app.idn, session)
    if redirect:
        state = params.get("state")
        target = redirect + (("&" if "?" in redirect else "?") + urlencode({"state": state}) if state else "")
        response: Response = RedirectResponse(target, 302)
    else:
        response = app.html(pages.logged_out())
    response.delete_cookie(flow.SESSION_COOKIE, path="/oidc")
    return response
