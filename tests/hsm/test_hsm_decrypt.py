"""RSA-OAEP decryption keys: encrypt with the public key anywhere, decrypt only inside the token."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from hsm import CreateKeyRequest, KeyAlgorithm, KeyManager
from hsm.errors import HsmError

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)


def test_oaep_round_trip_and_usage_separation(km: KeyManager) -> None:
    info = km.create_key(CreateKeyRequest(label="enc", algorithm=KeyAlgorithm.RSA_2048, usage="decrypt"))
    assert isinstance(info.public_key, rsa.RSAPublicKey) and info.never_extractable
    cek = bytes(range(32))
    assert km.decrypt_rsa_oaep("enc", info.public_key.encrypt(cek, OAEP)) == cek
    with pytest.raises(HsmError) as err:
        km.decrypt_rsa_oaep("enc", b"\x00" * 256)
    assert err.value.reason == "HSM_DECRYPT_FAILED"
    with pytest.raises(HsmError):  # a decrypting key does not sign
        km.signer("enc").sign(b"data")


def test_ec_decrypting_keys_are_refused(km: KeyManager) -> None:
    with pytest.raises(HsmError) as err:
        km.create_key(CreateKeyRequest(label="ec-enc", algorithm=KeyAlgorithm.EC_P256, usage="decrypt"))
    assert err.value.reason == "HSM_MECHANISM_UNSUPPORTED"
