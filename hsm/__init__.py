"""Keys inside a PKCS#11 token (SoftHSM2 by default): generation, signing, HMAC, AES-GCM, certificates."""

from hsm.config import HsmConfig
from hsm.errors import HsmError
from hsm.keys import KeyManager
from hsm.model import (
    CreateKeyRequest,
    CreateSecretKeyRequest,
    KeyAlgorithm,
    KeyInfo,
    PublicKey,
    SecretKeyInfo,
    StoredKey,
    TokenInfo,
)
from hsm.signer import HsmSigner
from hsm.uri import KeyRef, format_uri, parse

__all__ = [
    "CreateKeyRequest",
    "CreateSecretKeyRequest",
    "HsmConfig",
    "HsmError",
    "HsmSigner",
    "KeyAlgorithm",
    "KeyInfo",
    "KeyManager",
    "KeyRef",
    "PublicKey",
    "SecretKeyInfo",
    "StoredKey",
    "TokenInfo",
    "format_uri",
    "parse",
]
