"""The endpoints of "log in at my home node" (see ``hutong.oidc.home`` for the whole exchange).

Visited node B: ``go_home`` (the login page's choice) and ``back_from_home`` (the assertion arrives).
Home node A: ``start`` (its own login page, or its browser session), ``to_visited`` (the assertion goes back).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from authlib.oauth2.rfc6749.errors import OAuth2Error
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hutong.errors import HutongError, Unauthenticated
from identity_svc import federation
from identity_svc.core import LEVELS, check_level
from identity_svc.login import Verified
from identity_svc.platforms import PlatformInfo

from . import flow, home, pages

if TYPE_CHECKING:
    from .app import OidcApp


def go_home(app: OidcApp, pending: flow.Pending, node_id: str) -> Response:
    """B: send the browser to the chosen member's login, carrying B's pending login and the level it needs."""
    try:
        target = home.member(app.idn.node, node_id)
    except HutongError as err:
        return app.html(pages.error("归属节点无效", err.message), 400)
    query = urlencode({"node": app.idn.node.id, "tx": pending.id, "acr": pending.required_acr})
    return RedirectResponse(f"{target.url}{home.START_PATH}?{query}", 302, headers={"Cache-Control": "no-store"})


def platform_for(app: OidcApp, pending: flow.Pending) -> tuple[PlatformInfo, str]:
    """A: the visited node stands in for a platform (throttling per client, challenge binding), and where to go back."""
    visited = home.member(app.idn.node, pending.client_id.removeprefix(home.NODE_CLIENT_PREFIX))
    info = PlatformInfo(pending.client_id, f"{visited.name}（经归属节点登录 via your home node）",
                        frozenset({"openid"}), check_level(pending.required_acr), True)
    return info, visited.url


def start(app: OidcApp, request: Request) -> Response:
    """A: a member node sends one of our people to log in here."""
    q = request.query_params
    try:
        visited = home.member(app.idn.node, q.get("node", ""))
    except HutongError as err:
        return app.html(pages.error("请求无效", err.message), 400)
    visited_tx = q.get("tx", "")
    required = q.get("acr", "") if q.get("acr", "") in LEVELS else "substantial"
    if not visited_tx.startswith("tx_") or len(visited_tx) > 40:
        return app.html(pages.error("请求无效", "the visited node's login reference is missing"), 400)
    csrf = request.cookies.get(flow.CSRF_COOKIE) or secrets.token_urlsafe(24)
    params = urlencode({"node": visited.node_id, "tx": visited_tx})
    tx = flow.start_request(app.idn, home.NODE_CLIENT_PREFIX + visited.node_id, params, required, csrf)
    session = flow.browser_session(app.idn, request.cookies.get(flow.SESSION_COOKIE, ""))
    if session is not None and app.level_fits(session, required):
        pending = flow.pending(app.idn, tx, csrf)
        return to_visited(app, pending, session.verified, session.auth_time)
    platform, back = platform_for(app, flow.pending(app.idn, tx, csrf))
    return app.html(pages.login(platform_name=platform.name, tx=tx, csrf=csrf, required_acr=required),
                    csrf=csrf, redirect_uri=back)


def after_home_login(app: OidcApp, pending: flow.Pending, verified: Verified, auth_time: float,
                     csrf: str) -> Response:
    """A: the person logged in here; they may act for one of their organisations at the visited node."""
    organisations = flow.organisations(app.idn, verified.person_id)
    if not organisations:
        return to_visited(app, pending, verified, auth_time)
    visited = home.member(app.idn.node, dict(parse_qsl(pending.params))["node"])
    return app.html(pages.choose_organisation(tx=pending.id, csrf=csrf, person_label="本人 me",
                                              organisations=[(o.uscc, o.name) for o in organisations]),
                    csrf=csrf, redirect_uri=visited.url)


def to_visited(app: OidcApp, pending: flow.Pending, verified: Verified, auth_time: float,
               org: dict[str, Any] | None = None) -> Response:
    """A: the assertion for the visited node, bound to its pending login, posted there by the person's browser;
    ``org``: the organisation the person acts for, with the roles in force here now."""
    params = dict(parse_qsl(pending.params))
    visited = home.member(app.idn.node, params["node"])
    token = federation.issue_for(app.idn, verified.person_id, acr=verified.acr, amr=verified.amr,
                                 auth_time=auth_time, audience_node=visited.node_id, org=org,
                                 extra={home.TX_CLAIM: params["tx"]})
    flow.finish_request(app.idn, pending.id)
    return app.html(pages.continue_to(url=visited.url + home.RETURN_PATH, node_name=visited.name,
                                      fields={"assertion": token, "tx": params["tx"]}), redirect_uri=visited.url)


def back_from_home(app: OidcApp, request: Request, form: list[tuple[str, str]]) -> Response:
    """B: the home node vouches for the person; one linked account, its level never raised; then the platform."""
    f = dict(form)
    try:
        pending = flow.pending(app.idn, f.get("tx", ""), None)  # cross-site POST: bound by the assertion instead
        req, grant = app.resume(request, pending)
    except (HutongError, OAuth2Error) as err:
        return app.html(pages.error("登录请求无效", getattr(err, "message", "") or str(err)), 400)
    try:
        with app.idn.node.db.session() as s:
            admitted = federation.admit(app.idn, s, f.get("assertion", ""), required_acr=pending.required_acr)
            if admitted.claims.get(home.TX_CLAIM) != pending.id:
                raise Unauthenticated("ASSERTION_INVALID", "the assertion was issued for another login")
    except HutongError as err:
        if err.reason == "STEP_UP_REQUIRED":
            return app.redirect_error(req, grant.redirect_uri, "unmet_authentication_requirements",
                                      "the level reached at the home node is below the level asked for")
        return app.html(pages.error("归属节点登录失败", f"{err.reason}: {err.message}"), 400)
    verified = Verified(admitted.person.id, admitted.acr, admitted.amr)
    cookie, session = flow.open_browser_session(app.idn, verified)
    auth_time = admitted.auth_time or session.auth_time
    flow.record_verified(app.idn, pending.id, verified, auth_time, session.id_hash)
    approval = flow.Approval(verified, auth_time, None, session.id_hash, federated_org=admitted.org)
    response = app.issue(req, grant, approval, pending.id)
    app.set_session_cookie(response, cookie)
    return response
