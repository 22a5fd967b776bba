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
from contextlib import contextmanager
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hutong import logs, observe, profiling
from hutong.auth import PEER_CERT_SHA256
from hutong.errors import HutongError, InvalidArgument, lift
from hutong.idempotency import HEADER, check_key
from hutong.status import STATUS_FOR_KIND, to_status

log = logging.getLogger("hutong.rpc")

def _internal(exc: BaseException, method: str) -> HutongError:
    ref = uuid.uuid4().hex[:12]
    log.error("unexpected error in %s (ref %s)", method, ref, exc_info=exc)
    return HutongError("INTERNAL_ERROR", f"internal error (reference {ref}); the operator can look it up")


class _Call:
    """One call at the boundary: errors to statuses, and (``observe``) its observation through
    ``hutong.observe`` (request id echoed in trailing metadata, metrics, the JSON access line).

    The HTTP edge calls the same wrapped handlers with ``observe=False``: its middleware observes the
    whole HTTP request (errors raised before the servicer included) and labels it as this RPC."""

    def __init__(self, context: grpc.ServicerContext, method: str, kind: str, observed: bool = True) -> None:
        self.context, self.method, self.observed = context, method, observed
        self.code = "OK"
        if observed:
            supplied = dict(context.invocation_metadata() or ()).get(logs.REQUEST_ID_HEADER)
            self.info: logs.RequestInfo | None = observe.begin(
                method, supplied if isinstance(supplied, str) else None, "grpc")
            observe.rpc(method, kind, self.info)
        else:
            self.info = logs.current()

    @property
    def trailer(self) -> tuple[tuple[str, str], ...]:
        return ((logs.REQUEST_ID_HEADER, self.info.request_id),) if self.info is not None else ()

    def abort(self, exc: BaseException) -> None:
        err = lift(exc) or _internal(exc, self.method)  # a HutongError, or the HSM's own
        self.code = STATUS_FOR_KIND[err.kind].name
        observe.failed(self.code, err.reason)
        status = to_status(err)
        self.context.abort_with_status(status._replace(trailing_metadata=(*status.trailing_metadata, *self.trailer)))

    def finish(self, aborted_by_servicer: bool = False) -> None:
        if aborted_by_servicer:
            code = getattr(self.context, "code", lambda: None)()
            self.code = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
            observe.failed(self.code, "")
        elif self.code == "OK" and self.observed:
            self.context.set_trailing_metadata(self.trailer)
        if self.observed and self.info is not None:
            observe.finish(self.info)


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


@contextmanager
def _observed(context: grpc.ServicerContext, method: str, kind: str, observed: bool) -> Iterator[None]:
    """One call at the boundary, whatever its shape: observed (``_Call``), and any error below it turned into
    its status; ``context.abort()`` from a servicer passes through untouched."""
    call = _Call(context, method, kind, observed)
    aborted = False
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - this is the boundary
        if _is_abort(exc):
            aborted = True
            raise
        try:
            call.abort(exc)
        except Exception:
            aborted = call.code == "OK"
            raise
    finally:
        call.finish(aborted)


def _wrap_unary(fn: Callable[..., Any], method: str, kind: str = "unary", observed: bool = True
                ) -> Callable[..., Any]:
    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        with _observed(context, method, kind, observed):
            return fn(_request(request), context)

    return _profiled(handler)


def _wrap_stream(fn: Callable[..., Iterator[Any]], method: str, kind: str = "server_stream",
                 observed: bool = True) -> Callable[..., Iterator[Any]]:
    def handler(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        with _observed(context, method, kind, observed):  # a generator: the call lasts until the last message
            yield from fn(_request(request), context)

    if profiling.PROFILER is None:
        return handler
    profiler = profiling.PROFILER
    return lambda request, context: profiler.stream(handler(request, context))


def _profiled(handler: Callable[..., Any]) -> Callable[..., Any]:
    """The handler itself, or (``HUTONG_PROFILE_DIR`` set: benchmarks) the handler under the call profiler."""
    if profiling.PROFILER is None:
        return handler
    profiler = profiling.PROFILER
    return lambda request, context: profiler.call(handler, request, context)


def _is_abort(exc: BaseException) -> bool:
    # context.abort() ends the call by raising a bare ``Exception()``; let it through untouched.
    return type(exc) is Exception and not exc.args


class ErrorInterceptor(grpc.ServerInterceptor):
    """Errors to statuses, plus per-call observation (request id, metrics, access log: ``_Call``);
    ``observe=False`` for a caller that observes the call itself (the HTTP edge)."""

    def __init__(self, observe: bool = True) -> None:
        self.observe = observe
        # grpcio asks the interceptor on every call; the method's registered handler is the same object each time,
        # so its wrapping (closures, a new handler tuple) is made once per method and handler, not per call
        self._wrapped: dict[str, tuple[Any, Any]] = {}

    def intercept_service(self, continuation: Callable[..., Any], handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        found = self._wrapped.get(method)
        if found is not None and found[0] is handler:
            return found[1]
        wrapped = self._wrap(handler, method)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: Any, method: str) -> Any:
        handler = handler._replace(request_deserializer=_safe_deserializer(handler.request_deserializer))
        obs = self.observe
        if handler.unary_unary:
            return handler._replace(unary_unary=_wrap_unary(handler.unary_unary, method, "unary", obs))
        if handler.stream_unary:
            return handler._replace(stream_unary=_wrap_unary(handler.stream_unary, method, "client_stream", obs))
        if handler.unary_stream:
            return handler._replace(unary_stream=_wrap_stream(handler.unary_stream, method, "server_stream", obs))
        if handler.stream_stream:
            return handler._replace(stream_stream=_wrap_stream(handler.stream_stream, method, "bidi_stream", obs))
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


def idempotency_key(context: grpc.ServicerContext) -> str:
    """The caller's ``idempotency-key`` metadata ("" when absent), checked (``hutong.idempotency``)."""
    value = dict(context.invocation_metadata() or ()).get(HEADER, "")
    return check_key(value) if isinstance(value, str) and value else ""
