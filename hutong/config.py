"""Typed node configuration: ``<data-dir>/hutong.toml`` overlaid by ``HUTONG_*`` environment variables.

Validated once at start-up; a bad value is a ``ConfigError`` naming the key to fix. Secrets are
never values here: the HSM PIN comes from a file or an environment variable named here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from hutong.errors import ConfigError

T = TypeVar("T")

CONFIG_FILE = "hutong.toml"


@dataclass(frozen=True)
class HsmSettings:
    module: str = ""  # PKCS#11 module path; empty = SoftHSM2 token inside the data directory
    token_label: str = "hutong-node"
    pin_file: str = ""  # default: <data-dir>/secrets/hsm-pin
    pin_env: str = "HUTONG_HSM_PIN"


@dataclass(frozen=True)
class ServerSettings:
    listen: str = "127.0.0.1:7443"
    workers: int = 1
    max_message_bytes: int = 8 * 1024 * 1024
    max_upload_bytes: int = 200 * 1024 * 1024
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""  # set to require mTLS
    drain_seconds: float = 0.0  # on SIGTERM: report NOT_SERVING, keep serving this long, then stop (hutong.health)
    health_interval_seconds: float = 2.0  # how often readiness (database, HSM) is checked for gRPC health


@dataclass(frozen=True)
class NodeSettings:
    id: str = "node-local"
    name: str = "Hutong node"
    region_code: str = "110000"


@dataclass(frozen=True)
class NodeConfig:
    data_dir: Path
    node: NodeSettings = field(default_factory=NodeSettings)
    database_url: str = ""  # empty = SQLite in the data directory
    hsm: HsmSettings = field(default_factory=HsmSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    # Service-specific sections ([identity], [seal], [cert], [federation]); each service parses its own.
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hutong.db'}"

    @property
    def uses_embedded_hsm(self) -> bool:
        return not self.hsm.module

    @property
    def pin_file(self) -> Path:
        return Path(self.hsm.pin_file) if self.hsm.pin_file else self.data_dir / "secrets" / "hsm-pin"

    def section(self, name: str) -> Mapping[str, Any]:
        return self.sections.get(name, {})


_ENV = {
    "HUTONG_DATABASE_URL": ("database_url", None),
    "HUTONG_NODE_ID": ("node", "id"),
    "HUTONG_NODE_NAME": ("node", "name"),
    "HUTONG_HSM_MODULE": ("hsm", "module"),
    "HUTONG_HSM_TOKEN": ("hsm", "token_label"),
    "HUTONG_HSM_PIN_FILE": ("hsm", "pin_file"),
    "HUTONG_LISTEN": ("server", "listen"),
    "HUTONG_WORKERS": ("server", "workers"),
    "HUTONG_EDGE_LISTEN": ("edge", "listen"),
    "HUTONG_PUBLIC_BASE_URL": ("edge", "public_base_url"),
}


def settings_of(config: NodeConfig, cls: type[T], name: str, **overrides: Any) -> T:
    """The one way settings are read: ``[name]`` of hutong.toml (with its ``HUTONG_*`` variables applied) as the
    frozen dataclass ``cls``, whose defaults are the documented ones; an unknown key or a value of the wrong type
    is ``CONFIG_INVALID`` naming it. ``overrides`` (tests, command-line flags) win over the file."""
    return typed_section(cls, {**config.section(name), **overrides}, name)  # type: ignore[no-any-return]


def typed_section(cls: type, raw: Mapping[str, Any], where: str) -> Any:
    """``raw`` as an instance of the dataclass ``cls`` (each value converted to its default's type)."""
    known = {f.name for f in fields(cls)}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError("CONFIG_INVALID", f"unknown setting(s) in [{where}]: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    defaults = cls()
    for key, value in raw.items():
        want = type(getattr(defaults, key))
        try:
            values[key] = want(value)
        except (TypeError, ValueError):
            raise ConfigError(
                "CONFIG_INVALID", f"[{where}] {key} must be a {want.__name__}, got {value!r}"
            ) from None
    return replace(defaults, **values)


def load_config(data_dir: Path, env: Mapping[str, str] | None = None) -> NodeConfig:
    """Read ``hutong.toml`` (optional) from the data directory, apply the environment, validate."""
    env = os.environ if env is None else env
    data_dir = data_dir.resolve()
    raw: dict[str, Any] = {}
    path = data_dir / CONFIG_FILE
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError("CONFIG_INVALID", f"{path.name} is not valid TOML: {exc}") from None
    sections = {k: dict(v) for k, v in raw.items() if isinstance(v, dict)}
    for var, (section, key) in _ENV.items():
        if var in env:
            if key is None:
                raw[section] = env[var]
            else:
                sections.setdefault(section, {})[key] = env[var]
    db_url = raw.get("database_url", sections.get("database", {}).get("url", ""))
    cfg = NodeConfig(
        data_dir=data_dir,
        node=typed_section(NodeSettings, sections.pop("node", {}), "node"),
        database_url=str(db_url),
        hsm=typed_section(HsmSettings, sections.pop("hsm", {}), "hsm"),
        server=typed_section(ServerSettings, sections.pop("server", {}), "server"),
        sections={k: v for k, v in sections.items() if k != "database"},
    )
    _validate(cfg)
    return cfg


def _validate(cfg: NodeConfig) -> None:
    host, _, port = cfg.server.listen.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError("CONFIG_INVALID", f"[server] listen must be HOST:PORT, got {cfg.server.listen!r}")
    if not 1 <= cfg.server.workers <= 64:
        raise ConfigError("CONFIG_INVALID", "[server] workers must be between 1 and 64")
    if cfg.hsm.module and not Path(cfg.hsm.module).exists():
        raise ConfigError(
            "HSM_MODULE_NOT_FOUND", f"PKCS#11 module {cfg.hsm.module} does not exist: fix [hsm] module"
        )
    if bool(cfg.server.tls_cert_file) != bool(cfg.server.tls_key_file):
        raise ConfigError("CONFIG_INVALID", "[server] tls_cert_file and tls_key_file go together")
