"""Requests between member nodes, through the hub.

The requesting node seals a request to the target node (``assertion.issue``: its signature inside,
encrypted to the target), sends it to the hub's ``Relay``; the hub checks both ends are members and
passes it to the target's ``Deliver``. The target opens it (signature from the trust list, audience,
lifetime, replay), runs the handler registered for the operation and seals the answer back to the
requester. The hub routes but reads nothing.

Services register handlers for their operations: ``HANDLERS["cert.fetch"] = fn(node, assertion) -> dict``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hsm import HsmError
from hutong.errors import (
    FailedPrecondition,
    HutongError,
    Internal,
    Kind,
    NotFound,
    PermissionDenied,
    Unimplemented,
    error_for,
    lift,
)
from hutong.federation import assertion, transport
from hutong.federation.assertion import Assertion
from hutong.federation.registry import members
from hutong.node import Node

Handler = Callable[[Node, Assertion], Mapping[str, Any]]
HANDLERS: dict[str, Handler] = {}


def send(node: Node, *, target_node: str, op: str, claims: Mapping[str, Any]) -> dict[str, Any]:
    """Ask ``target_node`` to perform ``op`` via the hub; returns the target's verified answer."""
    if not node.trust.hub_target:
        raise FailedPrecondition("NOT_FEDERATED", "this node has not joined a federation: no hub to relay through")
    node.trust.member(target_node)  # NODE_NOT_IN_TRUST_LIST before anything leaves this node
    envelope = assertion.issue(node, audience_node=target_node, op=op, claims=claims)
    answer = transport.relay(node, target_node, envelope)
    result = assertion.accept(node, answer, op=f"{op}.result")
    if result.issuer_node != target_node:
        raise FailedPrecondition("RELAY_MISROUTED", "the answer did not come from the node asked")
    return result.claims


def relay(hub: Node, *, peer: str, target_node: str, envelope: str) -> str:
    """The hub's part: forward from a registered member (``peer``, authenticated by mTLS) to another."""
    registered = {m.node_id: m for m in members(hub)}
    if peer not in registered:
        raise PermissionDenied("PEER_NOT_A_MEMBER", "the hub relays only for its members")
    target = registered.get(target_node)
    if target is None or not target.endpoints:
        raise NotFound("NODE_NOT_IN_TRUST_LIST", f"node {target_node!r} is not a reachable member")
    return transport.deliver(hub, target, envelope)


def deliver(node: Node, envelope: str, *, peer: str) -> str:
    """The target's part: open, dispatch, encrypt the answer (errors travel back as an encrypted error).

    ``peer`` is the node that handed the envelope over (the hub, or a member), already authenticated by
    mTLS: only then is the envelope decrypted in the HSM."""
    request = assertion.accept(node, envelope, op=None)
    op = str(request.claims.get("op", ""))
    handler = HANDLERS.get(op)
    if handler is None:
        raise Unimplemented("OPERATION_UNKNOWN", f"this node does not serve {op!r} for other nodes")
    try:
        answer: dict[str, Any] = {"ok": True, **handler(node, request)}
    except (HutongError, HsmError) as exc:  # the requester's platform gets the real reason (e.g. NO_CONSENT)
        err = lift(exc) or Internal("INTERNAL_ERROR", "internal error")
        answer = {"ok": False, "kind": err.kind.value, "reason": err.reason, "message": err.message}
    return assertion.issue(node, audience_node=request.issuer_node, op=f"{op}.result", claims=answer)


def raise_for(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    """Turn an encrypted error answer back into the typed error it was."""
    if answer.get("ok"):
        return answer
    kind = Kind(answer.get("kind", "INTERNAL")) if answer.get("kind") in Kind._value2member_map_ else Kind.INTERNAL
    raise error_for(kind, str(answer.get("reason", "INTERNAL_ERROR")), str(answer.get("message", "")))
