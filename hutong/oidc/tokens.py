"""The token and userinfo endpoints: authlib's code exchange, and the identity service's refresh rotation.

Refresh is ``identity_svc.sessions.refresh`` itself -- the rotation and reuse detection of gRPC RefreshToken --
behind authlib's client authentication; a refused refresh (spent, revoked, another platform's) is
``invalid_grant``, and a spent one replayed also ends the session (and tells the platform, back-channel).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from authlib.oauth2.rfc6749.errors import InvalidGrantError, OAuth2Error
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hutong.errors import HutongError
from identity_svc import sessions

from .provider import AUTH_METHODS, HttpRequest

if TYPE_CHECKING:
    from .app import OidcApp


def token(app: OidcApp, request: Request, form: list[tuple[str, str]]) -> Response:
    req = app.oauth_request(request, form=form, query=[])
    try:
        if req.payload.grant_type == "refresh_token":
            return _refresh(app, req)
        return app.server.create_token_response(req)  # type: ignore[no-any-return]
    except HutongError as err:  # the session could not be started (level, grants) after the code checked out
        return app.server.handle_error_response(req, InvalidGrantError(err.message))  # type: ignore[no-any-return]


def _refresh(app: OidcApp, req: HttpRequest) -> Response:
    try:
        client = app.server.authenticate_client(req, AUTH_METHODS)
    except OAuth2Error as err:
        return app.server.handle_error_response(req, err)  # type: ignore[no-any-return]
    token = req.form.get("refresh_token", "")
    if not token:
        return app.server.handle_error_response(req, OAuth2Error("Missing 'refresh_token'",  # type: ignore[no-any-return]
                                                                  status_code=400, error="invalid_request"))
    try:
        tokens = sessions.refresh(app.idn, client.info, token)
    except HutongError as err:
        return app.server.handle_error_response(req, InvalidGrantError(f"{err.reason}: {err.message}"))  # type: ignore[no-any-return]
    # No ID token on refresh (OpenID Connect Core 12.2): the relying party keeps the one of the login.
    return JSONResponse({"access_token": tokens.access_token, "token_type": "Bearer",
                         "expires_in": tokens.expires_in, "refresh_token": tokens.refresh_token,
                         **({"id_token": tokens.id_token} if tokens.id_token else {}),
                         "scope": " ".join(tokens.scopes)},
                        headers={"Cache-Control": "no-store"})


def userinfo(app: OidcApp, request: Request, form: list[tuple[str, str]]) -> Response:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else dict(form).get("access_token", "")
    if not token:
        return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm="hutong"'})
    try:
        check = sessions.verify_access_token(app.idn, token, audience=None)
        with app.idn.node.db.session(readonly=True) as s:
            claims = sessions.id_claims(app.idn, s, check.family, None, set(check.family.scopes.split()))
    except HutongError as err:
        return Response(status_code=401, headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{err.reason}"'})
    org = {k: check.claims[k] for k in ("org_uscc", "org_name", "roles", "act") if k in check.claims}
    return JSONResponse({"sub": check.claims["sub"], **claims, **org}, headers={"Cache-Control": "no-store"})

