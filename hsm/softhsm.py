"""The embedded default: a SoftHSM2 token in the node's data directory.

PINs go to the module through C_InitToken/C_InitPIN, never through a command line (``softhsm2-util``
would show them to every user of the machine in ``ps``).
"""

from __future__ import annotations

from pathlib import Path

import PyKCS11
from PyKCS11 import LowLevel as L

from hsm import errors
from hsm._module import clean_label, get_module
from hsm.config import HsmConfig

_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)
SOFTHSM_MODULE: str | None = next((p for p in _CANDIDATES if Path(p).is_file()), None)


def write_conf(*, conf_path: Path, tokendir: Path, only_if_changed: bool = False) -> None:
    """A softhsm2.conf keeping tokens in ``tokendir`` (file backend: plain files, easy to back up).

    SoftHSM wants an absolute path, so a node rewrites it whenever its data directory has moved
    (``only_if_changed``: leave the file alone when it already says this)."""
    text = (f"directories.tokendir = {tokendir.resolve()}\nobjectstore.backend = file\nlog.level = ERROR\n"
            "slots.removable = false\n")
    if only_if_changed and conf_path.exists() and conf_path.read_text(encoding="utf-8") == text:
        return
    tokendir.mkdir(parents=True, exist_ok=True, mode=0o700)
    conf_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    conf_path.write_text(text, encoding="utf-8")


def init_token(
    *, tokendir: Path, conf_path: Path, label: str, pin: str, so_pin: str, module_path: str | None = None
) -> None:
    """Write ``conf_path`` and initialise a new token ``label`` with the given user and SO PINs.

    SoftHSM reads SOFTHSM2_CONF once per process: if the module is already loaded (or the variable
    already set) the token is created where that configuration says, as tests running several nodes
    in one process intend.
    """
    module = module_path or SOFTHSM_MODULE
    if module is None:
        raise errors.module_not_found("SoftHSM2 is not installed (libsofthsm2.so not found)")
    if not label or len(label.encode("utf-8")) > 32:
        raise errors.label_invalid(f"token label '{label}' must be 1-32 bytes")
    write_conf(conf_path=conf_path, tokendir=tokendir)
    HsmConfig(module_path=module, token_label=label, softhsm_conf=conf_path).apply_softhsm_conf()
    mod = get_module(module)
    with mod.lock:
        try:
            free = None
            for slot in mod.lib.getSlotList(tokenPresent=True):
                info = mod.lib.getTokenInfo(slot)
                if not info.flags & L.CKF_TOKEN_INITIALIZED:
                    free = slot if free is None else free
                elif clean_label(info.label) == label:
                    raise errors.token_exists(f"an HSM token labelled '{label}' already exists")
            if free is None:
                raise errors.unavailable("SoftHSM has no free slot for a new token")
            # C_InitToken takes the label blank-padded to 32 bytes.
            padded = label + " " * (32 - len(label.encode("utf-8")))
            mod.lib.initToken(free, so_pin, padded)
            session = mod.lib.openSession(free, L.CKF_RW_SESSION)
            try:
                session.login(so_pin, L.CKU_SO)
                session.initPin(pin)
                session.logout()
            finally:
                session.closeSession()
        except PyKCS11.PyKCS11Error as exc:
            raise errors.from_pkcs11(exc, f"initialising HSM token '{label}'") from None
