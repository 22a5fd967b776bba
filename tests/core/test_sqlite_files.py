"""SQLite files the node cannot write are named at start-up (DATABASE_UNWRITABLE), not found by SIGBUS.

The files are made unwritable by mode, as an operator's mistake would. Root writes through file modes, so
when the suite runs as root the checks run in a child process without CAP_DAC_OVERRIDE / CAP_FOWNER
(``setpriv``), where modes bind root as they bind any user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hutong.db import Database

REPO = Path(__file__).resolve().parents[2]
CHECK = """
import sys
from pathlib import Path
from hutong.errors import HutongError
from hutong.db import Database
try:
    Database(f"sqlite:///{sys.argv[1]}").ping()
except HutongError as err:
    print(err.reason, err.metadata.get("file", ""), err.message)
else:
    print("OK")
"""


def _as_unprivileged(db: Path) -> str:
    cmd = [sys.executable, "-c", CHECK, str(db)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: file modes cannot bind this process")
        cmd = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A world-readable directory holding a real WAL database (-wal and -shm present), owned by us."""
    with tempfile.TemporaryDirectory(prefix="hutong-sqlite-") as d:
        path = Path(d)
        path.chmod(0o755)
        db = Database(f"sqlite:///{path / 'hutong.db'}")
        conn = db.engine.raw_connection()  # keeps -wal/-shm in place while the checks run
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        try:
            yield path
        finally:
            conn.close()
            db.dispose()


@pytest.mark.parametrize("victim", ["hutong.db", "hutong.db-wal", "hutong.db-shm", "."])
def test_each_unwritable_file_is_named(data_dir: Path, victim: str) -> None:
    for f in data_dir.iterdir():
        f.chmod(0o666)
    data_dir.chmod(0o777)
    assert (data_dir / "hutong.db-shm").exists() and (data_dir / "hutong.db-wal").exists()
    assert _as_unprivileged(data_dir / "hutong.db") == "OK"  # everything writable: opens
    target = data_dir / victim
    target.chmod(0o555 if victim == "." else 0o444)
    reason, _, rest = _as_unprivileged(data_dir / "hutong.db").partition(" ")
    assert reason == "DATABASE_UNWRITABLE"
    named = data_dir.name if victim == "." else victim
    assert rest.startswith(named + " ") and named in rest.partition(" ")[2]


def test_a_new_data_directory_is_not_refused(tmp_path: Path) -> None:
    Database(f"sqlite:///{tmp_path / 'fresh' / 'hutong.db'}")  # directory made later by init: no error here
    Database(f"sqlite:///{tmp_path / 'hutong.db'}").ping()
