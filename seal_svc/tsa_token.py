"""RFC 3161 timestamp tokens of the node's TSA, written as DER directly.

pyHanko's ``DummyTimeStamper`` builds every token out of asn1crypto objects: some 6 ms of CPU per PAdES
B-T seal (a quarter of the seal), most of it re-encoding names and certificates that never change
(issue 19 profile). Here what does not change between tokens -- the embedded certificates, the signer
identifier, the TSA's name, the ESS signing-certificate-v2 attribute, algorithm identifiers -- is encoded
once per TSA certificate, and a token is a few concatenations around what does: the TSTInfo (imprint,
serial number, time, nonce), the signed attributes over it and the HSM's signature.

The encoding is DER (SET OF sorted, minimal lengths and integers), the same structure the asn1crypto
build gave; tests compare the two field by field, and openssl ts and pyHanko verify the tokens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

from asn1crypto import algos, core, tsp
from asn1crypto import x509 as asn1_x509

_SHA = {"sha256", "sha384", "sha512"}


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def tlv(tag: int, body: bytes) -> bytes:
    """One DER element: tag octet, definite length, contents."""
    return bytes((tag,)) + _length(len(body)) + body


def integer(value: int) -> bytes:
    return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def _set_of(items: list[bytes]) -> bytes:
    return tlv(0x31, b"".join(sorted(items)))  # DER: a SET OF's elements in the order of their encodings


def _attribute(oid: bytes, value: bytes) -> bytes:
    return tlv(0x30, oid + _set_of([value]))


def _oid(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).dump())


_OID_SIGNED_DATA = _oid("1.2.840.113549.1.7.2")
_OID_TST_INFO = _oid("1.2.840.113549.1.9.16.1.4")
_OID_CONTENT_TYPE = _oid("1.2.840.113549.1.9.3")
_OID_MESSAGE_DIGEST = _oid("1.2.840.113549.1.9.4")
_OID_SIGNING_TIME = _oid("1.2.840.113549.1.9.5")
_GRANTED = tlv(0x30, integer(0))  # PKIStatusInfo { status granted }
_CONTENT_TYPE_ATTR = _attribute(_OID_CONTENT_TYPE, _OID_TST_INFO)


def generalized_time(t: datetime) -> bytes:
    """GeneralizedTime in UTC, DER form: a fraction of a second only if there is one, no trailing zeros."""
    t = t.astimezone(UTC)
    text = t.strftime("%Y%m%d%H%M%S")
    if t.microsecond:
        text += "." + f"{t.microsecond:06d}".rstrip("0")
    return tlv(0x18, (text + "Z").encode("ascii"))


def utc_time(t: datetime) -> bytes:
    return tlv(0x17, t.astimezone(UTC).strftime("%y%m%d%H%M%SZ").encode("ascii"))


class TokenParts:
    """What every token of one TSA certificate (and chain) shares, encoded once."""

    def __init__(self, tsa_der: bytes, chain_ders: tuple[bytes, ...], signing_certificate_v2: bytes) -> None:
        cert = asn1_x509.Certificate.load(tsa_der)
        tbs = cert["tbs_certificate"]
        subject = bytes(tbs["subject"].dump())
        self.tsa_name = tlv(0xA0, tlv(0xA4, subject))  # tsa [0] EXPLICIT GeneralName, directoryName [4] EXPLICIT
        self.sid = tlv(0x30, bytes(tbs["issuer"].dump()) + integer(cert.serial_number))  # IssuerAndSerialNumber
        certs = sorted({tsa_der, *chain_ders})
        self.certificates = tlv(0xA0, b"".join(certs))  # [0] IMPLICIT SET OF Certificate
        self.signing_certificate_v2 = signing_certificate_v2  # the whole Attribute, DER


@lru_cache(maxsize=16)
def token_parts(tsa_der: bytes, chain_ders: tuple[bytes, ...], signing_certificate_v2: bytes) -> TokenParts:
    return TokenParts(tsa_der, chain_ders, signing_certificate_v2)


@lru_cache(maxsize=8)
def _algorithms(md_algorithm: str) -> tuple[bytes, bytes]:
    """(DigestAlgorithm, SignedDigestAlgorithm ECDSA) for a hash, as asn1crypto encodes them."""
    return (bytes(algos.DigestAlgorithm({"algorithm": md_algorithm}).dump()),
            bytes(algos.SignedDigestAlgorithm({"algorithm": f"{md_algorithm}_ecdsa"}).dump()))


def time_stamp_response(parts: TokenParts, *, message_imprint: bytes, md_algorithm: str, policy: bytes,
                        serial_number: int, gen_time: datetime, nonce: int | None,
                        sign: Callable[[bytes], bytes]) -> bytes:
    """A granted TimeStampResp (DER) whose token is signed by ``sign`` (DER ECDSA over the signed attributes).

    ``message_imprint`` is the request's MessageImprint, DER, as received; ``policy`` an OBJECT IDENTIFIER, DER.
    """
    if md_algorithm not in _SHA:
        raise ValueError(f"unsupported hash {md_algorithm}")
    digest_alg, signature_alg = _algorithms(md_algorithm)
    tst_info = tlv(0x30, integer(1) + policy + message_imprint + integer(serial_number) + generalized_time(gen_time)
                   + (integer(nonce) if nonce is not None else b"") + parts.tsa_name)
    signed_attrs = [
        _CONTENT_TYPE_ATTR,
        _attribute(_OID_SIGNING_TIME, utc_time(gen_time)),
        parts.signing_certificate_v2,
        _attribute(_OID_MESSAGE_DIGEST, tlv(0x04, hashlib.new(md_algorithm, tst_info).digest())),
    ]
    attrs_set = _set_of(signed_attrs)  # signed as a SET OF (tag 0x31), embedded as [0] IMPLICIT
    signature = sign(attrs_set)
    signer_info = tlv(0x30, integer(1) + parts.sid + digest_alg + b"\xa0" + attrs_set[1:] + signature_alg
                      + tlv(0x04, signature))
    signed_data = tlv(0x30, integer(3) + _set_of([digest_alg])
                      + tlv(0x30, _OID_TST_INFO + tlv(0xA0, tlv(0x04, tst_info)))
                      + parts.certificates + _set_of([signer_info]))
    token = tlv(0x30, _OID_SIGNED_DATA + tlv(0xA0, signed_data))
    return tlv(0x30, _GRANTED + token)


def signing_certificate_v2_attribute(value: tsp.SigningCertificateV2) -> bytes:
    return _attribute(_oid("1.2.840.113549.1.9.16.2.47"), bytes(value.dump()))

