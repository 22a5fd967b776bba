"""What a seal certificate says: subject layout on issue, and reading it back when verifying.

Subject: C=CN, O=<organisation>, organizationIdentifier=NTRCN-<USCC> (the EN 319 412-1 form of a
national trade-register number), OU=<seal type caption>, CN=<seal name>, serialNumber=<seal id>.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.x509.oid import NameOID

USCC_PREFIX = "NTRCN-"


def seal_subject(*, org_name: str, org_uscc: str, caption: str, seal_name: str, seal_id: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org_name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, USCC_PREFIX + org_uscc),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, caption),
            x509.NameAttribute(NameOID.COMMON_NAME, seal_name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, seal_id),
        ]
    )


@dataclass(frozen=True)
class SealIdentity:
    org_name: str
    org_uscc: str
    seal_id: str
    seal_name: str


def identity_of(cert: asn1_x509.Certificate) -> SealIdentity:
    """Organisation, USCC and seal id from a (pyHanko/asn1crypto) signer certificate."""
    parsed = x509.load_der_x509_certificate(cert.dump())

    def first(oid: x509.ObjectIdentifier) -> str:
        attrs = parsed.subject.get_attributes_for_oid(oid)
        value = attrs[0].value if attrs else ""
        return value if isinstance(value, str) else value.decode("utf-8", "replace")

    uscc = first(NameOID.ORGANIZATION_IDENTIFIER)
    return SealIdentity(
        org_name=first(NameOID.ORGANIZATION_NAME),
        org_uscc=uscc.removeprefix(USCC_PREFIX),
        seal_id=first(NameOID.SERIAL_NUMBER),
        seal_name=first(NameOID.COMMON_NAME),
    )
