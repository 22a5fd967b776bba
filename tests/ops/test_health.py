"""Readiness reflects what a call needs (database, HSM, on members the trust list) and drains for restarts.

The drain is checked on a real ``hutong serve`` process: after SIGTERM it reports NOT_SERVING while it still
answers calls for ``[server] drain_seconds``, then exits cleanly; SIGUSR1 takes it out of rotation and puts
it back without stopping.
"""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hutong.health import Drain, node_readiness
from hutong.identity.v1 import identity_pb2, identity_pb2_grpc

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def _status(channel: grpc.Channel, service: str = "") -> int:
    return int(health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                         timeout=5).status)


def _jwks(channel: grpc.Channel) -> None:
    identity_pb2_grpc.IdentityServiceStub(channel).GetJwks(identity_pb2.GetJwksRequest(), timeout=10)


def test_drain_reports_not_serving_but_serves(node: Any) -> None:
    from hutong.server import start_server

    running = start_server(node, "127.0.0.1:0", threads=4)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
            assert _status(ch) == SERVING and _status(ch, "hutong.identity.v1.IdentityService") == SERVING
            running.drain.begin()
            running.monitor.check_now()
            assert _status(ch) == NOT_SERVING and _status(ch, "hutong.seal.v1.SealService") == NOT_SERVING
            _jwks(ch)  # still served
            running.drain.end()
            running.monitor.check_now()
            assert _status(ch) == SERVING
    finally:
        running.stop(grace=0)


def test_a_broken_database_or_token_makes_the_node_not_ready(node: Any) -> None:
    readiness = node_readiness(node, Drain())
    assert all(r.ok for r in readiness.run())
    assert readiness.names() == ["database", "hsm", "trust_list", "drain"]

    def down() -> None:
        from hutong.errors import Unavailable

        raise Unavailable("DATABASE_UNAVAILABLE", "database cannot be reached")

    readiness.add("database", down)
    failing = [r for r in readiness.run() if not r.ok]
    assert [(r.name, r.reason) for r in failing] == [("database", "DATABASE_UNAVAILABLE")]


def test_a_member_without_a_current_trust_list_is_not_ready(node_factory: Any, tmp_path: Path) -> None:
    hub = node_factory()
    root = tmp_path / "hub-root.pem"
    from cryptography.hazmat.primitives import serialization

    root.write_bytes(hub.pki.certificate("root-ca").public_bytes(serialization.Encoding.PEM))
    member = node_factory(config=f'\n[federation]\nhub = "127.0.0.1:1"\nhub_root_file = "{root}"\n')
    results = {r.name: r for r in node_readiness(member).run()}
    assert not results["trust_list"].ok and results["trust_list"].reason == "TRUST_LIST_MISSING"
    assert all(r.ok for name, r in results.items() if name != "trust_list")
    assert all(r.ok for r in node_readiness(hub).run())  # the hub (not a member) needs no list


@pytest.mark.slow
def test_sigterm_drains_then_stops_and_sigusr1_toggles(node_factory: Any, start_node: Any) -> None:
    node = node_factory(config="\n[server]\ndrain_seconds = 4.0\n")
    running = start_node(node.config.data_dir)
    with grpc.insecure_channel(running.target) as ch:
        assert _status(ch) == SERVING
        running.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while _status(ch) != NOT_SERVING and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _status(ch) == NOT_SERVING
        _jwks(ch)
        running.proc.send_signal(signal.SIGUSR1)
        while _status(ch) != SERVING and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _status(ch) == SERVING

        running.proc.send_signal(signal.SIGTERM)
        while _status(ch) != NOT_SERVING and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _status(ch) == NOT_SERVING and running.proc.poll() is None
        _jwks(ch)  # in the drain window: calls are still answered
    assert running.proc.wait(timeout=60) == 0
    log = running.log_path.read_text()
    assert "draining for 4.0 s before stopping" in log and '"health: NOT_SERVING (drain)"' in log


def _until(channel: grpc.Channel, want: int, seconds: float = 30.0) -> int:
    """Poll the health status (the monitor re-checks every couple of seconds) until ``want`` or give up."""
    deadline = time.monotonic() + seconds
    status = _status(channel)
    while status != want and time.monotonic() < deadline:
        time.sleep(0.2)
        status = _status(channel)
    return status


def test_a_member_whose_trust_list_goes_stale_leaves_rotation_until_refreshed(
        hub_node: Any, province: Any, serve: Any, tmp_path: Path) -> None:
    """The documented rule (hutong.health): a member is ready while its list is not past next_update plus the
    grace period. Here the grace is nil and the list lives 3 s: it goes stale while we watch, the member
    reports NOT_SERVING (TRUST_LIST_STALE) and comes back once a refresh over mutual TLS fetches a new list."""
    from hutong.federation import hub, transport
    from tests.federation.conftest import install_trust_list

    hub_channel, member_channel = serve(hub_node), serve(province)
    hub.add_member(hub_node, hub.describe_node(province, endpoints=[member_channel.hutong_target]))
    province.trust.hub_target = hub_channel.hutong_target
    install_trust_list(hub_node, hub.publish(hub_node, validity=timedelta(seconds=3)), [province], tmp_path)
    store = province.trust.store
    store.grace = store.warn_before = timedelta(0)
    held = store.held()
    assert held is not None and held.sequence == 1

    assert _until(member_channel, SERVING) == SERVING  # fresh
    assert _until(member_channel, NOT_SERVING) == NOT_SERVING  # next_update passed: stale
    results = {r.name: r for r in node_readiness(province).run()}
    assert not results["trust_list"].ok and results["trust_list"].reason == "TRUST_LIST_STALE"
    assert all(r.ok for name, r in results.items() if name != "trust_list")
    _jwks(member_channel)  # out of rotation, still answering

    hub.publish(hub_node)  # the hub's next list (default validity)
    refreshed = province.trust.refresh(transport.trust_list_fetcher(province))  # the refresher's own call
    assert refreshed is not None and refreshed.sequence == 2
    assert _until(member_channel, SERVING) == SERVING
    assert all(r.ok for r in node_readiness(province).run())


def test_a_process_still_starting_is_not_ready_until_marked_started(node: Any) -> None:
    """``hutong serve`` holds health at NOT_SERVING until its HTTP edge listens (the edge starts after gRPC)."""
    from hutong.health import Startup
    from hutong.server import start_server

    startup = Startup()
    running = start_server(node, "127.0.0.1:0", threads=4, startup=startup)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
            assert _status(ch) == NOT_SERVING
            assert [r.reason for r in running.monitor.check_now() if not r.ok] == ["STARTING"]
            _jwks(ch)  # the gRPC port already answers
            startup.done()
            running.monitor.check_now()
            assert _status(ch) == SERVING
    finally:
        running.stop(grace=0)
