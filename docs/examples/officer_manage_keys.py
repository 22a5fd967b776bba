#!/usr/bin/env python3
"""A security officer manages keys in a node's HSM token, never touching private key material.

    python docs/examples/officer_manage_keys.py --data-dir var/node --label dept-signing-2025

Runs the officers' commands (``hutong hsm ...``) against the node's own token (PIN from the node's
PIN file, never from the command line); every one is recorded in the node's audit log:

1. token status (model, serial, PIN state);
2. generate an EC P-256 key pair inside the token (sensitive, never extractable);
3. export its public key and a certificate signing request (PKCS#10, signed inside the token);
4. rotate it: a new key under the same label, the old one kept (retired) for verification;
5. list the keys with their attributes; destroy the retired key (typed confirmation skipped with --yes,
   which only works when stdin is not a terminal);
6. check the audit log.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any

from hutong.cli import EXIT_OK
from hutong.cli import main as hutong


def _run(*argv: str) -> str:
    """One ``hutong`` command in this process; its standard output (or a clear error)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = hutong(list(argv))
    if code != EXIT_OK:
        raise SystemExit(f"hutong {' '.join(argv)} failed with exit code {code}")
    return out.getvalue()


def main(data_dir: str | Path, label: str = "example-signing-key", *, subject: str = "") -> dict[str, Any]:
    d = ["--data-dir", str(data_dir)]
    work = Path(data_dir) / "officer-out"
    work.mkdir(exist_ok=True)
    status = json.loads(_run("hsm", "status", "--json", *d))
    _run("hsm", "keygen", "--label", label, "--algorithm", "ec-p256", *d)
    _run("hsm", "export-public", "--key", label, "--out", str(work / f"{label}.pub.pem"), *d)
    _run("hsm", "csr", "--key", label, "--subject", subject or f"CN={label},O=Hutong,C=CN",
         "--out", str(work / f"{label}.csr.pem"), *d)
    rotated = _run("hsm", "rotate", "--label", label, *d)
    retired = next(line.split(":", 1)[1].strip() for line in rotated.splitlines() if line.startswith("retired:"))
    keys = json.loads(_run("hsm", "list", "--json", *d))
    _run("hsm", "destroy", "--key", retired, "--yes", *d)
    remaining = {k["label"] for k in json.loads(_run("hsm", "list", "--json", *d))}
    audit = json.loads(_run("audit", "verify", "--json", *d))
    mine = [k for k in keys if k["label"] == label]
    return {
        "token": status["label"], "pin": status["pin"], "retired": retired,
        "active_never_extractable": bool(mine and mine[0]["never_extractable"]),
        "csr": (work / f"{label}.csr.pem").read_text().splitlines()[0],
        "retired_destroyed": retired not in remaining, "audit_ok": audit["ok"],
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="var/node")
    ap.add_argument("--label", default="example-signing-key")
    a = ap.parse_args()
    print(json.dumps(main(a.data_dir, a.label), indent=2))
    sys.exit(0)
