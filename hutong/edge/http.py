"""Request-reading helpers every edge endpoint uses: bounded bodies and checked content types.

Bodies are read as a stream and refused as soon as they pass the limit (a lying or missing
Content-Length changes nothing), so no endpoint buffers more than it allows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable

from starlette.requests import Request

from hutong.edge.errors import too_large, wrong_content_type


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_content_type(request: Request, accepted: Iterable[str]) -> str:
    """The request's media type if it is one of ``accepted``; else HTTP_CONTENT_TYPE_UNSUPPORTED (415)."""
    accepted = tuple(accepted)
    got = media_type(request)
    if got not in accepted:
        raise wrong_content_type(got, " or ".join(accepted))
    return got


def _declared_too_large(request: Request, limit: int) -> bool:
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes; HTTP_BODY_TOO_LARGE (413) past it."""
    if _declared_too_large(request, limit):
        raise too_large(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        parts.append(chunk)
    return b"".join(parts)


async def spool_body(request: Request, limit: int,
                     directory: str | None = None) -> tempfile.SpooledTemporaryFile[bytes]:
    """The body streamed into a temporary file (in memory up to 1 MiB, then on disk, deleted on close),
    at most ``limit`` bytes. Large uploads (PDFs) never sit in memory whole."""
    if _declared_too_large(request, limit):
        raise too_large(limit)
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - returned open
        max_size=1 << 20, dir=directory)
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool
