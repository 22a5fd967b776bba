"""Request values read in one place: times, page sizes, page tokens (``hutong.convert``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from hutong import convert
from hutong.common.v1 import common_pb2
from hutong.errors import InvalidArgument


def _reason(fn: object, *args: object) -> str:
    with pytest.raises(InvalidArgument) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.reason


@pytest.mark.parametrize(("seconds", "nanos"), [
    (0, 1_000_000_000), (0, -1), (2**62, 0), (-(2**62), 0), (-1, 0), (253402300800, 0),
    (int(convert.LATEST.timestamp()), 0),
])
def test_out_of_range_timestamps_are_time_invalid(seconds: int, nanos: int) -> None:
    ts = Timestamp(seconds=seconds, nanos=nanos)
    with pytest.raises(InvalidArgument) as info:
        convert.to_datetime(ts, "expires_at")
    assert info.value.reason == "TIME_INVALID"
    assert info.value.metadata == {"field": "expires_at"}


def test_timestamps_in_range_round_trip() -> None:
    at = datetime(2030, 5, 17, 8, 30, 1, 123456, tzinfo=UTC)
    ts = convert.timestamp(at)
    assert ts is not None
    assert convert.to_datetime(ts, "t") == at
    assert convert.timestamp(None) is None
    assert convert.timestamp(at.timestamp()) == ts
    assert convert.to_datetime(Timestamp(seconds=0, nanos=999_999_999), "t").microsecond == 999_999


def test_page_sizes_default_cap_and_refuse_negative() -> None:
    assert convert.page(common_pb2.PageRequest()).size == convert.DEFAULT_PAGE
    assert convert.page(common_pb2.PageRequest(page_size=7)).size == 7
    assert convert.page(common_pb2.PageRequest(page_size=2**31 - 1)).size == convert.MAX_PAGE
    for size in (-1, -(2**31)):
        assert _reason(convert.page, common_pb2.PageRequest(page_size=size)) == "PAGE_SIZE_INVALID"


def test_page_tokens_round_trip_and_are_opaque() -> None:
    for cursor in ("17", "seal-0a1b", "0"):
        token = convert.next_token(cursor)
        assert token and cursor not in token
        assert convert.page(common_pb2.PageRequest(page_token=token)).cursor == cursor
    assert convert.next_token("") == "" and convert.next_token(None) == ""
    assert convert.next_offset_token(10, 5, True) == convert.next_token(15)
    assert convert.next_offset_token(10, 5, False) == ""
    assert convert.page(common_pb2.PageRequest(page_token=convert.next_token(40))).offset == 40
    assert convert.page(common_pb2.PageRequest()).offset == 0


@pytest.mark.parametrize("token", [
    "0", "12", "²", "٣", "1" * 30, "x" * 10_000, "cDE6", "cDE6MTI=", "!!!!", "cDI6MTI", "cDE6Cg", "é",
    convert.next_token("1" * 30), convert.next_token("a b"),
])
def test_foreign_page_tokens_are_page_token_invalid(token: str) -> None:
    def offset() -> int:
        return convert.page(common_pb2.PageRequest(page_token=token)).offset

    assert _reason(offset) == "PAGE_TOKEN_INVALID"
