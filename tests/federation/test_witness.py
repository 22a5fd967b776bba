"""The hub witnesses members' audit logs: cosigns consistent checkpoints, refuses and reports forks.

Real nodes (own SoftHSM tokens and databases), the hub served over gRPC on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from hutong.audit import AuditRecord
from hutong.errors import FailedPrecondition, HutongError, InvalidArgument
from hutong.node import Node
from hutong.tlog import witness
from hutong.tlog.models import CosignedCheckpoint, LogCheckpoint, LogLeaf
from hutong.tlog.note import Checkpoint, VerifierKey, cosign, origin_for, parse_note, sign
from hutong.tlog.service import GrpcWitness
from hutong.tlog.verify import verify_log
from tests.federation.conftest import federate


@pytest.fixture
def fed(hub_node: Node, province: Node, prov_b: Node, serve: Any, tmp_path: Path) -> GrpcWitness:
    federate(hub_node, [province, prov_b], tmp_path)
    return GrpcWitness(serve(hub_node))


def _events(node: Node, n: int) -> None:
    for i in range(n):
        node.audit.record(actor="tester", action="thing.do", target=f"t{i}")
    node.tlog.integrate_all()


def _size(node: Node) -> int:
    with node.db.session(readonly=True) as s:
        return int(s.scalar(select(func.max(LogCheckpoint.tree_size))) or 0)


def _hub_state(hub: Node) -> tuple[int, int]:
    with hub.db.session(readonly=True) as s:
        return (s.scalar(select(func.count()).select_from(CosignedCheckpoint)) or 0,
                s.scalar(select(func.count()).select_from(AuditRecord)) or 0)


def test_members_publish_and_fetch_cosigned_checkpoints(fed: GrpcWitness, hub_node: Node, province: Node,
                                                        prov_b: Node) -> None:
    _events(province, 3)
    first = witness.publish(province, fed)
    assert first.origin == origin_for(province.id) and first.tree_size == _size(province)
    _events(province, 4)
    second = witness.publish(province, fed)  # with a consistency proof from the first
    assert second.tree_size == first.tree_size + 4
    assert witness.publish(province, fed).tree_size == second.tree_size  # again: the same cosigned note

    got = witness.fetch(prov_b, fed, province.id)  # another member checks both signatures and keeps it
    assert got is not None and got.tree_size == second.tree_size
    with prov_b.db.session(readonly=True) as s:
        kept = s.get(CosignedCheckpoint, (origin_for(province.id), second.tree_size))
    assert kept is not None
    note = parse_note(kept.note)
    tl = prov_b.trust.trust_list()
    assert tl is not None
    assert VerifierKey.decode(tl.member(province.id).log_key).verifies(note)
    assert VerifierKey.decode(tl.witness_key).cosigned_at(note) is not None

    report = verify_log(province.db)
    assert report.ok and report.cosigned == 2


def test_rewritten_history_is_refused_reported_and_found_locally(fed: GrpcWitness, hub_node: Node,
                                                                 province: Node) -> None:
    _events(province, 3)
    witnessed = witness.publish(province, fed).tree_size
    # The node rewrites its own history and re-signs it with its own key: same size, another record.
    with province.db.session() as s:
        s.execute(delete(LogCheckpoint))
        s.execute(delete(LogLeaf))
        s.execute(update(AuditRecord).where(AuditRecord.action == "thing.do", AuditRecord.target == "t1")
                  .values(target="rewritten"))
    province.tlog.batch = witnessed
    province.tlog.integrate_all()
    province.tlog.batch = 2000
    _events(province, 2)
    hub_before = _hub_state(hub_node)[0]
    with pytest.raises(FailedPrecondition) as exc:
        witness.publish(province, fed)
    assert exc.value.reason == "CHECKPOINT_INCONSISTENT"
    assert _hub_state(hub_node)[0] == hub_before  # nothing cosigned
    with hub_node.db.session(readonly=True) as s:
        evidence = s.scalars(select(AuditRecord).where(AuditRecord.action == "tlog.fork.detected")).one()
    assert evidence.target == province.id and evidence.outcome == "refused"
    # The node's own verify compares with what the hub cosigned and names the rewrite.
    report = verify_log(province.db)
    assert not report.ok and "rewritten" in report.problem and f"size {witnessed}" in report.problem


def test_same_size_other_root_is_a_fork(fed: GrpcWitness, hub_node: Node, province: Node) -> None:
    _events(province, 3)
    size = witness.publish(province, fed).tree_size
    forged = sign(Checkpoint(origin_for(province.id), size, bytes(32)), origin_for(province.id),
                  province.tlog.signer())
    with pytest.raises(FailedPrecondition) as exc:
        fed.add(forged.render(), size, [])
    assert exc.value.reason == "CHECKPOINT_INCONSISTENT"


def _bad_inputs(province: Node, prov_b: Node, hub: Node, size: int) -> list[tuple[str, Any, str]]:
    origin = origin_for(province.id)
    good = parse_note(witness.cosigned(hub, origin))
    by_stranger = sign(Checkpoint(origin, size + 1, bytes(32)), origin, prov_b.tlog.signer())
    stale = sign(Checkpoint(origin, size - 1, bytes(32)), origin, province.tlog.signer())
    unknown = sign(Checkpoint("hutong.node/nobody/audit", 1, bytes(32)), "hutong.node/nobody/audit",
                   province.tlog.signer())
    return [
        ("malformed", lambda w: w.add("not a checkpoint\n\n— x AAAA\n", 0, []), "CHECKPOINT_MALFORMED"),
        ("no signature block", lambda w: w.add(good.text, 0, []), "CHECKPOINT_MALFORMED"),
        ("signed by another member's key", lambda w: w.add(by_stranger.render(), size, []),
         "CHECKPOINT_SIGNATURE_INVALID"),
        ("stale", lambda w: w.add(stale.render(), size, []), "CHECKPOINT_STALE"),
        ("unknown log", lambda w: w.add(unknown.render(), 0, []), "LOG_ORIGIN_UNKNOWN"),
        ("proof from the wrong size", lambda w: w.add(
            sign(Checkpoint(origin, size + 5, bytes(32)), origin, province.tlog.signer()).render(), 1, []),
         "WITNESS_SIZE_MISMATCH"),
    ]


def test_bad_checkpoints_are_refused_and_change_nothing(fed: GrpcWitness, hub_node: Node, province: Node,
                                                        prov_b: Node) -> None:
    _events(province, 4)
    size = witness.publish(province, fed).tree_size
    for what, call, reason in _bad_inputs(province, prov_b, hub_node, size):
        before = _hub_state(hub_node)
        with pytest.raises(HutongError) as exc:
            call(fed)
        assert exc.value.reason == reason, what
        assert _hub_state(hub_node) == before, what


def test_a_strangers_cosignature_is_refused(fed: GrpcWitness, hub_node: Node, province: Node,
                                            prov_b: Node) -> None:
    _events(province, 3)
    with province.db.session(readonly=True) as s:
        note = parse_note(s.scalars(select(LogCheckpoint.note).order_by(LogCheckpoint.tree_size.desc())).first()
                          or "")
    # prov_b cosigns under the hub's witness name: the name matches, the key does not.
    fake = cosign(note, witness.witness_name(hub_node.id), prov_b.tlog.signer())
    with prov_b.db.session(readonly=True) as s:
        before = s.scalar(select(func.count()).select_from(CosignedCheckpoint))
    with pytest.raises(InvalidArgument) as exc:
        witness.accept_cosigned(prov_b, fake.render())
    assert exc.value.reason == "COSIGNATURE_INVALID"
    with prov_b.db.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(CosignedCheckpoint)) == before


def test_nothing_cosigned_yet(fed: GrpcWitness, prov_b: Node, province: Node) -> None:
    assert witness.fetch(prov_b, fed, province.id) is None


def test_a_serving_member_publishes_and_fetches_on_its_own(hub_node: Node, province: Node, prov_b: Node,
                                                          serve: Any, tmp_path: Path) -> None:
    import time

    from hutong.tlog.service import start_witnessing

    federate(hub_node, [province, prov_b], tmp_path)
    channel = serve(hub_node)
    _events(province, 2)
    _events(prov_b, 2)
    stops = []
    for n in (province, prov_b):
        n.trust.hub_target = channel.hutong_target  # type: ignore[attr-defined]
        stop = start_witnessing(n, interval=0.1)
        assert stop is not None
        stops.append(stop)
    try:
        deadline = time.monotonic() + 60  # bounded wait for the threads, not a performance threshold
        while time.monotonic() < deadline:
            with province.db.session(readonly=True) as s:
                origins = set(s.scalars(select(CosignedCheckpoint.origin)))
            if origins == {origin_for(province.id), origin_for(prov_b.id)}:
                break
            time.sleep(0.2)
        assert origins == {origin_for(province.id), origin_for(prov_b.id)}
    finally:
        for stop in stops:
            stop.set()
