"""Interoperability with OpenSC's pkcs11-tool on the same SoftHSM2 token.

pkcs11-tool reads the PIN with ``--pin env:VAR`` (OpenSC >= 0.23), so even the throw-away test PIN is
not on its command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

import pytest

from hsm import CreateKeyRequest, HsmConfig, KeyAlgorithm, KeyManager, KeyRef

PKCS11_TOOL = shutil.which("pkcs11-tool")
pytestmark = pytest.mark.skipif(PKCS11_TOOL is None, reason="OpenSC pkcs11-tool is not installed")


def pkcs11_tool(token: HsmConfig, test_pin: str, *args: str) -> str:
    assert PKCS11_TOOL is not None
    env = {**os.environ, "HSM_TEST_PIN": test_pin}
    out = subprocess.run(
        [
            PKCS11_TOOL,
            "--module",
            token.module_path,
            "--token-label",
            token.token_label,
            "--login",
            "--pin",
            "env:HSM_TEST_PIN",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_key_made_here_shows_in_pkcs11_tool_as_sensitive_and_never_extractable(
    km: KeyManager, token: HsmConfig, test_pin: str
) -> None:
    info = km.create_key(CreateKeyRequest(label="interop-here", algorithm=KeyAlgorithm.EC_P256))
    listing = pkcs11_tool(token, test_pin, "--list-objects", "--type", "privkey")
    block = listing.split("Private Key Object")[1]
    assert "interop-here" in block and info.id.hex() in block
    access = next(line for line in block.splitlines() if "Access:" in line)
    assert "sensitive" in access and "never extractable" in access and "local" in access
    usage = next(line for line in block.splitlines() if "Usage:" in line)
    assert usage.split(":", 1)[1].strip() == "sign"


@pytest.mark.parametrize(
    ("key_type", "with_id"), [("EC:prime256v1", True), ("EC:secp384r1", False), ("rsa:2048", True)]
)
def test_key_made_by_pkcs11_tool_signs_here(
    km: KeyManager, token: HsmConfig, test_pin: str, verify: Callable[..., None], key_type: str, with_id: bool
) -> None:
    km.list_keys()  # the manager is open before the other process writes to the token
    extra = ["--id", "a1b2c3"] if with_id else []
    pkcs11_tool(token, test_pin, "--keypairgen", "--key-type", key_type, "--label", "from-opensc", *extra)
    info = km.get_key("from-opensc")
    assert info.algorithm is not None
    signer = km.signer(KeyRef(id=info.id) if info.id else "from-opensc")
    verify(info.public_key, signer.sign(b"made elsewhere"), b"made elsewhere")
    assert "from-opensc" in {k.label for k in km.list_keys()}
