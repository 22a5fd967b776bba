"""Request values every servicer reads the same way: times, page sizes and page tokens.

One place, so that a hostile or careless caller gets the same answer from every RPC:

- ``Timestamp`` fields become aware UTC ``datetime`` values or ``TIME_INVALID`` (nanos outside
  0..999,999,999, seconds outside the range domain code can compute with);
- ``PageRequest.page_size`` is 0 (the default), or 1..max (larger sizes are capped), never negative
  (``PAGE_SIZE_INVALID``);
- page tokens are opaque: what the server puts in ``next_page_token`` is a versioned, base64url-coded
  cursor, and a token the server did not make is ``PAGE_TOKEN_INVALID`` (never an IndexError, an
  OverflowError in the database or a Unicode digit that ``str.isdigit`` accepts).

This module converts protobuf values but does not import grpc.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from hutong.errors import InvalidArgument

# Times a caller may send: wide enough for any validity date, narrow enough that domain code can add
# a year or compare with ``datetime.now`` without overflowing, and representable in every database.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_MIN_SECONDS, _MAX_SECONDS = int(EARLIEST.timestamp()), int(LATEST.timestamp())

DEFAULT_PAGE, MAX_PAGE = 50, 500

_TOKEN_VERSION = "p1"
_MAX_TOKEN_CHARS = 512
_MAX_OFFSET = 2**53  # far beyond any table, far inside every database's integer range
_CURSOR = re.compile(r"[A-Za-z0-9_.:\-]{1,256}")  # what cursors (offsets, row ids) are made of
_OFFSET = re.compile(r"[0-9]{1,16}")  # ASCII digits only: str.isdigit() also accepts '²' and '٣'


# -- times ---------------------------------------------------------------------------------------

def to_datetime(ts: Timestamp, field: str) -> datetime:
    """A Timestamp as an aware UTC datetime, or ``TIME_INVALID`` naming ``field``."""
    if not 0 <= ts.nanos <= 999_999_999 or not _MIN_SECONDS <= ts.seconds < _MAX_SECONDS:
        raise InvalidArgument("TIME_INVALID", f"{field} must be a time between {EARLIEST:%Y-%m-%d} and "
                                              f"{LATEST:%Y-%m-%d} (nanos 0..999999999)", metadata={"field": field})
    return datetime.fromtimestamp(ts.seconds, UTC).replace(microsecond=ts.nanos // 1000)


def optional_time(msg: Any, field: str) -> datetime | None:
    """``msg.field`` as a datetime when the caller set it, else None (validated as ``to_datetime``)."""
    return to_datetime(getattr(msg, field), field) if msg.HasField(field) else None


def optional_epoch(msg: Any, field: str) -> float | None:
    """``msg.field`` as POSIX seconds when set (for domain code that works in epoch seconds)."""
    at = optional_time(msg, field)
    return at.timestamp() if at is not None else None


def timestamp(at: datetime | float | None) -> Timestamp | None:
    """A datetime (naive means UTC) or POSIX seconds as a Timestamp; None stays None (field left unset)."""
    if at is None:
        return None
    if not isinstance(at, datetime):
        at = datetime.fromtimestamp(at, UTC)
    ts = Timestamp()
    ts.FromDatetime(at if at.tzinfo else at.replace(tzinfo=UTC))
    return ts


# -- pages ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    """A validated page request: how many rows, and the cursor after which to start ('' = first page)."""

    size: int
    cursor: str

    @property
    def offset(self) -> int:
        """The cursor as a row offset, for offset-paged lists (the cursor was made by ``next_offset_token``)."""
        if not self.cursor:
            return 0
        if not _OFFSET.fullmatch(self.cursor) or int(self.cursor) > _MAX_OFFSET:
            raise _bad_token()
        return int(self.cursor)


def page(req: Any, *, default: int = DEFAULT_PAGE, maximum: int = MAX_PAGE) -> Page:
    """Read a ``hutong.common.v1.PageRequest``: size defaulted and capped, token decoded."""
    size = int(req.page_size)
    if size < 0:
        raise InvalidArgument("PAGE_SIZE_INVALID", f"page_size must be 0 (the default, {default}) or positive; "
                                                   f"sizes above {maximum} are capped")
    return Page(size=min(size or default, maximum), cursor=decode_token(req.page_token))


def next_token(cursor: str | int | None) -> str:
    """The opaque ``next_page_token`` for a cursor; '' (no more pages) for None or ''."""
    if cursor is None or cursor == "":
        return ""
    raw = f"{_TOKEN_VERSION}:{cursor}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def next_offset_token(offset: int, count: int, more: bool) -> str:
    """The token for the page after ``count`` rows read from ``offset`` ('' when there are no more)."""
    return next_token(offset + count) if more else ""


def decode_token(token: str) -> str:
    """The cursor inside a token this module made; '' for ''; ``PAGE_TOKEN_INVALID`` for anything else."""
    if not token:
        return ""
    if len(token) > _MAX_TOKEN_CHARS or not token.isascii():
        raise _bad_token()
    try:
        padded = (token + "=" * (-len(token) % 4)).replace("-", "+").replace("_", "/")
        raw = base64.b64decode(padded, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        raise _bad_token() from None
    if next_token(raw.partition(":")[2]) != token:  # one spelling per cursor: nothing else is ours
        raise _bad_token()
    version, sep, cursor = raw.partition(":")
    if version != _TOKEN_VERSION or not sep or not _CURSOR.fullmatch(cursor):
        raise _bad_token()
    return cursor


def _bad_token() -> InvalidArgument:
    return InvalidArgument("PAGE_TOKEN_INVALID", "page_token must be a next_page_token from a previous response "
                                                 "(or empty for the first page)")
