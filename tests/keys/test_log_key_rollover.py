"""The transparency-log key (``node.audit-log``) rolls over: its successor is announced in the member descriptor
before it signs; checkpoints after the switch are signed by the new key; the hub's witness (served over gRPC)
cosigns them -- the announced successor, never a stranger -- another member accepts them through its trust list,
and every checkpoint signed before keeps verifying."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hsm import CreateKeyRequest, KeyAlgorithm
from hutong import rollover
from hutong.errors import HutongError
from hutong.federation import hub
from hutong.node import Node
from hutong.tlog import witness
from hutong.tlog.integrator import latest_checkpoint
from hutong.tlog.models import CosignedCheckpoint, LogCheckpoint
from hutong.tlog.note import Checkpoint, VerifierKey, parse_note, sign, signer_key
from hutong.tlog.service import GrpcWitness
from hutong.tlog.verify import verify_log
from tests.federation.conftest import federate, install_trust_list


def _events(node: Node, n: int) -> None:
    for i in range(n):
        node.audit.record(actor="tester", action="thing.do", target=f"t{i}")
    node.tlog.integrate_all()


def _reason(exc: pytest.ExceptionInfo[HutongError]) -> str:
    return exc.value.reason


def test_log_key_rolls_over_and_the_witness_follows_the_announced_key_only(
        hub_node: Node, province: Node, prov_b: Node, serve: Any, tmp_path: Path) -> None:
    federate(hub_node, [province, prov_b], tmp_path)
    hub_witness = GrpcWitness(serve(hub_node))
    _events(province, 3)
    before = witness.publish(province, hub_witness)
    old_vkey = province.tlog.vkey()

    prepared = rollover.rotate(province, "node.audit-log")
    new_vkey = signer_key(province.tlog.origin, province.keys.signer(prepared.label)).encode()
    assert province.tlog.vkeys() == [old_vkey, new_vkey]  # published ...
    _events(province, 2)
    with province.db.session(readonly=True) as s:
        cp = latest_checkpoint(s)
        assert cp is not None
        assert VerifierKey.decode(old_vkey).verifies(parse_note(cp.note))  # ... but not signing yet
    with pytest.raises(HutongError) as refused:  # the trust list does not announce it yet
        rollover.rotate(province, "node.audit-log")
    assert _reason(refused) == "ROLLOVER_NOT_PUBLISHED"

    hub.add_member(hub_node, hub.describe_node(province))  # the descriptor announces the successor
    install_trust_list(hub_node, hub.publish(hub_node), [province, prov_b], tmp_path)
    assert prov_b.trust.member(province.id).log_keys() == [old_vkey, new_vkey]
    activated = rollover.rotate(province, "node.audit-log")
    assert activated.needed_until is None  # old checkpoints keep needing the old key
    assert province.tlog.vkey() == new_vkey

    _events(province, 4)
    with province.db.session(readonly=True) as s:
        newest = latest_checkpoint(s)
        assert newest is not None
    assert VerifierKey.decode(new_vkey).verifies(parse_note(newest.note))
    assert not VerifierKey.decode(old_vkey).verifies(parse_note(newest.note))
    after = witness.publish(province, hub_witness)  # the hub cosigns the successor's checkpoint
    assert after.tree_size == newest.tree_size > before.tree_size
    fetched = witness.fetch(prov_b, hub_witness, province.id)  # B checks it with the keys its list carries
    assert fetched is not None and fetched.tree_size == after.tree_size

    # A stranger key (same origin, never announced) gets no cosignature.
    province.keys.create_key(CreateKeyRequest(label="stranger-log-key", algorithm=KeyAlgorithm.EC_P256))
    forged = sign(Checkpoint(province.tlog.origin, newest.tree_size, bytes.fromhex(newest.root_hash)),
                  province.tlog.origin, province.keys.signer("stranger-log-key"))
    with pytest.raises(HutongError) as err:
        hub_witness.add(forged.render(), newest.tree_size, [])
    assert _reason(err) == "CHECKPOINT_SIGNATURE_INVALID"

    # Every checkpoint, before and after the switch, verifies with the keys the trust list announces.
    keys = [VerifierKey.decode(k) for k in prov_b.trust.member(province.id).log_keys()]
    report = verify_log(province.db, keys=keys)
    assert report.ok, report
    with province.db.session(readonly=True) as s:
        notes = list(s.scalars(select(LogCheckpoint.note)))
    signed_by = {VerifierKey.decode(old_vkey).verifies(parse_note(n)) for n in notes}
    assert signed_by == {True, False}  # both generations are in the log
    with pytest.raises(HutongError) as err:  # the old key cannot be destroyed: its checkpoints need it
        rollover.check_destroy(province.pki.registry.snapshot(), "node.audit-log")
    assert _reason(err) == "NODE_KEY_STILL_NEEDED"


def test_the_hubs_log_key_rolls_over_and_members_accept_both_witness_keys(
        hub_node: Node, province: Node, prov_b: Node, serve: Any, tmp_path: Path) -> None:
    """The hub's log key is also its witness key: the successor is named in a published list before it cosigns;
    a member holding that list accepts the new cosignatures, and what the old key cosigned stays accepted."""
    federate(hub_node, [province, prov_b], tmp_path)
    hub_witness = GrpcWitness(serve(hub_node))
    _events(province, 3)
    witness.publish(province, hub_witness)
    assert witness.fetch(prov_b, hub_witness, province.id) is not None
    old_witness = prov_b.trust.trust_list().witness_key

    prepared = rollover.rotate(hub_node, "node.audit-log")
    new_witness = signer_key(witness.witness_name(hub_node.id), hub_node.keys.signer(prepared.label)).encode()
    with pytest.raises(HutongError) as refused:  # no published list names the successor as a witness key yet
        rollover.rotate(hub_node, "node.audit-log")
    assert _reason(refused) == "ROLLOVER_NOT_PUBLISHED"
    install_trust_list(hub_node, hub.publish(hub_node), [province, prov_b], tmp_path)
    held = prov_b.trust.trust_list()
    assert held.witness_key == old_witness and held.witness_keys() == [old_witness, new_witness]
    rollover.rotate(hub_node, "node.audit-log")  # the hub now cosigns with the successor

    _events(province, 2)
    after = witness.publish(province, hub_witness)
    note = parse_note(witness.cosigned(hub_node, province.tlog.origin))
    assert VerifierKey.decode(new_witness).cosigned_at(note) is not None
    assert VerifierKey.decode(old_witness).cosigned_at(note) is None
    fetched = witness.fetch(prov_b, hub_witness, province.id)  # B still holds the list from before the switch
    assert fetched is not None and fetched.tree_size == after.tree_size

    # The next list names the successor as the witness key and keeps the old one: what it cosigned stays valid.
    install_trust_list(hub_node, hub.publish(hub_node), [province, prov_b], tmp_path)
    held = prov_b.trust.trust_list()
    assert held.witness_keys() == [new_witness, old_witness]
    with prov_b.db.session(readonly=True) as s:
        kept = list(s.scalars(select(CosignedCheckpoint.note).where(CosignedCheckpoint.origin == province.tlog.origin)
                              .order_by(CosignedCheckpoint.tree_size)))
    assert [VerifierKey.decode(old_witness).cosigned_at(parse_note(n)) is not None for n in kept] == [True, False]
    for n in kept:  # both generations are checked again under the newest list
        assert witness.accept_cosigned(prov_b, n).origin == province.tlog.origin
