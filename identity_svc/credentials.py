"""Knowledge and possession factors: passwords (Argon2id), platform secrets, holder keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from hutong.errors import InvalidArgument


def check_password_strength(password: str, min_length: int) -> None:
    if len(password) < min_length or password.isdigit() or password.isalpha():
        raise InvalidArgument(
            "PASSWORD_TOO_WEAK",
            f"a password has at least {min_length} characters and mixes letters with digits or symbols",
        )


def hash_password(hasher: PasswordHasher, password: str) -> str:
    return hasher.hash(password)


def verify_password(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Platform secrets are 256-bit random values, so a fast hash suffices (no dictionary to attack) and
# every platform call stays cheap; Argon2 is for secrets people choose.
def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def client_secret_matches(stored_hash: str, secret: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_client_secret(secret))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- holder keys ----------------------------------------------------------------------------------

def load_holder_key(public_key_pem: str = "", certificate: bytes = b"") -> bytes:
    """The SubjectPublicKeyInfo (DER) of a PEM public key or a PEM/DER certificate."""
    try:
        if public_key_pem:
            key: PublicKeyTypes = serialization.load_pem_public_key(public_key_pem.encode())
        elif certificate.lstrip().startswith(b"-----BEGIN"):
            key = x509.load_pem_x509_certificate(certificate).public_key()
        elif certificate:
            key = x509.load_der_x509_certificate(certificate).public_key()
        else:
            raise ValueError("nothing given")
    except ValueError:
        raise InvalidArgument("PUBLIC_KEY_INVALID", "give a PEM public key or an X.509 certificate") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise InvalidArgument("PUBLIC_KEY_INVALID", "holder keys are EC, RSA or Ed25519 keys")
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(spki_der: bytes) -> str:
    return hashlib.sha256(spki_der).hexdigest()


def signature_valid(spki_der: bytes, signature: bytes, data: bytes) -> bool:
    """ECDSA-SHA256 (DER), RSA PKCS#1 v1.5 SHA-256 or Ed25519 over ``data``."""
    key = serialization.load_der_public_key(spki_der)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True
