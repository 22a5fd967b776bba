"""The direct C_SignInit/C_Sign path (``hsm/_direct.py``) into the module PyKCS11 loaded.

It must sign with exactly the key the cached handle names (signatures checked with ``cryptography``), leave no
operation open when the token refuses, finish a too-small buffer, and not exist where the module is not loaded.
AES-GCM takes the same route (C_EncryptInit/C_Encrypt, C_DecryptInit/C_Decrypt): its blobs must be the ones the
PyKCS11 path makes and opens, and a blob that does not verify must still be HSM_DECRYPT_FAILED.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PyKCS11 import LowLevel as L

from hsm import CreateKeyRequest, CreateSecretKeyRequest, HsmConfig, KeyAlgorithm, KeyManager
from hsm import _direct as direct
from hsm._module import get_module
from hsm.errors import HsmError
from hsm.signer import _ECDSA, raw_to_der


@pytest.mark.parametrize("algorithm", [KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P384, KeyAlgorithm.RSA_2048])
def test_steady_state_signatures_take_the_direct_path_and_verify(
        km: KeyManager, verify: Callable[..., None], algorithm: KeyAlgorithm) -> None:
    info = km.create_key(CreateKeyRequest(label=f"direct-{algorithm.value}", algorithm=algorithm))
    signer = km.signer(info.label)
    assert direct.for_module(km.config.module_path) is not None  # SoftHSM exports C_SignInit and C_Sign
    for n in range(3):  # the first finds and caches the handle (general path), then the direct path
        data = f"message {n}".encode()
        verify(info.public_key, signer.sign(data), data)
        verify(info.public_key, signer.sign_digest(hashlib.sha384(data).digest(), hash_name="sha384"), data,
               hash_name="sha384")
    assert km._ids  # the direct path ran (it caches the integer handles it used)


def test_direct_path_after_the_session_is_replaced(km: KeyManager, verify: Callable[..., None]) -> None:
    info = km.create_key(CreateKeyRequest(label="direct-reopen", algorithm=KeyAlgorithm.EC_P256))
    signer = km.signer(info.label)
    signer.sign(b"warm")
    signer.sign(b"direct")
    ((old_session, _, old_number, _),) = km._ids.values()
    old_session.closeSession()  # the token forgets the session: the cached integers name a closed session
    assert km._sign_ready(signer._ref, _ECDSA, bytes(32), 64) is None  # refused: handed over, not raised
    verify(info.public_key, signer.sign(b"after"), b"after")  # general path re-opened it
    verify(info.public_key, signer.sign(b"again"), b"again")  # direct again, with the new session
    ((session, _, number, _),) = km._ids.values()
    assert session is km._session and session is not None and session is not old_session
    assert number == session.session.value()


def test_refusal_leaves_no_operation_open_and_a_small_buffer_is_finished(
        km: KeyManager, verify: Callable[..., None]) -> None:
    info = km.create_key(CreateKeyRequest(label="direct-edges", algorithm=KeyAlgorithm.EC_P256))
    signer = km.signer(info.label)
    signer.sign(b"warm")
    ds = direct.for_module(km.config.module_path)
    assert ds is not None and km._session is not None
    session = km._session.session.value()
    handle = km._handles[(L.CKO_PRIVATE_KEY, signer._ref.id or b"", signer._ref.label or "")].value()
    digest = hashlib.sha256(b"edge").digest()
    with km_lock(km):
        assert ds.sign(session, 0, L.CKM_ECDSA, digest, 64) is None  # handle 0 is never valid
        assert ds.sign(session + 1000, handle, L.CKM_ECDSA, digest, 64) is None  # no such session
        raw = ds.sign(session, handle, L.CKM_ECDSA, digest, 8)  # too small: the module asks for 64
    assert raw is not None and len(raw) == 64
    verify(info.public_key, raw_to_der(raw), b"edge")
    verify(info.public_key, signer.sign(b"still fine"), b"still fine")  # nothing was left open


@pytest.mark.parametrize("size", [1, 4096, 1 << 20])
def test_aes_gcm_direct_and_pykcs11_paths_open_each_others_blobs(km: KeyManager, token: HsmConfig,
                                                                  size: int) -> None:
    km.create_secret_key(CreateSecretKeyRequest(label="gcm-direct", kind="aes"))
    data, aad = bytes(range(256)) * (size // 256) + b"x" * (size % 256), b"record-42"
    general = km.encrypt("gcm-direct", data, aad=aad)  # the first use finds the handle: PyKCS11
    assert not km._ids
    fast = km.encrypt("gcm-direct", data, aad=aad)  # then the direct path
    assert km._ids and len(fast) == len(general) == 1 + 12 + size + 16 and fast[1:13] != general[1:13]
    with KeyManager(token) as other:  # another manager: its first decryption is PyKCS11's, the rest direct
        assert other.decrypt("gcm-direct", fast, aad=aad) == data and not other._ids
        assert other.decrypt("gcm-direct", general, aad=aad) == data and other._ids
        assert other.decrypt("gcm-direct", fast, aad=aad) == data
    assert km.decrypt("gcm-direct", general, aad=aad) == data  # direct decryption of PyKCS11's blob
    for bad, bad_aad in ((fast[:-1] + bytes([fast[-1] ^ 1]), aad), (fast, b"record-43"),
                         (fast[:14] + bytes([fast[14] ^ 1]) + fast[15:], aad)):
        with pytest.raises(HsmError) as exc:  # the direct path refuses, the general one names the reason
            km.decrypt("gcm-direct", bad, aad=bad_aad)
        assert exc.value.reason == "HSM_DECRYPT_FAILED"
    assert km.decrypt("gcm-direct", fast, aad=aad) == data  # nothing was left open by the failures


def test_aes_gcm_refusals_leave_no_operation_open(km: KeyManager) -> None:
    km.create_secret_key(CreateSecretKeyRequest(label="gcm-edges", kind="aes"))
    blob = km.encrypt("gcm-edges", b"warm", aad=b"a")
    ds = direct.for_module(km.config.module_path)
    assert ds is not None and km._session is not None
    session = km._session.session.value()
    handle = km._handles[(L.CKO_SECRET_KEY, b"", "gcm-edges")].value()
    iv, body = blob[1:13], blob[13:]
    with km_lock(km):
        assert ds.aes_gcm(session, 0, False, iv, b"\x01a", 128, body) is None  # no such key
        assert ds.aes_gcm(session + 1000, handle, True, iv, b"\x01a", 128, b"x") is None  # no such session
        assert ds.aes_gcm(session, handle, False, iv, b"\x01b", 128, body) is None  # wrong associated data
        assert ds.aes_gcm(session, handle, False, iv, b"\x01a", 128, body) == b"warm"
    assert km.decrypt("gcm-edges", km.encrypt("gcm-edges", b"still fine", aad=b"a"), aad=b"a") == b"still fine"


def test_no_direct_path_without_the_loaded_module(tmp_path: Path) -> None:
    not_a_library = tmp_path / "module.so"
    not_a_library.write_bytes(b"not an ELF file")
    assert direct.for_module(str(not_a_library)) is None
    assert direct.for_module(str(tmp_path / "missing.so")) is None  # never loads a module itself


def km_lock(km: KeyManager) -> threading.RLock:
    """Calls into the module happen under its lock, as the manager's own do."""
    return get_module(km.config.module_path).lock
