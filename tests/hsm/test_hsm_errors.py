"""Failures become typed errors with stable reasons; PINs never appear in them."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from PyKCS11 import LowLevel, PyKCS11Error

from hsm import CreateKeyRequest, HsmConfig, KeyAlgorithm, KeyManager, KeyRef
from hsm import errors as hsm_errors
from hsm.errors import (
    ConfigError,
    HsmError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    Unimplemented,
)


def reason_of(exc: pytest.ExceptionInfo[HsmError]) -> str:
    return exc.value.reason


def test_unknown_module_path(token: HsmConfig) -> None:
    with pytest.raises(ConfigError) as exc:
        KeyManager(replace(token, module_path="/nonexistent/libpkcs11.so"))
    assert reason_of(exc) == "HSM_MODULE_NOT_FOUND" and "/nonexistent/libpkcs11.so" in exc.value.message


def test_a_file_that_is_not_a_pkcs11_module(token: HsmConfig, tmp_path: Path) -> None:
    fake = tmp_path / "fake.so"
    fake.write_bytes(b"not a shared object")
    with pytest.raises(ConfigError) as exc:
        KeyManager(replace(token, module_path=str(fake)))
    assert reason_of(exc) == "HSM_MODULE_NOT_FOUND"


def test_missing_token(token: HsmConfig) -> None:
    with pytest.raises(Unavailable) as exc:
        KeyManager(replace(token, token_label="no-such-token"))
    assert reason_of(exc) == "HSM_TOKEN_NOT_FOUND" and "no-such-token" in exc.value.message


def test_wrong_pin(token: HsmConfig, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("not-the-pin-9999\n")
    with pytest.raises(PermissionDenied) as exc:
        KeyManager(replace(token, pin_file=wrong))
    assert reason_of(exc) == "HSM_PIN_INCORRECT"
    assert "not-the-pin-9999" not in str(exc.value) and str(wrong) in exc.value.message


def test_pin_missing(token: HsmConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUTONG_HSM_PIN_TEST", raising=False)
    with pytest.raises(ConfigError) as exc:
        KeyManager(replace(token, pin_file=None, pin_env="HUTONG_HSM_PIN_TEST"))
    assert reason_of(exc) == "HSM_PIN_MISSING" and "HUTONG_HSM_PIN_TEST" in exc.value.message
    with pytest.raises(ConfigError) as exc:
        KeyManager(replace(token, pin_file=tmp_path / "absent"))
    assert reason_of(exc) == "HSM_PIN_MISSING" and "absent" in exc.value.message


def test_pin_from_environment(token: HsmConfig, test_pin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUTONG_HSM_PIN_TEST", test_pin)
    with KeyManager(replace(token, pin_file=None, pin_env="HUTONG_HSM_PIN_TEST")) as km:
        assert km.token_info().label == token.token_label


def test_pin_file_keeps_everything_but_the_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "pin"
    path.write_text(" spaced pin \n")
    assert HsmConfig(module_path="", token_label="", pin_file=path).read_pin() == " spaced pin "
    path.write_text("")
    with pytest.raises(ConfigError):
        HsmConfig(module_path="", token_label="", pin_file=path).read_pin()


def test_softhsm_never_locks_the_pin(token: HsmConfig, tmp_path: Path) -> None:
    """SoftHSM 2.6 counts nothing: after many wrong PINs it only sets CKF_USER_PIN_COUNT_LOW."""
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("wrong-pin-0000")
    for _ in range(12):
        with pytest.raises(PermissionDenied) as exc:
            KeyManager(replace(token, pin_file=wrong))
        assert reason_of(exc) == "HSM_PIN_INCORRECT"
    with KeyManager(token) as km:
        info = km.token_info()
        assert not info.pin_locked


def _token_object(label: str) -> Path:
    tokendir = Path(os.environ["SOFTHSM2_CONF"]).read_text().split("directories.tokendir =")[1].split()[0]
    padded = label.encode().ljust(32, b" ")
    for path in Path(tokendir).glob("*/token.object"):
        if padded in path.read_bytes():
            return path
    pytest.skip("SoftHSM token file not found (not the file backend?)")


def test_locked_pin_is_reported_without_trying(token: HsmConfig) -> None:
    """SoftHSM cannot lock a PIN, so set CKF_USER_PIN_LOCKED in its token file the way a real HSM would."""
    KeyManager(token).close()
    path = _token_object(token.token_label)
    data = bytearray(path.read_bytes())
    at = data.find(bytes.fromhex("000000008000534b0000000000000002"))  # CKA_OS_TOKENFLAGS, type ulong
    if at < 0:
        pytest.skip("unknown SoftHSM token file layout")
    flags = int.from_bytes(data[at + 16 : at + 24], "big") | LowLevel.CKF_USER_PIN_LOCKED
    data[at + 16 : at + 24] = flags.to_bytes(8, "big")
    data[0:8] = (int.from_bytes(data[0:8], "big") + 1).to_bytes(8, "big")  # generation: SoftHSM re-reads
    path.write_bytes(bytes(data))
    with pytest.raises(PermissionDenied) as exc:
        KeyManager(token)
    assert reason_of(exc) == "HSM_PIN_LOCKED"


def test_unknown_keys(km: KeyManager) -> None:
    calls: list[Callable[[], object]] = [
        lambda: km.get_key("nope"),
        lambda: km.signer("nope"),
        lambda: km.get_key(KeyRef(id=b"\x09")),
        lambda: km.hmac_sha256("nope", b""),
        lambda: km.encrypt("nope", b""),
        lambda: km.destroy_key("nope"),
        lambda: km.get_certificate("nope"),
        lambda: km.rename_key("nope", "other"),
        lambda: km.get_key(f"pkcs11:token={km.config.token_label};object=nope"),
    ]
    for call in calls:
        with pytest.raises(NotFound) as exc:
            call()
        assert reason_of(exc) == "HSM_KEY_NOT_FOUND"


def test_key_uri_of_another_token(km: KeyManager) -> None:
    km.create_key(CreateKeyRequest(label="k", algorithm=KeyAlgorithm.EC_P256))
    with pytest.raises(NotFound):
        km.get_key("pkcs11:token=elsewhere;object=k")


def test_bad_uri_and_label(km: KeyManager) -> None:
    with pytest.raises(InvalidArgument) as exc:
        km.get_key("pkcs11:object=%zz")
    assert reason_of(exc) == "INVALID_KEY_URI"
    with pytest.raises(InvalidArgument) as exc:
        km.create_key(CreateKeyRequest(label="bad\nlabel", algorithm=KeyAlgorithm.EC_P256))
    assert reason_of(exc) == "HSM_LABEL_INVALID"


def test_unsupported_hash(km: KeyManager) -> None:
    km.create_key(CreateKeyRequest(label="k", algorithm=KeyAlgorithm.EC_P256))
    with pytest.raises(Unimplemented) as exc:
        km.signer("k").sign(b"x", hash_name="md5")
    assert reason_of(exc) == "HSM_MECHANISM_UNSUPPORTED"


def test_closed_manager(token: HsmConfig) -> None:
    km = KeyManager(token)
    km.close()
    with pytest.raises(Unavailable) as exc:
        km.list_keys()
    assert reason_of(exc) == "HSM_UNAVAILABLE"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (LowLevel.CKR_PIN_INCORRECT, "HSM_PIN_INCORRECT"),
        (LowLevel.CKR_PIN_LOCKED, "HSM_PIN_LOCKED"),
        (LowLevel.CKR_TOKEN_NOT_PRESENT, "HSM_TOKEN_NOT_FOUND"),
        (LowLevel.CKR_KEY_HANDLE_INVALID, "HSM_KEY_NOT_FOUND"),
        (LowLevel.CKR_MECHANISM_INVALID, "HSM_MECHANISM_UNSUPPORTED"),
        (LowLevel.CKR_DEVICE_ERROR, "HSM_UNAVAILABLE"),
        (0x80000123, "HSM_UNAVAILABLE"),
        (-1, "HSM_MODULE_NOT_FOUND"),
    ],
)
def test_return_code_mapping(code: int, reason: str) -> None:
    err = hsm_errors.from_pkcs11(PyKCS11Error(code), "signing with key 'x'")
    assert err.reason == reason
    assert err.message.startswith("signing with key 'x' failed")


def test_a_pin_not_initialised_at_login_is_retried_at_start_then_reported(token: HsmConfig,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """SoftHSM2 can answer CKR_USER_PIN_NOT_INITIALIZED to a login when it read its token file while another
    process rewrote it (a bench seeding process, once in a suite run). The first open retries it as a token not
    found; a PIN that stays uninitialised is reported as such, never as an unmapped PKCS#11 error."""
    import PyKCS11

    real_login = PyKCS11.Session.login
    failures = [1]

    def login(self: PyKCS11.Session, pin: str, user_type: int = LowLevel.CKU_USER) -> None:
        if failures[0]:
            failures[0] -= 1
            raise PyKCS11Error(LowLevel.CKR_USER_PIN_NOT_INITIALIZED)
        real_login(self, pin, user_type)

    monkeypatch.setattr(PyKCS11.Session, "login", login)
    manager = KeyManager(token)  # the first login fails, the retry logs in on the real token
    try:
        assert manager.create_key(CreateKeyRequest(label="after-retry", algorithm=KeyAlgorithm.EC_P256)).label \
            == "after-retry"
    finally:
        manager.close()
    failures[0] = 100
    with pytest.raises(hsm_errors.HsmError) as exc:
        KeyManager(token)
    assert reason_of(exc) == "HSM_TOKEN_NOT_FOUND" and "no user PIN yet" in exc.value.message
