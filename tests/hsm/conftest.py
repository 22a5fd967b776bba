"""Real SoftHSM2 tokens for the hsm tests: one SOFTHSM2_CONF per test session, a fresh token per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from hsm import HsmConfig, KeyManager
from hsm import _module as hsm_module
from hsm.softhsm import SOFTHSM_MODULE, init_token, write_conf

# Throw-away PINs of throw-away tokens; real PINs never appear in code, logs or command lines.
TEST_PIN = "test-user-pin-0000"
TEST_SO_PIN = "test-so-pin-0000"


@pytest.fixture(scope="session")
def softhsm_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SOFTHSM2_CONF of this test process (SoftHSM reads it once, when the module is loaded).

    Until the module is loaded, point it at a temporary token directory, whatever the environment says:
    test tokens must never land in a real one. Once loaded (by earlier tests), keep what it was loaded with.
    """
    if SOFTHSM_MODULE not in hsm_module._modules or "SOFTHSM2_CONF" not in os.environ:
        base = tmp_path_factory.mktemp("softhsm")
        write_conf(conf_path=base / "softhsm2.conf", tokendir=base / "tokens")
        os.environ["SOFTHSM2_CONF"] = str(base / "softhsm2.conf")
    return Path(os.environ["SOFTHSM2_CONF"])


@pytest.fixture(scope="session")
def test_pin() -> str:
    return TEST_PIN


@pytest.fixture(scope="session")
def pin_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pin") / "hsm-pin"
    path.write_text(TEST_PIN + "\n")
    path.chmod(0o600)
    return path


TokenFactory = Callable[..., HsmConfig]


@pytest.fixture(scope="session")
def make_token(softhsm_conf: Path, pin_file: Path, tmp_path_factory: pytest.TempPathFactory) -> TokenFactory:
    """Initialise a new token (unique label) and return the HsmConfig that opens it.

    SOFTHSM2_CONF is already set, so init_token's own softhsm2.conf is written but not used: the token
    lands in the session's token directory, as for several nodes in one process.
    """
    spare = tmp_path_factory.mktemp("unused-softhsm")

    def make(label: str | None = None) -> HsmConfig:
        label = label or f"t-{uuid.uuid4().hex[:20]}"
        init_token(
            tokendir=spare / "tokens",
            conf_path=spare / "softhsm2.conf",
            label=label,
            pin=TEST_PIN,
            so_pin=TEST_SO_PIN,
        )
        assert SOFTHSM_MODULE is not None
        return HsmConfig(module_path=SOFTHSM_MODULE, token_label=label, pin_file=pin_file, pin_env=None)

    return make


@pytest.fixture
def token(make_token: TokenFactory) -> HsmConfig:
    return make_token()


@pytest.fixture
def km(token: HsmConfig) -> Iterator[KeyManager]:
    manager = KeyManager(token)
    yield manager
    manager.close()


def verify_signature(
    public_key: object,
    signature: bytes,
    data: bytes,
    *,
    hash_name: str = "sha256",
    rsa_padding: str = "pkcs1v15",
) -> None:
    """Verify with cryptography; raises InvalidSignature."""
    algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[hash_name]
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, data, ec.ECDSA(algorithm))
    elif isinstance(public_key, rsa.RSAPublicKey):
        pad: padding.AsymmetricPadding = (
            padding.PSS(padding.MGF1(algorithm), algorithm.digest_size)
            if rsa_padding == "pss"
            else padding.PKCS1v15()
        )
        public_key.verify(signature, data, pad, algorithm)
    else:
        raise InvalidSignature("unknown key type")


@pytest.fixture
def verify() -> Callable[..., None]:
    return verify_signature
