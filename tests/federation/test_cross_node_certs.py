"""Certificates across nodes: B issues a diploma; a platform at A fetches it through the hub within the
holder's consent and verifies it at A, with status from B's signed status list."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from cert_svc import catalogue, consent, issuance, issuers, lifecycle
from cert_svc.federation import remote_platform_id
from cert_svc.records import Holder
from hutong import identifiers
from hutong.auth import CLIENT_ID, CLIENT_SECRET, OPERATOR_SCOPE, Principal
from hutong.cert.v1 import cert_pb2 as pb
from hutong.cert.v1 import cert_pb2_grpc as pb_grpc
from hutong.common.v1.common_pb2 import VERDICT_INVALID, VERDICT_VALID
from hutong.errors import HutongError
from hutong.federation import hub
from hutong.node import Node
from hutong.status import error_from_rpc
from identity_svc import platforms
from identity_svc.core import Identity
from tests.federation.conftest import FAST_IDENTITY, install_trust_list

CITIZEN = "11010519491231002X"
EDU_USCC = "91110000600037341L"
OPERATOR = Principal(kind="platform", subject="ops", platform="ops", scopes=(OPERATOR_SCOPE,))
EDU = Principal(kind="platform", subject="edu-platform", platform="edu-platform")
HOLDER = Principal(kind="person", subject="holder")
TTL = 2
DIPLOMA = {"name": "张三", "institution": "某某大学", "major": "计算机科学与技术", "level": "本科",
           "enrolled_on": "2010-09-01", "graduated_on": "2014-07-01", "certificate_number": "100011201405000123"}


@pytest.fixture
def fed(tmp_path: Path, hub_node: Node, node_factory: Any, serve: Any) -> dict[str, Any]:
    a: Node = node_factory("prov-a", config=FAST_IDENTITY)
    b: Node = node_factory("prov-b", config=FAST_IDENTITY + f"\n[cert]\nstatus_list_ttl = {TTL}\n")
    channels = {n.id: serve(n) for n in (hub_node, a, b)}
    targets = {n: ch.hutong_target for n, ch in channels.items()}
    for n in (a, b):
        hub.add_member(hub_node, hub.describe_node(n, endpoints=[targets[n.id]]))
        n.trust.hub_target = targets["hub"]
    install_trust_list(hub_node, hub.publish(hub_node), [a, b], tmp_path)
    issuers.register(b, OPERATOR, uscc=EDU_USCC, name="某省教育厅", type_codes=[catalogue.DIPLOMA],
                     platform_client_id="edu-platform")
    diploma = issuance.issue(b, EDU, issuance.IssueRequest(type_code=catalogue.DIPLOMA,
                                                           holder=Holder(kind="person", id=CITIZEN, name="张三"),
                                                           fields=DIPLOMA))
    portal = platforms.add_platform(Identity.of(a), client_id="portal-a", name="Portal A")
    channel = channels["prov-a"]
    return {"a": a, "b": b, "diploma": diploma.identifier, "stub": pb_grpc.CertServiceStub(channel),
            "md": [(CLIENT_ID, "portal-a"), (CLIENT_SECRET, portal.client_secret)], "hub": hub_node,
            "tmp": tmp_path}


def _consent(fed: dict[str, Any], platform: str) -> str:
    return consent.grant(fed["b"], HOLDER, fed["b"].pki.blind_indexes(CITIZEN), platform=platform,
                         identifiers=[fed["diploma"]], purpose="办理落户",
                         expires_at=datetime.now(UTC) + timedelta(days=30)).consent_id


def _fetch(fed: dict[str, Any], purpose: str = "办理落户") -> str:
    try:
        return str(fed["stub"].FetchRemoteCertificate(pb.FetchRemoteCertificateRequest(
            node_id="prov-b", identifier=fed["diploma"], purpose=purpose), metadata=fed["md"], timeout=30).jws)
    except grpc.RpcError as exc:
        raise error_from_rpc(exc) from None


def _verify_at_a(fed: dict[str, Any], token: str) -> pb.VerifyResponse:
    return fed["stub"].Verify(pb.VerifyRequest(jws=token), timeout=30)


def test_platform_at_a_fetches_through_the_hub_within_consent_and_verifies(fed: dict[str, Any]) -> None:
    with pytest.raises(HutongError) as err:
        _fetch(fed)
    assert err.value.reason == "NO_CONSENT"
    _consent(fed, remote_platform_id("prov-a", "portal-a"))
    token = _fetch(fed)
    result = _verify_at_a(fed, token)
    assert result.verdict == VERDICT_VALID and result.certificate.status == pb.CERT_STATUS_VALID, result
    # The holder at B sees who used it, when and why.
    log = consent.access_log(fed["b"], fed["b"].pki.blind_indexes(CITIZEN), 0, 10)[0]
    assert any(e.platform == "prov-a/portal-a" and e.purpose == "办理落户" for e in log)


def test_b_suspension_reaches_a_after_the_status_list_ttl(fed: dict[str, Any]) -> None:
    _consent(fed, remote_platform_id("prov-a", "portal-a"))
    token = _fetch(fed)
    assert _verify_at_a(fed, token).certificate.status == pb.CERT_STATUS_VALID
    lifecycle.change_status(fed["b"], EDU, fed["diploma"], "suspended", "核查中")
    time.sleep(TTL + 0.5)
    result = _verify_at_a(fed, token)
    assert result.certificate.status == pb.CERT_STATUS_SUSPENDED and result.verdict == VERDICT_INVALID


def test_a_consent_for_another_nodes_platform_is_not_good_here(fed: dict[str, Any]) -> None:
    _consent(fed, remote_platform_id("prov-c", "portal-a"))  # same client id, another node
    with pytest.raises(HutongError) as err:
        _fetch(fed)
    assert err.value.reason == "NO_CONSENT"


def test_a_refuses_b_certificates_after_b_is_removed(fed: dict[str, Any]) -> None:
    _consent(fed, remote_platform_id("prov-a", "portal-a"))
    token = _fetch(fed)
    hub.remove_member(fed["hub"], "prov-b")
    install_trust_list(fed["hub"], hub.publish(fed["hub"]), [fed["a"]], fed["tmp"])
    assert _verify_at_a(fed, token).verdict == VERDICT_INVALID
    with pytest.raises(HutongError) as err:
        _fetch(fed)
    assert err.value.reason == "NODE_NOT_IN_TRUST_LIST"


def test_a_successor_at_a_names_a_transferred_out_predecessor_held_at_b(fed: dict[str, Any]) -> None:
    issuers.register(fed["a"], OPERATOR, uscc="121200004013590816", name="A省教育厅", type_codes=[catalogue.DIPLOMA],
                     platform_client_id="edu-a")
    edu_a = Principal(kind="platform", subject="edu-a", platform="edu-a")

    def succeed(holder: str, predecessor: str) -> Any:
        return issuance.issue(fed["a"], edu_a, issuance.IssueRequest(
            type_code=catalogue.DIPLOMA, holder=Holder(kind="person", id=holder, name="张三"), fields=DIPLOMA,
            predecessor=predecessor))

    with pytest.raises(HutongError) as err:
        succeed(CITIZEN, fed["diploma"])  # still valid at B
    assert err.value.reason == "PREDECESSOR_INVALID"
    lifecycle.change_status(fed["b"], EDU, fed["diploma"], "transferred_out", "转出")
    with pytest.raises(HutongError) as err:
        succeed("110102199101010078", fed["diploma"])  # someone else's
    assert err.value.reason == "PREDECESSOR_INVALID"
    cid = identifiers.parse_certificate_id(fed["diploma"])
    unknown = str(identifiers.build_certificate_id(cid.type_code, cid.issuer_uscc, "ZZZZZZZZZZZZZZZZZZZZ", 1))
    with pytest.raises(HutongError) as err:
        succeed(CITIZEN, unknown)
    assert err.value.reason == "PREDECESSOR_NOT_FOUND"
    assert succeed(CITIZEN, fed["diploma"]).links["predecessor"] == fed["diploma"]
