"""Anonymous verification is limited per real caller, also behind the HTTP edge: each edge caller has
its own bucket (the socket peer, or X-Forwarded-For from a configured trusted proxy only), and a caller
who runs dry gets VERIFY_RATE_LIMITED over the JSON API as over gRPC."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest

from hutong.cert.v1 import cert_pb2 as pb
from hutong.cert.v1 import cert_pb2_grpc
from hutong.demo.cluster import free_port
from hutong.edge.clients import client_address, parse_networks
from hutong.edge.serve import start_edge
from hutong.errors import ConfigError
from hutong.status import error_from_rpc
from tests.edge.test_connect import assert_connect_error

VERIFY = "/hutong.cert.v1.CertService/Verify"
IDENTIFIER = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"
BURST = 3  # and (practically) no refill: a bucket that ran dry stays dry for the whole test


def _node_config(trusted: str) -> str:
    return (f"[cert]\nverify_burst = {BURST}\nverify_per_minute = 0.0001\n"
            f"[edge]\nlisten = \"127.0.0.1:{free_port()}\"\ntrusted_proxies = \"{trusted}\"\n")


@pytest.fixture(scope="module")
def servers(node_factory: Callable[..., Any]) -> Iterator[dict[str, Any]]:
    """Two nodes: one behind a trusted proxy on loopback, one trusting no proxy."""
    from hutong.server import start_server

    made: dict[str, Any] = {}
    stops = []
    for name, trusted in (("proxied", "127.0.0.1"), ("direct", "")):
        node = node_factory(config=_node_config(trusted))
        running = start_server(node, "127.0.0.1:0", threads=4)
        edge = start_edge(node)
        assert edge is not None
        http = httpx.Client(base_url=edge.base_url, timeout=60)
        channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
        made[name] = (http, cert_pb2_grpc.CertServiceStub(channel))  # type: ignore[no-untyped-call]
        stops.append((http, edge, channel, running))
    yield made
    for http, edge, channel, running in stops:
        http.close()
        edge.stop()
        channel.close()
        running.stop(0)


def verify(http: httpx.Client, forwarded_for: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if forwarded_for is not None:
        headers["x-forwarded-for"] = forwarded_for
    return http.post(VERIFY, json={"identifier": IDENTIFIER}, headers=headers)


def limited(resp: httpx.Response) -> bool:
    return resp.status_code == 429


def test_edge_callers_behind_a_trusted_proxy_have_their_own_buckets(servers: dict[str, Any]) -> None:
    http, _ = servers["proxied"]
    for _ in range(BURST):
        assert not limited(verify(http, "203.0.113.5")), "within the burst, the caller is answered"
    refused = verify(http, "203.0.113.5")
    assert_connect_error(refused, 429, "resource_exhausted", "VERIFY_RATE_LIMITED")
    # another caller behind the same proxy is not held back by the first one's bucket
    assert not limited(verify(http, "203.0.113.6"))
    # a proxy chain: the client is the rightmost address that is not a trusted proxy
    assert limited(verify(http, "198.51.100.9, 203.0.113.5, 127.0.0.1"))
    assert not limited(verify(http, "203.0.113.5, 198.51.100.9"))


def test_forwarded_for_from_an_untrusted_peer_is_ignored(servers: dict[str, Any]) -> None:
    http, _ = servers["direct"]
    answers = [verify(http, f"192.0.2.{i}") for i in range(BURST + 1)]
    assert not any(limited(a) for a in answers[:BURST])
    assert_connect_error(answers[BURST], 429, "resource_exhausted", "VERIFY_RATE_LIMITED")


def test_the_limit_over_grpc_gives_the_same_reason(servers: dict[str, Any]) -> None:
    _, stub = servers["proxied"]  # gRPC callers are keyed by their socket address (127.0.0.1 here)
    reasons = []
    for _ in range(BURST + 1):
        try:
            stub.Verify(pb.VerifyRequest(identifier=IDENTIFIER))
            reasons.append("")
        except grpc.RpcError as err:
            reasons.append(f"{err.code().name}/{error_from_rpc(err).reason}")
    assert "VERIFY_RATE_LIMITED" not in " ".join(reasons[:BURST])
    assert reasons[BURST] == "RESOURCE_EXHAUSTED/VERIFY_RATE_LIMITED"


def test_client_address_rules() -> None:
    proxies = parse_networks("10.0.0.0/8, 127.0.0.1")
    assert client_address("203.0.113.5", ["1.2.3.4"], proxies) == "ipv4:203.0.113.5:0"  # not via a proxy
    assert client_address("10.1.2.3", ["198.51.100.1, 10.9.9.9"], proxies) == "ipv4:198.51.100.1:0"
    assert client_address("127.0.0.1", ["2001:db8::7"], proxies) == "ipv6:[2001:db8::7]:0"
    assert client_address("127.0.0.1", ["not-an-address"], proxies) == "ipv4:127.0.0.1:0"
    assert client_address("127.0.0.1", [], proxies) == "ipv4:127.0.0.1:0"
    assert client_address(None, [], proxies) == "edge:unknown"
    assert ipaddress.ip_address("10.200.0.1") in proxies[0]


def test_bad_trusted_proxies_setting_is_refused(node_factory: Callable[..., Any]) -> None:
    from hutong.edge.settings import edge_settings

    node = node_factory()
    assert edge_settings(node.config, trusted_proxies="10.0.0.0/8, ::1").trusted_proxies
    with pytest.raises(ConfigError) as err:
        edge_settings(node.config, trusted_proxies="proxy.example")
    assert err.value.reason == "CONFIG_INVALID"
