"""The hub's side of federation: member descriptors in, signed trust lists out.

A node describes itself (``describe_node``: CA certificates, token-signing JWKS, endpoints, type
mapping); the hub operator adds that descriptor; ``publish`` signs a new list with the next
sequence number. Every change is audited. While a successor trust-list key is pending, every list
announces it (``next_signers``): members then accept lists signed by it once the hub switches.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from hutong import audit, pki
from hutong.errors import ConfigError, NotFound
from hutong.federation.models import FederationMember, TrustListPublication
from hutong.federation.registry import member_entries, members  # noqa: F401 - the hub's registry, read here too
from hutong.federation.settings import federation_settings
from hutong.federation.trustlist import DEFAULT_VALIDITY, MemberEntry, TrustList, pem, sign_trust_list
from hutong.node import Node
from hutong.tlog.witness import bind_at_join, witness_vkeys
from hutong.verify import jose


def describe_node(node: Node, *, endpoints: list[str] | None = None, jwks: dict[str, Any] | None = None,
                  type_mapping: dict[str, str] | None = None) -> MemberEntry:
    """What other members need to verify this node's tokens, seals and certificates offline."""
    cfg = federation_settings(node.config)
    return MemberEntry(
        node_id=node.id,
        name=node.config.node.name,
        # where other nodes call this one: the mutual-TLS federation port
        endpoints=endpoints or cfg.endpoints or [cfg.listen or node.config.server.listen],
        root_ca=pem(node.pki.certificate(pki.ROOT)),
        seal_ca=pem(node.pki.certificate(pki.SEAL_CA)),
        issuer_ca=pem(node.pki.certificate(pki.ISSUER_CA)),
        tsa=pem(node.pki.certificate(pki.TSA)),
        jwks=jwks or {"keys": [jose.public_jwk(c.public_key())  # type: ignore[arg-type]
                               for c in node.pki.with_retired(pki.TOKEN)]},
        enc_jwk=jose.rsa_encryption_jwk(node.keys.public_key(node.pki.label(pki.FEDERATION_ENC))),  # type: ignore[arg-type]
        type_mapping=type_mapping or cfg.type_mapping,
        home_regions=_regions(cfg.home_regions, "home_regions"),
        person_regions=_regions(cfg.person_regions, "person_regions"),
        previous={role: [pem(c) for c in node.pki.with_retired(name)[1:]]
                  for role, name in _ROLES.items() if len(node.pki.with_retired(name)) > 1},
        log_key=node.tlog.vkey(),
        previous_log_keys=node.tlog.vkeys()[1:],
        cross_certificates=[pem(c) for c in node.pki.cross_certificates()],
    )


def _regions(values: Any, key: str) -> list[str]:
    """``[federation] home_regions`` / ``person_regions``: administrative-division prefixes (1-6 digits)."""
    regions = [str(r) for r in values] if isinstance(values, list) else []
    if not isinstance(values, list) or any(not (r.isascii() and r.isdigit() and 1 <= len(r) <= 6) for r in regions):
        raise ConfigError("CONFIG_INVALID", f"[federation] {key} must be a list of region-code prefixes (1-6 digits)")
    return regions


# Trust-list certificate roles and the node PKI role behind each.
_ROLES = {"root": pki.ROOT, "seal": pki.SEAL_CA, "issuer": pki.ISSUER_CA, "tsa": pki.TSA}


def add_member(node: Node, entry: MemberEntry, *, actor: str = "operator", log_checkpoint: str = "") -> None:
    """Add or update a member (takes effect at the next publication).

    ``log_checkpoint`` (the descriptor's, see ``hutong.tlog.witness.bind_at_join``) pins the member's
    audit log as it is at join: its later checkpoints must extend it."""
    if log_checkpoint:
        bind_at_join(node, entry.node_id, entry.log_key, log_checkpoint)
    with node.db.session() as s:
        row = s.get(FederationMember, entry.node_id)
        action = "federation.member.update" if row else "federation.member.add"
        if row is None:
            row = FederationMember(node_id=entry.node_id)
            s.add(row)
        row.descriptor = json.dumps(asdict(entry), ensure_ascii=False)
        row.updated_at = datetime.now(UTC)
        audit.append(s, actor=actor, action=action, target=entry.node_id)


def remove_member(node: Node, node_id: str, *, actor: str = "operator") -> None:
    with node.db.session() as s:
        row = s.get(FederationMember, node_id)
        if row is None:
            raise NotFound("NODE_NOT_IN_TRUST_LIST", f"node {node_id!r} is not a member")
        s.delete(row)
        audit.append(s, actor=actor, action="federation.member.remove", target=node_id)


def publish(node: Node, *, validity: timedelta = DEFAULT_VALIDITY, actor: str = "operator") -> str:
    """Sign and record the next trust list (hub key in the HSM, x5c up to the hub root)."""
    now = datetime.now(UTC).replace(microsecond=0)
    witness = witness_vkeys(node)
    with node.db.session() as s:
        seq = (s.scalar(select(func.max(TrustListPublication.sequence))) or 0) + 1
        tl = TrustList(sequence=seq, hub_id=node.id, issued_at=now, next_update=now + validity,
                       members=tuple(member_entries(s)), witness_key=witness[0],
                       other_witness_keys=tuple(witness[1:]),
                       next_signers=tuple(announced_signers(node)),
                       hub_roots=tuple(pem(c) for c in node.pki.with_retired(pki.ROOT)))
        token = sign_trust_list(tl, node.pki.signer(pki.TRUST_LIST), node.pki.chain(pki.TRUST_LIST))
        s.add(TrustListPublication(sequence=seq, token=token, issued_at=now, next_update=tl.next_update))
        audit.append(s, actor=actor, action="federation.trust-list.publish", target=str(seq),
                     details={"members": [m.node_id for m in tl.members]})
    return token


def announced_signers(node: Node) -> list[str]:
    """The pivot: certificates (PEM) of pending trust-list keys, announced by the list the current key signs."""
    return [e.certificate_pem for e in node.pki.registry.snapshot().of(pki.TRUST_LIST, "pending")
            if e.certificate_pem]


def latest(node: Node) -> str:
    with node.db.session(readonly=True) as s:
        token = s.scalar(select(TrustListPublication.token).order_by(TrustListPublication.sequence.desc()).limit(1))
    if token is None:
        raise NotFound("TRUST_LIST_MISSING", "this hub has not published a trust list yet")
    return token
