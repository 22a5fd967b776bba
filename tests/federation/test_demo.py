"""`hutong demo` end to end: three real node processes run DESIGN.md §9; artefacts checked independently."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from joserfc import jws
from joserfc.jwk import KeySet

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("demo") / "out"
    proc = subprocess.run([sys.executable, "-m", "hutong.cli", "demo", "--out", str(out)], capture_output=True,
                          text=True, timeout=900)
    return proc, out


def test_demo_runs_the_scenario_and_keeps_its_artefacts(demo: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, out = demo
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All 8 steps passed" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    for step in range(1, 9):
        assert f"\n{step}. " in "\n" + proc.stdout
    for name in ("trust-list.jws", "hub-root-ca.pem", "prov-a-seal-ca.pem", "prov-b-issuer-ca.pem",
                 "citizen-id-token-at-a.jwt", "citizen-id-token-at-b.jwt", "business-licence.jws", "diploma.jws",
                 "contract.pdf", "contract-sealed.pdf"):
        assert (out / name).stat().st_size > 0, name
    for node in ("hub", "prov-a", "prov-b"):  # the nodes' logs are kept with --out: JSON lines, access lines
        lines = (out / "logs" / f"{node}.log").read_text(encoding="utf-8").splitlines()
        entries = [json.loads(line) for line in lines]
        assert any(e["logger"] == "hutong.access" for e in entries), node
    # Independent tools agree with the nodes about the sealed contract.
    pdfsig = subprocess.run(["pdfsig", str(out / "contract-sealed.pdf")], capture_output=True, text=True)
    assert "Signature is Valid" in pdfsig.stdout, pdfsig.stdout
    assert subprocess.run(["qpdf", "--check", str(out / "contract-sealed.pdf")], capture_output=True).returncode == 0


def test_demo_artefacts_verify_with_an_independent_jose_library(
        demo: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    """The trust list's member JWKS verifies the citizen's ID token issued at province B."""
    proc, out = demo
    assert proc.returncode == 0, proc.stdout
    body = (out / "trust-list.jws").read_text().split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    member_b = next(m for m in payload["members"] if m["node_id"] == "prov-b")
    token = (out / "citizen-id-token-at-b.jwt").read_text()
    verified = jws.deserialize_compact(token, KeySet.import_key_set(member_b["jwks"]), algorithms=["ES256"])
    assert json.loads(verified.payload)["acr"] == "high"
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(Exception):  # noqa: B017 - any verification failure
        jws.deserialize_compact(tampered, KeySet.import_key_set(member_b["jwks"]), algorithms=["ES256"])
