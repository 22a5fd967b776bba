"""Every unary RPC as JSON over HTTP, in the Connect protocol's unary shape.

``POST /<package>.<Service>/<Method>`` with ``Content-Type: application/json`` (proto3 JSON) or
``application/proto`` (binary); the answer is the response message in the same encoding, or the
Connect error JSON carrying the same ``ErrorInfo`` reason as the gRPC API. Side-effect-free lookups
also answer ``GET /<...>/<Method>?encoding=json&message=<url-encoded JSON>`` (``base64=1`` for a
base64url message), so caches and ``wx.request`` GETs work.

No gRPC over loopback: the very servicer objects the gRPC server registers are captured here (the
service modules' ``add_to_server`` is called with a recording stand-in for ``grpc.Server``) and
called in-process, through the same error interceptor, with a small stand-in for
``grpc.ServicerContext`` whose metadata are the HTTP request headers (``authorization: Bearer``,
``x-hutong-client-id`` / ``x-hutong-client-secret``). The request bytes go through the method's own
request deserializer, so any validation there applies to both transports. The proto stays the
only contract. Streaming RPCs (PDF sealing, batch issuing, renditions) stay on gRPC; the
verification page offers VerifyPdf for uploads.

The node-to-node federation service is not exposed here: it is mutually authenticated TLS between
nodes, pinned through the trust list.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
from anyio import to_thread
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hutong import observe
from hutong.edge.clients import Network, client_address, parse_networks
from hutong.edge.errors import JSON_MALFORMED, method_not_allowed
from hutong.edge.handlers import Recorder, captured
from hutong.edge.http import read_body, require_content_type
from hutong.edge.settings import EdgeSettings
from hutong.errors import HutongError, InvalidArgument, Kind, error_for
from hutong.node import Node
from hutong.rpc import ErrorInterceptor

JSON, PROTO = "application/json", "application/proto"
EXCLUDED_SERVICES = frozenset({"hutong.federation.v1.FederationService"})
# Lookups that change nothing and write no audit record: also answered on GET (Connect GET requests).
SIDE_EFFECT_FREE = frozenset({
    "hutong.identity.v1.IdentityService/GetJwks",
    "hutong.cert.v1.CertService/ListTypes",
    "hutong.cert.v1.CertService/GetType",
    "hutong.cert.v1.CertService/ListIssuers",
    "hutong.cert.v1.CertService/GetStatusList",
    "hutong.cert.v1.CertService/GetTrustBundle",
    "hutong.cert.v1.CertService/Verify",
    "hutong.seal.v1.SealService/GetCrl",
    "hutong.seal.v1.SealService/GetSeal",
    "hutong.seal.v1.SealService/ListSeals",
})
GRPC_STATUS_DETAILS = "grpc-status-details-bin"


class _Abort(Exception):
    """Raised by the context stand-in where grpc would end the call."""

    def __init__(self, err: HutongError) -> None:
        super().__init__(err.reason)
        self.err = err


def _from_status(status: Any) -> HutongError:
    """A ``grpc.Status`` (as the error interceptor builds it) back to the typed error."""
    code: grpc.StatusCode = status.code
    kind = Kind[code.name] if code.name in Kind.__members__ else Kind.INTERNAL
    for key, value in status.trailing_metadata or ():
        if key == GRPC_STATUS_DETAILS:
            for detail in status_pb2.Status.FromString(value).details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return error_for(kind, info.reason, status.details, dict(info.metadata))
    return error_for(kind, code.name, status.details or code.name)


class EdgeContext:
    """The parts of ``grpc.ServicerContext`` servicers use, backed by an HTTP request.

    ``auth_context`` is empty: the edge does not vouch for TLS client certificates, so callers
    authenticate with bearer tokens or platform credentials, never an mTLS peer identity."""

    def __init__(self, metadata: Sequence[tuple[str, str]], peer: str = "edge") -> None:
        self._metadata = tuple(metadata)
        self._peer = peer
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def peer(self) -> str:
        """The HTTP caller's address (``hutong.edge.clients``), shaped like a gRPC peer."""
        return self._peer

    def peer_identities(self) -> None:
        return None

    def is_active(self) -> bool:
        return True

    def time_remaining(self) -> float | None:
        return None

    def add_callback(self, _callback: Callable[[], None]) -> bool:
        return False

    def send_initial_metadata(self, _metadata: Any) -> None:
        return None

    def set_trailing_metadata(self, _metadata: Any) -> None:
        return None

    def set_code(self, code: grpc.StatusCode) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        kind = Kind[code.name] if code.name in Kind.__members__ else Kind.INTERNAL
        raise _Abort(error_for(kind, code.name, details))

    def abort_with_status(self, status: Any) -> NoReturn:
        raise _Abort(_from_status(status))


@dataclass(frozen=True)
class _CallDetails:
    method: str
    invocation_metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class UnaryMethod:
    """One unary RPC as the edge calls it: the gRPC handler (wrapped in the error interceptor) and
    its message classes."""

    path: str  # "hutong.cert.v1.CertService/Verify"
    descriptor: MethodDescriptor
    handler: grpc.RpcMethodHandler
    request_class: type[Message]
    registered: grpc.RpcMethodHandler  # as the service registered it (before the error interceptor)

    def call(self, body: bytes, metadata: Sequence[tuple[str, str]], peer: str = "edge") -> Message:
        """Deserialize ``body`` (binary protobuf) with the method's own deserializer and call it."""
        try:
            request = self.handler.request_deserializer(body) if self.handler.request_deserializer else body
        except HutongError:
            raise
        except Exception:  # noqa: BLE001 - an undecodable message is the caller's
            raise InvalidArgument(JSON_MALFORMED, "the request message cannot be decoded") from None
        context = EdgeContext(metadata, peer)
        try:
            response: Message = self.handler.unary_unary(request, context)
        except _Abort as abort:
            raise abort.err from None
        if context.code not in (None, grpc.StatusCode.OK):
            assert context.code is not None
            kind = Kind[context.code.name] if context.code.name in Kind.__members__ else Kind.INTERNAL
            raise error_for(kind, context.code.name, context.details or context.code.name)
        return response


def unary_methods(node: Node) -> dict[str, UnaryMethod]:
    """Every unary RPC the node's gRPC server offers (federation aside), keyed by ``Service/Method``."""
    from hutong.server import add_services

    handlers = captured(node)
    if handlers is None:  # no gRPC server in this process (tests, edge alone): register our own
        recorder = Recorder()
        add_services(recorder, node)  # type: ignore[arg-type]
        handlers = recorder.handlers
    pool = descriptor_pool.Default()
    interceptor = ErrorInterceptor(observe=False)  # the edge's middleware observes each call (hutong.observe)
    methods: dict[str, UnaryMethod] = {}
    names = sorted({g.service_name() for g in handlers if isinstance(g, grpc.ServiceRpcHandler)})
    for name in names:
        if name in EXCLUDED_SERVICES:
            continue
        for md in pool.FindServiceByName(name).methods:
            if md.client_streaming or md.server_streaming:
                continue
            details = _CallDetails(method=f"/{name}/{md.name}")
            found = next((h for g in handlers if (h := g.service(details)) is not None), None)
            if found is None:
                continue
            wrapped = interceptor.intercept_service(lambda _d, h=found: h, details)
            methods[f"{name}/{md.name}"] = UnaryMethod(
                path=f"{name}/{md.name}", descriptor=md, handler=wrapped,
                request_class=message_factory.GetMessageClass(md.input_type), registered=found)
    return methods


def _metadata(request: Request) -> list[tuple[str, str]]:
    return [(k.lower(), v) for k, v in request.headers.items()]


def _decode_json(method: UnaryMethod, text: bytes | str) -> bytes:
    try:
        msg = json_format.Parse(text, method.request_class())
    except (json_format.ParseError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidArgument(JSON_MALFORMED, f"request is not valid proto3 JSON for "
                                              f"{method.descriptor.input_type.full_name}: {_short(exc)}") from None
    return msg.SerializeToString()


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _encode(response: Message, encoding: str) -> Response:
    if encoding == PROTO:
        return Response(response.SerializeToString(), media_type=PROTO)
    return JSONResponse(json_format.MessageToDict(response))


def _get_message(method: UnaryMethod, request: Request) -> tuple[bytes, str]:
    q = request.query_params
    encoding = q.get("encoding", "json")
    if encoding not in ("json", "proto"):
        raise InvalidArgument(JSON_MALFORMED, "encoding must be json or proto")
    raw: bytes = q.get("message", "").encode()
    if q.get("base64") == "1":
        try:
            raw = base64.b64decode(raw + b"=" * (-len(raw) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument(JSON_MALFORMED, "message is not base64url") from None
    if encoding == "proto":
        return raw, PROTO
    return _decode_json(method, raw or b"{}"), JSON


def _endpoint(method: UnaryMethod, limit: int, proxies: Sequence[Network]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        observe.rpc(f"/{method.path}", "unary")  # counted as this RPC, whatever fails from here on
        if request.method == "GET":
            if method.path not in SIDE_EFFECT_FREE:
                raise method_not_allowed("GET")
            body, encoding = _get_message(method, request)
        else:
            encoding = require_content_type(request, (JSON, PROTO))
            raw = await read_body(request, limit)
            body = raw if encoding == PROTO else _decode_json(method, raw or b"{}")
        peer = client_address(request.client.host if request.client else None,
                              request.headers.getlist("x-forwarded-for"), proxies)
        response = await to_thread.run_sync(method.call, body, _metadata(request), peer)
        return _encode(response, encoding)

    return endpoint


def routes(node: Node, settings: EdgeSettings) -> list[BaseRoute]:
    proxies = parse_networks(settings.trusted_proxies)
    return [Route(f"/{path}", _endpoint(m, settings.max_body_bytes, proxies), methods=["GET", "POST"])
            for path, m in sorted(unary_methods(node).items())]


def describe(node: Node) -> str:
    """The list of JSON endpoints (for documentation and the CLI)."""
    return json.dumps(sorted(unary_methods(node)), indent=2)
