"""One call's observation, whatever the transport: request id, metrics, the JSON access line.

Why one module: a node is reached two ways, gRPC (``hutong.rpc``'s interceptor) and the HTTP edge
(``hutong.edge.app.Observe``: Connect JSON calls, the /v page, /tsa, /ocsp, OIDC). An operator must
see the same access line and the same ``grpc_server_*`` series for a Connect call as for the gRPC
call of the same RPC, so both transports begin, label and finish a call through these functions.

- ``begin`` starts the call's ``RequestInfo`` (the caller's ``x-request-id`` when sane, else new).
- ``rpc`` says the call is an RPC: it is counted in ``grpc_server_started_total`` and, when finished,
  in ``grpc_server_handled_total`` / ``grpc_server_handling_seconds`` with go-grpc-prometheus labels.
  A call that is not an RPC (an edge page or endpoint) is counted in ``hutong_http_requests_total`` /
  ``hutong_http_request_duration_seconds`` by route template (never the raw path: bounded labels,
  and nothing a citizen typed into the verification page is kept).
- ``failed`` records the outcome (status code name and stable reason) where an error is answered.
- ``finish`` writes the metrics, the access line and, for refusals, the security event.
"""

from __future__ import annotations

import time

from hutong import logs, metrics

REFUSED = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED"})

# For edge responses that carry no Hutong error (an OIDC error page, a redirect): the status by HTTP code.
_BY_HTTP = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
            405: "UNIMPLEMENTED", 409: "ALREADY_EXISTS", 413: "RESOURCE_EXHAUSTED", 415: "INVALID_ARGUMENT",
            429: "RESOURCE_EXHAUSTED", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE"}


def begin(method: str, supplied_request_id: str | None, transport: str) -> logs.RequestInfo:
    """Start observing a call in this context (thread or task)."""
    info = logs.begin_request(method, logs.request_id_from(supplied_request_id))
    info.transport = transport
    return info


def rpc(method: str, kind: str, info: logs.RequestInfo | None = None) -> None:
    """The call in progress is the RPC ``method`` ("/pkg.Service/Method") of grpc type ``kind``."""
    info = info or logs.current()
    if info is None:
        return
    info.method, info.grpc_type = method, kind
    service, _, name = method.lstrip("/").rpartition("/")
    metrics.rpc_started(kind, service, name)


def failed(status: str, reason: str) -> None:
    """Record how the call in progress ended (a gRPC status code name and the stable reason)."""
    info = logs.current()
    if info is not None:
        info.status, info.reason = status, reason


def status_for_http(code: int) -> str:
    if code < 400:
        return "OK"
    return _BY_HTTP.get(code, "INTERNAL" if code >= 500 else "INVALID_ARGUMENT")


def finish(info: logs.RequestInfo, *, http_status: int | None = None, route: str = "",
           http_method: str = "") -> None:
    """Metrics, the access line and (refusals) a security event for ``info``; ends the call's context."""
    seconds = time.perf_counter() - info.started
    if http_status is not None and info.status == "OK" and http_status >= 400:
        info.status = status_for_http(http_status)  # an error answered without a Hutong error
    if info.grpc_type:
        service, _, name = info.method.lstrip("/").rpartition("/")
        metrics.rpc_handled(info.grpc_type, service, name, info.status, seconds)
    else:
        metrics.http_handled(route or "-", http_method, http_status or 0, seconds)
    fields: dict[str, object] = {
        "method": info.method, "transport": info.transport, "platform": info.platform, "subject": info.subject,
        "caller_kind": info.caller_kind, "status": info.status, "reason": info.reason,
        "latency_ms": round(seconds * 1000, 3)}
    if info.grpc_type:
        fields["grpc_type"] = info.grpc_type
    if http_status is not None:
        fields["http_status"] = http_status
    logs.ACCESS.info("%s %s %s", info.method, info.status, info.reason or "-", extra={"fields": fields})
    if info.status in REFUSED:
        logs.security_event("refused", method=info.method, status=info.status, reason=info.reason,
                            platform=info.platform, subject=info.subject)
    logs.end_request()
