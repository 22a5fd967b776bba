"""One loaded PKCS#11 module per path per process, with its lock; re-initialised after fork().

PyKCS11 calls ``C_Initialize(NULL)``: the module is then entitled to assume one caller at a time
(SoftHSM2 switches its own mutexes off), so every call into a module happens under that module's lock.
This costs no throughput: PyKCS11 keeps the GIL during each call anyway (scale with processes).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import PyKCS11
from PyKCS11 import LowLevel

from hsm import errors

_registry_lock = threading.Lock()
_modules: dict[str, Module] = {}


@dataclass
class Module:
    path: str
    lib: PyKCS11.PyKCS11Lib
    pid: int
    lock: threading.RLock = field(default_factory=threading.RLock)
    # Bumped whenever sessions and object handles from before become invalid (fork, re-initialise).
    generation: int = 0
    initialised: bool = True  # False after a re-initialisation failed (e.g. the token store is gone)
    recovered_at: float = -1e9  # monotonic time of the last ``recover`` attempt


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time would stay held for ever in the child.
    global _registry_lock
    _registry_lock = threading.Lock()
    for mod in _modules.values():
        mod.lock = threading.RLock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _reinitialise(mod: Module) -> None:
    """Give a forked child its own module state; sessions inherited from the parent are not usable.

    PKCS#11 requires a child to call C_Initialize. Modules that do not notice the fork (SoftHSM 2.6 on
    Debian) answer CKR_CRYPTOKI_ALREADY_INITIALIZED with the parent's state, so finalise first.
    """
    low = mod.lib.lib
    rv = low.C_Initialize()
    if rv == LowLevel.CKR_CRYPTOKI_ALREADY_INITIALIZED:
        low.C_Finalize()
        rv = low.C_Initialize()
    if rv != LowLevel.CKR_OK:
        raise errors.unavailable(
            f"re-initialising the PKCS#11 module after fork failed ({errors.ckr_name(rv)})"
        )
    mod.pid = os.getpid()
    mod.generation += 1
    mod.initialised = True


RECOVER_INTERVAL = 1.0  # seconds between attempts to re-initialise a module whose token went away


def recover(mod: Module) -> bool:
    """Finalise and initialise ``mod`` again (new generation: every session re-opens, every handle is found
    afresh), at most once per RECOVER_INTERVAL; caller holds ``mod.lock``.

    SoftHSM (and modules of removable tokens) only notices a token store that went away and came back
    on C_Initialize. Returns True if the module is initialised afterwards and a retry makes sense.
    """
    now = time.monotonic()
    if now - mod.recovered_at < RECOVER_INTERVAL:
        return False
    mod.recovered_at = now
    low = mod.lib.lib
    low.C_Finalize()
    rv = low.C_Initialize()
    mod.generation += 1
    mod.initialised = rv == LowLevel.CKR_OK
    return mod.initialised


def get_module(path: str) -> Module:
    """The process's loaded module at ``path`` (loaded on first use, re-initialised in a forked child)."""
    mod = _modules.get(path)
    if mod is not None and mod.pid == os.getpid():  # every token call comes here: no lock when nothing changes
        return mod
    with _registry_lock:
        mod = _modules.get(path)
        if mod is None:
            if not Path(path).is_file():
                raise errors.module_not_found(f"PKCS#11 module {path} does not exist")
            try:
                lib = PyKCS11.PyKCS11Lib().load(path)
            except PyKCS11.PyKCS11Error as exc:
                raise errors.from_pkcs11(exc, f"loading PKCS#11 module {path}") from None
            mod = _modules[path] = Module(path=path, lib=lib, pid=os.getpid())
        elif mod.pid != os.getpid():
            with mod.lock:
                _reinitialise(mod)
        return mod


def clean_label(raw: str) -> str:
    # CK_TOKEN_INFO.label is 32 bytes padded with blanks (or NULs, by some initialisers).
    return raw.rstrip(" \x00")


def find_slot(mod: Module, token_label: str) -> int:
    """The slot holding the initialised token labelled ``token_label``; caller holds ``mod.lock``."""
    try:
        slots = mod.lib.getSlotList(tokenPresent=True)
        for slot in slots:
            info = mod.lib.getTokenInfo(slot)
            if info.flags & LowLevel.CKF_TOKEN_INITIALIZED and clean_label(info.label) == token_label:
                return int(slot)
    except PyKCS11.PyKCS11Error as exc:
        raise errors.from_pkcs11(exc, f"looking for HSM token '{token_label}'") from None
    raise errors.token_not_found(f"no HSM token labelled '{token_label}' in PKCS#11 module {mod.path}")
