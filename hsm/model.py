"""The key manager's value types: algorithms, requests, and what the token reports about keys."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.asymmetric import ec, rsa

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
SecretKind = Literal["hmac", "aes"]


class KeyAlgorithm(enum.Enum):
    """Key pair algorithms the manager generates; the value is the CLI spelling."""

    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"

    @property
    def is_ec(self) -> bool:
        return self in (KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P384)

    @property
    def curve_name(self) -> str:
        """asn1crypto's named-curve name (EC only)."""
        return {KeyAlgorithm.EC_P256: "secp256r1", KeyAlgorithm.EC_P384: "secp384r1"}[self]

    @property
    def rsa_bits(self) -> int:
        return {KeyAlgorithm.RSA_2048: 2048, KeyAlgorithm.RSA_3072: 3072}[self]

    @property
    def default_hash(self) -> str:
        """The hash conventionally paired with this key (ES256/ES384; SHA-256 for RSA)."""
        return "sha384" if self is KeyAlgorithm.EC_P384 else "sha256"

    @classmethod
    def of_public_key(cls, key: PublicKey) -> KeyAlgorithm | None:
        if isinstance(key, ec.EllipticCurvePublicKey):
            return {"secp256r1": cls.EC_P256, "secp384r1": cls.EC_P384}.get(key.curve.name)
        return {2048: cls.RSA_2048, 3072: cls.RSA_3072}.get(key.key_size)


def describe_public_key(key: PublicKey) -> str:
    """``ec-p256`` style name, also for keys of other sizes made by other tools (``rsa-4096``)."""
    alg = KeyAlgorithm.of_public_key(key)
    if alg is not None:
        return alg.value
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ec-{key.curve.name}"
    return f"rsa-{key.key_size}"


@dataclass(frozen=True)
class CreateKeyRequest:
    label: str
    algorithm: KeyAlgorithm
    key_id: bytes | None = None  # CKA_ID; 16 random bytes when None
    # "sign" (default) or "decrypt": an RSA key that receives encrypted keys (RSA-OAEP), e.g. federation JWE.
    # One purpose per key: a decrypting key never signs.
    usage: Literal["sign", "decrypt"] = "sign"


@dataclass(frozen=True)
class CreateSecretKeyRequest:
    label: str
    kind: SecretKind  # hmac: 256-bit generic secret for HMAC-SHA256; aes: AES-256 for AES-GCM
    key_id: bytes | None = None


@dataclass(frozen=True)
class StoredKey:
    """What every key object on the token reports (attributes as PKCS#11 gives them)."""

    label: str
    id: bytes
    uri: str
    kind: str  # "ec-p256", "rsa-3072", "hmac", "aes", ...
    sensitive: bool
    extractable: bool
    always_sensitive: bool
    never_extractable: bool
    local: bool  # CKA_LOCAL: generated inside the token (not imported)
    key_gen_mechanism: str | None  # CKA_KEY_GEN_MECHANISM, e.g. CKM_EC_KEY_PAIR_GEN


@dataclass(frozen=True)
class KeyInfo(StoredKey):
    """A key pair: the private key's attributes plus its public key."""

    algorithm: KeyAlgorithm | None  # None: a key type or size this package does not sign with
    public_key: PublicKey
    has_certificate: bool


@dataclass(frozen=True)
class SecretKeyInfo(StoredKey):
    """A secret key (HMAC or AES); there is nothing public about it."""


@dataclass(frozen=True)
class TokenInfo:
    label: str
    manufacturer: str
    model: str
    serial: str
    flags: tuple[str, ...]
    total_public_memory: int | None  # None: the token does not say
    free_public_memory: int | None
    total_private_memory: int | None
    free_private_memory: int | None
    pin_count_low: bool
    pin_final_try: bool
    pin_locked: bool
    pin_to_be_changed: bool
