"""A seeded generator of hostile protobuf messages, walked from the message descriptors.

Every field is left unset, set to an edge value (extremes of its type, NaN and infinities, out-of-range
Timestamps, Unicode digits, over-long strings, strings that look like tokens, identifiers or compact
JOSE objects) or to a random value; nested messages recurse to a small depth. ``raw_bytes`` gives wire
bytes that may not parse at all. One ``random.Random`` drives everything, so a seed replays a run.
"""

from __future__ import annotations

import math
import random
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

F = FieldDescriptor
_INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1), F.TYPE_SINT32: (-(2**31), 2**31 - 1), F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1), F.TYPE_SINT64: (-(2**63), 2**63 - 1), F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1), F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1), F.TYPE_FIXED64: (0, 2**64 - 1),
}
EDGE_STRINGS = [
    "", " ", "0", "-1", "²", "٣", "1" * 30, "9" * 400, "a" * 5000, "\x00", "\u202e", "🙂" * 3, "null", "[]", "{}",
    "../../etc/passwd", "' OR 1=1 --", "%s%n", "11010519491231002X", "11010519491231002x", "110105194912310021",
    "91350100M000100Y43", "91110000600037341N",
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "W10.e30.x.y.z", "e30.e30.e30", "W10.W10.", "eyJhbGciOiJub25lIn0.e30.", "a.b.c.d.e", "....", "Bearer x",
    "hutong:seal", "seal-0", "openid", "node:operate", "cDE6MTI", "cDE6", "-" * 64, "测试", "X" * 65,
]
EDGE_BYTES = [b"", b"\x00", b"%PDF-1.7\n", b"%PDF-1.4\n%%EOF", b"\xff" * 64, b"0" * 1000, b"PK\x03\x04",
              b"\x30\x82\xff\xff", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
EDGE_FLOATS = [0.0, -0.0, -1.0, 1.0, 1e-300, 1e300, -1e300, math.inf, -math.inf, math.nan, 3.4e38, 595.0, 842.0]


class Fuzzer:
    def __init__(self, seed: int, *, extra_strings: list[str] | None = None, extra_bytes: list[bytes] | None = None,
                 max_depth: int = 3) -> None:
        self.rng = random.Random(seed)
        self.strings = EDGE_STRINGS + list(extra_strings or [])
        self.bytes = EDGE_BYTES + list(extra_bytes or [])
        self.max_depth = max_depth

    # -- scalars ---------------------------------------------------------------------------------
    def _int(self, kind: int) -> int:
        lo, hi = _INT_RANGES[kind]
        pick = self.rng.random()
        if pick < 0.5:
            return self.rng.choice([v for v in (0, 1, -1, 2, 7, 499, 500, 501, 10**9, 2**31 - 1, -(2**31), 2**32 - 1,
                                                2**53, 2**62, 2**63 - 1, -(2**63), 2**64 - 1) if lo <= v <= hi])
        if pick < 0.8:
            return self.rng.randint(max(lo, -1000), min(hi, 1000))
        return self.rng.randint(lo, hi)

    def _string(self) -> str:
        pick = self.rng.random()
        if pick < 0.6:
            return self.rng.choice(self.strings)
        if pick < 0.8:
            return "".join(chr(self.rng.randint(32, 126)) for _ in range(self.rng.randint(0, 40)))
        return "".join(chr(self.rng.choice([self.rng.randint(0x20, 0xD7FF), self.rng.randint(0xE000, 0x10FFFF)]))
                       for _ in range(self.rng.randint(1, 20)))

    def _bytes(self) -> bytes:
        if self.rng.random() < 0.6:
            return self.rng.choice(self.bytes)
        return self.rng.randbytes(self.rng.randint(0, 300))

    def _scalar(self, field: FieldDescriptor) -> Any:
        t = field.type
        if t in _INT_RANGES:
            return self._int(t)
        if t in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
            v = self.rng.choice(EDGE_FLOATS) if self.rng.random() < 0.6 else self.rng.uniform(-1e4, 1e4)
            return v if t == F.TYPE_DOUBLE or not math.isfinite(v) or abs(v) < 3.4e38 else 1.0
        if t == F.TYPE_BOOL:
            return self.rng.random() < 0.5
        if t == F.TYPE_STRING:
            return self._string()
        if t == F.TYPE_BYTES:
            return self._bytes()
        if t == F.TYPE_ENUM:
            values = [v.number for v in field.enum_type.values]
            return self.rng.choice(values) if self.rng.random() < 0.8 else self._int(F.TYPE_INT32)
        raise AssertionError(f"unhandled field type {t}")

    # -- messages --------------------------------------------------------------------------------
    def message(self, descriptor: Descriptor, depth: int = 0) -> Message:
        msg = GetMessageClass(descriptor)()
        self.fill(msg, depth)
        return msg

    def fill(self, msg: Message, depth: int = 0) -> None:
        d = msg.DESCRIPTOR
        if d.full_name == "google.protobuf.Timestamp":
            msg.seconds = self.rng.choice([0, -1, 1, 2**62, -(2**62), 253402300800, 1_700_000_000, 4_102_444_800,
                                           self._int(F.TYPE_INT64)])  # type: ignore[attr-defined]
            msg.nanos = self.rng.choice([0, 1, 999_999_999, 1_000_000_000, -1, 2**31 - 1])  # type: ignore[attr-defined]
            return
        for field in d.fields:
            if self.rng.random() < 0.4:
                continue
            repeated = field.is_repeated
            if field.type == F.TYPE_MESSAGE:
                if depth >= self.max_depth:
                    continue
                if field.message_type.GetOptions().map_entry:
                    target = getattr(msg, field.name)
                    key_f, val_f = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
                    for _ in range(self.rng.randint(0, 3)):
                        key = self._scalar(key_f)
                        if val_f.type == F.TYPE_MESSAGE:
                            self.fill(target[key], depth + 1)
                        else:
                            target[key] = self._scalar(val_f)
                elif repeated:
                    for _ in range(self.rng.randint(0, 3)):
                        self.fill(getattr(msg, field.name).add(), depth + 1)
                else:
                    sub = getattr(msg, field.name)
                    sub.SetInParent()
                    self.fill(sub, depth + 1)
            elif repeated:
                getattr(msg, field.name).extend(self._scalar(field) for _ in range(self.rng.randint(0, 4)))
            else:
                setattr(msg, field.name, self._scalar(field))

    def raw_bytes(self) -> bytes:
        """Wire bytes that are usually not a valid message: random, truncated varints, bad lengths, bad UTF-8."""
        return self.rng.choice([
            self.rng.randbytes(self.rng.randint(1, 64)),
            b"\x0a\xff\xff\xff\xff\x0f",  # field 1, length-delimited, absurd length
            b"\x0a\x02\xc3\x28",  # field 1 (string in most requests) holding invalid UTF-8
            b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # over-long varint
            b"\x0f",  # wire type 7 does not exist
            b"\x0a",  # truncated
        ])
