"""Wires a node's services to one another: the one place that knows which service provides which peer.

``hutong.peers`` declares what one service needs of another as Protocols; the providing services implement
them (``identity_svc.peer``, ``seal_svc.peer``); this module, in the app layer, injects one of each into
``node.peers``. Whatever opens a node to run services on it calls ``wire`` (the server, the command lines
that work in-process, the test fixtures, the benchmarks); a node left unwired has no peers, so a service
that needs one answers as on a node without that service.
"""

from __future__ import annotations

from hutong.node import Node
from identity_svc.peer import IdentityPeer
from seal_svc.peer import SealPeer


def wire(node: Node) -> Node:
    """Give ``node`` its peers (once: a node keeps the ones it has, so their caches live as long as it)."""
    if node.peers.identity is None:
        node.peers.identity = IdentityPeer(node)
    if node.peers.seal is None:
        node.peers.seal = SealPeer(node)
    return node
