"""The one implementation of China's identifier checks, used by every service and by the SDK.

- GB 11643-1999 citizen ID number (18 characters): region code, birth date, sequence, check character
  (ISO 7064 MOD 11-2 with the ``X`` digit). A lower-case ``x`` normalises to ``X``.
- GB 32100-2015 unified social credit code (USCC, 18 characters over a 31-symbol alphabet).
- GB/T 36904 electronic certificate identifier ``1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>``
  with an ISO/IEC 7064 MOD 37,36 check character.

Every failure is an ``InvalidArgument`` with its own stable reason. Messages never repeat the
identifier itself: callers may log them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from hutong.errors import InvalidArgument

CITIZEN_ID_INVALID_FORMAT = "CITIZEN_ID_INVALID_FORMAT"
USCC_INVALID_FORMAT = "USCC_INVALID_FORMAT"
CERT_ID_INVALID_FORMAT = "CERT_ID_INVALID_FORMAT"
CHECK_CHARACTER_MISMATCH = "CHECK_CHARACTER_MISMATCH"
INVALID_BIRTH_DATE = "INVALID_BIRTH_DATE"
INVALID_REGION_CODE = "INVALID_REGION_CODE"

# Province-level prefixes of GB/T 2260 region codes (81/82 Hong Kong/Macao, 83 Taiwan residence permits).
_PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82", "83",
})
# USCCs of national bodies carry the national code 100000.
_USCC_REGION_PREFIXES = _PROVINCES | {"10"}


# -- GB 11643 citizen ID ----------------------------------------------------------------------

_CITIZEN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CITIZEN_CHECK = "10X98765432"
_CITIZEN_RE = re.compile(r"[0-9]{17}[0-9X]")  # ASCII only: \d would admit other scripts

Gender = Literal["male", "female"]


@dataclass(frozen=True)
class CitizenId:
    number: str  # normalised: upper-case X
    region_code: str
    birth_date: date
    sequence: str

    @property
    def gender(self) -> Gender:
        # GB 11643: odd sequence numbers are given to men, even to women.
        return "male" if int(self.sequence[2]) % 2 else "female"

    def __str__(self) -> str:
        return mask(self.number)


def citizen_id_check_character(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _CITIZEN_WEIGHTS, strict=True))
    return _CITIZEN_CHECK[total % 11]


def _birth_date(digits: str, today: date | None) -> date:
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise InvalidArgument(INVALID_BIRTH_DATE, "the citizen ID number's birth date is not a real date") from None
    if born > (today or date.today()) or born.year < 1850:
        raise InvalidArgument(INVALID_BIRTH_DATE, "the birth date in the citizen ID number is not plausible")
    return born


def _check_region(code: str, prefixes: frozenset[str], what: str) -> None:
    if code[:2] not in prefixes:
        raise InvalidArgument(INVALID_REGION_CODE, f"the {what} does not start with a known region code")


def parse_citizen_id(value: str, *, today: date | None = None) -> CitizenId:
    """Validate a GB 11643 citizen ID number and take it apart."""
    number = value.strip().upper()
    if not _CITIZEN_RE.fullmatch(number):
        raise InvalidArgument(
            CITIZEN_ID_INVALID_FORMAT, "a citizen ID number has 17 digits followed by a digit or X"
        )
    _check_region(number[:6], _PROVINCES, "citizen ID number")
    if number[2:6] == "0000":
        raise InvalidArgument(INVALID_REGION_CODE, "the citizen ID number's region code is not a county-level code")
    born = _birth_date(number[6:14], today)
    if citizen_id_check_character(number[:17]) != number[17]:
        raise InvalidArgument(CHECK_CHARACTER_MISMATCH, "the citizen ID number's check character does not match")
    return CitizenId(number=number, region_code=number[:6], birth_date=born, sequence=number[14:17])


def normalise_citizen_id(value: str) -> str:
    """The validated number in its canonical form (upper-case X)."""
    return parse_citizen_id(value).number


def mask(identifier: str) -> str:
    """A display form safe for logs and screens: first 4 and last 2 characters only."""
    if len(identifier) <= 6:
        return "*" * len(identifier)
    return identifier[:4] + "*" * (len(identifier) - 6) + identifier[-2:]


# -- GB 32100 unified social credit code ------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@dataclass(frozen=True)
class Uscc:
    code: str
    registration_authority: str  # 1: establishment (机构编制), 5: civil affairs, 9: market regulation, ...
    entity_category: str
    region_code: str
    organisation_code: str  # the embedded 9-character organisation code

    def __str__(self) -> str:
        return self.code


def uscc_check_character(first17: str) -> str:
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


@functools.lru_cache(maxsize=4096)
def parse_uscc(value: str) -> Uscc:
    """Validate a GB 32100 unified social credit code and take it apart.

    Cached (the result is immutable; a refusal is raised again, never cached): every certificate identifier
    carries two USCCs, the same few issuers' over and over, and each lookup parses its identifier."""
    code = value.strip().upper()
    if len(code) != 18 or any(c not in _USCC_VALUE for c in code):
        raise InvalidArgument(
            USCC_INVALID_FORMAT,
            "a unified social credit code has 18 characters from 0-9 and A-Y without I, O, S, V, Z",
        )
    region = code[2:8]
    if not region.isascii() or not region.isdigit():
        raise InvalidArgument(INVALID_REGION_CODE, "characters 3-8 of a unified social credit code are digits")
    _check_region(region, _USCC_REGION_PREFIXES, "unified social credit code's region")
    if uscc_check_character(code[:17]) != code[17]:
        raise InvalidArgument(
            CHECK_CHARACTER_MISMATCH, "the unified social credit code's check character does not match"
        )
    return Uscc(code=code, registration_authority=code[0], entity_category=code[1], region_code=region,
                organisation_code=code[8:17])


def normalise_uscc(value: str) -> str:
    return parse_uscc(value).code


# -- GB/T 36904 electronic certificate identifier ---------------------------------------------

CERT_ID_PREFIX = "1.2.156.3005.2"
_MOD37_36_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SERIAL_RE = re.compile(r"[0-9A-Z]{7,32}")
_VERSION_RE = re.compile(r"[0-9]{3}")


@dataclass(frozen=True)
class CertificateId:
    type_code: str  # USCC of the defining body + 3-digit sequence (21 characters)
    issuer_uscc: str
    serial: str
    version: str  # 3 digits
    check: str

    def __str__(self) -> str:
        return ".".join((CERT_ID_PREFIX, self.type_code, self.issuer_uscc, self.serial, self.version, self.check))


_MOD37_36_VALUE = {c: i for i, c in enumerate(_MOD37_36_ALPHABET)}  # a dict probe, not a scan, per character


def mod37_36_check_character(data: str) -> str:
    """ISO/IEC 7064 MOD 37,36 (hybrid system) check character over 0-9A-Z (ValueError for any other character).

    Every lookup computes it over the identifier's 50-odd characters, so the alphabet position is a dict probe
    rather than ``str.index`` (a scan of the alphabet per character: ~40 % of the function)."""
    m = 36
    p = m
    value = _MOD37_36_VALUE
    try:
        for ch in data:
            s = (p + value[ch]) % m or m
            p = (s * 2) % (m + 1)
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} is not in 0-9A-Z") from None
    return _MOD37_36_ALPHABET[(m + 1 - p) % m]


def _cert_format(message: str) -> InvalidArgument:
    return InvalidArgument(CERT_ID_INVALID_FORMAT, message)


def _validate_cert_parts(type_code: str, issuer_uscc: str, serial: str, version: str) -> tuple[str, str]:
    """Check the four data segments; return the normalised type code and issuer USCC."""
    if len(type_code) != 21 or not _VERSION_RE.fullmatch(type_code[18:]):
        raise _cert_format("the certificate type code is a USCC followed by a 3-digit sequence")
    if not _SERIAL_RE.fullmatch(serial):
        raise _cert_format("the certificate serial has 7 to 32 characters from 0-9 and A-Z")
    if not _VERSION_RE.fullmatch(version):
        raise _cert_format("the certificate version has 3 digits")
    return parse_uscc(type_code[:18]).code + type_code[18:], parse_uscc(issuer_uscc).code


def build_certificate_id(type_code: str, issuer_uscc: str, serial: str, version: int | str = 1) -> CertificateId:
    """Assemble an identifier, validating every part and computing the check character."""
    version_text = f"{int(version):03d}" if isinstance(version, int) else version
    type_code, issuer = _validate_cert_parts(type_code.upper(), issuer_uscc, serial.upper(), version_text)
    check = mod37_36_check_character(type_code + issuer + serial.upper() + version_text)
    return CertificateId(type_code, issuer, serial.upper(), version_text, check)


def parse_certificate_id(value: str) -> CertificateId:
    """Validate an e-certificate identifier (GB/T 36904 as used in production)."""
    text = value.strip().upper()
    if not text.startswith(CERT_ID_PREFIX + "."):
        raise _cert_format(f"an e-certificate identifier starts with {CERT_ID_PREFIX}")
    parts = text[len(CERT_ID_PREFIX) + 1:].split(".")
    if len(parts) != 5 or len(parts[4]) != 1 or parts[4] not in _MOD37_36_ALPHABET:
        raise _cert_format("an e-certificate identifier has type, issuer, serial, version and check segments")
    built = build_certificate_id(parts[0], parts[1], parts[2], parts[3])
    if built.check != parts[4]:
        raise InvalidArgument(CHECK_CHARACTER_MISMATCH, "the e-certificate identifier's check character does not match")
    return built
