"""Nodes in processes of their own, with their SoftHSM token inside their data directory (as in production),
so tests can take the token or the database away, back the node up and restore it elsewhere."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hutong.demo.cluster import free_port
from tests.conftest import _as_postgres, _pg_bin
from tests.federation import conftest as federation_conftest

REPO = Path(__file__).resolve().parents[2]
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
WAIT_SECONDS = 60.0  # an upper bound for a state change to show, never a performance threshold
# pytest-xdist group of the long under-load cases: the slow step runs them one after another on one worker (each
# keeps served workers and load threads busy; two at once on two cores would only stretch both).
UNDER_LOAD = "under_load"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SOFTHSM2_CONF" and not k.startswith("HUTONG_")}
    return {**env, "PYTHONPATH": str(REPO), **extra}


def hutong(*argv: str, env: dict[str, str] | None = None, check: bool = True,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "hutong.cli", *argv], cwd=REPO, env=env or clean_env(),
                          capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def build_node(data_dir: Path, extra_toml: str = "", database_url: str = "") -> dict[str, Any]:
    """A prepared node directory (register, platforms, people, an issuer and a licence); returns secrets."""
    proc = subprocess.run([sys.executable, "-m", "tests.keys.world_proc", str(data_dir), extra_toml, database_url],
                          cwd=REPO,
                          env=clean_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@dataclass
class Served:
    data_dir: Path
    target: str
    proc: subprocess.Popen[str]
    log: Path  # the server's stderr (its JSON log lines)
    secrets: dict[str, Any] = field(default_factory=dict)

    def channel(self) -> grpc.Channel:
        """A channel once the server accepts connections; a server that exits meanwhile (its port taken, a
        start-up error) fails the wait at once, with its log, instead of when the bound runs out."""
        ch = grpc.insecure_channel(self.target)
        ready = grpc.channel_ready_future(ch)
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                ready.result(timeout=0.5)
                return ch
            except grpc.FutureTimeoutError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    ch.close()
                    state = f"exited with {self.proc.returncode}" if self.proc.poll() is not None else "not ready"
                    log = self.log.read_text(encoding="utf-8", errors="replace")[-3000:]
                    raise AssertionError(f"server at {self.target} {state}:\n{log}") from None

    def stop(self) -> str:
        """Stop the server; its log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        return self.log.read_text(encoding="utf-8", errors="replace")


# Background load on a served node: bounded in count and time even if something hangs.
MAX_ITERATIONS = 3000  # per load thread
MAX_LOAD_SECONDS = 900.0


class LoadThreads:
    """Callers in threads against ``self.served``; every failure is kept in ``self.failures`` (the tests want
    none) and each loop's count in ``self.done``. The dataclasses using it declare ``served``, ``stop``,
    ``failures``, ``done`` and ``threads``."""

    served: Served
    stop: threading.Event
    failures: list[str]
    done: dict[str, int]
    threads: list[threading.Thread]

    def client(self, who: str) -> Any:
        from hutong_client import Hutong

        s = self.served.secrets
        secret = {"portal": s["portal_secret"], "amr-platform": s["regulator_secret"]}[who]
        return Hutong(self.served.target, client_id=who, client_secret=secret)

    def run(self, name: str, body: Callable[[Any], None], who: str) -> None:
        def loop() -> None:
            until = time.monotonic() + MAX_LOAD_SECONDS
            with self.client(who) as h:
                for _ in range(MAX_ITERATIONS):
                    if self.stop.is_set() or time.monotonic() > until:
                        return
                    try:
                        body(h)
                    except Exception as exc:  # noqa: BLE001 - the test reports every failure
                        self.failures.append(f"{name}: {type(exc).__name__}: {exc}")
                    self.done[name] = self.done.get(name, 0) + 1

        t = threading.Thread(target=loop, name=name, daemon=True)
        self.threads.append(t)
        t.start()


def start_serving(data_dir: Path, *, workers: int = 1, env: dict[str, str] | None = None) -> Served:
    """``hutong serve`` in a process of its own. Its stderr goes to a file, never to a pipe read only at the
    end: once a pipe's buffer is full every log write blocks, and with it each worker's logging lock --
    the whole server stops answering (what once looked like a slow call, DEADLINE_EXCEEDED, under load)."""
    port = free_port()
    log = data_dir.parent / f"{data_dir.name}.serve.{port}.log"
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.Popen([sys.executable, "-m", "hutong.cli", "serve", "--data-dir", str(data_dir), "--listen",
                                 f"127.0.0.1:{port}", "--workers", str(workers)], cwd=REPO, env=env or clean_env(),
                                stdout=subprocess.DEVNULL, stderr=err, text=True)
    served = Served(data_dir=data_dir, target=f"127.0.0.1:{port}", proc=proc, log=log)
    try:  # a server that never became ready is not left running (no fixture knows of it yet)
        ch = served.channel()
        wait_health(ch, SERVING)
        ch.close()
    except BaseException:
        kill_server(served)
        raise
    return served


def kill_server(served: Served) -> None:
    """SIGKILL the server and its workers, as a power loss would: nothing finishes. Killed alone, the server
    leaves its spawned workers running (and serving) without it; its workers killed first, it starts new ones.
    So it is stopped (SIGSTOP) first, then every worker and it are killed."""
    pid = served.proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGSTOP)
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in children.read_text().split() if children.exists() else []:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGKILL)
    served.proc.kill()
    served.proc.wait(timeout=60)


def health(ch: grpc.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(ch)
    return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def wait_health(ch: grpc.Channel, status: int, service: str = "") -> None:
    wait_until(lambda: health(ch, service) == status, f"health {status} of {service or 'the server'}")


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of one test's own, which the test may stop and start again."""

    root: Path
    port: int

    @property
    def base_url(self) -> str:
        return f"postgresql+psycopg://hutong@127.0.0.1:{self.port}"

    def _ctl(self, *args: str) -> None:
        bindir = _pg_bin()
        assert bindir is not None
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(self.root / "data"), *args]), check=True,
                       capture_output=True, timeout=120)

    def start(self) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._ctl("-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")


@pytest.fixture
def private_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.fail("PostgreSQL is not installed: run scripts/setup")
    root = Path(tempfile.mkdtemp(prefix="hutong-pg-keys-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "hutong",
                                 "--no-sync"]), check=True, capture_output=True, timeout=300)
    pg = PrivatePostgres(root, free_port())
    pg.start()
    try:
        yield pg
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"]),
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def served_factory() -> Iterator[Callable[..., Served]]:
    running: list[Served] = []

    def start(data_dir: Path, **kwargs: Any) -> Served:
        s = start_serving(data_dir, **kwargs)
        running.append(s)
        return s

    yield start
    for s in running:
        if s.proc.poll() is None:
            s.stop()


# The federation's hub and members (in-process nodes), for rollovers seen through the trust list.
hub_node, province, prov_b = federation_conftest.hub_node, federation_conftest.province, federation_conftest.prov_b
