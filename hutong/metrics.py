"""Prometheus metrics: the one module that knows about prometheus_client.

Domain code calls the small functions below (``hsm_operation``, ``seal_signed``, ``login`` …); they do
nothing until a server process calls ``enable()``, so the CLI and the SDK never import prometheus_client
and tests that run domain code in-process pay nothing.

Names: the RPC metrics are go-grpc-prometheus's (``grpc_server_started_total``,
``grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}``,
``grpc_server_handling_seconds``) so existing gRPC dashboards work unchanged; domain metrics are
``hutong_*`` (the HTTP edge's routes other than Connect RPCs: ``hutong_http_*``). ``hutong.observe``
counts calls of both transports.

Workers: ``hutong serve --workers N`` runs N processes. ``prepare_multiprocess(dir)`` (called by the
parent before any worker starts, and before prometheus_client is imported) puts prometheus_client in
multiprocess mode: every worker writes its samples to files in that directory and the parent's HTTP
endpoint (``[metrics] listen``) adds them up at scrape time. Gauges say how they combine
(``livesum`` for pool use, ``max`` for timestamps, ``livemostrecent`` for ages).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hutong import reindex, rekey
from hutong.errors import ConfigError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Latency buckets (seconds): HSM operations are milliseconds, sealing a large PDF takes seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class MetricsSettings:
    """``[metrics]`` in hutong.toml (read through ``config.settings_of``). ``listen`` empty = no metrics
    endpoint (the default)."""

    listen: str = ""
    sample_seconds: float = 5.0  # how often gauges (pool, trust list) are sampled

    def __post_init__(self) -> None:
        if self.listen:
            host, _, port = self.listen.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError("CONFIG_INVALID", f"[metrics] listen must be HOST:PORT, got {self.listen!r}")


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram  # loaded only where metrics are enabled

        rpc = ("grpc_type", "grpc_service", "grpc_method")
        self.started = Counter("grpc_server_started_total", "RPCs started on the server.", rpc)
        self.handled = Counter("grpc_server_handled_total", "RPCs completed on the server, by status code.",
                               (*rpc, "grpc_code"))
        self.handling = Histogram("grpc_server_handling_seconds", "Response latency of RPCs handled by the server.",
                                  rpc, buckets=BUCKETS)
        http = ("route", "method")
        self.http = Counter("hutong_http_requests_total", "HTTP edge requests other than Connect RPCs, by route "
                            "template and HTTP status.", (*http, "code"))
        self.http_seconds = Histogram("hutong_http_request_duration_seconds", "HTTP edge request latency (routes "
                                      "other than Connect RPCs).", http, buckets=BUCKETS)
        self.hsm = Histogram("hutong_hsm_operation_seconds", "HSM (PKCS#11) operation latency.",
                             ("operation", "result"), buckets=BUCKETS)
        self.seals = Counter("hutong_seals_total", "PDF sealing operations, by result.", ("result",))
        self.issuances = Counter("hutong_certificates_issued_total", "E-certificates issued.", ("type_code",))
        self.logins = Counter("hutong_logins_total", "Login attempts, by result.", ("result",))
        self.lockouts = Counter("hutong_login_lockouts_total", "Identities or platforms locked out.", ("key_kind",))
        self.tl_issued = Gauge("hutong_trust_list_issued_timestamp_seconds", "Issue time of the trust list held.",
                               multiprocess_mode="max")
        self.tl_next = Gauge("hutong_trust_list_next_update_timestamp_seconds",
                             "Next-update time of the trust list held.", multiprocess_mode="max")
        self.tl_age = Gauge("hutong_trust_list_age_seconds", "Age of the trust list held.",
                            multiprocess_mode="livemostrecent")
        self.tl_seq = Gauge("hutong_trust_list_sequence", "Sequence number of the trust list held.",
                            multiprocess_mode="max")
        self.sl_age = Gauge("hutong_status_list_age_seconds", "Age of the last status list used by a verifier.",
                            multiprocess_mode="livemostrecent")
        self.sl_stale = Counter("hutong_status_list_stale_total", "Verifications refused: status list stale.")
        self.pool_size = Gauge("hutong_db_pool_size", "Database connections the pools may hold.",
                               multiprocess_mode="livesum")
        self.pool_out = Gauge("hutong_db_pool_checked_out", "Database connections in use.",
                              multiprocess_mode="livesum")
        self.ready = Gauge("hutong_ready", "1 when the node reports SERVING.", multiprocess_mode="livemin")
        self.rekey_pending = Gauge("hutong_rekey_pending", "1 while a retired data-protection key awaits "
                                   "re-encryption of the records it protects.", multiprocess_mode="max")
        self.rekey_done = Gauge("hutong_rekey_records_done", "Records re-encrypted to the active data-protection "
                                "key so far (while one is pending).", multiprocess_mode="max")
        self.reindex_waiting = Gauge("hutong_reindex_waiting", "Stored blind indexes still under a retired "
                                     "blind-index key (while one is in use; 0 otherwise): its release waits for "
                                     "them.", multiprocess_mode="max")
        self.reindex_done = Gauge("hutong_reindex_rows_done", "Blind indexes recomputed with the active "
                                  "blind-index key so far (while a retired one is in use).", multiprocess_mode="max")


_m: _Metrics | None = None
_lock = threading.Lock()


def enable() -> None:
    """Create the metrics in this process (idempotent)."""
    global _m
    with _lock:
        if _m is None:
            _m = _Metrics()
            import hsm.keys  # only a node serving metrics instruments its HSM (no cycle: hsm imports nothing of ours)

            hsm.keys.OBSERVER = hsm_operation


def enabled() -> bool:
    return _m is not None


# -- the calls domain code makes (no-ops until enable()) --------------------------------------------

def rpc_started(kind: str, service: str, method: str) -> None:
    if _m is not None:
        _m.started.labels(kind, service, method).inc()


def rpc_handled(kind: str, service: str, method: str, code: str, seconds: float) -> None:
    if _m is not None:
        _m.handled.labels(kind, service, method, code).inc()
        _m.handling.labels(kind, service, method).observe(seconds)


def http_handled(route: str, method: str, code: int, seconds: float) -> None:
    if _m is not None:
        _m.http.labels(route, method, str(code)).inc()
        _m.http_seconds.labels(route, method).observe(seconds)


def hsm_operation(operation: str, seconds: float, ok: bool) -> None:
    if _m is not None:
        _m.hsm.labels(operation, "ok" if ok else "error").observe(seconds)


def seal_signed(result: str) -> None:
    if _m is not None:
        _m.seals.labels(result).inc()


def certificate_issued(type_code: str, count: int = 1) -> None:
    if _m is not None and count:
        _m.issuances.labels(type_code).inc(count)


def login(result: str) -> None:
    if _m is not None:
        _m.logins.labels(result).inc()


def lockout(key_kind: str) -> None:
    if _m is not None:
        _m.lockouts.labels(key_kind).inc()


def status_list_used(age_seconds: float) -> None:
    if _m is not None:
        _m.sl_age.set(age_seconds)


def status_list_stale() -> None:
    if _m is not None:
        _m.sl_stale.inc()


def readiness(serving: bool) -> None:
    if _m is not None:
        _m.ready.set(1 if serving else 0)


# -- sampled gauges ---------------------------------------------------------------------------------

def sample_node(node: Any) -> None:
    """Database pool use, the data key's re-encryption and the trust list held (members), read now."""
    if _m is None:
        return
    pool = node.db.engine.pool
    size = getattr(pool, "size", None)
    checked_out = getattr(pool, "checkedout", None)
    if callable(size) and callable(checked_out):
        _m.pool_size.set(size() + max(getattr(pool, "_max_overflow", 0), 0))
        _m.pool_out.set(checked_out())
    reencryption = rekey.status(node)
    _m.rekey_pending.set(1 if reencryption is not None else 0)
    _m.rekey_done.set(reencryption.rows_done if reencryption is not None else 0)
    reindexing = reindex.status(node)  # counts rows only while a retired blind-index key is in use
    _m.reindex_waiting.set(reindexing.waiting if reindexing is not None else 0)
    _m.reindex_done.set(reindexing.rows_done if reindexing is not None else 0)
    trust = node.trust
    store = getattr(trust, "store", None)
    if store is not None:
        try:
            tl = store.held()  # the list held, even when stale: age must keep growing
        except Exception:  # noqa: BLE001 - an unreadable list shows as missing
            tl = None
        if tl is not None:
            _m.tl_issued.set(tl.issued_at.timestamp())
            _m.tl_next.set(tl.next_update.timestamp())
            _m.tl_seq.set(tl.sequence)
            _m.tl_age.set(time.time() - tl.issued_at.timestamp())


def start_sampler(node: Any, every: float, extra: Callable[[], None] | None = None) -> threading.Event:
    """Sample gauges now and every ``every`` seconds until the returned event is set."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                sample_node(node)
                if extra is not None:
                    extra()
            except Exception:  # noqa: BLE001 - sampling must never take the server down

                logging.getLogger("hutong.metrics").exception("sampling metrics failed")
            if stop.wait(every):
                return

    threading.Thread(target=loop, name="metrics-sampler", daemon=True).start()
    return stop


# -- exposition -------------------------------------------------------------------------------------

def prepare_multiprocess(directory: Path) -> None:
    """Empty ``directory`` and point prometheus_client at it; before any worker starts or imports it."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROC_ENV] = str(directory)


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def serve_http(listen: str) -> tuple[Any, int]:
    """Start the scrape endpoint (``/metrics``) on ``listen``; returns (server, port)."""
    from prometheus_client import CollectorRegistry, start_http_server

    host, _, port = listen.rpartition(":")
    registry = None
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    try:
        if registry is None:
            server, _thread = start_http_server(int(port), addr=host)
        else:
            server, _thread = start_http_server(int(port), addr=host, registry=registry)
    except OSError as exc:  # in use, not an address of this host: a configuration problem, said as one
        raise ConfigError("CONFIG_INVALID", f"the metrics endpoint cannot listen on {listen} ({exc.strerror}): "
                                            "set [metrics] listen") from None
    return server, server.server_port
