"""The one place where Hutong errors meet gRPC.

``ErrorInterceptor`` turns a ``HutongError`` raised anywhere below a servicer into its status code
plus a ``google.rpc.ErrorInfo`` detail (reason, domain, metadata); anything else becomes INTERNAL
with an opaque reference, logged server-side, so no internals leak to callers.
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
from hutong.errors import ERROR_DOMAIN, HutongError, Kind, lift

log = logging.getLogger("hutong.rpc")

STATUS_FOR_KIND: dict[Kind, grpc.StatusCode] = {kind: getattr(grpc.StatusCode, kind.value) for kind in Kind}


def to_status(err: HutongError) -> Any:
    info = error_details_pb2.ErrorInfo(reason=err.reason, domain=ERROR_DOMAIN, metadata=err.metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    code = STATUS_FOR_KIND[err.kind]
    return rpc_status.to_status(
        status_pb2.Status(code=getattr(code_pb2, code.name), message=err.message, details=[detail])
    )


def _internal(exc: BaseException, method: str) -> HutongError:
    ref = uuid.uuid4().hex[:12]
    log.error("unexpected error in %s (ref %s)", method, ref, exc_info=exc)
    return HutongError("INTERNAL_ERROR", f"internal error (reference {ref}); the operator can look it up")


def _abort(context: grpc.ServicerContext, exc: BaseException, method: str) -> None:
    err = lift(exc) or _internal(exc, method)
    context.abort_with_status(to_status(err))


def _wrap_unary(fn: Callable[..., Any], method: str) -> Callable[..., Any]:
    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(request, context)
        except Exception as exc:  # noqa: BLE001 - this is the boundary
            if _is_abort(exc):
                raise
            _abort(context, exc, method)

    return handler


def _wrap_stream(fn: Callable[..., Iterator[Any]], method: str) -> Callable[..., Iterator[Any]]:
    def handler(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from fn(request, context)
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
