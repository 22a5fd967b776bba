"""Errors at the HTTP edge: one JSON shape (the Connect protocol's error) for every endpoint.

``{"code": "invalid_argument", "message": "...", "details": [{"type": "google.rpc.ErrorInfo",
"value": "<base64 protobuf>", "debug": {"reason": ..., "domain": ..., "metadata": {...}}}]}``,
with the HTTP status the Connect protocol assigns to the code. The reason is the same stable
reason the gRPC API carries (docs/errors.md). Unexpected exceptions become ``internal`` with an
opaque reference, logged server-side: never a stack trace.
"""

from __future__ import annotations

import base64
import logging
import uuid
from typing import Any

from google.rpc import error_details_pb2
from starlette.responses import JSONResponse

from hutong import observe
from hutong.errors import ERROR_DOMAIN, HutongError, InvalidArgument, Kind, NotFound, ResourceExhausted, Unimplemented

log = logging.getLogger("hutong.edge")

# Connect protocol: code name and HTTP status for each kind.
HTTP_STATUS: dict[Kind, int] = {
    Kind.INVALID_ARGUMENT: 400, Kind.NOT_FOUND: 404, Kind.ALREADY_EXISTS: 409, Kind.PERMISSION_DENIED: 403,
    Kind.UNAUTHENTICATED: 401, Kind.FAILED_PRECONDITION: 400, Kind.RESOURCE_EXHAUSTED: 429,
    Kind.UNAVAILABLE: 503, Kind.UNIMPLEMENTED: 501, Kind.INTERNAL: 500,
}

# Reasons raised by the edge itself (the services' reasons pass through unchanged).
PATH_NOT_FOUND = "HTTP_PATH_NOT_FOUND"
METHOD_NOT_ALLOWED = "HTTP_METHOD_NOT_ALLOWED"
CONTENT_TYPE_UNSUPPORTED = "HTTP_CONTENT_TYPE_UNSUPPORTED"
BODY_TOO_LARGE = "HTTP_BODY_TOO_LARGE"
JSON_MALFORMED = "JSON_MALFORMED"


# Edge reasons whose HTTP status is more specific than their kind's.
REASON_STATUS = {CONTENT_TYPE_UNSUPPORTED: 415, BODY_TOO_LARGE: 413, METHOD_NOT_ALLOWED: 405}


def connect_code(kind: Kind) -> str:
    return kind.value.lower()


def error_json(err: HutongError) -> dict[str, Any]:
    info = error_details_pb2.ErrorInfo(reason=err.reason, domain=ERROR_DOMAIN, metadata=err.metadata)
    detail = {
        "type": "google.rpc.ErrorInfo",
        "value": base64.b64encode(info.SerializeToString()).decode().rstrip("="),
        "debug": {"reason": err.reason, "domain": ERROR_DOMAIN, "metadata": dict(err.metadata)},
    }
    return {"code": connect_code(err.kind), "message": err.message, "details": [detail]}


def error_response(err: HutongError, *, status: int | None = None, headers: dict[str, str] | None = None
                   ) -> JSONResponse:
    code = status or REASON_STATUS.get(err.reason) or HTTP_STATUS[err.kind]
    observe.failed(err.kind.value, err.reason)  # the access line names the reason the caller was given
    return JSONResponse(error_json(err), status_code=code, headers=headers)


def internal(exc: BaseException, where: str) -> HutongError:
    ref = uuid.uuid4().hex[:12]
    log.error("unexpected error in %s (ref %s)", where, ref, exc_info=exc)
    return HutongError("INTERNAL_ERROR", f"internal error (reference {ref}); the operator can look it up")


def not_found(path_hint: str = "") -> NotFound:
    return NotFound(PATH_NOT_FOUND, f"no such endpoint{': ' + path_hint if path_hint else ''}")


def method_not_allowed(method: str) -> Unimplemented:
    return Unimplemented(METHOD_NOT_ALLOWED, f"HTTP method {method} is not allowed here")


def wrong_content_type(got: str, want: str) -> InvalidArgument:
    return InvalidArgument(CONTENT_TYPE_UNSUPPORTED, f"content type {got or '(none)'} not accepted here: send {want}")


def too_large(limit: int) -> ResourceExhausted:
    return ResourceExhausted(BODY_TOO_LARGE, f"request body larger than {limit} bytes")
