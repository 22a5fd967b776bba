"""The one-call signing path (``hsm._objects.sign``): a signature buffer of the known size, and the two-call
way when a module still asks for more room. Signatures checked with ``cryptography``, not with ourselves."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from PyKCS11 import LowLevel as L

from hsm import CreateKeyRequest, KeyAlgorithm, KeyManager
from hsm import _objects as objects
from hsm.signer import _ECDSA, _RSA_PKCS, _hash, signature_size


@pytest.mark.parametrize("algorithm", [KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P384, KeyAlgorithm.RSA_2048])
def test_one_call_and_fallback_signatures_verify(km: KeyManager, algorithm: KeyAlgorithm) -> None:
    info = km.create_key(CreateKeyRequest(label=f"one-call-{algorithm.value}", algorithm=algorithm))
    size = signature_size(info.public_key)
    assert size == {KeyAlgorithm.EC_P256: 64, KeyAlgorithm.EC_P384: 96, KeyAlgorithm.RSA_2048: 256}[algorithm]
    message = b"one call, one signature"
    digest = hashlib.sha256(message).digest()
    data, mechanism = (digest, _ECDSA) if algorithm.is_ec else (_hash("sha256").digest_info + digest, _RSA_PKCS)

    def sign(s: object, buffer: int) -> bytes:
        handle = objects.find_key(s, info_ref, [L.CKO_PRIVATE_KEY], km.config.token_label)
        return objects.sign(s, handle, data, mechanism, buffer)

    info_ref = km.signer(info.label)._ref
    # the exact size (one C_Sign), too small a buffer (the module asks for more: two more C_Sign), unknown (PyKCS11)
    for buffer in (size, 8, 0):
        raw = km._call("signing", lambda s, b=buffer: sign(s, b))  # type: ignore[misc]
        assert len(raw) == size
        pub = info.public_key
        if isinstance(pub, ec.EllipticCurvePublicKey):
            half = size // 2
            der = utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
            pub.verify(der, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        else:
            assert isinstance(pub, rsa.RSAPublicKey)
            pub.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    # and the session is left with no operation open: the signer's own path still works
    km.signer(info.label).sign(message)
