"""Edge fixtures: one node per module with the real gRPC server and the real HTTP edge (uvicorn on
127.0.0.1), identity callers from ``tests/identity_fixtures`` and the cert suite's issuers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest

from cert_svc import catalogue, issuers
from hutong.demo.cluster import free_port
from hutong.edge.serve import RunningEdge, start_edge
from hutong.node import Node
from tests.identity_fixtures import IDENTITY_CONFIG, Identities, Metadata

ISSUER_USCC = "11430000006122244L"
PERSON_ID = "11010519491231002X"
TTL = 3  # seconds of status-list freshness: the stale case is watched happening


@dataclass
class EdgeEnv:
    node: Node
    channel: grpc.Channel
    edge: RunningEdge
    http: httpx.Client
    people: Identities
    operator: Metadata
    issuer: Metadata
    alice: Metadata


@pytest.fixture(scope="module")
def edge_env(node_factory: Callable[..., object]) -> Iterator[EdgeEnv]:
    from hutong.server import start_server

    # A fixed port, so that the public base URL (printed in QR codes) names where the edge really is.
    node: Node = node_factory(config=f"[cert]\nstatus_list_ttl = {TTL}\n[edge]\nlisten = \"127.0.0.1:{free_port()}\"\n"
                              "max_upload_bytes = 4194304\n"
                              + IDENTITY_CONFIG)  # type: ignore[assignment]
    people = Identities(node)
    operator = people.operator()
    issuers.register(node, operator.principal, uscc=ISSUER_USCC, name="湖南省市场监督管理局",
                     type_codes=[catalogue.BUSINESS_LICENCE, catalogue.FOOD_PERMIT],
                     platform_client_id="amr-platform")
    running = start_server(node, "127.0.0.1:0", threads=8)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    edge = start_edge(node)
    assert edge is not None
    http = httpx.Client(base_url=edge.base_url, timeout=60)
    yield EdgeEnv(node, channel, edge, http, people, operator=operator.metadata,
                  issuer=people.platform("amr-platform").metadata, alice=people.person(PERSON_ID, "张三").metadata)
    http.close()
    edge.stop()
    channel.close()
    running.stop(0)


def headers(metadata: Metadata) -> dict[str, str]:
    """gRPC metadata as the HTTP headers a Connect client sends."""
    return dict(metadata)
