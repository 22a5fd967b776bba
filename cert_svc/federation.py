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
from cert_svc.models import CertificateRow
from cert_svc.records import Holder, holder_key
from hutong import audit
from hutong.auth import Principal
from hutong.errors import FailedPrecondition, HutongError, PermissionDenied
from hutong.federation import relay
from hutong.federation.assertion import Assertion
from hutong.node import Node

OP_FETCH = "cert.fetch"
OP_PREDECESSOR = "cert.predecessor"


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


def check_remote_predecessor(node: Node, identifier: str, holder: Holder) -> None:
    """A predecessor held at another member: it must exist there, be transferred out and have the same holder.

    Each member is asked through the hub (the holder's ID travels encrypted to that member, which compares its
    own blind index); PREDECESSOR_NOT_FOUND when no member holds it."""
    tl = node.trust.trust_list()
    for member in (m for m in (tl.members if tl else ()) if m.node_id != node.id):
        try:
            answer = relay.raise_for(relay.send(node, target_node=member.node_id, op=OP_PREDECESSOR, claims={
                "identifier": identifier, "holder": {"kind": holder.kind, "id": holder.id}}))
        except HutongError:
            continue  # unreachable or refusing: ask the next; none found is a refusal below
        if not answer.get("found"):
            continue
        if not (answer.get("transferred_out") and answer.get("same_holder")):
            raise FailedPrecondition(reasons.PREDECESSOR_INVALID, "the predecessor must be a transferred-out "
                                     "certificate of the same holder")
        return
    raise FailedPrecondition(reasons.PREDECESSOR_NOT_FOUND, "no member node (nor this one) holds the predecessor")


def serve_predecessor(node: Node, request: Assertion) -> Mapping[str, Any]:
    """The holding node: whether the identifier is here, transferred out, and held by the named holder.

    Answers only those three facts (to a member, encrypted to it): no data of the certificate itself."""
    raw = request.claims.get("holder") or {}
    with node.db.session(readonly=True) as s:
        row = s.get(CertificateRow, str(request.claims.get("identifier", "")))
    if row is None:
        return {"found": False}
    try:
        indexes = node.pki.blind_indexes(holder_key(str(raw.get("kind", "")), str(raw.get("id", ""))))
    except HutongError:
        indexes = ()
    return {"found": True, "transferred_out": row.status == "transferred_out",
            "same_holder": row.holder_index in indexes}


def register() -> None:
    relay.HANDLERS[OP_FETCH] = serve_fetch
    relay.HANDLERS[OP_PREDECESSOR] = serve_predecessor
