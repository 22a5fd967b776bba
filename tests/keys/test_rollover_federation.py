"""Rollovers seen from another member through the trust list: seals made under A's previous seal CA and TSA
keep verifying at B (certificates and CRLs of both keys), new ones chain to the new keys; A refuses to
activate a successor the trust list does not announce yet; B's federation decryption key rolls over while
A still encrypts to the key its copy of the list names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from bench.pdfgen import make_pdf
from hutong import pki, rollover
from hutong.errors import FailedPrecondition
from hutong.federation import assertion, hub
from hutong.node import Node
from hutong.verify.pdf import Verdict, verify_pdf
from seal_svc.sealing import Placement, Sealer, SealOptions
from seal_svc.seals import SealService, SealType
from tests.federation.conftest import federate, install_trust_list
from tests.seal.conftest import ORG_A, USCC_A, admin_of, staff

FAST_CRLS = "\n[federation]\ncrl_refresh_seconds = 0\n"


def _seal(seals: SealService) -> tuple[str, bytes]:
    info = seals.create_seal(admin_of(USCC_A), org_uscc=USCC_A, org_name=ORG_A, seal_type=SealType.CONTRACT)
    seals.grant(admin_of(USCC_A), info.seal_id, grantee_kind="person", grantee=staff().subject)
    return info.seal_id, _sign(seals, info.seal_id)


def _sign(seals: SealService, seal_id: str) -> bytes:
    return Sealer(seals).seal_chunks(staff(), seal_id, [make_pdf()], SealOptions(
        placement=Placement(page=1, x=350, y=80, width=120, height=120), reason="合同")).read()


def _verify_at(node: Node, pdf: bytes) -> Any:
    return verify_pdf(pdf, Sealer(SealService(node)).trust, limit=1 << 30, temp_dir=str(node.config.data_dir))


def _republish(hub_node: Node, a: Node, b: Node, endpoint: str, tmp: Path) -> None:
    hub.add_member(hub_node, hub.describe_node(a, endpoints=[endpoint]))
    install_trust_list(hub_node, hub.publish(hub_node), [a, b], tmp)


def _issuer_key(cert_der: x509.Certificate) -> bytes:
    return cert_der.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier or b""


def test_seal_ca_and_tsa_roll_over_and_b_verifies_old_and_new(tmp_path: Path, hub_node: Node, node_factory: Any,
                                                               serve: Any) -> None:
    a: Node = node_factory("prov-a")
    b: Node = node_factory("prov-b", config=FAST_CRLS)
    endpoint = serve(a).hutong_target
    hub.add_member(hub_node, hub.describe_node(a, endpoints=[endpoint]))
    hub.add_member(hub_node, hub.describe_node(b))
    install_trust_list(hub_node, hub.publish(hub_node), [a, b], tmp_path)
    seals = SealService(a)
    old_seal, before = _seal(seals)
    old_ca = a.pki.certificate(pki.SEAL_CA)

    for role in (pki.SEAL_CA, pki.TSA):
        rollover.rotate(a, role)  # prepare
        with pytest.raises(FailedPrecondition) as refused:
            rollover.rotate(a, role)  # B would not know the new key yet
        assert refused.value.reason == "ROLLOVER_NOT_PUBLISHED"
    _republish(hub_node, a, b, endpoint, tmp_path)  # A's descriptor now announces both successors
    during = _sign(seals, old_seal)
    for role in (pki.SEAL_CA, pki.TSA):
        rollover.rotate(a, role)  # activate
    new_ca = a.pki.certificate(pki.SEAL_CA)
    assert new_ca.public_key() != old_ca.public_key()
    new_seal, after = _seal(seals)
    after_old_seal = _sign(seals, old_seal)  # an existing seal keeps its certificate from the previous CA key
    assert _issuer_key(seals.get_seal(admin_of(USCC_A), new_seal).certificate) != _issuer_key(
        seals.get_seal(admin_of(USCC_A), old_seal).certificate)

    for pdf in (before, during, after, after_old_seal):
        assert _verify_at(a, pdf).verdict == Verdict.VALID
        assert _verify_at(b, pdf).verdict == Verdict.VALID  # through the trust list and A's CRLs

    # The previous seal CA key still answers for what it issued: revoking an old seal reaches B.
    seals.revoke_seal(admin_of(USCC_A), old_seal, reason="key compromise")
    assert _verify_at(b, before).verdict == Verdict.INVALID
    assert _verify_at(b, after).verdict == Verdict.VALID


def test_federation_decryption_key_overlap(tmp_path: Path, hub_node: Node, province: Node, prov_b: Node) -> None:
    federate(hub_node, [province, prov_b], tmp_path)
    old_list_token = assertion.issue(province, audience_node="prov-b", op="test", claims={"acr": "low"})
    rollover.rotate(prov_b, pki.FEDERATION_ENC)
    rollover.rotate(prov_b, pki.FEDERATION_ENC)  # not gated: senders keep using the old key until they refresh
    # A still holds the old list: it encrypts to B's previous key, which B still accepts.
    late = assertion.issue(province, audience_node="prov-b", op="test", claims={"acr": "low"})
    assert assertion.accept(prov_b, old_list_token, op="test").issuer_node == "prov-a"
    assert assertion.accept(prov_b, late, op="test").issuer_node == "prov-a"
    hub.add_member(hub_node, hub.describe_node(prov_b))
    install_trust_list(hub_node, hub.publish(hub_node), [province, prov_b], tmp_path)
    assert province.trust.member("prov-b").enc_jwk != {} and assertion.accept(
        prov_b, assertion.issue(province, audience_node="prov-b", op="test", claims={"acr": "low"}),
        op="test").issuer_node == "prov-a"
