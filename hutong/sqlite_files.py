"""Before a node opens its SQLite database: can every file SQLite will write actually be written?

SQLite in WAL mode writes the database file, ``<db>-wal`` and ``<db>-shm`` (memory-mapped), and creates
them in the database's directory. A ``-shm`` the process cannot write is mapped anyway and the first
write to the mapping kills the process with SIGBUS: no exception, no log line, the node just vanishes.
So each file is opened for writing here first (a real open, not ``os.access``, which root and ACLs make
unreliable) and a file that fails is named in ``DATABASE_UNWRITABLE`` before SQLite touches it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hutong.errors import ConfigError

SIDE_FILES = ("-wal", "-shm", "-journal")


def _unwritable(path: Path, what: str, exc: OSError) -> ConfigError:
    owner = f"owned by uid {path.stat().st_uid}, " if path.exists() else ""
    return ConfigError(
        "DATABASE_UNWRITABLE",
        f"the node's SQLite {what} {path.name} cannot be written ({owner}{exc.strerror or exc}); the node runs "
        f"as uid {os.geteuid()}: give it write access to the data directory and every hutong.db* file in it "
        "(or remove stale -wal/-shm files left by another user while no node runs)",
        metadata={"file": path.name},
    )


def check_writable(db_path: Path) -> None:
    """Raise ``DATABASE_UNWRITABLE`` naming the first of the database's directory, file, -wal, -shm (and a
    rollback -journal) that this process cannot write."""
    directory = db_path.parent
    try:
        with tempfile.TemporaryFile(dir=directory, prefix=".hutong-write-check-"):
            pass
    except FileNotFoundError:
        return  # a new node's directory is made later by whoever creates the database
    except OSError as exc:
        raise _unwritable(directory, "directory", exc) from None
    for path, what in [(db_path, "database file"), *((db_path.with_name(db_path.name + s), "file") for s in
                                                     SIDE_FILES)]:
        if not path.exists():
            continue
        if not path.is_file():
            raise _unwritable(path, what, OSError(0, "not a regular file"))
        try:
            with path.open("r+b"):
                pass
        except OSError as exc:
            raise _unwritable(path, what, exc) from None
