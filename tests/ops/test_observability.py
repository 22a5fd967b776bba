"""Metrics, access logs and request ids, checked the way an operator's tools see them.

Metrics are scraped by a real Prometheus server (Debian's ``/usr/bin/prometheus``) started here on
loopback, and the exposition is checked with ``promtool check metrics``; the log is the node process's
real stderr, every line parsed as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy import select

from hutong.audit import AuditRecord
from hutong.auth import CLIENT_ID, CLIENT_SECRET
from hutong.demo.cluster import free_port
from hutong.identity.v1 import identity_pb2, identity_pb2_grpc
from identity_svc import platforms
from identity_svc.core import Identity
from tests.identity_fixtures import IDENTITY_CONFIG, citizen_id

PROMETHEUS, PROMTOOL = shutil.which("prometheus"), shutil.which("promtool")


def _portal(node: Any) -> list[tuple[str, str]]:
    new = platforms.add_platform(Identity.of(node), client_id="portal", name="portal", scopes=("openid",))
    return [(CLIENT_ID, "portal"), (CLIENT_SECRET, new.client_secret)]


def _failed_login(channel: grpc.Channel, md: list[tuple[str, str]]) -> grpc.RpcError:
    stub = identity_pb2_grpc.IdentityServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Login(identity_pb2.LoginRequest(id_number=citizen_id(7), password="wrong password"), metadata=md,
                   timeout=30)
    return info.value


def test_request_id_in_trailer_and_audit_record(node_factory: Any, serve: Any) -> None:
    node = node_factory(config=IDENTITY_CONFIG)
    md = _portal(node)
    channel = serve(node)
    err = _failed_login(channel, md)
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    rid = dict(err.trailing_metadata())["x-request-id"]
    assert len(rid) == 32
    with node.db.session(readonly=True) as s:
        last = s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)).one()
    assert last.action == "identity.login" and last.request_id == rid
    # A caller's own request id (from a load balancer, say) is kept; a malformed one is replaced.
    err = _failed_login(channel, [*md, ("x-request-id", "lb-trace-42")])
    assert dict(err.trailing_metadata())["x-request-id"] == "lb-trace-42"
    err = _failed_login(channel, [*md, ("x-request-id", "bad id with spaces")])
    assert dict(err.trailing_metadata())["x-request-id"] != "bad id with spaces"
    # Successful calls carry it too.
    stub = identity_pb2_grpc.IdentityServiceStub(channel)
    _resp, call = stub.GetJwks.with_call(identity_pb2.GetJwksRequest(), timeout=10)
    assert len(dict(call.trailing_metadata())["x-request-id"]) == 32


def _query(prom: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success"
    return list(body["data"]["result"])


def _wait_for(prom: str, expr: str, want: float, timeout: float = 90.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            result = _query(prom, expr)
        except (httpx.TransportError, httpx.HTTPStatusError):  # Prometheus is still starting (refused, 503)
            time.sleep(1)
            continue
        if result and float(result[0]["value"][1]) == want:
            return result
        time.sleep(1)
    raise AssertionError(f"{expr}: wanted {want}, Prometheus has {result}")


@pytest.mark.slow
@pytest.mark.skipif(PROMETHEUS is None or PROMTOOL is None, reason="Debian prometheus not installed")
def test_metrics_and_json_logs_of_a_multi_worker_node(node_factory: Any, start_node: Any, tmp_path: Path) -> None:
    metrics_port = free_port()
    node = node_factory(config=IDENTITY_CONFIG + f'\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
                        'sample_seconds = 1.0\n\n[log]\nlevel = "INFO"\n')
    md = _portal(node)
    running = start_node(node.config.data_dir, workers=2, env={"GRPC_VERBOSITY": "info"})

    channels = [grpc.insecure_channel(running.target) for _ in range(4)]  # several connections: both workers
    for ch in channels:
        for _ in range(3):
            identity_pb2_grpc.IdentityServiceStub(ch).GetJwks(identity_pb2.GetJwksRequest(), timeout=10)
    for _ in range(2):
        _failed_login(channels[0], md)
    for ch in channels:
        ch.close()

    scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    check = subprocess.run([str(PROMTOOL), "check", "metrics"], input=scrape, capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    for name in ("grpc_server_started_total", "grpc_server_handled_total", "grpc_server_handling_seconds_bucket",
                 "hutong_hsm_operation_seconds_bucket", "hutong_logins_total", "hutong_db_pool_size"):
        assert name in scrape

    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: hutong\n"
                      f"    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n")
    subprocess.run([str(PROMTOOL), "check", "config", str(config)], check=True, capture_output=True)
    prom = subprocess.Popen([str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{prom_port}"
        _wait_for(url, 'sum(grpc_server_handled_total{grpc_service="hutong.identity.v1.IdentityService",'
                       'grpc_method="GetJwks",grpc_code="OK",grpc_type="unary"})', 12)
        _wait_for(url, 'sum(grpc_server_handled_total{grpc_method="Login",grpc_code="UNAUTHENTICATED"})', 2)
        _wait_for(url, 'sum(hutong_logins_total{result="failed"})', 2)
        _wait_for(url, 'sum(grpc_server_handling_seconds_count{grpc_method="GetJwks"})', 12)
        assert _query(url, 'hutong_hsm_operation_seconds_count{operation="hmac"}')  # login's blind index
        assert _query(url, "hutong_db_pool_size")
    finally:
        prom.terminate()
        prom.wait(timeout=30)

    lines = running.stop()
    entries = [json.loads(line) for line in lines]  # every line is JSON, the C core's included
    assert any(e["logger"] == "native.stderr" for e in entries), "GRPC_VERBOSITY=info should have logged"
    for e in entries:
        assert e["time"].endswith("Z") and "T" in e["time"]
    access = [e for e in entries if e["logger"] == "hutong.access"]
    jwks = [e for e in access if e["method"].endswith("/GetJwks")]
    assert len(jwks) == 12 and all(e["status"] == "OK" and e["node"] == node.id for e in jwks)
    logins = [e for e in access if e["method"].endswith("/Login")]
    assert len(logins) == 2
    for e in logins:
        assert e["status"] == "UNAUTHENTICATED" and e["reason"] and e["platform"] == "portal"
        assert len(e["request_id"]) == 32 and isinstance(e["latency_ms"], float) and e["worker"] > 0
    assert citizen_id(7) not in "\n".join(lines)
    security = [e for e in entries if e["logger"] == "hutong.security"]
    assert {e["event"] for e in security} >= {"login_failed", "refused"}


def test_a_node_that_cannot_listen_says_why_in_its_json_log(node_factory: Any) -> None:
    """A port in use (the gRPC port, the metrics port) stops start-up with CONFIG_INVALID naming the address and
    the setting -- not a silent exit (the gRPC case: the node's JSON log had started, so the error is one of
    its lines, at ERROR), not 'FILE_UNREADABLE: Address already in use' (the metrics case)."""
    import os
    import socket
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = f"127.0.0.1:{taken.getsockname()[1]}"
        grpc_busy = node_factory(config=IDENTITY_CONFIG)
        metrics_busy = node_factory("metrics-busy", config=IDENTITY_CONFIG + f'\n[metrics]\nlisten = "{busy}"\n')
        cases = ((grpc_busy, busy, "set --listen / [server] listen", True),
                 (metrics_busy, f"127.0.0.1:{free_port()}", "set [metrics] listen", False))
        for node, listen, setting, in_json_log in cases:
            proc = subprocess.run([sys.executable, "-m", "hutong.cli", "serve", "--data-dir",
                                   str(node.config.data_dir), "--listen", listen],
                                  capture_output=True, text=True, env=env, timeout=120)
            assert proc.returncode == 2, proc.stderr[-2000:]
            errors = [line for line in proc.stderr.splitlines() if "CONFIG_INVALID" in line]
            assert len(errors) == 1 and busy in errors[0] and setting in errors[0], proc.stderr[-2000:]
            if in_json_log:
                assert json.loads(errors[0])["level"] == "ERROR"
            else:
                assert errors[0].startswith("error: CONFIG_INVALID: the metrics endpoint cannot listen")
