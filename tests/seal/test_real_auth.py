"""Operators and platforms over gRPC with identity_svc's real authenticator (platform client credentials)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.pdfgen import make_pdf_file
from hutong.common.v1 import common_pb2
from hutong.errors import HutongError
from hutong.seal.v1 import seal_pb2
from tests.seal.conftest import ORG_A, USCC_A, SealRpc

PLACE = seal_pb2.Placement(page=1, x=400, y=60, width=120, height=120)


def test_operator_manages_and_platform_with_grant_seals(rpc: SealRpc, tmp_path: Path) -> None:
    from hutong_client.seal import SealClient

    operator = rpc.client(rpc.people.operator())
    seal = operator.create_seal(org_uscc=USCC_A, org_name=ORG_A, type=seal_pb2.SEAL_TYPE_CONTRACT)  # type: ignore[attr-defined]
    portal = rpc.people.platform("contract-portal")
    operator.grant(seal.seal_id, grantee="contract-portal", kind=seal_pb2.GRANTEE_KIND_PLATFORM,  # type: ignore[attr-defined]
                   max_uses=1)
    src = make_pdf_file(tmp_path / "in.pdf")
    with pytest.raises(HutongError) as e:  # managing is not using: the operator holds no grant
        operator.sign_file(src, tmp_path / "op.pdf", seal.seal_id, placement=PLACE)  # type: ignore[attr-defined]
    assert e.value.reason == "NOT_GRANTED"

    client = rpc.client(portal)
    client.sign_file(src, tmp_path / "out.pdf", seal.seal_id, placement=PLACE)  # type: ignore[attr-defined]
    assert client.verify_file(tmp_path / "out.pdf").verdict == common_pb2.VERDICT_VALID  # type: ignore[attr-defined]
    with pytest.raises(HutongError) as e:
        client.sign_file(src, tmp_path / "out2.pdf", seal.seal_id, placement=PLACE)  # type: ignore[attr-defined]
    assert e.value.reason == "GRANT_EXHAUSTED"
    with pytest.raises(HutongError) as e:  # a platform without node:operate is no operator
        client.create_seal(org_uscc=USCC_A, org_name=ORG_A, type=seal_pb2.SEAL_TYPE_FINANCE)  # type: ignore[attr-defined]
    assert e.value.reason == "NOT_ORG_ADMIN"
    forged = SealClient(rpc.channel, client_id="contract-portal", client_secret="wrong")  # type: ignore[arg-type]
    with pytest.raises(HutongError) as e:
        forged.sign_file(src, tmp_path / "out3.pdf", seal.seal_id, placement=PLACE)
    assert e.value.reason == "CLIENT_AUTHENTICATION_FAILED"
    with pytest.raises(HutongError) as e:
        SealClient(rpc.channel).verify_file(tmp_path / "out.pdf")  # type: ignore[arg-type]
    assert e.value.reason == "TOKEN_MISSING"


def test_a_person_at_the_operator_platform_is_no_operator(rpc: SealRpc) -> None:
    from tests.seal.conftest import STAFF_A

    person = rpc.people.person(STAFF_A, via=rpc.people.operator().client_id)
    assert person.principal.kind == "person" and not person.principal.is_operator
    with pytest.raises(HutongError) as e:
        rpc.client(person).create_seal(org_uscc=USCC_A, org_name=ORG_A,  # type: ignore[attr-defined]
                                       type=seal_pb2.SEAL_TYPE_FINANCE)
    assert e.value.reason == "NOT_ORG_ADMIN"
