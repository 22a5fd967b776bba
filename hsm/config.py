"""Where the PKCS#11 module, token and PIN are. Values only ever name a file or a variable, never a PIN."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hsm import errors

DEFAULT_PIN_ENV = "HUTONG_HSM_PIN"


@dataclass(frozen=True)
class HsmConfig:
    module_path: str
    token_label: str
    pin_file: Path | None = None
    pin_env: str | None = DEFAULT_PIN_ENV
    so_pin_file: Path | None = None
    # SoftHSM2 only: its configuration file. SoftHSM reads SOFTHSM2_CONF once, at C_Initialize.
    softhsm_conf: Path | None = None

    def read_pin(self) -> str:
        """The user PIN: from ``pin_file`` if set, else from the ``pin_env`` variable."""
        return _read_secret(self.pin_file, self.pin_env, what="HSM user PIN")

    def read_so_pin(self) -> str:
        """The security officer's PIN (token initialisation only); from ``so_pin_file``."""
        return _read_secret(self.so_pin_file, None, what="HSM security officer PIN")

    def apply_softhsm_conf(self) -> None:
        """Point SoftHSM at ``softhsm_conf`` unless the process already chose a configuration.

        Several nodes may share one process (tests) and one loaded module; the first configuration wins
        because SoftHSM cannot re-read it without C_Finalize, which would log out every other user.
        """
        if self.softhsm_conf is not None and "SOFTHSM2_CONF" not in os.environ:
            os.environ["SOFTHSM2_CONF"] = str(self.softhsm_conf)


def _read_secret(path: Path | None, env: str | None, *, what: str) -> str:
    if path is not None:
        try:
            # Only the final newline goes: an editor adds it, but other whitespace may be part of the PIN.
            value = path.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
        except FileNotFoundError:
            raise errors.pin_missing(f"{what} file {path} does not exist") from None
        except OSError as exc:
            raise errors.pin_missing(f"{what} file {path} cannot be read: {exc.strerror}") from None
        if not value:
            raise errors.pin_missing(f"{what} file {path} is empty")
        return value
    if env:
        value = os.environ.get(env, "")
        if value:
            return value
        raise errors.pin_missing(f"{what} not configured: set the {env} environment variable or a PIN file")
    raise errors.pin_missing(f"{what} not configured: set a PIN file")
