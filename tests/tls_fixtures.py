"""Throw-away TLS material for tests of TLS and mTLS (software keys: test certificates only)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any


def tls_files(tmp: Path) -> dict[str, Path]:
    """A throw-away CA, a server certificate for 127.0.0.1 and two client certificates (PEM files)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def make(cn: str, issuer: tuple[Any, x509.Name] | None, *, ca: bool = False,
             san: x509.GeneralName | None = None) -> tuple[Any, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        sign_key, issuer_name = issuer or (key, name)
        b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
             .not_valid_after(now + dt.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san is not None:
            b = b.add_extension(x509.SubjectAlternativeName([san]), critical=False)
        return key, b.sign(sign_key, hashes.SHA256())

    ca_key, ca = make("test CA", None, ca=True)
    files: dict[str, Path] = {}
    for role, san in (("server", x509.IPAddress(ipaddress.ip_address("127.0.0.1"))), ("client", None),
                      ("other", None)):
        key, cert = make(role, (ca_key, ca.subject), san=san)
        files[f"{role}_key"] = tmp / f"{role}.key"
        files[f"{role}_key"].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
        files[f"{role}_cert"] = tmp / f"{role}.pem"
        files[f"{role}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["ca"] = tmp / "ca.pem"
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return files
