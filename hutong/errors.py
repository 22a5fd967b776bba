"""The error taxonomy: every failure a caller can see has a stable machine-readable reason.

Domain code raises these; it never imports grpc. One server interceptor (``hutong.rpc``) maps
``Kind`` to a gRPC status code and the reason to ``google.rpc.ErrorInfo``; the SDK rebuilds
the same exception classes from the reason. The message is for people and may change; the
reason is for programs and must not.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

ERROR_DOMAIN = "hutong.gov"


class Kind(enum.Enum):
    """What sort of failure this is; maps 1:1 onto a gRPC status code."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    INTERNAL = "INTERNAL"


class HutongError(Exception):
    """Base of every error a Hutong caller may see.

    Subclasses fix ``kind``; ``reason`` is a SCREAMING_SNAKE_CASE string listed in
    ``docs/errors.md`` (a test keeps the two in step).
    """

    kind: Kind = Kind.INTERNAL

    def __init__(self, reason: str, message: str, *, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.metadata: dict[str, str] = dict(metadata or {})

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # As ``hsm.errors.HsmError``: rebuilt whole where it crosses a process boundary.
        return _rebuild, (type(self), self.reason, self.message, self.metadata)


def _rebuild(cls: type[HutongError], reason: str, message: str, metadata: dict[str, str]) -> HutongError:
    return cls(reason, message, metadata=metadata)


class InvalidArgument(HutongError):
    kind = Kind.INVALID_ARGUMENT


class NotFound(HutongError):
    kind = Kind.NOT_FOUND


class AlreadyExists(HutongError):
    kind = Kind.ALREADY_EXISTS


class PermissionDenied(HutongError):
    kind = Kind.PERMISSION_DENIED


class Unauthenticated(HutongError):
    kind = Kind.UNAUTHENTICATED


class FailedPrecondition(HutongError):
    kind = Kind.FAILED_PRECONDITION


class ResourceExhausted(HutongError):
    kind = Kind.RESOURCE_EXHAUSTED


class Unavailable(HutongError):
    kind = Kind.UNAVAILABLE


class Unimplemented(HutongError):
    kind = Kind.UNIMPLEMENTED


class Internal(HutongError):
    kind = Kind.INTERNAL


class ConfigError(HutongError):
    """Configuration that cannot work; raised at start-up, reported as one line naming what to fix."""

    kind = Kind.FAILED_PRECONDITION


_BY_KIND: dict[Kind, type[HutongError]] = {
    cls.kind: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        Unauthenticated,
        FailedPrecondition,
        ResourceExhausted,
        Unavailable,
        Unimplemented,
        Internal,
    )
}


def error_for(kind: Kind, reason: str, message: str, metadata: Mapping[str, str] | None = None) -> HutongError:
    """Rebuild a typed error from its wire form (used by the SDK)."""
    return _BY_KIND.get(kind, Internal)(reason, message, metadata=metadata)


def lift(exc: BaseException) -> HutongError | None:
    """The ``HutongError`` an exception stands for, or None when it is not a Hutong failure.

    The one place where an error of a lower layer becomes part of the taxonomy: ``hsm`` imports nothing of
    the project and raises its own ``HsmError`` (with ``kind``, the name of a ``Kind``, and a ``reason``).
    Used where errors leave the node: the gRPC interceptor, the CLI, encrypted answers between nodes.
    """
    if isinstance(exc, HutongError):
        return exc
    kind, reason, message = getattr(exc, "kind", None), getattr(exc, "reason", None), getattr(exc, "message", None)
    if isinstance(kind, str) and kind in Kind.__members__ and isinstance(reason, str) and isinstance(message, str):
        return error_for(Kind[kind], reason, message)
    return None
