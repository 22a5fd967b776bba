"""Hutong errors on the gRPC wire: ``to_status`` (the server's half: code + ``google.rpc.ErrorInfo`` with the
reason) and ``error_from_rpc`` (the client's half: the typed error back from a failed call).

Kept apart from ``hutong.rpc`` (the server's interceptor, with logs and metrics) so that the SDK, which ships
this module, imports nothing of the server.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from hutong.errors import ERROR_DOMAIN, HutongError, Kind, error_for

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


def error_from_rpc(exc: grpc.RpcError) -> HutongError:
    """Client side: rebuild the typed error from a failed call's status details."""
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
