"""Operating a node as a process: ``hutong serve`` started for real, its stderr kept for the log checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from hutong.demo.cluster import free_port
from tests.clients.sdk_world import world  # noqa: F401  (fixture: a served node with platforms and an issuer)
from tests.federation.conftest import hub_node, province  # noqa: F401  (fixtures: a hub and a member node)


@dataclass
class NodeProcess:
    proc: subprocess.Popen[str]
    target: str
    log_path: Path
    lines: list[str] = field(default_factory=list)

    def stop(self) -> list[str]:
        """SIGTERM (graceful), then the stderr lines it wrote."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.log_path.read_text(encoding="utf-8").splitlines()


def wait_serving(target: str, proc: subprocess.Popen[str], log_path: Path, timeout: float = 60.0) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"node exited: {log_path.read_text()[-3000:]}")
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == 1:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.3)
    raise AssertionError(f"node not serving at {target}: {log_path.read_text()[-3000:]}")


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """``start_node(data_dir, workers=1, env={}) -> NodeProcess``: ``hutong serve`` on a free port."""
    started: list[NodeProcess] = []

    def start(data_dir: Path, *, workers: int = 1, env: dict[str, str] | None = None,
              listen: str = "", timeout: float = 60.0, inherit_env: bool = True) -> NodeProcess:
        listen = listen or f"127.0.0.1:{free_port()}"
        log_path = tmp_path / f"node-{len(started)}.log"
        out = log_path.open("w", encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-m", "hutong.cli", "serve", "--data-dir", str(data_dir), "--listen", listen,
             "--workers", str(workers)],
            stdout=subprocess.DEVNULL, stderr=out, text=True,
            env={**(os.environ if inherit_env else {}), **(env or {})})
        out.close()
        node = NodeProcess(proc, listen, log_path)
        started.append(node)
        wait_serving(listen, proc, log_path, timeout)
        return node

    yield start
    for node in started:
        node.stop()
