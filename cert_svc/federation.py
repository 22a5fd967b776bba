"""Certificates across nodes: a platform here reads a certificate held at another member, through the hub.

The request names the platform as ``<this node>/<client id>``: the holder's consent at the holding node
must name exactly that, so a consent given to one node's platform is never good for another's. The
holding node records the access with its purpose in the holder's log, as for a local platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cert_svc import reasons
from cert_svc.access import Reader
from cert_svc.consent import identity_holder_resolver, require_purpose
from hutong import audit
from hutong.auth import Principal
from hutong.errors import PermissionDenied
from hutong.federation import relay
from hutong.federation.assertion import Assertion
from hutong.node import Node

OP_FETCH = "cert.fetch"


def remote_platform_id(node_id: str, client_id: str) -> str:
    """How a platform of another node is named in consents here."""
    return f"{node_id}/{client_id}"


def fetch_remote(node: Node, principal: Principal, *, node_id: str, identifier: str, purpose: str) -> str:
    """Ask ``node_id`` for a certificate on behalf of a platform of this node; returns the signed JWS."""
    if principal.kind != "platform":
        raise PermissionDenied(reasons.NO_CONSENT, "only platforms read others' certificates within a consent")
    purpose = require_purpose(purpose)
    answer = relay.raise_for(relay.send(node, target_node=node_id, op=OP_FETCH, claims={
        "platform": principal.subject, "identifier": identifier, "purpose": purpose}))
    with node.db.session() as s:
        audit.append(s, actor=principal.actor, action="cert.fetch-remote", target=identifier,
                     details={"node": node_id, "purpose": purpose})
    return str(answer["jws"])


def serve_fetch(node: Node, request: Assertion) -> Mapping[str, Any]:
    """The holding node: read within the consent given to the requesting node's platform."""
    claims = request.claims
    platform = remote_platform_id(request.issuer_node, str(claims.get("platform", "")))
    principal = Principal(kind="platform", subject=platform, platform=platform)
    view = Reader(node, identity_holder_resolver(node)).get(principal, str(claims.get("identifier", "")),
                                                             str(claims.get("purpose", "")), "federated-read")
    return {"jws": view.jws}


def register() -> None:
    relay.HANDLERS[OP_FETCH] = serve_fetch
