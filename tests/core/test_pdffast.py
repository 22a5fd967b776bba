"""``hutong.verify.pdffast`` gives the same answers as the pyHanko and asn1crypto code it replaces."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfStreamError

from hutong.verify import pdffast

pdffast.install()


def _outcome(reader: Any, data: bytes) -> tuple[str, Any, int]:
    stream = io.BytesIO(data)
    try:
        value = reader(stream)
    except PdfStreamError as exc:
        return "error", str(exc), stream.tell()
    return type(value).__name__, bytes(value.original_bytes), stream.tell()


@pytest.mark.parametrize("data", [
    b"<48656c6c6f> rest", b"<48 65\n6c\r6C\t6f\x00> rest", b"<486>", b"<>", b"< >", b"<FEFF0041>",
    b"<41 %a comment\n 42>", b"<41x42>", b"<4142", b"<", b"<" + b"ab" * 70_000 + b">tail",
    b"<" + b"a" * 65_535 + b" >", b"<" + b"0" * 65_536 + b">",
])
def test_hex_strings_read_as_pyhanko_reads_them(data: bytes) -> None:
    assert _outcome(pdffast.read_hex_string_from_stream, data) == _outcome(pdffast.original_read_hex_string, data)


def _name(*pairs: tuple[str, str], printable: bool = False) -> asn1_x509.Name:
    return asn1_x509.Name.build(dict(pairs), use_printable=printable)


NAMES = [
    _name(("common_name", "Hutong Seal CA"), ("organization_name", "Node A")),
    _name(("common_name", "hutong  seal ca"), ("organization_name", "NODE A")),  # equal under RFC 5280 7.1
    _name(("common_name", "Hutong Seal CA"), ("organization_name", "Node A"), printable=True),  # other string type
    _name(("common_name", "Hutong Seal CA"), ("organization_name", "Node B")),
    _name(("common_name", "福建省某某科技有限公司"), ("country_name", "CN")),
    _name(("common_name", "福建省某某科技有限公司")),
]


def _tagged(name: asn1_x509.Name) -> asn1_x509.Name:
    """The same name as a GeneralName's directoryName (explicitly tagged [4]), as in an ESS IssuerSerial."""
    general = asn1_x509.GeneralName(name="directory_name", value=name)
    return asn1_x509.GeneralName.load(general.dump()).chosen


def test_name_equality_and_hashable_are_asn1cryptos() -> None:
    names = [*NAMES, *(_tagged(n) for n in NAMES)]
    for a in names:
        fresh_a = asn1_x509.Name.load(a.dump()) if a.explicit is None else _tagged(a)
        assert a.hashable == pdffast._original_name_hashable.fget(fresh_a)
        for b in names:
            fresh_b = asn1_x509.Name.load(b.dump()) if b.explicit is None else _tagged(b)
            expected = pdffast._original_name_eq(fresh_a, fresh_b)
            assert (a == b) is expected and (a != b) is (not expected)
    assert _tagged(NAMES[0]) == NAMES[0] and _tagged(NAMES[0]).dump() != NAMES[0].dump()
    assert NAMES[0] == NAMES[1] and NAMES[0] == NAMES[2] and NAMES[0] != NAMES[3]  # not vacuous
    assert NAMES[0] != "Hutong Seal CA"


def _certificate(serial: int) -> asn1_x509.Certificate:
    """A certificate whose issuer is written differently from NAMES[0] but equal to it under RFC 5280."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "HUTONG seal  CA"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "node a")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def test_issuer_serial_matching_is_pyhankos() -> None:
    cert = _certificate(serial=7)
    issuers = [*NAMES, asn1_x509.Name.load(cert.issuer.dump())]
    results = []
    for issuer in issuers:
        for serial in (7, 8):
            # CMS signer identifiers name the issuer directly, ESS signing-certificate attributes as GeneralNames
            for sid in (cms.IssuerAndSerialNumber({"issuer": issuer, "serial_number": serial}),
                        tsp.IssuerSerial({"issuer": [asn1_x509.GeneralName(name="directory_name", value=issuer)],
                                          "serial_number": serial})):
                sid = type(sid).load(sid.dump())
                results.append(pdffast.match_issuer_serial(sid, cert))
                assert results[-1] is pdffast.original_match_issuer_serial(sid, cert)
    assert True in results and False in results  # not vacuous
