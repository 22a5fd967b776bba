"""The gRPC server: all three services on one port, health checking, reflection, graceful stop.

With ``workers > 1`` the parent spawns that many processes that each open the node and bind the
same port with SO_REUSEPORT (the kernel spreads connections). Processes rather than threads
because PyKCS11 holds the GIL during C_Sign; 'spawn' rather than 'fork' so every worker
initialises its own PKCS#11 library and database pool.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from cert_svc import service as cert_rpc
from hutong import buckets, logs, metrics, profiling, rekey_task
from hutong.config import load_config, settings_of
from hutong.edge.handlers import capture
from hutong.errors import ConfigError
from hutong.federation import service as federation_rpc
from hutong.federation.settings import federation_settings
from hutong.health import Drain, HealthMonitor, Startup, node_readiness
from hutong.node import Node, init_node, is_initialised, open_node
from hutong.rpc import ErrorInterceptor
from hutong.tlog import service as tlog_rpc
from hutong.tlog.service import start_witnessing
from hutong.wiring import wire
from identity_svc import service as identity_rpc
from seal_svc import service as seal_rpc

log = logging.getLogger("hutong.server")

GRACE_SECONDS = 10.0


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    services: list[str]
    monitor: HealthMonitor  # readiness checks -> health (database, HSM, trust list, drain); ``readiness.add``
    drain: Drain
    federation_port: int | None = None  # the mutual-TLS port other nodes use (None: not opened)
    integrator: threading.Event | None = None  # set to stop the audit log's integrator thread

    def stop(self, grace: float = GRACE_SECONDS) -> None:
        self.monitor.stop()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        if self.integrator:
            self.integrator.set()


def _credentials(node: Node) -> grpc.ServerCredentials | None:
    s = node.config.server
    if not s.tls_cert_file:
        return None
    key, cert = Path(s.tls_key_file).read_bytes(), Path(s.tls_cert_file).read_bytes()
    client_ca = Path(s.tls_client_ca_file).read_bytes() if s.tls_client_ca_file else None
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca,
                                       require_client_auth=client_ca is not None)


def add_services(server: grpc.Server, node: Node) -> list[str]:
    """Wire the node, then register every gRPC service on ``server``; returns their full names."""
    wire(node)  # the services' peers, before any of them serves
    names = federation_rpc.add_to_server(server, node, node.trust)
    for wiring in (identity_rpc, seal_rpc, cert_rpc, tlog_rpc):
        names.extend(wiring.add_to_server(server, node))
    return names


def start_trust_refresher(node: Node) -> threading.Event | None:
    """Members fetch the trust list from the hub now and on a schedule."""
    if not (node.trust.federated and node.trust.hub_target):
        return None
    from hutong.federation import transport

    return node.trust.start_refresher(transport.trust_list_fetcher(node))


def federation_listen(node: Node) -> str | None:
    """Where other nodes reach this one (``[federation] listen``): mutual TLS, never plaintext."""
    return federation_settings(node.config).listen or None


def _bind(address: str, setting: str, add_port: Callable[[], int]) -> int:
    """A port gRPC could not bind (in use, not an address of this host) is a configuration error that names
    the address, not grpcio's RuntimeError."""
    try:
        port = add_port()
    except RuntimeError:
        port = 0
    if not port:  # older grpcio answers 0 rather than raising
        raise ConfigError("CONFIG_INVALID", f"cannot listen on {address} (in use, or not an address of this "
                                            f"host): set {setting}")
    return port


def start_server(node: Node, listen: str, *, threads: int = 16, reuse_port: bool = False,
                 federation: str | None = None, integrate: bool = True,
                 startup: Startup | None = None) -> RunningServer:
    """Serve on ``listen`` (platforms) and, when given, on ``federation`` (other nodes, mutual TLS only).
    ``integrate``: run the audit log's integrator in this process (``serve --workers N`` runs it in the parent
    instead, see ``serve``). ``startup``: health stays NOT_SERVING until the caller marks it done (what the
    process serves besides gRPC, the HTTP edge, is up)."""
    limit = node.config.server.max_message_bytes
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", limit),
        ("grpc.so_reuseport", 1 if reuse_port else 0),
    ]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads), interceptors=[ErrorInterceptor()],
                         options=options)
    names = add_services(capture(server, node), node)  # the HTTP edge calls these very servicers
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    creds = _credentials(node)
    port = _bind(listen, "--listen / [server] listen",
                 lambda: server.add_secure_port(listen, creds) if creds else server.add_insecure_port(listen))
    fed_port = None
    if federation:
        from hutong.federation import transport

        fed_creds = transport.server_credentials(node)
        fed_port = _bind(federation, "[federation] listen", lambda: server.add_secure_port(federation, fed_creds))
    drain = Drain()
    readiness = node_readiness(node, drain)
    if startup is not None:
        readiness.add("startup", startup.check)
    monitor = HealthMonitor(readiness, health_servicer, names,
                            interval=node.config.server.health_interval_seconds)
    monitor.start()  # SERVING once the checks pass (database, HSM keys, trust list, not draining)
    server.start()
    return RunningServer(server=server, port=port, health=health_servicer, services=names, monitor=monitor,
                         drain=drain, federation_port=fed_port,
                         integrator=node.tlog.start() if integrate else None)


def _observability(node: Node) -> tuple[int, metrics.MetricsSettings]:
    """The log level and metrics settings of a node (``[log]``, ``[metrics]``); bad values fail start-up."""
    return (logs.configured_level(settings_of(node.config, logs.LogSettings, "log")),
            settings_of(node.config, metrics.MetricsSettings, "metrics"))


def _serve_one(data_dir: Path, listen: str, reuse_port: bool, shared: buckets.Buckets | None = None,
               integrate: bool = True) -> None:
    """Run one server process until SIGTERM/SIGINT, then stop gracefully. ``shared``: the rate-limit table
    every worker of the node uses (made by the parent); ``integrate``: run the audit log's integrator here
    (a single process) or not (a worker of ``serve --workers N``: the parent runs it)."""
    if shared is not None:
        buckets.install(shared)
    node = open_node(data_dir)
    level, msettings = _observability(node)
    logs.setup_logging(level, node_id=node.id, capture_stderr=True)
    if msettings.listen:
        metrics.enable()
    # The signals are handled before the port is open: a SIGUSR1 (drain) or SIGTERM sent as soon as the port
    # answers, while the edge is still starting, must not meet the default action (which ends the process).
    stop = threading.Event()
    serving: list[RunningServer] = []

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    def on_drain(_signum: int, _frame: FrameType | None) -> None:
        for running in serving:
            running.drain.toggle()
            threading.Thread(target=running.monitor.check_now, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGUSR1, on_drain)
    startup = Startup()
    running = start_server(node, listen, reuse_port=reuse_port, federation=federation_listen(node),
                           integrate=integrate, startup=startup)
    serving.append(running)
    refresher = start_trust_refresher(node)
    witnessing = start_witnessing(node)  # members: the hub cosigns the audit log's checkpoints
    sampler = metrics.start_sampler(node, msettings.sample_seconds) if msettings.listen else None
    rekeying = rekey_task.start(node)  # after a key activation, re-encryption / re-indexing without the officer
    host = listen.rpartition(":")[0]
    log.info("serving %s on %s:%d", ", ".join(running.services), host, running.port)
    print(f"listening on {host}:{running.port}", flush=True)
    from hutong.edge.serve import start_edge

    edge = start_edge(node, grpc_listen=listen, reuse_port=reuse_port)
    if edge:
        log.info("HTTP edge on port %d, public at %s", edge.port, edge.base_url)
        print(f"HTTP edge on {host}:{edge.port}", flush=True)
    startup.done()
    running.monitor.check_now()
    settle_heap()
    stop.wait()
    drain_seconds = node.config.server.drain_seconds
    if drain_seconds > 0:  # out of the balancer's rotation first, still serving, then stop taking calls
        running.drain.begin()
        running.monitor.check_now()
        log.info("draining for %.1f s before stopping", drain_seconds)
        time.sleep(drain_seconds)
    for event in (refresher, witnessing, sampler, rekeying):
        if event:
            event.set()
    log.info("stopping: draining calls for up to %.0f s", GRACE_SECONDS)
    if edge:
        edge.stop()
    running.stop()
    node.close()
    profiling.dump()  # HUTONG_PROFILE_DIR set: this worker's handler profile


def settle_heap() -> None:
    """Once a worker has started: collect, then move everything alive into the permanent generation.

    Why: start-up leaves ~150,000 long-lived objects (grpc, SQLAlchemy, pyHanko, the protobuf descriptors).
    Python's full (generation 2) collection walks all of them -- ~90 ms of CPU measured on a worker's heap,
    holding the GIL, so whichever call is being served waits that long. Frozen, they are never walked again
    (the same collection then takes microseconds); collections see only what calls allocate."""
    gc.collect()
    gc.freeze()


def _integrate_while_serving(data_dir: Path, procs: list[Any]) -> None:
    """``serve --workers N``: the parent runs the node's audit log integrator until every worker has ended,
    then one last round, so every event the workers committed is sequenced before ``serve`` returns.

    Why here and not in every worker: a worker's integrator thread polled the queue twice a second (~2 ms of
    Python under the GIL even with nothing pending) and ran its batches (~10 ms: statements, the signature) in
    the very process whose calls then waited for the GIL -- the slowest lookups were those. With N workers
    the node also polled N times for nothing (they take turns on the log's lock). The parent serves no calls."""
    from multiprocessing.connection import wait

    from hutong.tlog.integrator import DEFAULT_INTERVAL

    node = open_node(data_dir)
    try:
        while alive := [p.sentinel for p in procs if p.is_alive()]:
            wait(alive, timeout=DEFAULT_INTERVAL)
            _integrate_round(node)
    finally:
        node.close()


def _integrate_round(node: Node) -> None:
    try:
        node.tlog.integrate_round()
    except Exception:  # the database or HSM is away: events wait, committed, for the next round
        log.exception("audit log integration failed; will retry")


def _start_metrics_endpoint(data_dir: Path, settings: metrics.MetricsSettings) -> None:
    """Multiprocess mode in a directory of this run (stale runs' directories removed), then the endpoint."""
    run_dir = data_dir / "run"
    if run_dir.is_dir():
        for old in run_dir.glob("metrics-*"):
            pid = old.name.removeprefix("metrics-")
            if not (pid.isdigit() and Path(f"/proc/{pid}").exists()) or int(pid) == os.getpid():
                shutil.rmtree(old, ignore_errors=True)
    metrics.prepare_multiprocess(run_dir / f"metrics-{os.getpid()}")
    _server, port = metrics.serve_http(settings.listen)
    host = settings.listen.rpartition(":")[0]
    print(f"metrics on http://{host}:{port}/metrics", flush=True)


def serve(data_dir: Path, *, listen: str | None = None, workers: int | None = None) -> None:
    """Initialise the data directory if it is new, then serve with one or more worker processes."""
    if not is_initialised(data_dir):
        print(f"initialising a new node in {data_dir.name}/ ...", file=sys.stderr, flush=True)
        init_node(data_dir).close()
    node = open_node(data_dir)
    try:
        node.check()
        # The audit log's key is made on first use; made here, once, before the workers start, so that two
        # workers never both find it missing and each generate one under the same label.
        node.tlog.signer()
        level, msettings = _observability(node)
        rekey_task.settings(node)  # a bad [rekey] is refused here, not by each worker
        logs.setup_logging(level, node_id=node.id)
    finally:
        node.close()
    listen = listen or node.config.server.listen
    workers = workers or node.config.server.workers
    if workers > 1:
        if listen.endswith(":0"):
            raise SystemExit("error: CONFIG_INVALID: --workers > 1 needs a fixed port in --listen")
        from hutong.edge.settings import edge_settings, listen_address

        if listen_address(edge_settings(load_config(data_dir)), listen).endswith(":0"):
            raise SystemExit("error: CONFIG_INVALID: --workers > 1 needs a fixed port in [edge] listen")
    if msettings.listen:
        _start_metrics_endpoint(data_dir, msettings)
    if workers == 1:
        _serve_one(data_dir, listen, reuse_port=False)
        return
    ctx = multiprocessing.get_context("spawn")
    shared = buckets.Buckets.shared(ctx)  # per-caller limits hold for the node, not per worker
    procs = [ctx.Process(target=_serve_one, args=(data_dir, listen, True, shared, False), daemon=False)
             for _ in range(workers)]
    for p in procs:
        p.start()

    def forward(_signum: int, _frame: FrameType | None) -> None:
        for p in procs:
            if p.is_alive():
                p.terminate()  # each worker drains its calls on SIGTERM

    def forward_drain(_signum: int, _frame: FrameType | None) -> None:
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGUSR1)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGUSR1, forward_drain)
    _integrate_while_serving(data_dir, procs)
    for p in procs:
        p.join()
        if p.pid is not None:
            metrics.worker_exited(p.pid)
    if any(p.exitcode not in (0, -signal.SIGTERM) for p in procs):
        raise SystemExit(1)
