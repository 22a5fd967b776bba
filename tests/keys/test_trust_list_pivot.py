"""The hub's trust-list signing key pivots: the list signed by the current key announces its successor before the
switch; a member that fetched it (from the hub's real gRPC server, over mutual TLS) then accepts lists signed by
the successor without any reconfiguration -- and refuses a list signed by any key the hub did not announce, even
one the hub root certified."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hsm import CreateKeyRequest, KeyAlgorithm
from hutong import pki, rollover
from hutong.audit import AuditRecord
from hutong.errors import HutongError
from hutong.federation import hub, transport
from hutong.federation.trustlist import TrustListStore, key_id, sign_trust_list, signer_certificate
from hutong.node import Node
from hutong.verify import jose


def _refresh(member: Node) -> int:
    tl = member.trust.refresh(transport.trust_list_fetcher(member))
    assert tl is not None
    return tl.sequence


def _reason(exc: pytest.ExceptionInfo[HutongError]) -> str:
    return exc.value.reason


@pytest.fixture
def federation(tmp_path: Path, hub_node: Node, province: Node, serve: Any) -> tuple[Node, Node]:
    hub_ch, member_ch = serve(hub_node), serve(province)
    hub.add_member(hub_node, hub.describe_node(province, endpoints=[member_ch.hutong_target]))
    province.trust.hub_target = hub_ch.hutong_target
    province.trust.store = TrustListStore(path=tmp_path / "prov-a" / "trust-list.jws",
                                          hub_roots=[hub_node.pki.certificate(pki.ROOT)])
    hub.publish(hub_node)
    assert _refresh(province) == 1
    return hub_node, province


def test_members_follow_an_announced_trust_list_key_and_only_that_one(federation: tuple[Node, Node],
                                                                      tmp_path: Path) -> None:
    hub_node, member = federation
    old_key = key_id(hub_node.pki.certificate(pki.TRUST_LIST))
    first_list = member.trust.store.token  # type: ignore[union-attr]
    assert first_list is not None

    prepared = rollover.rotate(hub_node, "node.trust-list")
    assert any("announce it as the next signer" in a for a in prepared.actions)
    successor = hub_node.pki.registry.snapshot().pending(pki.TRUST_LIST)
    assert successor is not None and successor.certificate is not None
    # Not announced by a published list yet: switching now would strand every member.
    with pytest.raises(HutongError) as refused:
        rollover.rotate(hub_node, "node.trust-list", dry_run=True)
    assert _reason(refused) == "ROLLOVER_NOT_PUBLISHED"

    announcing = hub.publish(hub_node)  # still signed by the current key, announcing the successor
    assert key_id(signer_certificate(announcing)) == old_key
    assert json.loads(jose.decode_payload(announcing))["next_signers"] == [successor.certificate_pem]
    assert _refresh(member) == 2

    # A key the hub root certified but the hub never announced: refused, the list held stays.
    stranger = hub_node.keys.create_key(CreateKeyRequest(label="node.trust-list.stranger",
                                                         algorithm=KeyAlgorithm.EC_P256))
    stranger_cert = hub_node.pki.certify(pki.TRUST_LIST, stranger.public_key)
    held = member.trust.trust_list()
    assert held is not None
    forged = sign_trust_list(replace(held, sequence=99), hub_node.keys.signer("node.trust-list.stranger"),
                             [stranger_cert, hub_node.pki.certificate(pki.ROOT)])
    with pytest.raises(HutongError) as err:
        member.trust.store.accept(forged)  # type: ignore[union-attr]
    assert _reason(err) == "TRUST_LIST_SIGNER_NOT_ANNOUNCED"
    assert member.trust.trust_list().sequence == 2  # type: ignore[union-attr]

    plan = rollover.rotate(hub_node, "node.trust-list", dry_run=True)
    assert plan.step == "activate" and any("list #2 or later follow" in a for a in plan.actions)
    rollover.rotate(hub_node, "node.trust-list")  # the switch
    after = hub.publish(hub_node)
    assert key_id(signer_certificate(after)) == key_id(successor.certificate) != old_key
    assert "next_signers" not in json.loads(jose.decode_payload(after))
    assert _refresh(member) == 3  # followed, nothing reconfigured
    # ... and it keeps following after a restart (the pin is the list held on disk).
    restarted = TrustListStore(path=member.trust.store.path, hub_roots=member.trust.store.hub_roots)  # type: ignore[union-attr]
    assert restarted.current().sequence == 3
    hub.publish(hub_node)
    assert _refresh(member) == 4
    with pytest.raises(HutongError) as err:  # the stranger is still nobody
        member.trust.store.accept(sign_trust_list(  # type: ignore[union-attr]
            replace(held, sequence=100), hub_node.keys.signer("node.trust-list.stranger"),
            [stranger_cert, hub_node.pki.certificate(pki.ROOT)]))
    assert _reason(err) == "TRUST_LIST_SIGNER_NOT_ANNOUNCED"

    # A member that missed the announcement (it still holds list #1) refuses the successor's lists.
    late = TrustListStore(path=tmp_path / "late" / "trust-list.jws", hub_roots=member.trust.store.hub_roots)  # type: ignore[union-attr]
    late.accept(first_list)
    with pytest.raises(HutongError) as err:
        late.accept(hub.latest(hub_node))
    assert _reason(err) == "TRUST_LIST_SIGNER_NOT_ANNOUNCED"
    assert late.current().sequence == 1

    with hub_node.db.session(readonly=True) as s:
        actions = [(e.action, e.target) for e in s.scalars(select(AuditRecord).order_by(AuditRecord.seq))]
    assert ("pki.rollover.prepare", pki.TRUST_LIST) in actions and ("pki.rollover.activate", pki.TRUST_LIST) in actions
    with pytest.raises(HutongError) as err:  # the previous key still verifies lists members hold
        rollover.check_destroy(hub_node.pki.registry.snapshot(), pki.key_label(pki.TRUST_LIST))
    assert _reason(err) == "NODE_KEY_STILL_NEEDED"


def test_members_follow_a_hub_root_rollover_over_mutual_tls(federation: tuple[Node, Node]) -> None:
    """The hub's root rolls over (its trust-list key and TLS certificate with it): the member, configured with the
    OLD hub root only, keeps fetching over mutual TLS and accepts lists signed under the new root."""
    hub_node, member = federation
    old_root = hub_node.pki.certificate(pki.ROOT)
    rollover.rotate(hub_node, "node.root-ca")  # prepare: new root and a successor of the trust-list key
    new_root = hub_node.pki.registry.snapshot().pending(pki.ROOT)
    assert new_root is not None and new_root.certificate is not None
    with pytest.raises(HutongError) as refused:  # the successor trust-list key is not announced yet
        rollover.rotate(hub_node, "node.root-ca")
    assert _reason(refused) == "ROLLOVER_NOT_PUBLISHED"
    hub.publish(hub_node)  # #2 announces the new trust-list key and names both hub roots
    assert _refresh(member) == 2
    rollover.rotate(hub_node, "node.root-ca")  # activate
    assert hub_node.pki.certificate(pki.ROOT) == new_root.certificate != old_root
    signed_under_new = hub.publish(hub_node)
    signer = signer_certificate(signed_under_new)
    signer.verify_directly_issued_by(new_root.certificate)
    store = member.trust.store
    assert store is not None and store.hub_roots == [old_root]  # nothing reconfigured
    assert _refresh(member) == 3  # over mutual TLS with the hub's re-issued certificate, chained to the new root
    assert new_root.certificate in store.known_roots()
    restarted = TrustListStore(path=store.path, hub_roots=[old_root])
    assert restarted.current().sequence == 3  # the learned root is kept beside the list
    # Without what list #2 taught, the configured old root alone does not vouch for list #3.
    naive = TrustListStore(path=store.path.parent / "naive" / "trust-list.jws", hub_roots=[old_root])
    with pytest.raises(HutongError) as err:
        naive.accept(signed_under_new)
    assert _reason(err) == "TRUST_LIST_UNKNOWN_SIGNER"
