"""HMAC and AES-GCM inside the token, key listing and rotation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from hsm import CreateKeyRequest, CreateSecretKeyRequest, HsmConfig, KeyAlgorithm, KeyInfo, KeyManager, KeyRef
from hsm.errors import AlreadyExists, InvalidArgument, NotFound


def test_hmac_is_deterministic_and_the_same_from_another_session(km: KeyManager, token: HsmConfig) -> None:
    info = km.create_secret_key(CreateSecretKeyRequest(label="blind-index", kind="hmac"))
    assert info.kind == "hmac" and info.sensitive and info.never_extractable and not info.extractable
    mac = km.hmac_sha256("blind-index", b"110101199003077777")
    assert len(mac) == 32
    assert km.hmac_sha256(info.uri, b"110101199003077777") == mac
    assert km.hmac_sha256("blind-index", b"110101199003077778") != mac
    with KeyManager(token) as other:  # a second manager: its own session on the same token
        assert other.hmac_sha256(KeyRef(id=info.id), b"110101199003077777") == mac


def test_aes_gcm_round_trip_and_tamper_detection(km: KeyManager) -> None:
    km.create_secret_key(CreateSecretKeyRequest(label="data-key", kind="aes"))
    blob = km.encrypt("data-key", b"personal data", aad=b"record-17")
    assert km.decrypt("data-key", blob, aad=b"record-17") == b"personal data"
    assert km.encrypt("data-key", b"personal data", aad=b"record-17") != blob  # fresh IV each time
    assert km.decrypt("data-key", km.encrypt("data-key", b""), aad=b"") == b""
    tampered = [
        blob[:-1] + bytes([blob[-1] ^ 1]),  # tag
        blob[:20] + bytes([blob[20] ^ 1]) + blob[21:],  # ciphertext
        blob[:5] + bytes([blob[5] ^ 1]) + blob[6:],  # IV
        b"\x02" + blob[1:],  # version
        blob[:20],  # truncated
    ]
    for bad in tampered:
        with pytest.raises(InvalidArgument) as exc:
            km.decrypt("data-key", bad, aad=b"record-17")
        assert exc.value.reason == "HSM_DECRYPT_FAILED"
    with pytest.raises(InvalidArgument):
        km.decrypt("data-key", blob, aad=b"record-18")


def test_a_blob_does_not_open_with_another_key(km: KeyManager) -> None:
    km.create_secret_key(CreateSecretKeyRequest(label="k1", kind="aes"))
    km.create_secret_key(CreateSecretKeyRequest(label="k2", kind="aes"))
    with pytest.raises(InvalidArgument):
        km.decrypt("k2", km.encrypt("k1", b"x"))


def test_secret_key_labels_are_unique_and_listed(km: KeyManager) -> None:
    km.create_secret_key(CreateSecretKeyRequest(label="s", kind="hmac"))
    with pytest.raises(AlreadyExists):
        km.create_secret_key(CreateSecretKeyRequest(label="s", kind="aes"))
    with pytest.raises(AlreadyExists):
        km.create_key(CreateKeyRequest(label="s", algorithm=KeyAlgorithm.EC_P256))
    km.create_key(CreateKeyRequest(label="p", algorithm=KeyAlgorithm.EC_P384))
    listed = {k.label: k for k in km.list_keys()}
    assert set(listed) == {"s", "p"}
    assert isinstance(listed["p"], KeyInfo) and listed["s"].kind == "hmac"
    assert km.get_secret_key("s") == listed["s"]
    with pytest.raises(NotFound):
        km.get_key("s")  # a secret key is not a key pair
    with pytest.raises(NotFound):
        km.hmac_sha256("p", b"x")  # nor the other way round


def test_rotation_keeps_the_old_key_for_verification(km: KeyManager, verify: Callable[..., None]) -> None:
    old = km.create_key(CreateKeyRequest(label="seal", algorithm=KeyAlgorithm.EC_P256))
    old_signer = km.signer("seal")
    new, retired = km.rotate_key("seal", now=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert retired == "seal.retired-20300102T030405Z"
    assert km.get_key("seal") == new and new.id != old.id and new.algorithm is KeyAlgorithm.EC_P256
    kept = km.get_key(retired)
    assert kept.id == old.id and kept.public_key == old.public_key
    verify(old.public_key, old_signer.sign(b"x"), b"x")  # a signer stays bound to its key
    verify(new.public_key, km.signer("seal").sign(b"x"), b"x")
    assert {k.label for k in km.list_keys()} == {"seal", retired}


def test_rotation_to_another_algorithm(km: KeyManager) -> None:
    km.create_key(CreateKeyRequest(label="tsa", algorithm=KeyAlgorithm.EC_P256))
    new, _ = km.rotate_key("tsa", algorithm=KeyAlgorithm.EC_P384)
    assert new.algorithm is KeyAlgorithm.EC_P384 and new.label == "tsa"
