"""A federation on loopback: a hub and member nodes, each with its own SoftHSM token and database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hutong import pki
from hutong.federation import hub
from hutong.federation.trustlist import TrustListStore
from hutong.node import Node

FAST_IDENTITY = "\n[identity]\nargon2_time_cost = 1\nargon2_memory_kib = 1024\n"


def install_trust_list(hub_node: Node, token: str, members: list[Node], base: Path) -> None:
    """What a member's refresh does: verify against the hub root and keep the list."""
    for n in members:
        if n.trust.store is None:
            n.trust.store = TrustListStore(path=base / n.id / "trust-list.jws",
                                           hub_roots=[hub_node.pki.certificate(pki.ROOT)])
        n.trust.store.accept(token)


def federate(hub_node: Node, members: list[Node], base: Path) -> str:
    for n in members:
        hub.add_member(hub_node, hub.describe_node(n))
    token = hub.publish(hub_node)
    install_trust_list(hub_node, token, members, base)
    return token


@pytest.fixture
def hub_node(node_factory: Callable[..., Any]) -> Node:
    node: Node = node_factory("hub")
    return node


@pytest.fixture
def province(node_factory: Callable[..., Any]) -> Node:
    node: Node = node_factory("prov-a", config=FAST_IDENTITY)
    return node


@pytest.fixture
def prov_b(node_factory: Callable[..., Any]) -> Node:
    node: Node = node_factory("prov-b", config=FAST_IDENTITY)
    return node
