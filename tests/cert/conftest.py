"""cert_svc fixtures: one node per module (PKI bootstrap is the slow part), a real gRPC server with the
cert servicer behind the real error interceptor, issuers registered through the domain API.

Callers are named in the ``x-test-principal`` metadata (``kind:subject[:org_uscc[:role,role]]``)
and a holder's ID number comes from ``HOLDERS``: the identity service's token machinery is tested in
tests/identity, and keeping it out here keeps this suite fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from dataclasses import dataclass

import grpc
import pytest

from cert_svc import catalogue, issuers
from cert_svc.consent import HolderResolver
from cert_svc.servicer import CertServicer
from hutong.auth import Principal
from hutong.cert.v1 import cert_pb2_grpc
from hutong.errors import Unauthenticated
from hutong.node import Node
from hutong.rpc import ErrorInterceptor

ISSUER_USCC = "11430000006122244L"  # the issuer of DESIGN.md's example identifier
OTHER_USCC = "91110000600037341L"
COMPANY_USCC = "91350100M000100Y43"
PERSON_ID = "11010519491231002X"
OTHER_PERSON_ID = "110102199101010078"
HOLDERS = {"alice": PERSON_ID, "bob": OTHER_PERSON_ID}
TTL = 2  # seconds: status lists go stale quickly so the tests can watch it happen
OPERATOR = Principal(kind="operator", subject="op")


class HeaderAuthenticator:
    def authenticate(self, metadata: Mapping[str, str]) -> Principal:
        raw = metadata.get("x-test-principal")
        if not raw:
            raise Unauthenticated("TOKEN_MISSING", "no test principal")
        kind, subject, org, roles = (raw.split(":", 3) + ["", ""])[:4]
        return Principal(kind=kind, subject=subject, org_uscc=org or None,  # type: ignore[arg-type]
                         roles=tuple(filter(None, roles.split(","))), platform=subject if kind == "platform" else None)


def holder_resolver(node: Node) -> HolderResolver:
    def resolve(p: Principal) -> str:
        return node.pki.blind_index(p.org_uscc or HOLDERS[p.subject])

    return resolve


def who(spec: str) -> list[tuple[str, str]]:
    return [("x-test-principal", spec)]


ISSUER = who("platform:amr-platform")  # the market regulator's platform (linked to the issuer)
ISSUER_PERSON = who(f"person:clerk:{ISSUER_USCC}:matter:*")
OTHER_ISSUER = who("platform:edu-platform")
ALICE, BOB = who("person:alice"), who("person:bob")
PLATFORM = who("platform:portal")
COMPANY_ADMIN = who(f"person:alice:{COMPANY_USCC}:administrator")


@dataclass
class Env:
    node: Node
    channel: grpc.Channel
    stub: cert_pb2_grpc.CertServiceStub
    count: Callable[[], int]


@pytest.fixture(scope="module")
def env(node_factory: Callable[..., object]) -> Iterator[Env]:
    node: Node = node_factory(config=f"[cert]\nstatus_list_ttl = {TTL}\n")  # type: ignore[assignment]
    issuers.register(node, OPERATOR, uscc=ISSUER_USCC, name="湖南省市场监督管理局",
                     type_codes=[catalogue.BUSINESS_LICENCE, catalogue.FOOD_PERMIT],
                     platform_client_id="amr-platform")
    issuers.register(node, OPERATOR, uscc=OTHER_USCC, name="某教育厅", type_codes=[catalogue.DIPLOMA],
                     platform_client_id="edu-platform")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=[ErrorInterceptor()])
    cert_pb2_grpc.add_CertServiceServicer_to_server(
        CertServicer(node, HeaderAuthenticator(), holder_resolver(node)), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")

    def count() -> int:
        from sqlalchemy import func, select

        from cert_svc.models import CertificateRow

        with node.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(CertificateRow)) or 0)

    yield Env(node, channel, cert_pb2_grpc.CertServiceStub(channel), count)  # type: ignore[no-untyped-call]
    channel.close()
    server.stop(0)


def licence_fields(**changes: str) -> dict[str, str]:
    fields = {
        "name": "福建省某某科技有限公司", "entity_type": "有限责任公司", "legal_representative": "张三",
        "legal_representative_id": PERSON_ID, "registered_capital": "100", "established_on": "2020-01-01",
        "address": "福建省福州市鼓楼区某某路1号", "business_scope": "软件开发；信息技术咨询服务",
        "registration_authority": "福州市市场监督管理局",
    }
    return {**fields, **changes}


def diploma_fields(**changes: str) -> dict[str, str]:
    fields = {"name": "张三", "institution": "某某大学", "major": "计算机科学与技术", "level": "本科",
              "enrolled_on": "2010-09-01", "graduated_on": "2014-07-01", "certificate_number": "100011201405000123"}
    return {**fields, **changes}
