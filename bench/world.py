"""The node the benchmarks run against, and ``hutong serve`` as a subprocess on 127.0.0.1.

One data directory per run (a SoftHSM2 token of its own, SQLite): a register of people and organisations,
two relying platforms (a portal and a certificate-issuing department), two seals granted to them, and the
department registered as an issuer of business licences. Everything is prepared through the domain APIs
before the server starts; the server is the embedded default, ``hutong serve --workers N``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hutong.demo.cluster import free_port

# Keycloak's default Argon2id cost (Keycloak >= 24: Argon2id, 5 iterations, 7168 KiB, parallelism 1).
KEYCLOAK_ARGON2 = {"argon2_time_cost": 5, "argon2_memory_kib": 7168, "argon2_parallelism": 1}
PASSWORD = "bench horse 1"
ORG_USCC, ORG_NAME = "91350100M000100Y43", "福州阿克米有限公司"
ISSUER_USCC, ISSUER_NAME = "11430000006122244L", "湖南省市场监督管理局"
PORTAL, ISSUER_PLATFORM = "bench-portal", "bench-issuer"
SERVER_WORKERS = 2  # `hutong serve --workers 2` (the embedded default); per-core baselines: as many processes
MAX_MESSAGE = 256 * 1024 * 1024


def citizen_ids(n: int) -> list[str]:
    from hutong.identifiers import citizen_id_check_character

    out = []
    for i in range(n):
        first17 = f"11010519800101{i + 1:03d}"
        out.append(first17 + citizen_id_check_character(first17))
    return out


@dataclass
class Prepared:
    """What the load processes need to know (picklable, no secrets beyond this run's throw-away ones)."""

    data_dir: str
    people: list[str]
    portal_secret: str
    issuer_secret: str
    seal_id: str  # ORG's seal, granted to the portal platform
    issuer_seal_id: str  # the department's seal, granted to its platform (renditions)
    type_code: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _operator(principal: Any) -> Any:
    """The node operator: a platform with the operator scope (older cores: the "operator" kind)."""
    from hutong import auth

    scope = getattr(auth, "OPERATOR_SCOPE", None)
    if scope is None:
        return principal(kind="operator", subject="bench")
    return principal(kind="platform", subject="bench-operator", platform="bench-operator", scopes=(scope,))


def prepare_node(data_dir: Path, *, people: int = 16, database_url: str = "") -> Prepared:
    """Initialise the node and everything the figures use; returns the facts the clients need."""
    from cert_svc import catalogue, issuers
    from hutong.auth import Principal
    from hutong.node import init_node
    from hutong.wiring import wire
    from identity_svc import platforms, registers
    from identity_svc.core import Identity
    from seal_svc.seals import SealService, SealType

    data_dir.mkdir(parents=True, exist_ok=True)
    token = f"bench-{uuid.uuid4().hex[:10]}"
    identity = "".join(f"{k} = {v}\n" for k, v in KEYCLOAK_ARGON2.items())
    (data_dir / "hutong.toml").write_text(
        (f'database_url = "{database_url}"\n' if database_url else "") +
        f'[node]\nid = "bench"\nname = "Bench node"\n\n[server]\nmax_message_bytes = {MAX_MESSAGE}\n\n'
        f'[hsm]\ntoken_label = "{token}"\n\n[identity]\n{identity}', encoding="utf-8")
    node = wire(init_node(data_dir))
    try:
        idn = Identity.of(node)
        ids = citizen_ids(people)
        people_csv, orgs_csv = data_dir / "people.csv", data_dir / "orgs.csv"
        people_csv.write_text("name,id_number\n" + "".join(f"测试{i},{n}\n" for i, n in enumerate(ids)),
                              encoding="utf-8")
        orgs_csv.write_text("name,uscc,representative_name,representative_id_number\n"
                            f"{ORG_NAME},{ORG_USCC},测试0,{ids[0]}\n", encoding="utf-8")
        registers.import_csv(idn, people_csv)
        registers.import_csv(idn, orgs_csv)
        portal = platforms.add_platform(idn, client_id=PORTAL, name="Bench portal", scopes=["openid"])
        issuer_platform = platforms.add_platform(idn, client_id=ISSUER_PLATFORM, name="Bench department")
        operator = _operator(Principal)
        seals = SealService(node)
        seal = seals.create_seal(operator, org_uscc=ORG_USCC, org_name=ORG_NAME, seal_type=SealType.CONTRACT)
        seals.grant(operator, seal.seal_id, grantee_kind="platform", grantee=PORTAL)
        dept_seal = seals.create_seal(operator, org_uscc=ISSUER_USCC, org_name=ISSUER_NAME,
                                      seal_type=SealType.OFFICIAL)
        seals.grant(operator, dept_seal.seal_id, grantee_kind="platform", grantee=ISSUER_PLATFORM)
        issuers.register(node, operator, uscc=ISSUER_USCC, name=ISSUER_NAME, type_codes=[catalogue.BUSINESS_LICENCE],
                         platform_client_id=ISSUER_PLATFORM, seal_id=dept_seal.seal_id)
    finally:
        node.close()
    return Prepared(data_dir=str(data_dir), people=ids, portal_secret=portal.client_secret,
                    issuer_secret=issuer_platform.client_secret, seal_id=seal.seal_id,
                    issuer_seal_id=dept_seal.seal_id, type_code=catalogue.BUSINESS_LICENCE)


def channel(target: str) -> Any:
    """A channel with its own connection (not shared with other channels of the process)."""
    import grpc

    return grpc.insecure_channel(target, options=[
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE)])


def platform_metadata(client_id: str, secret: str) -> list[tuple[str, str]]:
    from hutong.auth import CLIENT_ID, CLIENT_SECRET

    return [(CLIENT_ID, client_id), (CLIENT_SECRET, secret)]


class Server:
    """``hutong serve --workers N`` on a free loopback port; stopped (SIGTERM to its own process) on exit."""

    def __init__(self, data_dir: Path, workers: int, log_path: Path) -> None:
        self.data_dir, self.workers = data_dir, workers
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self._log = log_path.open("ab")
        self._listening = 0
        self._ready = threading.Event()
        cmd = [sys.executable, "-m", "hutong.cli", "serve", "--data-dir", str(data_dir),
               "--listen", self.target, "--workers", str(workers)]
        # A process group of its own (so ``stop`` can end exactly it), but the bench's session: Linux gives each
        # session its own scheduling group (sched_autogroup), so a server in a new session would get a CPU share
        # of its own beside the baselines' on a busy machine, and every per-core ratio would flatter it.
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, process_group=0,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(b"listening on"):
                self._listening += 1
                if self._listening >= self.workers:
                    self._ready.set()

    def wait_ready(self, timeout: float = 90.0) -> None:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"hutong serve --workers {self.workers} did not start within {timeout:.0f} s "
                               f"(exit code {self.proc.poll()}); see the server log")
        ch = channel(self.target)
        try:
            grpc.channel_ready_future(ch).result(timeout=timeout)
            health = health_pb2_grpc.HealthStub(ch)
            # Health stays NOT_SERVING until the worker's HTTP edge listens too (``hutong.health.Startup``).
            deadline = time.monotonic() + timeout
            while (status := health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status) \
                    != health_pb2.HealthCheckResponse.SERVING:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"server health is {status} after {timeout:.0f} s")
                time.sleep(0.05)
        finally:
            ch.close()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server and its worker processes so far: per-operation server CPU
        is the difference around a measurement divided by its operations (Linux /proc; 0.0 elsewhere)."""
        total, pids, seen = 0, [self.proc.pid], set()
        while pids:
            pid = pids.pop()
            if pid in seen:
                continue
            seen.add(pid)
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids += [int(c) for c in (task / "children").read_text().split()]
            except (OSError, ValueError, IndexError):
                continue
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group this object started, nothing else
                self.proc.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> Server:
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_quiet(seconds: float = 0.5) -> None:
    """A short pause between phases so the previous phase's processes have left the CPU."""
    time.sleep(seconds)
