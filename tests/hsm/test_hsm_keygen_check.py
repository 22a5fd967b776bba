"""A generated key that is not what was asked is destroyed and generated again, then refused (hsm._keygen).

The broken key is made for real on SoftHSM2: the check strips the new objects' label and id (what the store's
multi-process race did, test_hsm_multiprocess) before it reports them, so only the generation's handles still
find them."""

from __future__ import annotations

from typing import Any

import pytest
from PyKCS11 import LowLevel as L

from hsm import CreateKeyRequest, CreateSecretKeyRequest, KeyAlgorithm, KeyManager
from hsm import _keygen as keygen
from hsm import errors as hsm_errors
from hsm._module import get_module


def _objects(km: KeyManager) -> int:
    return km._call("counting", lambda s: len(s.findObjects([])))


def _break_generations(monkeypatch: pytest.MonkeyPatch, how_many: int) -> list[str]:
    """The next ``how_many`` checks find the key broken (its objects lose label and id first)."""
    real, seen = keygen.mismatch, []

    def broken(s: Any, cls: int, key_id: bytes, expected: Any) -> str | None:
        if len(seen) < how_many:
            for h in s.findObjects([(L.CKA_ID, key_id)]):
                s.setAttributeValue(h, [(L.CKA_LABEL, ""), (L.CKA_ID, b"")])
            seen.append(key_id.hex())
        return real(s, cls, key_id, expected)

    monkeypatch.setattr(keygen, "mismatch", broken)
    return seen


@pytest.mark.parametrize("secret", [False, True], ids=["key-pair", "secret-key"])
def test_a_key_stored_without_label_and_id_is_destroyed_and_generated_again(
    km: KeyManager, monkeypatch: pytest.MonkeyPatch, secret: bool
) -> None:
    before = _objects(km)
    broken = _break_generations(monkeypatch, keygen.ATTEMPTS - 1)
    if secret:
        info: Any = km.create_secret_key(CreateSecretKeyRequest(label="again", kind="aes"))
    else:
        info = km.create_key(CreateKeyRequest(label="again", algorithm=KeyAlgorithm.EC_P256))
    assert len(broken) == keygen.ATTEMPTS - 1 and info.id.hex() not in broken
    assert (info.label, info.sensitive, info.extractable) == ("again", True, False)
    assert _objects(km) == before + (1 if secret else 2)  # the broken ones are gone, not merely unnamed


def test_a_generation_never_as_asked_is_refused_and_leaves_nothing(
    km: KeyManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _objects(km)
    _break_generations(monkeypatch, keygen.ATTEMPTS)
    with pytest.raises(hsm_errors.HsmError) as exc:
        km.create_key(CreateKeyRequest(label="never", algorithm=KeyAlgorithm.RSA_2048))
    assert exc.value.reason == hsm_errors.HSM_KEYGEN_FAILED and exc.value.kind == "UNAVAILABLE"
    assert "CKA_ID" in exc.value.message or "objects of class" in exc.value.message
    assert _objects(km) == before
    with pytest.raises(hsm_errors.NotFound):
        km.get_key("never")
    monkeypatch.undo()
    assert km.create_key(CreateKeyRequest(label="never", algorithm=KeyAlgorithm.RSA_2048)).label == "never"


def test_the_check_compares_type_and_size(km: KeyManager) -> None:
    """The check itself, on a real key: another size or type than asked is a mismatch."""
    info = km.create_key(CreateKeyRequest(label="sized", algorithm=KeyAlgorithm.RSA_2048))
    mod = get_module(km.config.module_path)

    def check(s: Any) -> tuple[str | None, str | None, str | None]:
        def private_public(bits: int) -> tuple[Any, Any]:
            return keygen.expected_pair("sized", info.id, L.CKK_RSA, ec_curve=None, rsa_bits=bits)

        right = keygen.mismatch(s, L.CKO_PUBLIC_KEY, info.id, private_public(2048)[1])
        wrong_size = keygen.mismatch(s, L.CKO_PUBLIC_KEY, info.id, private_public(3072)[1])
        wrong_type = keygen.mismatch(s, L.CKO_PRIVATE_KEY, info.id, keygen.expected_pair(
            "sized", info.id, L.CKK_EC, ec_curve="secp256r1", rsa_bits=None)[0])
        return right, wrong_size, wrong_type

    with mod.lock:
        right, wrong_size, wrong_type = km._call("checking", check)
    assert right is None
    assert wrong_size is not None and "CKA_MODULUS_BITS" in wrong_size
    assert wrong_type is not None and "CKA_KEY_TYPE" in wrong_type


@pytest.mark.parametrize("secret", [False, True])
def test_a_key_spoiled_after_its_check_is_refused_not_an_internal_error(
        km: KeyManager, monkeypatch: pytest.MonkeyPatch, secret: bool) -> None:
    """Between the check and reading the key back, another process's stale copy can strip its id and label (seen
    once under an attribute-reading process): HSM_KEYGEN_FAILED with the reason, never an IndexError."""
    real = keygen.generate_verified

    def then_spoiled(*args: Any, **kwargs: Any) -> bytes:
        key_id = real(*args, **kwargs)
        km._call("spoiling", lambda s: [s.setAttributeValue(h, [(L.CKA_ID, b""), (L.CKA_LABEL, "")])
                                        for h in s.findObjects([(L.CKA_ID, key_id)])])
        return key_id

    monkeypatch.setattr(keygen, "generate_verified", then_spoiled)
    with pytest.raises(hsm_errors.HsmError) as exc:
        if secret:
            km.create_secret_key(CreateSecretKeyRequest(label="spoiled", kind="hmac"))
        else:
            km.create_key(CreateKeyRequest(label="spoiled", algorithm=KeyAlgorithm.EC_P256))
    assert exc.value.reason == hsm_errors.HSM_KEYGEN_FAILED and "changed by another process" in str(exc.value)
