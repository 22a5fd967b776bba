"""Witnessing: the hub cosigns members' checkpoints once they are consistent with what it saw before.

A member publishes its newest checkpoint with a consistency proof from the size the hub last
cosigned for its log. The hub checks the member's signature with the log key the trust list
carries for it, checks the proof against its last cosigned root, cosigns (its own log key, under
the witness name) and keeps the result. Members fetch cosigned checkpoints -- their own and other
members' -- check both signatures and keep them; ``hutong audit verify`` then compares a node's
own tree with every checkpoint the hub cosigned for it.

Where the hub's knowledge of a log starts. A member's history before the hub first saw it is
only as good as the member's word, so the hub pins it as early as it can: at federation join, the
member's descriptor carries its newest signed checkpoint (``hutong federation describe``), and
``bind_at_join`` cosigns and keeps it before the member ever publishes; every later checkpoint
must extend it. A member added without one (an older descriptor) has its first published
checkpoint accepted on trust -- signed by its listed log key, cosigned, and recorded in the hub's
audit log as ``tlog.witness.first-seen`` with the whole note -- and bound from then on. Either
way a member that later presents a rewritten or forked history is refused and reported.

A node that rewrote or forked its history cannot get the hub to cosign the new history: the
consistency proof fails (or the same size comes with another root). The hub refuses with
``CHECKPOINT_INCONSISTENT`` and keeps the evidence (both checkpoints) in its own audit log.
Bad input -- a malformed note, a signature that does not verify, a stale size, a cosignature
from a key that is not the hub's witness key -- is refused with a reason and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from hutong import audit
from hutong.errors import FailedPrecondition, InvalidArgument, NotFound
from hutong.federation.registry import members
from hutong.tlog import merkle, proofs
from hutong.tlog.integrator import latest_checkpoint
from hutong.tlog.models import CosignedCheckpoint
from hutong.tlog.note import Note, VerifierKey, check_origin, cosign, origin_for, parse_note

if TYPE_CHECKING:
    from hutong.node import Node


def witness_name(hub_id: str) -> str:
    return f"hutong.witness/{hub_id}"


def witness_vkeys(hub: Node) -> list[str]:
    """The hub's witness verifier keys (its node log keys, under the witness name), published in the trust list:
    the cosigning one first; while the hub's log key rolls over also its successor (announced before it
    cosigns) and the retired ones (what they cosigned stays valid)."""
    return hub.tlog.vkeys(witness_name(hub.id))


class Witness(Protocol):
    """How a member reaches the hub's witness (gRPC in ``hutong.tlog.service``)."""

    def cosigned(self, origin: str) -> str: ...

    def add(self, checkpoint: str, old_size: int, proof: list[bytes]) -> str: ...


def _latest_cosigned(s: Session, origin: str) -> CosignedCheckpoint | None:
    return s.scalars(select(CosignedCheckpoint).where(CosignedCheckpoint.origin == origin)
                     .order_by(CosignedCheckpoint.tree_size.desc()).limit(1)).first()


def _member_key(hub: Node, origin: str) -> tuple[str, list[VerifierKey]]:
    """The member keeping ``origin`` and its log keys (during a log key rollover: the successor and the old)."""
    for m in members(hub):
        if origin_for(m.node_id) == origin:
            if not m.log_key:
                raise FailedPrecondition("LOG_KEY_UNKNOWN", f"member {m.node_id!r} has no log key in its descriptor: "
                                         "describe the node again and update the member")
            return m.node_id, [VerifierKey.decode(k) for k in m.log_keys()]
    raise NotFound("LOG_ORIGIN_UNKNOWN", f"no member of the federation keeps the log {origin!r}")


def cosigned(hub: Node, origin: str) -> str:
    """The newest checkpoint the hub cosigned for ``origin`` ("" if none)."""
    check_origin(origin)
    with hub.db.session(readonly=True) as s:
        row = _latest_cosigned(s, origin)
    return row.note if row else ""


def newest_checkpoint(node: Node) -> str:
    """This node's newest signed checkpoint ("" if none), for its member descriptor."""
    node.tlog.integrate_all()
    with node.db.session(readonly=True) as s:
        cp = latest_checkpoint(s)
    return cp.note if cp else ""


def bind_at_join(hub: Node, node_id: str, log_key: str, checkpoint: str) -> None:
    """The hub's side of a join: cosign and keep the member's checkpoint from its descriptor, so the
    history up to it is pinned before the member publishes. Checked like any checkpoint; a hub that
    already witnessed this log keeps what it has (the member's next publication must extend it)."""
    note = parse_note(checkpoint)
    cp = note.checkpoint
    if cp.origin != origin_for(node_id):
        raise InvalidArgument("CHECKPOINT_ORIGIN_MISMATCH",
                              f"the descriptor's checkpoint is of the log {cp.origin!r}, not {node_id}'s")
    if not log_key or not VerifierKey.decode(log_key).verifies(note):
        raise InvalidArgument("CHECKPOINT_SIGNATURE_INVALID",
                              f"the descriptor's checkpoint is not signed by {node_id}'s log key")
    with hub.db.session() as s:
        held = s.get(CosignedCheckpoint, (cp.origin, cp.size))
        if held is not None and held.root_hash != cp.root.hex():
            fork = f"size {cp.size} was cosigned with another root"
        else:
            if _latest_cosigned(s, cp.origin) is None:
                out = cosign(note, witness_name(hub.id), hub.tlog.signer())
                s.add(CosignedCheckpoint(origin=cp.origin, tree_size=cp.size, root_hash=cp.root.hex(),
                                         note=out.render(), received_at=datetime.now(UTC)))
                audit.append(s, actor=node_id, action="tlog.witness.bind-at-join", target=cp.origin,
                             details={"tree_size": cp.size, "root": cp.root.hex()})
            return
    _report_fork(hub, node_id, held.note, checkpoint, fork)
    raise FailedPrecondition("CHECKPOINT_INCONSISTENT",
                             f"{node_id}'s log was rewritten or forked: {fork}; the evidence is kept in the hub's log")


def add_checkpoint(hub: Node, checkpoint: str, old_size: int, proof: list[bytes]) -> str:
    """The hub's side: check a member's checkpoint and cosign it (returns the cosigned note)."""
    note = parse_note(checkpoint)
    cp = note.checkpoint
    node_id, keys = _member_key(hub, cp.origin)
    if not any(k.verifies(note) for k in keys):
        raise InvalidArgument("CHECKPOINT_SIGNATURE_INVALID",
                              f"the checkpoint is not signed by {node_id}'s log key in the trust list")
    fork = ""
    with hub.db.session() as s:
        last = _latest_cosigned(s, cp.origin)
        if last is not None:
            last_root = bytes.fromhex(last.root_hash)
            if cp.size < last.tree_size:
                raise FailedPrecondition("CHECKPOINT_STALE", f"the hub already cosigned size {last.tree_size} of "
                                         f"this log; {cp.size} is older",
                                         metadata={"witnessed_size": str(last.tree_size)})
            if cp.size == last.tree_size:
                if cp.root == last_root:
                    return last.note
                fork = f"size {cp.size} was cosigned with another root"
            elif old_size != last.tree_size:
                raise FailedPrecondition("WITNESS_SIZE_MISMATCH", f"the proof must start at size {last.tree_size}, "
                                         "the last the hub cosigned", metadata={"witnessed_size": str(last.tree_size)})
            elif not merkle.verify_consistency(last.tree_size, cp.size, last_root, cp.root, proof):
                fork = f"it is not an extension of size {last.tree_size} that the hub cosigned"
        if not fork:
            out = cosign(note, witness_name(hub.id), hub.tlog.signer())
            s.add(CosignedCheckpoint(origin=cp.origin, tree_size=cp.size, root_hash=cp.root.hex(), note=out.render(),
                                     received_at=datetime.now(UTC)))
            # A log the hub never saw (no checkpoint at join): accepted on trust, on the record in full.
            audit.append(s, actor=node_id, action="tlog.witness.cosign" if last else "tlog.witness.first-seen",
                         target=cp.origin, details={"tree_size": cp.size, "root": cp.root.hex(),
                                                    **({} if last else {"checkpoint": checkpoint})})
            return out.render()
    _report_fork(hub, node_id, last.note if last else "", checkpoint, fork)
    raise FailedPrecondition("CHECKPOINT_INCONSISTENT",
                             f"{node_id}'s log was rewritten or forked: {fork}; the evidence is kept in the hub's log")


def _report_fork(node: Node, node_id: str, known: str, presented: str, why: str) -> None:
    """Keep both checkpoints: signed by the member, they prove the fork to anyone."""
    with node.db.session() as s:
        audit.append(s, actor="witness", action="tlog.fork.detected", target=node_id, outcome="refused",
                     details={"why": why, "cosigned": known, "presented": presented})


@dataclass(frozen=True)
class Accepted:
    origin: str
    tree_size: int
    cosigned_at: int  # the hub's cosignature time (unix seconds)


def accept_cosigned(node: Node, raw: str) -> Accepted:
    """A member's side: check a cosigned checkpoint (log key and witness key from the trust list) and keep it."""
    tl = node.trust.trust_list()
    if tl is None:
        raise FailedPrecondition("NOT_FEDERATED", "this node has no trust list: it cannot check cosignatures")
    note = parse_note(raw)
    cp = note.checkpoint
    log_keys = next((m.log_keys() for m in tl.members if origin_for(m.node_id) == cp.origin), [])
    if not log_keys:
        raise NotFound("LOG_ORIGIN_UNKNOWN", f"no member in the trust list keeps the log {cp.origin!r}")
    if not any(VerifierKey.decode(k).verifies(note) for k in log_keys):
        raise InvalidArgument("CHECKPOINT_SIGNATURE_INVALID", "the checkpoint is not signed by its log's key")
    if not tl.witness_key:
        raise FailedPrecondition("WITNESS_KEY_UNKNOWN", "the trust list names no witness key")
    at = next((t for t in (VerifierKey.decode(k).cosigned_at(note) for k in tl.witness_keys()) if t is not None),
              None)
    if at is None:
        raise InvalidArgument("COSIGNATURE_INVALID", "the checkpoint carries no valid cosignature by the hub's witness")
    with node.db.session() as s:
        held = s.get(CosignedCheckpoint, (cp.origin, cp.size))
        if held is not None and held.root_hash != cp.root.hex():
            fork = f"two cosigned checkpoints of size {cp.size} with different roots"
        else:
            if held is None:
                s.add(CosignedCheckpoint(origin=cp.origin, tree_size=cp.size, root_hash=cp.root.hex(),
                                         note=_only(note, *log_keys, *tl.witness_keys()).render(),
                                         received_at=datetime.now(UTC)))
            return Accepted(cp.origin, cp.size, at)
    _report_fork(node, cp.origin, held.note, raw, fork)
    raise FailedPrecondition("CHECKPOINT_INCONSISTENT", f"the log {cp.origin} forked: {fork}")


def _only(note: Note, *vkeys: str) -> Note:
    """The note with just the signature lines of known keys (a stranger's lines are not kept)."""
    keys = [VerifierKey.decode(v) for v in vkeys]
    lines = tuple(s for s in note.signatures if any((k.name, k.key_id) == (s.name, s.key_id) for k in keys))
    return Note(note.text, lines)


def publish(node: Node, witness: Witness) -> Accepted:
    """A member's side: have the hub cosign this node's newest checkpoint, then keep the cosigned note."""
    with node.db.session(readonly=True) as s:
        newest = latest_checkpoint(s)
    if newest is None:
        raise NotFound("TREE_SIZE_UNKNOWN", "the log has no checkpoint yet")
    known = witness.cosigned(node.tlog.origin)
    old_size = parse_note(known).checkpoint.size if known else 0
    if old_size > newest.tree_size:
        raise FailedPrecondition("CHECKPOINT_INCONSISTENT", f"the hub cosigned size {old_size} of this log, larger "
                                 f"than the log's {newest.tree_size}: records were removed")
    path = proofs.consistency(node.db, old_size, newest.tree_size).path if 0 < old_size < newest.tree_size else []
    return accept_cosigned(node, witness.add(newest.note, old_size, path))


def fetch(node: Node, witness: Witness, member_id: str) -> Accepted | None:
    """Fetch and keep the newest cosigned checkpoint of a member's log (None if the hub has none)."""
    raw = witness.cosigned(origin_for(member_id))
    return accept_cosigned(node, raw) if raw else None
