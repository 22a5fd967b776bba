"""docs/quickstart.md runs as written: its shell blocks are executed in order against a node started the way
``scripts/run-node`` starts one (``hutong serve --data-dir var/node``), in a fresh working directory.

The only change made to the text is the port (a free one instead of 7443, which may be taken here). The
password the guide asks for is typed on stdin, as a person would. The last block is poppler's ``pdfsig``
with an NSS database that trusts the node's root: the guide's claim that an independent validator agrees.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hutong.demo.cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "quickstart.md"


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
def test_the_quickstart_runs_as_written(start_node: Any, tmp_path: Path) -> None:
    blocks = shell_blocks(GUIDE.read_text(encoding="utf-8"))
    assert "scripts/run-node" in blocks[0]  # the first block starts the node: done here, as run-node does
    port = free_port()
    work = tmp_path / "clone"
    work.mkdir()
    (work / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the guide's PATH names ./.venv/bin
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_") and k != "SOFTHSM2_CONF"}
    start_node(work / "var" / "node", listen=f"127.0.0.1:{port}", env=env, timeout=240, inherit_env=False)
    script = "set -euo pipefail\n" + "\n".join(blocks[1:]).replace("127.0.0.1:7443", f"127.0.0.1:{port}")
    typed = "Quickstart2026\n11010519491231002X\n"  # the password, then the citizen ID number, as the guide reads them
    proc = subprocess.run(["bash", "-c", script], cwd=work, input=typed, capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Signature is Valid" in proc.stdout and "Certificate is Trusted" in proc.stdout, proc.stdout[-2000:]
    assert (work / "sealed" / "a.pdf").stat().st_size > 0 and (work / "contract-sealed.pdf").stat().st_size > 0
    assert "Traceback" not in proc.stderr
