"""A node serves all three services on one port, with health checking and reflection."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from hutong.demo.cluster import free_port

SERVICES = {"hutong.identity.v1.IdentityService", "hutong.seal.v1.SealService", "hutong.cert.v1.CertService"}


def _health(channel: grpc.Channel, service: str = "") -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def _listed_services(channel: grpc.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                          timeout=10)
    return {s.name for r in responses for s in r.list_services_response.service}


def test_health_and_reflection_in_process(channel: grpc.Channel) -> None:
    assert _health(channel) == health_pb2.HealthCheckResponse.SERVING
    for name in SERVICES:
        assert _health(channel, name) == health_pb2.HealthCheckResponse.SERVING
    assert _listed_services(channel) >= SERVICES


def _clean_env() -> dict[str, str]:
    # A subprocess node uses the SoftHSM token inside its own data directory, as in production.
    return {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF" and not k.startswith("HUTONG_")}


def test_serve_initialises_an_empty_data_dir_and_stops_gracefully(tmp_path: Path) -> None:
    """`hutong serve` on a new directory: token, database, PKI; two workers share the port; SIGTERM drains."""
    port = free_port()
    data = tmp_path / "node"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hutong.cli", "serve", "--data-dir", str(data), "--listen", f"127.0.0.1:{port}",
         "--workers", "2"],
        env=_clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    listening = threading.Semaphore(0)
    lines: list[str] = []
    errors: list[str] = []

    def read(stream: Any, into: list[str]) -> None:  # both workers announce their port; one may be much later
        for line in stream:
            into.append(line)
            if line.startswith("listening on"):
                listening.release()

    readers = [threading.Thread(target=read, args=(proc.stdout, lines), daemon=True),
               threading.Thread(target=read, args=(proc.stderr, errors), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        ch = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(ch).result(timeout=90)
        deadline = time.monotonic() + 90  # NOT_SERVING (STARTING) until the worker's HTTP edge listens too
        while _health(ch) != health_pb2.HealthCheckResponse.SERVING:
            assert time.monotonic() < deadline, "the node never said SERVING"
            time.sleep(0.05)
        assert _listed_services(ch) >= SERVICES
        ch.close()
        assert listening.acquire(timeout=90) and listening.acquire(timeout=90), "both workers should listen"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        for reader in readers:
            reader.join(10)
    out, err = "".join(lines), "".join(errors)
    assert proc.returncode == 0, err
    assert out.count("listening on") == 2
    # The parent, not each worker, integrates the audit log; its last round follows the workers' end, so
    # nothing the node recorded is left unsequenced when serve returns.
    audit = subprocess.run([sys.executable, "-m", "hutong.cli", "audit", "verify", "--data-dir", str(data), "--json"],
                           env=_clean_env(), capture_output=True, text=True, timeout=120)
    report = json.loads(audit.stdout)
    assert report["ok"] and report["records"] > 0 and report["pending"] == 0, report
    keys = subprocess.run([sys.executable, "-m", "hutong.cli", "hsm", "list", "--data-dir", str(data), "--json"],
                          env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert keys.returncode == 0, keys.stderr
    labels = [k["label"] for k in json.loads(keys.stdout)]
    assert labels.count("node.audit-log") == 1, "the workers must not each make the audit log's key"
    secrets = data / "secrets"
    assert (secrets / "hsm-pin").stat().st_mode & 0o077 == 0
    pin = (secrets / "hsm-pin").read_text().strip()
    assert pin not in out + err  # the PIN is never logged


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ({"HUTONG_HSM_MODULE": "/nonexistent/libpkcs11.so"}, "HSM_MODULE_NOT_FOUND"),
        ({"HUTONG_HSM_TOKEN": "no-such-token"}, "HSM_TOKEN_NOT_FOUND"),
        ({"HUTONG_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "DATABASE_UNAVAILABLE"),
        ({"HUTONG_WORKERS": "zero"}, "CONFIG_INVALID"),
        ({"wrong-pin": "1"}, "HSM_PIN_INCORRECT"),
    ],
)
def test_bad_settings_fail_with_one_clear_line(initialised_dir: Path, setting: dict[str, str], reason: str) -> None:
    env = _clean_env() | setting
    if "wrong-pin" in setting:
        wrong = initialised_dir.parent / "wrong-pin"
        wrong.write_text("not-the-pin\n")
        env["HUTONG_HSM_PIN_FILE"] = str(wrong)
    proc = subprocess.run([sys.executable, "-m", "hutong.cli", "serve", "--data-dir", str(initialised_dir),
                           "--listen", f"127.0.0.1:{free_port()}"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {reason}: "), proc.stderr
    assert "Traceback" not in proc.stderr


def test_failed_init_leaves_nothing_behind(tmp_path: Path) -> None:
    data = tmp_path / "node"
    data.mkdir()
    (data / "hutong.toml").write_text('database_url = "postgresql://nobody@127.0.0.1:1/none"\n')
    proc = subprocess.run([sys.executable, "-m", "hutong.cli", "node", "init", "--data-dir", str(data)],
                          env=_clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "DATABASE_UNAVAILABLE" in proc.stderr
    assert sorted(p.name for p in data.iterdir()) == ["hutong.toml"]


@pytest.fixture(scope="module")
def initialised_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("init") / "node"
    proc = subprocess.run([sys.executable, "-m", "hutong.cli", "node", "init", "--data-dir", str(data)],
                          env=_clean_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return data
