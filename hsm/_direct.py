"""C_SignInit and C_Sign (and AES-GCM's C_EncryptInit/C_Encrypt, C_DecryptInit/C_Decrypt) called straight into
the PKCS#11 module PyKCS11 loaded, for the steady state.

Every signature of a busy node is one C_SignInit and one C_Sign with a mechanism without parameters on a
session and key handle already known good. Through PyKCS11 each such call builds SWIG vectors for the input
and output (``ckbytelist(bytes)`` converts element by element, ~4 µs for a 32-byte digest), and the result is
a vector to copy out again: together some 15 % of an ECDSA P-256 signature on SoftHSM (issue 19, hsm/ vs a
bare PyKCS11 loop). Here the same two functions of the same loaded module are called with ctypes: the digest
is passed as the ``bytes`` it is, and the signature lands in a buffer reused for every call.

Only the already-loaded module is opened (``RTLD_NOLOAD``): this adds no second copy of the module, and its
state (``C_Initialize``, sessions, login) is the one PyKCS11 set up. The caller holds the module's lock, as
for any call into the module (see ``_module``); ctypes releases the GIL during the call, so other threads run
Python meanwhile. Anything unusual -- a module that does not export the functions, a return code other than
CKR_OK -- answers None and the caller takes its general PyKCS11 path, which retries and maps errors.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Any

import PyKCS11
from PyKCS11 import LowLevel as L

_ULONG = ctypes.c_ulong  # CK_ULONG: unsigned long on the Unix ABI of PKCS#11 (structures unpacked)


class _Mechanism(ctypes.Structure):
    _fields_ = [("mechanism", _ULONG), ("pParameter", ctypes.c_void_p), ("ulParameterLen", _ULONG)]


class _GcmParams(ctypes.Structure):  # CK_GCM_PARAMS of PKCS#11 v2.40 (the layout PyKCS11 and SoftHSM2 use)
    _fields_ = [("pIv", ctypes.c_char_p), ("ulIvLen", _ULONG), ("ulIvBits", _ULONG),
                ("pAAD", ctypes.c_char_p), ("ulAADLen", _ULONG), ("ulTagBits", _ULONG)]


_CKM_AES_GCM = L.CKM_AES_GCM

# Shared PyKCS11 mechanisms without parameters, and their CKM_ type: only these take the direct path.
TYPES: dict[Any, int] = {}


def param_free(ckm: int) -> Any:
    """A shared ``PyKCS11.Mechanism`` for ``ckm`` (which takes no parameter), known to the direct path."""
    mechanism = PyKCS11.Mechanism(ckm)
    TYPES[mechanism] = ckm
    return mechanism


class DirectSigner:
    """C_SignInit + C_Sign (and the AES-GCM pairs) of one loaded module; one caller at a time (the module's
    lock)."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._init = library.C_SignInit
        self._init.argtypes = [_ULONG, ctypes.POINTER(_Mechanism), _ULONG]
        self._init.restype = _ULONG
        self._sign = library.C_Sign
        self._sign.argtypes = [_ULONG, ctypes.c_char_p, _ULONG, ctypes.c_char_p, ctypes.POINTER(_ULONG)]
        self._sign.restype = _ULONG
        self._library = library  # keeps the module mapped for as long as the functions are used
        self._mechanisms: dict[int, Any] = {}  # byref(_Mechanism) by CKM_ type
        self._buffers: dict[int, Any] = {}  # output buffers by size, reused
        self._length = _ULONG(0)
        self._length_ref = ctypes.byref(self._length)
        self._crypt = {}  # (C_EncryptInit, C_Encrypt) and (C_DecryptInit, C_Decrypt) by direction
        for encrypt, (init_name, call_name) in ((True, ("C_EncryptInit", "C_Encrypt")),
                                                (False, ("C_DecryptInit", "C_Decrypt"))):
            init, call = getattr(library, init_name), getattr(library, call_name)
            init.argtypes = [_ULONG, ctypes.POINTER(_Mechanism), _ULONG]
            init.restype = _ULONG
            call.argtypes = [_ULONG, ctypes.c_char_p, _ULONG, ctypes.c_char_p, ctypes.POINTER(_ULONG)]
            call.restype = _ULONG
            self._crypt[encrypt] = (init, call)

    def sign(self, session: int, handle: int, ckm: int, data: bytes, size: int) -> bytes | None:
        """The signature (``size`` bytes expected), or None if the module answered anything but CKR_OK.

        Nothing is left half done: a failed C_SignInit starts no operation, a failed C_Sign ends it (PKCS#11
        5.2), and CKR_BUFFER_TOO_SMALL (the one code that keeps it open) is finished here with a larger buffer.
        """
        mechanism = self._mechanisms.get(ckm)
        if mechanism is None:
            mechanism = self._mechanisms[ckm] = ctypes.byref(_Mechanism(ckm, None, 0))
        if self._init(session, mechanism, handle) != L.CKR_OK:
            return None
        out = self._buffer(size)
        self._length.value = size
        rv = self._sign(session, data, len(data), out, self._length_ref)
        if rv == L.CKR_BUFFER_TOO_SMALL:  # the length needed is in _length now
            out = self._buffer(self._length.value)
            rv = self._sign(session, data, len(data), out, self._length_ref)
        if rv != L.CKR_OK:
            return None
        return out.raw[: self._length.value]  # type: ignore[no-any-return]

    def aes_gcm(self, session: int, handle: int, encrypt: bool, iv: bytes, aad: bytes, tag_bits: int,
                data: bytes) -> bytes | None:
        """One-part AES-GCM (C_EncryptInit + C_Encrypt, or the Decrypt pair): ciphertext with its tag appended,
        or the plaintext; None if the module answered anything but CKR_OK -- a tag that does not verify
        included, which the caller's general path then reports as it always has.

        The data is handed over as the ``bytes`` it is: PyKCS11 converts a buffer to a SWIG vector byte by
        byte and back (~0.35 ms for a lookup's 4 KB certificate, more than the decryption itself). A failed
        C_Encrypt/C_Decrypt ends the operation (PKCS#11 5.2); CKR_BUFFER_TOO_SMALL is finished with a larger
        buffer as in ``sign``. Empty data is the caller's (C_Encrypt rejects it).
        """
        init, call = self._crypt[encrypt]
        params = _GcmParams(iv, len(iv), len(iv) * 8, aad, len(aad), tag_bits)
        mechanism = _Mechanism(_CKM_AES_GCM, ctypes.cast(ctypes.byref(params), ctypes.c_void_p),
                               ctypes.sizeof(params))
        if init(session, ctypes.byref(mechanism), handle) != L.CKR_OK:
            return None
        size = len(data) + tag_bits // 8
        out = ctypes.create_string_buffer(size)
        length = _ULONG(size)
        rv = call(session, data, len(data), out, ctypes.byref(length))
        if rv == L.CKR_BUFFER_TOO_SMALL:
            out = ctypes.create_string_buffer(length.value)
            rv = call(session, data, len(data), out, ctypes.byref(length))
        if rv != L.CKR_OK:
            return None
        return out.raw[: length.value]  # type: ignore[no-any-return]

    def _buffer(self, size: int) -> Any:
        out = self._buffers.get(size)
        if out is None:
            out = self._buffers[size] = ctypes.create_string_buffer(size)
        return out


_loaded: dict[str, DirectSigner | None] = {}
_lock = threading.Lock()


def for_module(path: str) -> DirectSigner | None:
    """The direct path into the module already loaded from ``path``, or None where there is none."""
    try:
        return _loaded[path]
    except KeyError:
        pass
    with _lock:
        if path not in _loaded:
            noload = getattr(os, "RTLD_NOLOAD", 0)  # without it, CDLL could load a second, uninitialised copy
            try:
                _loaded[path] = DirectSigner(ctypes.CDLL(path, mode=os.RTLD_NOW | noload)) if noload else None
            except (OSError, AttributeError):  # not loaded, not a shared object, or no such exported function
                _loaded[path] = None
        return _loaded[path]
