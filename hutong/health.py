"""Readiness: can this process serve right now? Named checks drive gRPC health SERVING / NOT_SERVING.

A load balancer (deploy/envoy) routes only to processes whose ``grpc.health.v1`` status is SERVING, so
health must reflect what a call needs. ``Readiness`` holds named checks (a check returns quietly or
raises a ``HutongError`` whose reason says what is wrong); ``HealthMonitor`` runs them now and then in
a background thread, sets the status of the whole server ("") and of every service, and logs each
transition once.

Checks never repair anything themselves: the HSM key manager re-opens its module and session on the
next call (the token came back), the database pool reconnects; the monitor only notices when that works
again, and health turns SERVING by itself.

The node's checks: the database answers; the HSM token opens with every active node key on it; on a
federation member, the trust list is held and not stale past its grace period (a member that cannot
verify other nodes' artefacts should not take calls); and ``Drain`` -- an operator's or a rolling
restart's request to leave the load balancer's rotation while calls in flight (and any that still
arrive) are served.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hutong import metrics
from hutong.errors import Unavailable, lift

if TYPE_CHECKING:
    from hutong.node import Node

log = logging.getLogger("hutong.health")

Check = Callable[[], None]  # returns quietly when ready; raises HutongError (reason, message) when not
DEFAULT_INTERVAL_SECONDS = 2.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    reason: str = ""
    message: str = ""


class Readiness:
    """Named readiness checks, run in the order they were added."""

    def __init__(self, checks: Iterable[tuple[str, Check]] = ()) -> None:
        self._checks: dict[str, Check] = dict(checks)
        self._lock = threading.Lock()

    def add(self, name: str, check: Check) -> None:
        """Add (or replace) the check called ``name``."""
        with self._lock:
            self._checks[name] = check

    def remove(self, name: str) -> None:
        with self._lock:
            self._checks.pop(name, None)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._checks)

    def run(self) -> list[CheckResult]:
        with self._lock:
            checks = list(self._checks.items())
        results = []
        for name, check in checks:
            try:
                check()
                results.append(CheckResult(name, True))
            except Exception as exc:  # noqa: BLE001 - a broken check means "not ready", never a dead monitor
                err = lift(exc)  # a HutongError, or the HSM's own
                if err is not None:
                    results.append(CheckResult(name, False, err.reason, err.message))
                    continue
                log.exception("readiness check %s failed unexpectedly", name)
                results.append(CheckResult(name, False, "INTERNAL_ERROR", type(exc).__name__))
        return results


class HealthSetter(Protocol):
    """What the monitor drives: ``grpc_health.v1.health.HealthServicer`` has this method."""

    def set(self, service: str, status: int) -> None: ...


class HealthMonitor:
    """Runs ``readiness`` now and then, and mirrors the verdict into gRPC health for ``services``."""

    def __init__(self, readiness: Readiness, health: HealthSetter, services: Iterable[str], *,
                 interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self.readiness = readiness
        self._health = health
        self._services = ["", *services]
        self._interval = interval
        self._ready: bool | None = None
        self._failing: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return bool(self._ready)

    def check_now(self) -> list[CheckResult]:
        """Run every check once, update health, log what changed; returns the results."""
        from grpc_health.v1 import health_pb2

        results = self.readiness.run()
        with self._lock:
            failing = {r.name: f"{r.reason}: {r.message}" for r in results if not r.ok}
            for name, why in failing.items():
                if self._failing.get(name) != why:
                    log.warning("not ready: %s check failed: %s", name, why)
            for name in set(self._failing) - set(failing):
                log.info("%s check passes again", name)
            self._failing = failing
            ready = not failing
            if ready != self._ready:
                status = health_pb2.HealthCheckResponse.SERVING if ready else \
                    health_pb2.HealthCheckResponse.NOT_SERVING
                for service in self._services:
                    self._health.set(service, status)
                log.log(logging.INFO if ready else logging.WARNING, "health: %s",
                        "SERVING" if ready else "NOT_SERVING (" + ", ".join(sorted(failing)) + ")")
                metrics.readiness(ready)
                self._ready = ready
        return results

    def start(self) -> None:
        """Check now, then every ``interval`` seconds in a daemon thread until ``stop``."""
        self.check_now()

        def loop() -> None:
            while not self._stop.wait(self._interval):
                self.check_now()

        self._thread = threading.Thread(target=loop, name="health-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._interval + 5)


# -- the node's own checks ----------------------------------------------------------------------------

def database_check(node: Node) -> Check:
    """The database answers a trivial query (DATABASE_UNAVAILABLE otherwise)."""
    return node.db.ping


def hsm_check(node: Node) -> Check:
    """The token is present, the session logged in, and every active node key is on it (HSM_UNAVAILABLE
    otherwise; after a rollover, the key the registry says is active)."""
    return node.pki.check_keys


def trust_list_check(node: Node) -> Check:
    """Members: a trust list is held and not stale past its grace period (TRUST_LIST_MISSING / _STALE).
    The hub and nodes outside a federation pass."""

    def check() -> None:
        if node.trust.federated:
            node.trust.trust_list()

    return check


class Drain:
    """Leave the load balancer's rotation without stopping: health says NOT_SERVING, calls are still served.

    ``hutong serve`` drains on SIGTERM for ``[server] drain_seconds`` before it stops taking calls (so the
    balancer has seen NOT_SERVING by then), and toggles draining on SIGUSR1 (take a replica out for
    maintenance, put it back)."""

    def __init__(self) -> None:
        self._on = threading.Event()

    @property
    def active(self) -> bool:
        return self._on.is_set()

    def begin(self) -> None:
        if not self._on.is_set():
            log.warning("draining: reporting NOT_SERVING, still serving calls")
        self._on.set()

    def end(self) -> None:
        if self._on.is_set():
            log.info("drain ended")
        self._on.clear()

    def toggle(self) -> None:
        self.end() if self.active else self.begin()

    def check(self) -> None:
        if self._on.is_set():
            raise Unavailable("DRAINING", "this process is draining (restart or maintenance)")


class Startup:
    """Not ready until everything the process serves is listening.

    ``hutong serve`` opens the HTTP edge after the gRPC port (the edge calls the very servicers the gRPC server
    holds), so for a moment gRPC health could say SERVING while the edge's port still refuses connections: a
    balancer (or a test) would send browsers to a closed port. The process marks itself started once the edge
    is up."""

    def __init__(self) -> None:
        self._done = threading.Event()

    def done(self) -> None:
        self._done.set()

    def check(self) -> None:
        if not self._done.is_set():
            raise Unavailable("STARTING", "this process is still starting (the HTTP edge is not listening yet)")


def node_readiness(node: Node, drain: Drain | None = None) -> Readiness:
    """The checks every node runs: database, HSM, trust list (members), and drain."""
    checks: list[tuple[str, Check]] = [("database", database_check(node)), ("hsm", hsm_check(node)),
                                       ("trust_list", trust_list_check(node))]
    if drain is not None:
        checks.append(("drain", drain.check))
    return Readiness(checks)
