"""What a seal certificate says: its subject layout on issue (read back by ``hutong.verify.x509.seal_identity``).

Subject: C=CN, O=<organisation>, organizationIdentifier=NTRCN-<USCC> (the EN 319 412-1 form of a
national trade-register number), OU=<seal type caption>, CN=<seal name>, serialNumber=<seal id>.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

from hutong.verify.x509 import USCC_PREFIX


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
