"""pyHanko's and asn1crypto's slowest spots replaced by equivalent, faster ones (``install()``, once a process).

Profiles of VerifyPdf (issue 19) found half of the time in these places:

- a hex string such as a signature's ``/Contents`` is read one digit at a time (``read_non_whitespace`` per
  digit: ~6,000 Python calls for one seal's CMS). Here the digits are found in blocks with one regex and
  decoded with one ``unhexlify``; whitespace inside and an odd number of digits (a final 0 appended) are
  treated as pyHanko treats them, anything unusual is left to pyHanko's reader;
- ``match_issuer_serial`` (finding the signer among the CMS certificates) compares the issuer names first,
  with asn1crypto's directory-string preparation (stringprep per character) for every certificate whose name
  is not byte-identical, and only then the serial numbers. The answer is "issuer matches AND serial matches",
  so the cheap serial comparison goes first; the name comparison is pyHanko's own;
- asn1crypto's ``Name`` equality and ``hashable`` (certificate path building, CRL issuer matching) prepare
  every string of both names with stringprep on every call. Both are functions of the names' DER encodings
  alone, so each answer is kept per encoding (bounded caches) and computed by asn1crypto itself.

``tests/core/test_pdffast.py`` checks each against the original.
"""

from __future__ import annotations

import binascii
import re
import threading
from functools import lru_cache
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.sign import general

_BLOCK = 64 * 1024
_NOT_HEX = re.compile(rb"[^0-9A-Fa-f \n\r\t\f\x00]")  # hex digits and PDF whitespace continue the string
_WHITESPACE = b" \n\r\t\f\x00"

original_read_hex_string = generic.read_hex_string_from_stream
original_match_issuer_serial = general.match_issuer_serial
_original_name_eq = asn1_x509.Name.__eq__
_original_name_hashable = asn1_x509.Name.hashable
_installed = False
_lock = threading.Lock()


def read_hex_string_from_stream(stream: Any) -> Any:
    """pyHanko's ``read_hex_string_from_stream``, a block at a time. The stream is at the ``<``.

    Anything but digits, whitespace and the closing ``>`` (a comment, a stray character, the end of the
    stream) is handed to pyHanko's own reader from the ``<`` again: it decides, as before."""
    begin = stream.tell()
    stream.read(1)
    parts: list[bytes] = []
    while True:
        start = stream.tell()
        block = stream.read(_BLOCK)
        stop = _NOT_HEX.search(block)
        if stop is None and block:
            parts.append(block)
            continue
        if stop is None or block[stop.start():stop.start() + 1] != b">":
            stream.seek(begin)
            return original_read_hex_string(stream)
        parts.append(block[:stop.start()])
        stream.seek(start + stop.start() + 1)
        break
    digits = b"".join(parts).translate(None, _WHITESPACE)
    if len(digits) % 2:
        digits += b"0"
    return generic.pdf_string(binascii.unhexlify(digits))


def match_issuer_serial(expected_issuer_serial: Any, cert: Any) -> bool:
    """pyHanko's ``match_issuer_serial`` with the serial numbers compared before the names."""
    if expected_issuer_serial["serial_number"] != cert["tbs_certificate"]["serial_number"]:
        return False
    return bool(original_match_issuer_serial(expected_issuer_serial, cert))


# Keyed by the encoding of the name's RDNSequence (``chosen``): a Name inside a GeneralName is explicitly
# tagged, so its own encoding differs from the same name's in a certificate.
@lru_cache(maxsize=4096)
def _names_equal(a: bytes, b: bytes) -> bool:
    if a == b:
        return True
    return bool(asn1_x509.RDNSequence.load(a) == asn1_x509.RDNSequence.load(b))  # raises as asn1crypto does


@lru_cache(maxsize=4096)
def _name_hashable(der: bytes) -> str:
    return str(asn1_x509.RDNSequence.load(der).hashable)


def _name_eq(self: Any, other: Any) -> bool:
    """asn1crypto's ``Name.__eq__`` (``self.chosen == other.chosen``: RFC 5280 7.1, every string prepared
    on every comparison), remembered per pair of encodings: a function of the two encodings alone."""
    if not isinstance(other, asn1_x509.Name):
        return False
    return _names_equal(self.chosen.dump(), other.chosen.dump())


def _name_ne(self: Any, other: Any) -> bool:
    return not _name_eq(self, other)


def _name_hashable_cached(self: Any) -> str:
    """asn1crypto's ``Name.hashable`` (``self.chosen.hashable``), remembered per encoding."""
    return _name_hashable(self.chosen.dump())


def install() -> None:
    """Put the two in place of pyHanko's (module globals, looked up at call time by pyHanko itself)."""
    global _installed
    with _lock:
        if _installed:
            return
        generic.read_hex_string_from_stream = read_hex_string_from_stream
        general.match_issuer_serial = match_issuer_serial
        asn1_x509.Name.__eq__ = _name_eq  # type: ignore[method-assign,assignment]
        asn1_x509.Name.__ne__ = _name_ne  # type: ignore[method-assign,assignment]
        asn1_x509.Name.hashable = property(_name_hashable_cached)  # type: ignore[method-assign,assignment]
        _installed = True
