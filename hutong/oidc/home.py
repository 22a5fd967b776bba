""""Log in at my home node": a citizen of node A signs in on node B's login page through the federation assertion.

    platform -> B /oidc/authorize -> B's login page -> "my home node is A"
      -> A /oidc/federation/start?node=B&tx=...&acr=...  (A's own login page: A's password, TOTP or key)
      -> A's page posts the assertion (JWS in JWE, for B only, bound to B's pending login ``tx``)
      -> B /oidc/federation/return -> one linked account, the level A reached (never raised) -> code -> platform

Where a member's HTTP edge is: the first ``http(s)://`` entry of its ``endpoints`` in the trust list (the
others are its gRPC addresses). A only ever sends the person back to B's edge as the trust list names it,
so there is no open redirect; B checks that the assertion names its own pending login.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from hutong.errors import HutongError, NotFound
from hutong.node import Node

START_PATH = "/oidc/federation/start"
RETURN_PATH = "/oidc/federation/return"
NODE_CLIENT_PREFIX = "node:"  # a pending login at the home node, on behalf of the visited node
TX_CLAIM = "visited_tx"


@dataclass(frozen=True)
class HomeNode:
    node_id: str
    name: str
    url: str  # its HTTP edge, without a trailing slash


def _edge_url(endpoints: list[str]) -> str:
    for e in endpoints:
        parts = urlsplit(e)
        if parts.scheme in ("https", "http") and parts.hostname and not parts.query and not parts.fragment:
            return e.rstrip("/")
    return ""


def members(node: Node) -> list[HomeNode]:
    """The other member nodes whose edge is known (what the login page offers); none when not federated."""
    try:
        tl = node.trust.trust_list()
    except HutongError:
        return []  # stale or unreadable trust list: the option is not offered
    if tl is None:
        return []
    found = [HomeNode(m.node_id, m.name, _edge_url(m.endpoints)) for m in tl.members if m.node_id != node.id]
    return [h for h in found if h.url]


def member(node: Node, node_id: str) -> HomeNode:
    for h in members(node):
        if h.node_id == node_id:
            return h
    raise NotFound("NODE_NOT_IN_TRUST_LIST", f"node {node_id!r} is not a member with a known HTTP edge")
