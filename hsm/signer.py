"""Signing with a key that never leaves the token.

ECDSA: the data is hashed here and the digest signed with CKM_ECDSA, because SoftHSM 2.6 has no
CKM_ECDSA_SHA256. The token returns raw r||s (JWS form); X.509/CMS want DER, converted here.
RSA: CKM_SHA*_RSA_PKCS / CKM_SHA*_RSA_PKCS_PSS (salt = hash length) hash inside the token; for a
digest computed elsewhere, CKM_RSA_PKCS over a DigestInfo, or CKM_RSA_PKCS_PSS.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import PyKCS11
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from PyKCS11 import LowLevel as L

from hsm import _direct as direct
from hsm import errors
from hsm.model import KeyAlgorithm, KeyInfo, PublicKey
from hsm.uri import KeyRef

if TYPE_CHECKING:
    from hsm.keys import KeyManager

RsaPadding = Literal["pkcs1v15", "pss"]


@dataclass(frozen=True)
class _Hash:
    size: int
    ckm: int  # the digest mechanism (PSS parameter)
    mgf: int  # MGF1 with this hash
    rsa_pkcs: int  # hash-and-sign PKCS#1 v1.5
    rsa_pss: int  # hash-and-sign PSS
    digest_info: bytes  # DER DigestInfo prefix (PKCS#1 v1.5 over a precomputed digest)


_HASHES = {
    "sha256": _Hash(
        32,
        L.CKM_SHA256,
        L.CKG_MGF1_SHA256,
        L.CKM_SHA256_RSA_PKCS,
        L.CKM_SHA256_RSA_PKCS_PSS,
        bytes.fromhex("3031300d060960864801650304020105000420"),
    ),
    "sha384": _Hash(
        48,
        L.CKM_SHA384,
        L.CKG_MGF1_SHA384,
        L.CKM_SHA384_RSA_PKCS,
        L.CKM_SHA384_RSA_PKCS_PSS,
        bytes.fromhex("3041300d060960864801650304020205000430"),
    ),
    "sha512": _Hash(
        64,
        L.CKM_SHA512,
        L.CKG_MGF1_SHA512,
        L.CKM_SHA512_RSA_PKCS,
        L.CKM_SHA512_RSA_PKCS_PSS,
        bytes.fromhex("3051300d060960864801650304020305000440"),
    ),
}


def _hash(name: str) -> _Hash:
    try:
        return _HASHES[name]
    except KeyError:
        raise errors.mechanism_unsupported(
            f"hash '{name}' is not supported (use sha256, sha384 or sha512)"
        ) from None


# Shared: a mechanism without parameters is read-only once built (building one costs a SWIG object per call).
_ECDSA = direct.param_free(L.CKM_ECDSA)
_RSA_PKCS = direct.param_free(L.CKM_RSA_PKCS)
_DIGESTS = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


def signature_size(key: PublicKey) -> int:
    """Bytes of a raw signature by ``key``'s private half: r||s for ECDSA, the modulus for RSA."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return 2 * ((key.curve.key_size + 7) // 8)
    return (key.key_size + 7) // 8


def _der_integer(magnitude: bytes) -> bytes:
    """A non-negative big-endian integer as DER: no leading zero octets, one 0x00 if the top bit is set."""
    body = magnitude.lstrip(b"\x00") or b"\x00"
    if body[0] & 0x80:
        body = b"\x00" + body
    return b"\x02" + len(body).to_bytes(1, "big") + body


def raw_to_der(raw: bytes) -> bytes:
    """ECDSA r||s (equal halves) to the DER SEQUENCE { r, s } used by X.509 and CMS.

    Short form (curves up to P-384: at most 2 x 51 content octets) by hand, at a third of the cost of two
    int conversions and ``encode_dss_signature`` on every signature; longer ones (P-521) by the library."""
    half = len(raw) // 2
    if half <= 48:
        body = _der_integer(raw[:half]) + _der_integer(raw[half:])
        return b"\x30" + len(body).to_bytes(1, "big") + body
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


class HsmSigner:
    """Signs with one key pair of a ``KeyManager``; safe to share between threads."""

    def __init__(self, manager: KeyManager, key: KeyInfo, *, required: bool = False) -> None:
        if key.algorithm is None:
            raise errors.mechanism_unsupported(f"key '{key.label}' is {key.kind}: not supported for signing")
        self._manager = manager
        self.key = key
        self._required = required  # a key the caller cannot work without: missing means HSM_UNAVAILABLE
        self.algorithm: KeyAlgorithm = key.algorithm
        # Worked out once, not per signature. By id if it has one: the signer stays bound to its key even after
        # a rotation relabels it.
        self._ref = KeyRef(id=key.id) if key.id else KeyRef(label=key.label)
        self._size = signature_size(key.public_key)
        self._is_ec = self.algorithm.is_ec
        self._operation = f"signing with key '{key.label}'"

    @property
    def public_key(self) -> PublicKey:
        return self.key.public_key

    def _token_sign(self, mechanism: Any, data: bytes) -> bytes:
        return self._manager._sign(self._ref, mechanism, data, self._operation, self._size, required=self._required)

    # -- whole messages ------------------------------------------------------------------------
    def sign(self, data: bytes, *, hash_name: str = "sha256", rsa_padding: RsaPadding = "pkcs1v15") -> bytes:
        """DER ECDSA signature (X.509/CMS form) or RSA signature over ``data``."""
        if self._is_ec and hash_name in _DIGESTS:  # the common case, straight to the token
            return raw_to_der(self._token_sign(_ECDSA, _DIGESTS[hash_name](data).digest()))
        h = _hash(hash_name)
        if self.algorithm.is_ec:
            return raw_to_der(self.sign_raw_ecdsa(data, hash_name=hash_name))
        if rsa_padding == "pss":
            return self._token_sign(PyKCS11.RSA_PSS_Mechanism(h.rsa_pss, h.ckm, h.mgf, h.size), data)
        return self._token_sign(PyKCS11.Mechanism(h.rsa_pkcs), data)

    def sign_raw_ecdsa(self, data: bytes, *, hash_name: str = "sha256") -> bytes:
        """Raw r||s ECDSA signature (JWS ES256/ES384 form) over ``data``."""
        _hash(hash_name)
        return self.sign_digest_raw_ecdsa(hashlib.new(hash_name, data).digest(), hash_name=hash_name)

    # -- precomputed digests (pyHanko, CMS signed attributes hashed elsewhere) -----------------
    def sign_digest(
        self, digest: bytes, *, hash_name: str = "sha256", rsa_padding: RsaPadding = "pkcs1v15"
    ) -> bytes:
        """Like ``sign`` but over a digest already computed with ``hash_name``."""
        h = self._check_digest(digest, hash_name)
        if self.algorithm.is_ec:
            return raw_to_der(self.sign_digest_raw_ecdsa(digest, hash_name=hash_name))
        if rsa_padding == "pss":
            return self._token_sign(
                PyKCS11.RSA_PSS_Mechanism(L.CKM_RSA_PKCS_PSS, h.ckm, h.mgf, h.size), digest
            )
        return self._token_sign(_RSA_PKCS, h.digest_info + digest)

    def sign_digest_raw_ecdsa(self, digest: bytes, *, hash_name: str = "sha256") -> bytes:
        """Raw r||s ECDSA signature over a digest already computed with ``hash_name``."""
        self._check_digest(digest, hash_name)
        if not self.algorithm.is_ec:
            raise errors.mechanism_unsupported(f"key '{self.key.label}' is {self.key.kind}, not ECDSA")
        return self._token_sign(_ECDSA, digest)

    @staticmethod
    def _check_digest(digest: bytes, hash_name: str) -> _Hash:
        h = _hash(hash_name)
        if len(digest) != h.size:
            raise ValueError(f"a {hash_name} digest is {h.size} bytes, not {len(digest)}")
        return h
