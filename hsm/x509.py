"""CSRs and certificates signed by a key inside the token.

cryptography's builders insist on a private key object they can call, which a non-extractable
PKCS#11 key is not; so the to-be-signed structures are assembled with asn1crypto and signed with
an ``HsmSigner``. Callers work with cryptography objects only: names and extensions cross over as DER.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from asn1crypto import core as asn1_core
from asn1crypto import csr as asn1_csr
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from hsm.model import KeyAlgorithm
from hsm.signer import HsmSigner

# Signature algorithm and hash per key algorithm (RFC 5758 / RFC 4055 names as asn1crypto spells them).
_SIGNATURE = {
    KeyAlgorithm.EC_P256: ("sha256_ecdsa", "sha256"),
    KeyAlgorithm.EC_P384: ("sha384_ecdsa", "sha384"),
    KeyAlgorithm.RSA_2048: ("sha256_rsa", "sha256"),
    KeyAlgorithm.RSA_3072: ("sha256_rsa", "sha256"),
}
_UTC_TIME_LIMIT = datetime(2050, 1, 1, tzinfo=UTC)  # RFC 5280 §4.1.2.5: UTCTime before 2050


def _name(name: x509.Name) -> asn1_x509.Name:
    return asn1_x509.Name.load(name.public_bytes())


def _spki(key: PublicKeyTypes) -> asn1_keys.PublicKeyInfo:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return asn1_keys.PublicKeyInfo.load(der)


def _extension(ext: x509.Extension[x509.ExtensionType]) -> asn1_x509.Extension:
    return asn1_x509.Extension(
        {
            "extn_id": ext.oid.dotted_string,
            "critical": ext.critical,
            "extn_value": asn1_core.ParsableOctetString(ext.value.public_bytes()),
        }
    )


def _time(when: datetime) -> asn1_x509.Time:
    if when.tzinfo is None:
        raise ValueError("certificate validity times must be timezone-aware")
    when = when.astimezone(UTC).replace(microsecond=0)
    return asn1_x509.Time({"utc_time" if when < _UTC_TIME_LIMIT else "general_time": when})


def _signature_algorithm(signer: HsmSigner) -> tuple[dict[str, str], str]:
    name, hash_name = _SIGNATURE[signer.algorithm]
    return {"algorithm": name}, hash_name


def build_csr(
    signer: HsmSigner, subject: x509.Name, *, extensions: Sequence[x509.Extension[x509.ExtensionType]] = ()
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for ``signer``'s key, signed inside the token (proof of possession)."""
    attributes = []
    if extensions:
        attributes.append(
            {
                "type": "extension_request",
                "values": [asn1_x509.Extensions([_extension(e) for e in extensions])],
            }
        )
    info = asn1_csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": _name(subject),
            "subject_pk_info": _spki(signer.public_key),
            "attributes": attributes,
        }
    )
    algorithm, hash_name = _signature_algorithm(signer)
    request = asn1_csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": algorithm,
            "signature": signer.sign(info.dump(), hash_name=hash_name),
        }
    )
    return x509.load_der_x509_csr(request.dump())


def issue_certificate(
    *,
    issuer_signer: HsmSigner,
    issuer_name: x509.Name | None,
    subject: x509.Name,
    subject_public_key: PublicKeyTypes,  # any key cryptography can encode; it need not be in a token
    serial: int,
    not_before: datetime,
    not_after: datetime,
    extensions: Sequence[x509.Extension[x509.ExtensionType]],
) -> x509.Certificate:
    """An X.509 v3 certificate signed by ``issuer_signer``; ``issuer_name=None`` makes it self-signed."""
    if serial <= 0 or serial.bit_length() > 159:
        raise ValueError("a certificate serial must be positive and at most 20 octets (RFC 5280)")
    algorithm, hash_name = _signature_algorithm(issuer_signer)
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": algorithm,
            "issuer": _name(subject if issuer_name is None else issuer_name),
            "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
            "subject": _name(subject),
            "subject_public_key_info": _spki(subject_public_key),
            "extensions": [_extension(e) for e in extensions] or None,
        }
    )
    cert = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": algorithm,
            "signature_value": issuer_signer.sign(tbs.dump(), hash_name=hash_name),
        }
    )
    return x509.load_der_x509_certificate(cert.dump())
