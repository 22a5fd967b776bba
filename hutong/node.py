"""A node: its configuration, database, HSM token, PKI and audit log, wired together once.

``init_node`` prepares a data directory (SoftHSM2 token, database schema, PKI) and is safe to run
again; ``open_node`` opens a prepared one. Services receive the ``Node`` and take what they need.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hsm import HsmConfig, KeyManager
from hsm.softhsm import SOFTHSM_MODULE, init_token, write_conf
from hutong import business_codes
from hutong.auditlog import AuditLog
from hutong.config import CONFIG_FILE, NodeConfig, load_config
from hutong.db import Database
from hutong.errors import ConfigError, InvalidArgument
from hutong.federation.member import Trust
from hutong.peers import Peers
from hutong.pki import NodePki
from hutong.tlog.integrator import Integrator

SOFTHSM_DIR = "softhsm"


@dataclass
class Node:
    config: NodeConfig
    db: Database
    keys: KeyManager
    pki: NodePki
    audit: AuditLog = field(init=False)
    peers: Peers = field(init=False)  # what one service needs of another, injected by hutong.wiring.wire

    def __post_init__(self) -> None:
        self.audit = AuditLog(self.db)
        self.peers = Peers()

    @property
    def id(self) -> str:
        return self.config.node.id

    @functools.cached_property
    def trust(self) -> Trust:
        """Trust anchors: this node's CAs plus, when federated, every member's (trust list)."""
        return Trust(self)

    @functools.cached_property
    def tlog(self) -> Integrator:
        """Sequences this node's audit events into its Merkle log and signs checkpoints (node log key)."""
        return Integrator(self.db, self.keys, self.id, registry=self.pki.registry)

    def check(self) -> None:
        """Fail fast at start-up: the database answers and the token opens with the PIN. Then (once, before
        any worker starts) individual-business codes an older version stored in clear are protected."""
        self.db.ping()
        self.pki.check_keys()
        business_codes.reprotect(self.db.engine, self.pki)

    def close(self) -> None:
        self.keys.close()
        self.db.dispose()


def _pin_file(cfg: NodeConfig) -> Path | None:
    """Where the user PIN comes from: a configured PIN file wins, then the PIN variable if it is set, then the
    data directory's own PIN file (written when the embedded token was made)."""
    if cfg.hsm.pin_file:
        return cfg.pin_file
    if cfg.hsm.pin_env and os.environ.get(cfg.hsm.pin_env):
        return None
    return cfg.pin_file if cfg.uses_embedded_hsm or cfg.pin_file.exists() else None


def hsm_config(cfg: NodeConfig) -> HsmConfig:
    if cfg.uses_embedded_hsm:
        if SOFTHSM_MODULE is None:
            raise ConfigError("HSM_MODULE_NOT_FOUND", "SoftHSM2 is not installed: run scripts/setup")
        conf = cfg.data_dir / SOFTHSM_DIR / "softhsm2.conf"
        if conf.exists():
            # The token directory is named relative to the data directory: a copy (restore, another machine)
            # uses its own token, never the one it was copied from.
            write_conf(conf_path=conf, tokendir=cfg.data_dir / SOFTHSM_DIR / "tokens", only_if_changed=True)
        return HsmConfig(
            module_path=SOFTHSM_MODULE,
            token_label=cfg.hsm.token_label,
            pin_file=_pin_file(cfg),
            pin_env=cfg.hsm.pin_env,
            softhsm_conf=conf,
        )
    return HsmConfig(
        module_path=cfg.hsm.module,
        token_label=cfg.hsm.token_label,
        pin_file=_pin_file(cfg),
        pin_env=cfg.hsm.pin_env,
    )


def _write_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


def _ensure_embedded_token(cfg: NodeConfig) -> None:
    """Create the data directory's SoftHSM2 token if missing: its user PIN from the PIN variable when that is
    set (nothing written), otherwise a new PIN file; the SO PIN always in a file (mode 0600)."""
    conf = cfg.data_dir / SOFTHSM_DIR / "softhsm2.conf"
    pin_file = _pin_file(cfg)
    if conf.exists() and (pin_file is None or pin_file.exists()):
        return
    pin = _write_secret(pin_file) if pin_file is not None else os.environ[cfg.hsm.pin_env]
    so_pin = _write_secret(cfg.pin_file.with_name("hsm-so-pin"))
    init_token(
        tokendir=cfg.data_dir / SOFTHSM_DIR / "tokens",
        conf_path=conf,
        label=cfg.hsm.token_label,
        pin=pin,
        so_pin=so_pin,
    )


def _default_config_text(node_id: str, name: str) -> str:
    return (
        "# Hutong node configuration. Environment variables HUTONG_* override these values.\n"
        f'[node]\nid = "{node_id}"\nname = "{name}"\n\n'
        '[server]\nlisten = "127.0.0.1:7443"\nworkers = 1\n\n'
        "# [hsm]\n# module = \"/usr/lib/your-hsm/pkcs11.so\"   # empty = SoftHSM2 token in this directory\n"
        '# token_label = "hutong-node"\n# pin_file = "/run/secrets/hsm-pin"\n\n'
        '# database_url = "postgresql://hutong@db/hutong"   # empty = SQLite in this directory\n'
    )


def is_initialised(data_dir: Path) -> bool:
    return (data_dir / CONFIG_FILE).exists()


def require_initialised(data_dir: Path) -> None:
    """A clear error for a wrong ``--data-dir``, before anything tries its (absent) database or token."""
    if not is_initialised(data_dir):
        what = "does not exist" if not data_dir.exists() else f"has no {CONFIG_FILE}"
        raise InvalidArgument("NODE_NOT_INITIALISED", f"{data_dir} is not a node's data directory ({what}): "
                              "check --data-dir")


def init_node(data_dir: Path, *, node_id: str | None = None, name: str | None = None) -> Node:
    """Prepare (or complete) a data directory and return the open node.

    If preparing fails, whatever this attempt created in the directory is removed again.
    """
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    data_dir.chmod(0o700)  # keys' PINs, the database, the TLS key: nobody else's business
    before = set(data_dir.iterdir())
    try:
        if not (data_dir / CONFIG_FILE).exists():
            (data_dir / CONFIG_FILE).write_text(
                _default_config_text(node_id or "node-local", name or "Hutong node"), encoding="utf-8"
            )
        cfg = load_config(data_dir)
        if cfg.uses_embedded_hsm:
            _ensure_embedded_token(cfg)
        node = open_node(data_dir, cfg=cfg, migrate=True)
        try:
            node.pki.bootstrap()
        except BaseException:
            node.close()
            raise
        return node
    except BaseException:
        for child in set(data_dir.iterdir()) - before:  # only what this attempt created
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise


def open_node(data_dir: Path, *, cfg: NodeConfig | None = None, migrate: bool = False) -> Node:
    if cfg is None:
        require_initialised(data_dir)
    cfg = cfg or load_config(data_dir)
    with contextlib.suppress(OSError):  # a directory made before this rule (or by hand) is tightened too
        cfg.data_dir.chmod(0o700)
    db = Database(cfg.effective_database_url)
    try:
        if migrate:
            db.migrate()
        else:
            db.ping()
        keys = KeyManager(hsm_config(cfg))
    except BaseException:
        db.dispose()
        raise
    pki = NodePki(keys, db, node_id=cfg.node.id, node_name=cfg.node.name)
    business_codes.use_node_keys(db.engine, pki)
    if migrate:  # rows written before individual-business codes were protected (idempotent)
        try:
            business_codes.reprotect(db.engine, pki)
        except BaseException:
            db.dispose()
            raise
    return Node(config=cfg, db=db, keys=keys, pki=pki)
