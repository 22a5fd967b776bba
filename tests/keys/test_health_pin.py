"""Readiness checks drive gRPC health; the HSM PIN from HUTONG_HSM_PIN for the embedded token; exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from grpc_health.v1 import health, health_pb2

from hutong.errors import Unavailable
from hutong.health import HealthMonitor, Readiness
from tests.keys.conftest import clean_env, hutong


def _status(servicer: health.HealthServicer, service: str) -> int:
    return int(servicer.Check(health_pb2.HealthCheckRequest(service=service), None).status)


def test_monitor_mirrors_checks_into_health(caplog: pytest.LogCaptureFixture) -> None:
    broken: list[str] = []

    def db() -> None:
        if broken:
            raise Unavailable("DATABASE_UNAVAILABLE", "the database cannot be reached")

    servicer = health.HealthServicer()
    readiness = Readiness([("database", db)])
    monitor = HealthMonitor(readiness, servicer, ["svc.A", "svc.B"])
    monitor.check_now()
    assert [_status(servicer, s) for s in ("", "svc.A", "svc.B")] == [health_pb2.HealthCheckResponse.SERVING] * 3
    broken.append("x")
    results = monitor.check_now()
    assert [(r.name, r.ok, r.reason) for r in results] == [("database", False, "DATABASE_UNAVAILABLE")]
    assert [_status(servicer, s) for s in ("", "svc.A", "svc.B")] == [health_pb2.HealthCheckResponse.NOT_SERVING] * 3
    assert "database check failed: DATABASE_UNAVAILABLE" in caplog.text
    readiness.add("drain", lambda: None)  # others add checks (trust list, drain) the same way
    broken.clear()
    monitor.check_now()
    assert monitor.ready and _status(servicer, "svc.A") == health_pb2.HealthCheckResponse.SERVING
    assert readiness.names() == ["database", "drain"]


def test_a_check_that_breaks_means_not_ready() -> None:
    def bad() -> None:
        raise RuntimeError("bug")

    monitor = HealthMonitor(Readiness([("bad", bad)]), health.HealthServicer(), [])
    assert [r.reason for r in monitor.check_now()] == ["INTERNAL_ERROR"] and not monitor.ready


def test_embedded_token_pin_from_the_environment(tmp_path: Path) -> None:
    data = tmp_path / "node"
    env = clean_env(HUTONG_HSM_PIN="pin-from-env-4711")
    hutong("node", "init", "--data-dir", str(data), env=env)
    assert not (data / "secrets" / "hsm-pin").exists()  # nothing written: the PIN lives where the operator keeps it
    ok = hutong("hsm", "status", "--data-dir", str(data), env=env)
    assert "pin-from-env-4711" not in ok.stdout + ok.stderr
    wrong = hutong("hsm", "status", "--data-dir", str(data), env=clean_env(HUTONG_HSM_PIN="wrong-pin-0000"),
                   check=False)
    assert wrong.returncode == 2 and wrong.stderr.startswith("error: HSM_PIN_INCORRECT: ")
    missing = hutong("hsm", "list", "--data-dir", str(data), check=False)
    assert missing.returncode == 2 and "error: HSM_PIN_MISSING: " in missing.stderr
