"""The seal RPCs behind identity_svc's real authenticator (platform client credentials)."""

from __future__ import annotations

from concurrent import futures
from pathlib import Path

import grpc
import pytest
from conftest import ORG_A, USCC_A, SealEnv
from pdfgen import make_pdf_file

from hutong.common.v1 import common_pb2
from hutong.errors import HutongError
from hutong.rpc import ErrorInterceptor
from hutong.seal.v1 import seal_pb2
from seal_svc.seals import SealType
from seal_svc.service import add_to_server, operator_principal

identity_platforms = pytest.importorskip("identity_svc.platforms")
identity_core = pytest.importorskip("identity_svc.core")


def test_platform_with_grant_seals_through_real_authentication(env: SealEnv, tmp_path: Path) -> None:
    from hutong_client.seal import SealClient

    idn = identity_core.Identity.of(env.node)
    new = identity_platforms.add_platform(idn, client_id="contract-portal", name="Contract portal")
    ops = operator_principal()
    seal = env.service.create_seal(ops, org_uscc=USCC_A, org_name=ORG_A, seal_type=SealType.CONTRACT)
    env.service.grant(ops, seal.seal_id, grantee_kind="platform", grantee="contract-portal", max_uses=1)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[ErrorInterceptor()])
    add_to_server(server, env.node)  # type: ignore[arg-type]  # default: identity_svc's TokenAuthenticator
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        src = make_pdf_file(tmp_path / "in.pdf")
        place = seal_pb2.Placement(page=1, x=400, y=60, width=120, height=120)
        client = SealClient(channel, client_id="contract-portal", client_secret=new.client_secret)
        client.sign_file(src, tmp_path / "out.pdf", seal.seal_id, placement=place)
        assert client.verify_file(tmp_path / "out.pdf").verdict == common_pb2.VERDICT_VALID
        with pytest.raises(HutongError) as e:
            client.sign_file(src, tmp_path / "out2.pdf", seal.seal_id, placement=place)
        assert e.value.reason == "GRANT_EXHAUSTED"
        forged = SealClient(channel, client_id="contract-portal", client_secret="wrong")
        with pytest.raises(HutongError) as e:
            forged.sign_file(src, tmp_path / "out3.pdf", seal.seal_id, placement=place)
        assert e.value.kind.value == "UNAUTHENTICATED"
        with pytest.raises(HutongError) as e:
            SealClient(channel).verify_file(tmp_path / "out.pdf")
        assert e.value.reason == "TOKEN_MISSING"
    finally:
        channel.close()
        server.stop(grace=0)
