"""The one place where Hutong errors meet gRPC.

``ErrorInterceptor`` turns a ``HutongError`` raised anywhere below a servicer into its status code
plus a ``google.rpc.ErrorInfo`` detail (reason, domain, metadata); anything else becomes INTERNAL
with an opaque reference, logged server-side, so no internals leak to callers.

It also replaces each handler's request deserializer: grpcio answers bytes that do not parse with a
bare INTERNAL ("Exception deserializing request!") before any servicer runs, so the deserializer
returns a marker instead of raising, and the wrapped handler turns the marker into
INVALID_ARGUMENT / ``REQUEST_UNDECODABLE`` with an ErrorInfo like every other error.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from hutong.auth import PEER_CERT_SHA256
from hutong.errors import ERROR_DOMAIN, HutongError, InvalidArgument, Kind

log = logging.getLogger("hutong.rpc")

STATUS_FOR_KIND: dict[Kind, grpc.StatusCode] = {kind: getattr(grpc.StatusCode, kind.value) for kind in Kind}


# Messages and metadata often quote what the caller sent; a status travels in trailers that clients cap
# at 8 KB by default, so an over-long echo would turn a clear answer into the client's RESOURCE_EXHAUSTED.
MAX_MESSAGE_CHARS, MAX_METADATA_CHARS = 600, 200


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def to_status(err: HutongError) -> Any:
    metadata = {_clip(k, 64): _clip(v, MAX_METADATA_CHARS) for k, v in list(err.metadata.items())[:16]}
    info = error_details_pb2.ErrorInfo(reason=err.reason, domain=ERROR_DOMAIN, metadata=metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    code = STATUS_FOR_KIND[err.kind]
    return rpc_status.to_status(status_pb2.Status(code=getattr(code_pb2, code.name),
                                                  message=_clip(err.message, MAX_MESSAGE_CHARS), details=[detail]))


def _internal(exc: BaseException, method: str) -> HutongError:
    ref = uuid.uuid4().hex[:12]
    log.error("unexpected error in %s (ref %s)", method, ref, exc_info=exc)
    return HutongError("INTERNAL_ERROR", f"internal error (reference {ref}); the operator can look it up")


def _abort(context: grpc.ServicerContext, exc: BaseException, method: str) -> None:
    err = exc if isinstance(exc, HutongError) else _internal(exc, method)
    context.abort_with_status(to_status(err))


class _Undecodable:
    """What a request deserializer returns for bytes that are not the RPC's request message."""

    def __init__(self, error: str) -> None:
        self.error = error


def _undecodable(marker: _Undecodable) -> InvalidArgument:
    return InvalidArgument("REQUEST_UNDECODABLE", "the request bytes are not a valid message of this RPC's "
                                                  f"request type ({marker.error})")


def _safe_deserializer(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as exc:  # noqa: BLE001 - DecodeError and anything else a parser raises on junk
            return _Undecodable(type(exc).__name__)

    return parse


def _checked(requests: Iterator[Any]) -> Iterator[Any]:
    for request in requests:
        if isinstance(request, _Undecodable):
            raise _undecodable(request)
        yield request


def _request(request: Any) -> Any:
    """A unary request as parsed, or the request iterator checked message by message (streams)."""
    if isinstance(request, _Undecodable):
        raise _undecodable(request)
    if isinstance(request, Iterator):
        return _checked(request)
    return request


def _wrap_unary(fn: Callable[..., Any], method: str) -> Callable[..., Any]:
    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(_request(request), context)
        except Exception as exc:  # noqa: BLE001 - this is the boundary
            if _is_abort(exc):
                raise
            _abort(context, exc, method)

    return handler


def _wrap_stream(fn: Callable[..., Iterator[Any]], method: str) -> Callable[..., Iterator[Any]]:
    def handler(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from fn(_request(request), context)
        except Exception as exc:  # noqa: BLE001 - this is the boundary
            if _is_abort(exc):
                raise
            _abort(context, exc, method)

    return handler


def _is_abort(exc: BaseException) -> bool:
    # context.abort() ends the call by raising a bare ``Exception()``; let it through untouched.
    return type(exc) is Exception and not exc.args


class ErrorInterceptor(grpc.ServerInterceptor):
    def intercept_service(self, continuation: Callable[..., Any], handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        handler = handler._replace(request_deserializer=_safe_deserializer(handler.request_deserializer))
        if handler.unary_unary:
            return handler._replace(unary_unary=_wrap_unary(handler.unary_unary, method))
        if handler.stream_unary:
            return handler._replace(stream_unary=_wrap_unary(handler.stream_unary, method))
        if handler.unary_stream:
            return handler._replace(unary_stream=_wrap_stream(handler.unary_stream, method))
        if handler.stream_stream:
            return handler._replace(stream_stream=_wrap_stream(handler.stream_stream, method))
        return handler


def metadata_dict(context: grpc.ServicerContext) -> dict[str, str]:
    """Invocation metadata as a dict (text values only), for the authenticator, plus the fingerprint of the
    verified mTLS client certificate when there is one (``PEER_CERT_SHA256``, never taken from the client)."""
    md = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str) and k != PEER_CERT_SHA256}
    pem = (context.auth_context() or {}).get("x509_pem_cert")
    if pem:
        der = x509.load_pem_x509_certificate(pem[0]).public_bytes(serialization.Encoding.DER)
        md[PEER_CERT_SHA256] = hashlib.sha256(der).hexdigest()
    return md


def error_from_rpc(exc: grpc.RpcError) -> HutongError:
    """Client side: rebuild the typed error from a failed call's status details."""
    from hutong.errors import error_for

    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    code = exc.code()  # type: ignore[attr-defined]
    kind = Kind[code.name] if code.name in Kind.__members__ else Kind.INTERNAL
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                return error_for(kind, info.reason, status.message, dict(info.metadata))
    details = exc.details() if hasattr(exc, "details") else ""  # type: ignore[attr-defined]
    reason = "UNAVAILABLE" if code == grpc.StatusCode.UNAVAILABLE else code.name
    return error_for(kind, reason, details or code.name)
