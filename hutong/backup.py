"""Backup, restore and verification of a node: database, HSM token and the rest of the data directory.

``backup`` takes a consistent snapshot while the node serves: the database first (SQLite's online backup
API, or ``pg_dump``, both one transaction-consistent view), then the SoftHSM token directory. Keys are
created in the token *before* the database names them and are never destroyed while the registry still
needs them, so a token copied after the database holds every key that database refers to (at worst a key
made in between, which nothing refers to yet). The token files are copied until two passes agree, so a
file written during the copy is not kept half-written. PIN files are left out unless asked for: keep
the PIN where the officers keep it, not beside the token.

``restore`` copies a backup into a new, empty directory -- never over an existing node, never touching
the original. The restored node's SoftHSM configuration names *its own* token directory (the node
rewrites ``softhsm2.conf`` for its data directory on every start), so a restored copy never writes into
the original token, on this machine or another.

``verify`` checks that database, token and audit log agree: the schema is current, every key the
registry needs is on the token (certified keys with the public key of their certificate), and the
audit log is intact. It names each problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hsm import HsmError
from hutong.config import CONFIG_FILE, load_config
from hutong.db import Database
from hutong.errors import FailedPrecondition, HutongError, InvalidArgument, Unavailable

MANIFEST = "backup.json"
SQLITE_FILE, PG_DUMP = "hutong.db", "database.pgdump"
TOKENS = Path("softhsm") / "tokens"
SECRETS = "secrets"
_SKIP = {SQLITE_FILE, f"{SQLITE_FILE}-wal", f"{SQLITE_FILE}-shm", SECRETS, "softhsm"}
_COPY_PASSES = 5


@dataclass
class BackupReport:
    directory: Path
    database: str  # "sqlite" or "postgresql"
    files: int
    token_files: int
    secrets: bool


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# -- backup ----------------------------------------------------------------------------------------------
def backup(data_dir: Path, dest: Path, *, include_secrets: bool = False) -> BackupReport:
    """Snapshot the node in ``data_dir`` into the new directory ``dest`` (which must not hold anything)."""
    cfg = load_config(data_dir)
    _new_directory(dest, "backup")
    try:
        if cfg.database_url:
            _pg_dump(cfg.effective_database_url, dest / PG_DUMP)
            kind = "postgresql"
        else:
            _sqlite_backup(cfg.data_dir / SQLITE_FILE, dest / SQLITE_FILE)
            kind = "sqlite"
        files = 0
        for item in sorted(cfg.data_dir.iterdir()):
            if item.name in _SKIP:
                continue
            _copy(item, dest / item.name)
            files += 1
        conf = cfg.data_dir / "softhsm" / "softhsm2.conf"
        token_files = 0
        if (cfg.data_dir / TOKENS).is_dir():
            token_files = _copy_stable(cfg.data_dir / TOKENS, dest / TOKENS)
            if conf.exists():
                shutil.copy2(conf, dest / "softhsm" / "softhsm2.conf")
        if include_secrets and (cfg.data_dir / SECRETS).is_dir():
            _copy(cfg.data_dir / SECRETS, dest / SECRETS)
        manifest = {"node_id": cfg.node.id, "created_at": datetime.now(UTC).isoformat(), "database": kind,
                    "embedded_token": token_files > 0, "secrets": include_secrets,
                    "sha256": {str(p.relative_to(dest)): _sha256(p) for p in sorted(dest.rglob("*")) if p.is_file()}}
        (dest / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return BackupReport(directory=dest, database=kind, files=files, token_files=token_files,
                        secrets=include_secrets)


def _sqlite_backup(src: Path, dst: Path) -> None:
    """SQLite's online backup: one consistent copy even while other processes write (WAL included)."""
    if not src.exists():
        raise Unavailable("DATABASE_UNAVAILABLE", f"the database file {src.name} is missing")
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(dst)
    try:
        with target:
            source.backup(target)
    finally:
        target.close()
        source.close()
    os.chmod(dst, 0o600)


def _pg_tool(name: str) -> str:
    found = shutil.which(name) or next((str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                                                                 reverse=True)), None)
    if found is None:
        raise FailedPrecondition("BACKUP_TOOL_MISSING", f"{name} (PostgreSQL client tools) is not installed")
    return found


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password (which goes to PGPASSWORD: never on a command line)."""
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    env = dict(os.environ)
    netloc = parts.netloc
    if parts.password:
        env["PGPASSWORD"] = parts.password
        netloc = netloc.replace(f":{parts.password}@", "@", 1)
    return urlunsplit(parts._replace(netloc=netloc)), env


def _pg_dump(url: str, out: Path) -> None:
    dsn, env = _libpq(url)
    proc = subprocess.run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(out), "--dbname",
                           dsn], env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise Unavailable("DATABASE_UNAVAILABLE", f"pg_dump failed: {proc.stderr.strip()[:300]}")
    os.chmod(out, 0o600)


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, symlinks=True)
    else:
        shutil.copy2(src, dst)


def _state(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


def _copy_stable(src: Path, dst: Path) -> int:
    """Copy a directory whose files may be rewritten meanwhile, until one pass saw no file change."""
    for _ in range(_COPY_PASSES):
        before = _state(src)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, symlinks=True)
        if _state(src) == before:
            return len(before)
    raise FailedPrecondition("BACKUP_NOT_CONSISTENT", "the HSM token changed during every copy attempt: "
                             "try again at a quieter moment")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _new_directory(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InvalidArgument("DIRECTORY_NOT_EMPTY", f"the {what} directory {path} exists and is not empty: "
                              "name a new one")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


# -- restore ---------------------------------------------------------------------------------------------
def restore(backup_dir: Path, target: Path, *, database_url: str = "") -> Path:
    """Make a new node directory ``target`` from ``backup_dir``. PostgreSQL backups restore into
    ``database_url`` (an empty database), which the restored configuration then names."""
    manifest = _manifest(backup_dir)
    for name, digest in manifest["sha256"].items():
        if not (backup_dir / name).is_file() or _sha256(backup_dir / name) != digest:
            raise FailedPrecondition("BACKUP_CORRUPT", f"{name} in the backup is missing or altered")
    if manifest["database"] == "postgresql" and not database_url:
        raise InvalidArgument("DATABASE_URL_REQUIRED", "this backup holds a PostgreSQL dump: give the URL of an "
                              "empty database to restore into (--database-url)")
    _new_directory(target, "restore")
    try:
        for item in sorted(backup_dir.iterdir()):
            if item.name not in (MANIFEST, PG_DUMP):
                _copy(item, target / item.name)
        if manifest["database"] == "postgresql":
            _pg_restore(backup_dir / PG_DUMP, database_url)
            _set_database_url(target / CONFIG_FILE, database_url)
        conf = target / "softhsm" / "softhsm2.conf"
        if conf.exists():
            from hsm.softhsm import write_conf

            write_conf(conf_path=conf, tokendir=target / TOKENS)  # this copy's own token, never the original
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def _manifest(backup_dir: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((backup_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InvalidArgument("BACKUP_INVALID", f"{backup_dir} is not a node backup (no readable {MANIFEST})") \
            from None
    return manifest


def _pg_restore(dump: Path, url: str) -> None:
    dsn, env = _libpq(url)
    proc = subprocess.run([_pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", dsn, str(dump)],
                          env=env, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise Unavailable("DATABASE_UNAVAILABLE", f"pg_restore failed: {proc.stderr.strip()[:300]}")


def _set_database_url(config: Path, url: str) -> None:
    lines = [ln for ln in config.read_text(encoding="utf-8").splitlines() if not ln.startswith("database_url")]
    config.write_text(f'database_url = "{url}"\n' + "\n".join(lines) + "\n", encoding="utf-8")


# -- verify ----------------------------------------------------------------------------------------------
def verify(data_dir: Path) -> VerifyReport:
    """Do database, token and audit log agree? Every problem is named; nothing is changed."""
    from hutong.auditlog import AuditLog
    from hutong.node import open_node

    report = VerifyReport()
    try:
        node = open_node(data_dir)
    except (HutongError, HsmError) as err:
        report.problems.append(f"the node does not open: {err.reason}: {err.message}")
        return report
    try:
        _check_schema(node.db, report)
        _check_keys(node, report)
        _check_protected(node, report)
        _check_blind_indexes(node, report)
        log = AuditLog(node.db).verify()
        if log.ok:
            report.checked.append(f"audit log intact ({log.records} records)")
        else:
            report.problems.append(f"audit log broken at record {log.first_broken}: {log.problem}")
    finally:
        node.close()
    return report


def _check_schema(db: Database, report: VerifyReport) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from hutong.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
    with db.engine.connect() as c:
        current = MigrationContext.configure(c).get_current_revision()
    if current != head:
        report.problems.append(f"database schema at revision {current}, this version expects {head}")
    else:
        report.checked.append(f"database schema current ({head})")


def _check_protected(node: object, report: VerifyReport) -> None:
    """Every data key a stored record names is one the registry keeps (it decrypts; hsm destroy refuses it)."""
    from hutong import rekey
    from hutong.node import Node

    assert isinstance(node, Node)
    snap = node.pki.registry.snapshot()
    counts = rekey.referenced_keys(node)
    for label, n in sorted(counts.items()):
        entry = snap.entry(label)
        if entry is None or not entry.still_needed():
            report.problems.append(f"{n} protected records name data key {label}, which the registry no longer "
                                   "keeps: they cannot be decrypted once it is destroyed")
    report.checked.append(f"{sum(counts.values())} protected records, under {len(counts)} data key(s)")


def _check_blind_indexes(node: object, report: VerifyReport) -> None:
    """Every blind-index key a stored index was made by is one the registry keeps (look-ups still find it)."""
    from hutong import reindex
    from hutong.node import Node

    assert isinstance(node, Node)
    snap = node.pki.registry.snapshot()
    counts = reindex.referenced_keys(node.db, snap)
    for label, n in sorted(counts.items()):
        entry = snap.entry(label)
        if entry is None or not entry.still_needed():
            report.problems.append(f"{n} stored blind indexes were made by {label}, which the registry no longer "
                                   "keeps: look-ups no longer find those rows")
    report.checked.append(f"{sum(counts.values())} stored blind indexes, under {len(counts)} blind-index key(s)")
    st = reindex.status_of(node.db, snap)
    if st is not None:
        report.checked.append(f"blind-index re-indexing pending: {st.describe()}")


def _check_keys(node: object, report: VerifyReport) -> None:
    from hutong.node import Node
    from hutong.pki import BLIND_INDEX, DATA_KEY

    assert isinstance(node, Node)
    snap = node.pki.registry.snapshot()
    needed = [e for e in snap.entries if e.still_needed()]
    for e in needed:
        try:
            if e.role in (BLIND_INDEX, DATA_KEY):
                node.keys.get_secret_key(e.label)
                continue
            info = node.keys.get_key(e.label)
        except (HutongError, HsmError) as err:
            report.problems.append(f"{e.state} {e.role} key {e.label} is not on the token ({err.reason})")
            continue
        cert = e.certificate
        if cert is not None and cert.public_key() != info.public_key:
            report.problems.append(f"the certificate of {e.label} is not for the key on the token")
    for role in sorted({e.role for e in snap.entries}):
        if snap.active(role) is None:
            report.problems.append(f"no active {role} key in the registry")
    report.checked.append(f"{len(needed)} keys in the registry found on the token")
