"""Nodes on loopback for the demo: each a separate `hutong serve` process with its own data directory,
SoftHSM2 token and SQLite database, prepared and administered with the operators' own `hutong` commands."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


class DemoFailure(Exception):
    """A step of the scenario did not do what it should; the message says what and why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _node_env() -> dict[str, str]:
    # Each node uses the SoftHSM2 token in its own data directory, whatever this process was given.
    return {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF" and not k.startswith("HUTONG_")}


@dataclass
class LocalNode:
    node_id: str
    name: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    federation_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[str] | None = None

    @property
    def target(self) -> str:
        """Where platforms reach the node."""
        return f"127.0.0.1:{self.port}"

    @property
    def federation_target(self) -> str:
        """Where other nodes reach it: mutual TLS with certificates from each node's root."""
        return f"127.0.0.1:{self.federation_port}"

    def hutong(self, *args: str, data_dir: bool = True) -> str:
        """Run an operator's `hutong` command against this node's data directory; its stdout."""
        cmd = [sys.executable, "-m", "hutong.cli", *args, *(["--data-dir", str(self.data_dir)] if data_dir else [])]
        proc = subprocess.run(cmd, env=_node_env(), capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise DemoFailure(f"`hutong {' '.join(args)}` failed at {self.node_id}: {last}")
        return proc.stdout

    def hutong_json(self, *args: str) -> Any:
        return json.loads(self.hutong(*args, "--json"))

    def init(self, extra_config: str = "") -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "hutong.toml").write_text(
            f'[node]\nid = "{self.node_id}"\nname = "{self.name}"\n\n[server]\nlisten = "{self.target}"\n\n'
            f'[federation]\nlisten = "{self.federation_target}"\n\n{extra_config}', encoding="utf-8")
        self.hutong("node", "init")

    def start(self, timeout: float = 90.0) -> None:
        # The node's log is its stderr (one JSON object a line); stdout only announces the ports, for scripts.
        log = (self.data_dir / "server.log").open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "hutong.cli", "serve", "--data-dir", str(self.data_dir)],
                                     env=_node_env(), stdout=subprocess.DEVNULL, stderr=log, text=True)
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise DemoFailure(f"node {self.node_id} stopped at start: see {self.data_dir / 'server.log'}")
                try:
                    if stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == \
                            health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    time.sleep(0.2)
        raise DemoFailure(f"node {self.node_id} did not become healthy within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
