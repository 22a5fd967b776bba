"""A node's data directory is private: the directory 0700, the SQLite database (and its WAL) and secrets 0600,
even when the directory was made beforehand with the usual umask."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

from hutong import audit
from hutong.node import init_node, open_node


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_data_directory_and_database_files_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    label = f"modes-{uuid.uuid4().hex[:8]}"
    (data_dir / "hutong.toml").write_text(f'[node]\nid = "modes"\n[hsm]\ntoken_label = "{label}"\n')
    node = init_node(data_dir)
    try:
        with node.db.session() as s:  # a write: the WAL exists now
            audit.append(s, actor="test", action="test.write", target="modes")
    finally:
        node.close()
    assert _mode(data_dir) == 0o700
    files = list(data_dir.glob("hutong.db*"))
    assert data_dir / "hutong.db" in files
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert _mode(data_dir / "secrets") == 0o700 and _mode(data_dir / "secrets" / "hsm-pin") == 0o600
    os.chmod(data_dir, 0o755)  # loosened by hand: opening the node tightens it again
    open_node(data_dir).close()
    assert _mode(data_dir) == 0o700
