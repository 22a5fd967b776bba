"""Any platform: a Node.js client (clients/node, @grpc/grpc-js loading proto/ at run time) logs a person in
through IdentityService and verifies an e-certificate through CertService.Verify against a real node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.clients.sdk_world import PASSWORD, ZHANG, World

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "clients" / "node"


def _run(world: World, **env: str) -> tuple[int, dict[str, object]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed: run scripts/setup")
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.fail("clients/node has no node_modules: run scripts/setup (npm ci)")
    full = {**os.environ, "HUTONG_TARGET": world.target, "HUTONG_CLIENT_ID": "portal",
            "HUTONG_CLIENT_SECRET": world.portal_secret, "HUTONG_ID_NUMBER": ZHANG, "HUTONG_PASSWORD": PASSWORD,
            "HUTONG_CERT_ID": world.certificate_id, **env}
    proc = subprocess.run([node, str(NODE_DIR / "login_and_verify.js")], env=full, capture_output=True, text=True,
                          timeout=60, cwd=NODE_DIR)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def test_node_client_logs_in_and_verifies_a_certificate(world: World) -> None:
    code, out = _run(world)
    assert code == 0, out
    login, cert = out["login"], out["certificate"]
    assert login["acr"] == "LEVEL_OF_ASSURANCE_SUBSTANTIAL" and login["active"] is True  # type: ignore[index]
    assert login["subject"] and login["amr"] == ["pwd"]  # type: ignore[index]
    assert cert["verdict"] == "VERDICT_VALID" and cert["identifier"] == world.certificate_id  # type: ignore[index]
    assert cert["status"] == "CERT_STATUS_VALID"  # type: ignore[index]


def test_node_client_reports_the_reason_of_a_failure(world: World) -> None:
    code, out = _run(world, HUTONG_PASSWORD="wrong password 9")
    assert code == 2
    assert out["error"] == {"code": "UNAUTHENTICATED", "reason": "INVALID_CREDENTIALS",  # type: ignore[comparison-overlap]
                            "message": out["error"]["message"]}  # type: ignore[index]
