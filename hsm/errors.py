"""Typed HSM errors with stable reasons, and the one place PKCS#11 return codes become them.

Messages name the operation that failed and, for diagnosis, the CKR code after it; they never carry
a PIN, key material or a traceback.
"""

from __future__ import annotations

import PyKCS11
from PyKCS11 import LowLevel


class HsmError(Exception):
    """Base of every error the HSM layer raises.

    ``hsm`` imports nothing of the project, so it has its own types; ``kind`` names the gRPC status the
    error stands for (the values of ``hutong.errors.Kind``), and the core maps it once where errors meet
    gRPC or the command line (``hutong.errors.lift``). ``reason`` is stable and listed in docs/errors.md.
    """

    kind = "UNAVAILABLE"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"

    def __reduce__(self) -> tuple[type[HsmError], tuple[str, str]]:
        # Rebuilt from its reason and message where it crosses a process boundary (a process pool's worker):
        # the default rebuilds it from ``args`` alone, which lacks the reason, and the pool then reports only
        # that its worker broke.
        return type(self), (self.reason, self.message)


class InvalidArgument(HsmError):
    kind = "INVALID_ARGUMENT"


class NotFound(HsmError):
    kind = "NOT_FOUND"


class AlreadyExists(HsmError):
    kind = "ALREADY_EXISTS"


class PermissionDenied(HsmError):
    kind = "PERMISSION_DENIED"


class FailedPrecondition(HsmError):
    kind = "FAILED_PRECONDITION"


class ConfigError(FailedPrecondition):
    """Configuration that cannot work (no module, no PIN): reported as one line naming what to fix."""


class Unavailable(HsmError):
    kind = "UNAVAILABLE"


class Unimplemented(HsmError):
    kind = "UNIMPLEMENTED"



HSM_MODULE_NOT_FOUND = "HSM_MODULE_NOT_FOUND"
HSM_TOKEN_NOT_FOUND = "HSM_TOKEN_NOT_FOUND"
HSM_TOKEN_EXISTS = "HSM_TOKEN_EXISTS"
HSM_PIN_INCORRECT = "HSM_PIN_INCORRECT"
HSM_PIN_LOCKED = "HSM_PIN_LOCKED"
HSM_PIN_MISSING = "HSM_PIN_MISSING"
HSM_KEY_NOT_FOUND = "HSM_KEY_NOT_FOUND"
HSM_KEY_EXISTS = "HSM_KEY_EXISTS"
HSM_MECHANISM_UNSUPPORTED = "HSM_MECHANISM_UNSUPPORTED"
HSM_DECRYPT_FAILED = "HSM_DECRYPT_FAILED"
HSM_CERTIFICATE_MISMATCH = "HSM_CERTIFICATE_MISMATCH"
HSM_LABEL_INVALID = "HSM_LABEL_INVALID"
HSM_UNAVAILABLE = "HSM_UNAVAILABLE"
HSM_KEYGEN_FAILED = "HSM_KEYGEN_FAILED"
INVALID_KEY_URI = "INVALID_KEY_URI"


def module_not_found(message: str) -> ConfigError:
    return ConfigError(HSM_MODULE_NOT_FOUND, message)


def token_not_found(message: str) -> Unavailable:
    return Unavailable(HSM_TOKEN_NOT_FOUND, message)


def token_exists(message: str) -> AlreadyExists:
    return AlreadyExists(HSM_TOKEN_EXISTS, message)


def pin_missing(message: str) -> ConfigError:
    return ConfigError(HSM_PIN_MISSING, message)


def pin_incorrect(message: str) -> PermissionDenied:
    return PermissionDenied(HSM_PIN_INCORRECT, message)


def pin_locked(message: str) -> PermissionDenied:
    return PermissionDenied(HSM_PIN_LOCKED, message)


def key_not_found(message: str) -> NotFound:
    return NotFound(HSM_KEY_NOT_FOUND, message)


def key_exists(message: str) -> AlreadyExists:
    return AlreadyExists(HSM_KEY_EXISTS, message)


def mechanism_unsupported(message: str) -> Unimplemented:
    return Unimplemented(HSM_MECHANISM_UNSUPPORTED, message)


def decrypt_failed(message: str) -> InvalidArgument:
    return InvalidArgument(HSM_DECRYPT_FAILED, message)


def certificate_mismatch(message: str) -> InvalidArgument:
    return InvalidArgument(HSM_CERTIFICATE_MISMATCH, message)


def label_invalid(message: str) -> InvalidArgument:
    return InvalidArgument(HSM_LABEL_INVALID, message)


def unavailable(message: str) -> Unavailable:
    return Unavailable(HSM_UNAVAILABLE, message)


def keygen_failed(message: str) -> Unavailable:
    """A generated key was not stored as asked (see ``hsm._keygen``); it was destroyed, nothing was kept."""
    return Unavailable(HSM_KEYGEN_FAILED, message)


def invalid_key_uri(message: str) -> InvalidArgument:
    return InvalidArgument(INVALID_KEY_URI, message)


# PyKCS11Error.value is a CKR_* code, or negative for PyKCS11's own failures (-1/-4: the module
# could not be loaded or is not a PKCS#11 module).
_PIN_INCORRECT = {LowLevel.CKR_PIN_INCORRECT, LowLevel.CKR_PIN_INVALID, LowLevel.CKR_PIN_LEN_RANGE}
_PIN_LOCKED = {LowLevel.CKR_PIN_LOCKED, LowLevel.CKR_PIN_EXPIRED}
# The one list of codes meaning "the token went away" (typed HSM_TOKEN_NOT_FOUND here; hsm/keys.py re-opens the
# module on these and on a few more).
TOKEN_GONE = {
    LowLevel.CKR_TOKEN_NOT_PRESENT,
    LowLevel.CKR_TOKEN_NOT_RECOGNIZED,
    LowLevel.CKR_SLOT_ID_INVALID,
    LowLevel.CKR_DEVICE_REMOVED,
}
_KEY_GONE = {LowLevel.CKR_OBJECT_HANDLE_INVALID, LowLevel.CKR_KEY_HANDLE_INVALID}
_UNSUPPORTED = {
    LowLevel.CKR_MECHANISM_INVALID,
    LowLevel.CKR_MECHANISM_PARAM_INVALID,
    LowLevel.CKR_FUNCTION_NOT_SUPPORTED,
    LowLevel.CKR_KEY_TYPE_INCONSISTENT,
    LowLevel.CKR_KEY_FUNCTION_NOT_PERMITTED,
    LowLevel.CKR_KEY_SIZE_RANGE,
    LowLevel.CKR_DOMAIN_PARAMS_INVALID,
    LowLevel.CKR_CURVE_NOT_SUPPORTED,
}


def ckr_name(code: int) -> str:
    name = PyKCS11.CKR.get(code)
    return name if isinstance(name, str) else f"0x{code & 0xFFFFFFFF:08X}"


def from_pkcs11(exc: PyKCS11.PyKCS11Error, operation: str) -> HsmError:
    """Map a PyKCS11 failure of ``operation`` (e.g. "signing with key 'x'") to a typed error."""
    code = int(exc.value)
    if code < 0:
        return module_not_found(f"{operation} failed: the PKCS#11 module could not be loaded")
    detail = f"{operation} failed ({ckr_name(code)})"
    if code in _PIN_INCORRECT:
        return pin_incorrect(f"{operation} failed: the HSM rejected the PIN")
    if code in _PIN_LOCKED:
        return pin_locked(f"{operation} failed: the HSM user PIN is locked; an officer must unlock it")
    if code in TOKEN_GONE:
        return token_not_found(f"{operation} failed: the HSM token is not present ({ckr_name(code)})")
    if code in _KEY_GONE:
        return key_not_found(f"{operation} failed: the key no longer exists ({ckr_name(code)})")
    if code in _UNSUPPORTED:
        return mechanism_unsupported(f"{operation} failed: the HSM does not support this ({ckr_name(code)})")
    return unavailable(detail)
