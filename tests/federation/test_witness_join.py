"""Where the hub's knowledge of a member's log starts: pinned at join, or accepted on trust and recorded.

A member's checkpoint from its descriptor is cosigned at join, so a history rewritten between join
and the first publication is refused; without one, the first published checkpoint is accepted on
trust (cosigned, recorded in full in the hub's log) and every later one must extend it. Real nodes,
the hub served over gRPC on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from hutong.audit import AuditRecord
from hutong.errors import FailedPrecondition, HutongError
from hutong.federation import hub
from hutong.federation.models import FederationMember
from hutong.node import Node
from hutong.tlog import witness
from hutong.tlog.models import CosignedCheckpoint, LogCheckpoint, LogLeaf, TreeNode
from hutong.tlog.note import Checkpoint, origin_for, parse_note, sign
from hutong.tlog.service import GrpcWitness
from tests.federation.conftest import install_trust_list


def _events(node: Node, n: int) -> None:
    for i in range(n):
        node.audit.record(actor="tester", action="thing.do", target=f"t{i}")
    node.tlog.integrate_all()


def _join(hub_node: Node, members: list[Node], base: Path, *, pin: bool) -> None:
    for n in members:
        hub.add_member(hub_node, hub.describe_node(n),
                       log_checkpoint=witness.newest_checkpoint(n) if pin else "")
    install_trust_list(hub_node, hub.publish(hub_node), members, base)


def _rewrite_history(node: Node, new_target: str = "rewritten") -> None:
    """The node rewrites one old record and re-signs its whole log with its own key (same size)."""
    with node.db.session() as s:
        size = int(s.scalar(select(func.max(LogCheckpoint.tree_size))) or 0)
        s.execute(delete(LogCheckpoint))
        s.execute(delete(TreeNode))
        s.execute(delete(LogLeaf))
        s.execute(update(AuditRecord).where(AuditRecord.action == "thing.do", AuditRecord.seq == _seq_of_t1(s))
                  .values(target=new_target))
    node.tlog.batch = size
    node.tlog.integrate_all()
    node.tlog.batch = 2000


def _seq_of_t1(s: Any) -> int:
    return int(s.scalar(select(func.min(AuditRecord.seq)).where(AuditRecord.action == "thing.do")) or 0) + 1


def _hub_events(hub_node: Node, action: str) -> list[AuditRecord]:
    with hub_node.db.session(readonly=True) as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.action == action)))


def test_a_log_pinned_at_join_cannot_be_rewritten_before_its_first_publication(
        hub_node: Node, province: Node, prov_b: Node, serve: Any, tmp_path: Path) -> None:
    _events(province, 20)  # a node with history joins (20 + its own start-up events: stored subtrees too)
    _join(hub_node, [province, prov_b], tmp_path, pin=True)
    fed = GrpcWitness(serve(hub_node))
    pinned = parse_note(witness.cosigned(hub_node, origin_for(province.id)))
    assert pinned.checkpoint == parse_note(witness.newest_checkpoint(province)).checkpoint
    assert sorted(e.target for e in _hub_events(hub_node, "tlog.witness.bind-at-join")) == [
        origin_for(province.id), origin_for(prov_b.id)]
    fetched = witness.fetch(prov_b, fed, province.id)  # other members can already hold the pinned checkpoint
    assert fetched is not None and fetched.tree_size == pinned.checkpoint.size

    _rewrite_history(province)
    _events(province, 2)
    with pytest.raises(FailedPrecondition) as exc:
        witness.publish(province, fed)
    assert exc.value.reason == "CHECKPOINT_INCONSISTENT"
    evidence = _hub_events(hub_node, "tlog.fork.detected")
    assert len(evidence) == 1 and evidence[0].target == province.id
    assert witness.cosigned(hub_node, origin_for(province.id)) == pinned.render()  # nothing new cosigned


def test_an_honest_member_extends_its_pinned_checkpoint(hub_node: Node, province: Node, prov_b: Node,
                                                        serve: Any, tmp_path: Path) -> None:
    _events(province, 5)
    _join(hub_node, [province, prov_b], tmp_path, pin=True)
    pinned = parse_note(witness.cosigned(hub_node, origin_for(province.id))).checkpoint.size
    _events(province, 4)
    got = witness.publish(province, GrpcWitness(serve(hub_node)))  # a consistency proof from the pinned size
    assert got.tree_size == pinned + 4
    assert not _hub_events(hub_node, "tlog.witness.first-seen")


def test_an_unseen_log_is_accepted_on_trust_recorded_then_bound(hub_node: Node, province: Node, prov_b: Node,
                                                                serve: Any, tmp_path: Path) -> None:
    """Without a checkpoint at join, the hub cannot tell a history rewritten before it first saw it: the
    first publication is accepted on trust and kept in full in the hub's log; later forks are refused."""
    _events(province, 3)
    _join(hub_node, [province, prov_b], tmp_path, pin=False)
    fed = GrpcWitness(serve(hub_node))
    _rewrite_history(province)  # undetectable by the hub: it never saw the original
    first = witness.publish(province, fed)
    seen = _hub_events(hub_node, "tlog.witness.first-seen")
    assert len(seen) == 1 and seen[0].target == origin_for(province.id)
    assert f'"tree_size": {first.tree_size}' in seen[0].details and "checkpoint" in seen[0].details
    _rewrite_history(province, "rewritten again")  # a second rewrite, after the hub saw the first: refused
    with pytest.raises(FailedPrecondition) as exc:
        witness.publish(province, fed)
    assert exc.value.reason == "CHECKPOINT_INCONSISTENT"
    assert len(_hub_events(hub_node, "tlog.witness.first-seen")) == 1


def _hub_state(hub_node: Node) -> tuple[int, int]:
    with hub_node.db.session(readonly=True) as s:
        return (s.scalar(select(func.count()).select_from(CosignedCheckpoint)) or 0,
                s.scalar(select(func.count()).select_from(FederationMember)) or 0)


def test_bad_checkpoints_at_join_are_refused_and_change_nothing(hub_node: Node, province: Node,
                                                                prov_b: Node) -> None:
    _events(province, 2)
    origin = origin_for(province.id)
    good = parse_note(witness.newest_checkpoint(province))
    cases = [
        ("malformed", "not a checkpoint", "CHECKPOINT_MALFORMED"),
        ("signed by another node's key",
         sign(good.checkpoint, origin, prov_b.tlog.signer()).render(), "CHECKPOINT_SIGNATURE_INVALID"),
        ("another node's log", witness.newest_checkpoint(prov_b), "CHECKPOINT_ORIGIN_MISMATCH"),
        ("altered root", sign(Checkpoint(origin, good.checkpoint.size, bytes(32)), origin,
                              prov_b.tlog.signer()).render(), "CHECKPOINT_SIGNATURE_INVALID"),
    ]
    before = _hub_state(hub_node)
    for what, checkpoint, reason in cases:
        with pytest.raises(HutongError) as exc:
            hub.add_member(hub_node, hub.describe_node(province), log_checkpoint=checkpoint)
        assert exc.value.reason == reason, what
        assert _hub_state(hub_node) == before, what  # neither cosigned nor added


def _cli(*argv: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUTONG_")}
    proc = subprocess.run([sys.executable, "-m", "hutong.cli", *argv], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_descriptor_carries_the_checkpoint_and_adding_the_member_pins_it(hub_node: Node, province: Node,
                                                                            tmp_path: Path) -> None:
    _events(province, 3)
    raw = _cli("federation", "describe", "--data-dir", str(province.config.data_dir))
    descriptor = json.loads(raw)
    newest = parse_note(witness.newest_checkpoint(province)).checkpoint
    assert parse_note(descriptor["log_checkpoint"]).checkpoint == newest
    path = tmp_path / "prov-a.json"
    path.write_text(raw, encoding="utf-8")
    _cli("federation", "add", "--data-dir", str(hub_node.config.data_dir), str(path))
    pinned = witness.cosigned(hub_node, origin_for(province.id))
    assert pinned and parse_note(pinned).checkpoint == newest
    assert "log_checkpoint" not in hub.members(hub_node)[0].__dict__  # not carried into the trust list
