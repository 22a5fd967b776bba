"""A PDF sealed at node A verifies at node B offline from the trust list; A's revocation reaches B via A's CRL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.pdfgen import make_pdf
from hutong.federation import hub
from hutong.node import Node
from hutong.verify.pdf import Verdict, verify_pdf
from seal_svc.sealing import Placement, Sealer, SealOptions
from seal_svc.seals import SealService, SealType
from tests.federation.conftest import install_trust_list
from tests.seal.conftest import ORG_A, USCC_A, admin_of, staff

FAST_CRLS = "\n[federation]\ncrl_refresh_seconds = 0\n"


@pytest.fixture
def sealed(tmp_path: Path, hub_node: Node, node_factory: Any, serve: Any) -> dict[str, Any]:
    a: Node = node_factory("prov-a")
    b: Node = node_factory("prov-b", config=FAST_CRLS)
    ch_a = serve(a)
    hub.add_member(hub_node, hub.describe_node(a, endpoints=[ch_a.hutong_target]))
    hub.add_member(hub_node, hub.describe_node(b))
    install_trust_list(hub_node, hub.publish(hub_node), [a, b], tmp_path)
    seals = SealService(a)
    info = seals.create_seal(admin_of(USCC_A), org_uscc=USCC_A, org_name=ORG_A, seal_type=SealType.CONTRACT)
    seals.grant(admin_of(USCC_A), info.seal_id, grantee_kind="person", grantee=staff().subject)
    doc = Sealer(seals).seal_chunks(staff(), info.seal_id, [make_pdf()], SealOptions(
        placement=Placement(page=1, x=350, y=80, width=120, height=120), reason="合同"))
    return {"a": a, "b": b, "seals": seals, "seal_id": info.seal_id, "pdf": doc.read(), "hub": hub_node,
            "tmp": tmp_path}


def _verify_at(node: Node, pdf: bytes) -> Any:
    return verify_pdf(pdf, Sealer(SealService(node)).trust, limit=1 << 30, temp_dir=str(node.config.data_dir))


def test_b_verifies_a_seal_and_sees_its_revocation(sealed: dict[str, Any]) -> None:
    report = _verify_at(sealed["b"], sealed["pdf"])
    assert report.verdict == Verdict.VALID, report
    sig = report.signatures[0]
    assert sig.trusted and sig.org_uscc == USCC_A and sig.seal_id == sealed["seal_id"]
    sealed["seals"].revoke_seal(admin_of(USCC_A), sealed["seal_id"], reason="key compromise")
    report = _verify_at(sealed["b"], sealed["pdf"])
    assert report.verdict == Verdict.INVALID
    assert any("REVOKED" in f.reason for s in report.signatures for f in s.findings), report


def test_a_seal_is_untrusted_at_a_node_outside_the_federation(sealed: dict[str, Any], node_factory: Any) -> None:
    stranger: Node = node_factory("stranger")
    assert _verify_at(stranger, sealed["pdf"]).verdict != Verdict.VALID


def test_b_refuses_a_seals_after_a_is_removed(sealed: dict[str, Any]) -> None:
    hub.remove_member(sealed["hub"], "prov-a")
    install_trust_list(sealed["hub"], hub.publish(sealed["hub"]), [sealed["b"]], sealed["tmp"])
    report = _verify_at(sealed["b"], sealed["pdf"])
    assert report.verdict != Verdict.VALID and not report.signatures[0].trusted
