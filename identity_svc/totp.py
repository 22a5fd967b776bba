"""RFC 6238 TOTP (HMAC-SHA1, the algorithm every authenticator app supports) on RFC 4226 HOTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

SECRET_BYTES = 20  # RFC 4226 recommends 160 bits


def new_secret() -> str:
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def _key(secret_b32: str) -> bytes:
    padded = secret_b32.upper() + "=" * (-len(secret_b32) % 8)
    return base64.b32decode(padded)


def hotp(secret_b32: str, counter: int, digits: int = 6) -> str:
    mac = hmac.new(_key(secret_b32), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def step(now: float, period: int = 30) -> int:
    return int(now // period)


def code_at(secret_b32: str, now: float, *, digits: int = 6, period: int = 30) -> str:
    """The code an authenticator app shows at ``now`` (seconds since the epoch)."""
    return hotp(secret_b32, step(now, period), digits)


def matching_step(secret_b32: str, code: str, now: float, *, digits: int = 6, period: int = 30,
                  window: int = 1) -> int | None:
    """The time step whose code equals ``code`` within ``window`` steps of now, or None."""
    if len(code) != digits or not code.isdigit():
        return None
    current = step(now, period)
    for candidate in range(current - window, current + window + 1):
        if hmac.compare_digest(hotp(secret_b32, candidate, digits), code):
            return candidate
    return None


def provisioning_uri(secret_b32: str, *, account: str, issuer: str, digits: int = 6, period: int = 30) -> str:
    query = urlencode({"secret": secret_b32, "issuer": issuer, "algorithm": "SHA1", "digits": digits,
                       "period": period})
    return f"otpauth://totp/{quote(issuer)}:{quote(account)}?{query}"
