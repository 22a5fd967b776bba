"""The HTTP edge's ASGI application: route providers, security headers, one error shape.

See the package docstring (``hutong.edge``) for how route providers are mounted.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hutong import logs, observe
from hutong.edge.errors import error_response, internal, method_not_allowed, not_found
from hutong.edge.settings import EdgeSettings, edge_settings
from hutong.errors import HutongError, lift
from hutong.node import Node

log = logging.getLogger("hutong.edge")

# "module:function" entries, each ``function(node, settings) -> list[BaseRoute]``, mounted in this order.
ROUTE_PROVIDERS: list[str] = [
    "hutong.edge.connect:routes",
    "hutong.edge.public:routes",
    "hutong.edge.verify_page:routes",
    "hutong.edge.tsa:routes",
    "hutong.edge.ocsp:routes",
    "hutong.oidc.app:routes",
]

# No external resources, no inline script or style, no framing, forms post only to this origin.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class Guard:
    """Outermost middleware: security headers on every response, and any exception that escaped
    the routes becomes the ``internal`` JSON error with a reference, never a stack trace."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = [*SECURITY_HEADERS]
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in self.headers if k not in names)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:  # noqa: BLE001 - this is the boundary
            if started:
                raise
            err = lift(exc) or internal(exc, scope.get("path", "?"))  # HutongError, or the HSM's own
            await error_response(err)(scope, receive, send_with_headers)


class Observe:
    """Outermost middleware: every HTTP request is one observed call (``hutong.observe``).

    The request id (the caller's ``x-request-id`` when sane, else new) is returned in the
    ``x-request-id`` response header and carried into audit records; the access line and metrics are
    the gRPC ones for a Connect RPC (the route marks itself with ``observe.rpc``), else the HTTP ones
    labelled by route template. Neither address, user agent nor query string is recorded."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = Headers(scope=scope).get(logs.REQUEST_ID_HEADER)
        verb = scope.get("method", "")
        info = observe.begin(f"{verb} -", supplied, "http")
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []),
                                      (logs.REQUEST_ID_HEADER.encode(), info.request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "") or "-"
            if info.grpc_type:
                info.transport = "connect"
            else:
                info.method = f"{verb} {route}"
            observe.finish(info, http_status=status, route=route, http_method=verb)


async def _hutong_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HutongError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(method_not_allowed(request.method), status=405)
    if exc.status_code == 404:
        return error_response(not_found())
    return error_response(HutongError("INTERNAL_ERROR", "unexpected HTTP error"), status=exc.status_code)


def _provider(spec: str) -> Callable[[Node, EdgeSettings], Sequence[BaseRoute]]:
    module, _, name = spec.partition(":")
    fn: Any = getattr(importlib.import_module(module), name)
    return fn  # type: ignore[no-any-return]


def build_app(node: Node, settings: EdgeSettings | None = None) -> Starlette:
    """The edge application for ``node``: every route provider's routes behind the guard."""
    settings = settings or edge_settings(node.config)
    routes: list[BaseRoute] = []
    for spec in ROUTE_PROVIDERS:
        routes.extend(_provider(spec)(node, settings))
    app = Starlette(routes=routes, exception_handlers={HutongError: _hutong_error, HTTPException: _http_error})
    app.state.node = node
    app.state.settings = settings
    app.add_middleware(Guard, hsts=bool(node.config.server.tls_cert_file))
    app.add_middleware(Observe)  # added last: outermost, so it sees the Guard's answers too
    return app
