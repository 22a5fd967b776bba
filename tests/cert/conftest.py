"""cert_svc fixtures: one node per module (PKI bootstrap is the slow part) served by the node's real gRPC
server (identity, seal and cert services behind the real error interceptor and authenticator).

Callers send real identity_svc access tokens and platform client credentials (``tests/identity_fixtures``):
``env.issuer`` is the market regulator's platform (linked to its issuer record), ``env.issuer_person`` a
clerk acting for that department (all matters), ``env.alice``/``env.bob`` persons, ``env.portal`` a relying
platform, ``env.operator`` the operator platform (``node:operate``). Issuers are registered through the
domain API by the operator's principal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import pytest

from cert_svc import catalogue, issuers
from hutong.cert.v1 import cert_pb2_grpc
from hutong.node import Node
from tests.identity_fixtures import IDENTITY_CONFIG, Identities, Metadata, citizen_id

ISSUER_USCC = "11430000006122244L"  # the issuer of DESIGN.md's example identifier
OTHER_USCC = "91110000600037341L"
COMPANY_USCC = "91350100M000100Y43"
PERSON_ID = "11010519491231002X"  # alice
OTHER_PERSON_ID = "110102199101010078"  # bob
CLERK_ID = citizen_id(7)
TTL = 2  # seconds: status lists go stale quickly so the tests can watch it happen


@dataclass
class Env:
    node: Node
    channel: grpc.Channel
    stub: cert_pb2_grpc.CertServiceStub
    count: Callable[[], int]
    people: Identities
    operator: Metadata
    issuer: Metadata
    issuer_person: Metadata
    other_issuer: Metadata
    alice: Metadata
    bob: Metadata
    portal: Metadata


@pytest.fixture(scope="module")
def env(node_factory: Callable[..., object]) -> Iterator[Env]:
    from hutong.server import start_server

    node: Node = node_factory(config=f"[cert]\nstatus_list_ttl = {TTL}\n" + IDENTITY_CONFIG)  # type: ignore[assignment]
    people = Identities(node)
    operator = people.operator()
    issuers.register(node, operator.principal, uscc=ISSUER_USCC, name="湖南省市场监督管理局",
                     type_codes=[catalogue.BUSINESS_LICENCE, catalogue.FOOD_PERMIT],
                     platform_client_id="amr-platform")
    issuers.register(node, operator.principal, uscc=OTHER_USCC, name="某教育厅", type_codes=[catalogue.DIPLOMA],
                     platform_client_id="edu-platform")
    running = start_server(node, "127.0.0.1:0", threads=8)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")

    def count() -> int:
        from sqlalchemy import func, select

        from cert_svc.models import CertificateRow

        with node.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(CertificateRow)) or 0)

    yield Env(node, channel, cert_pb2_grpc.CertServiceStub(channel), count, people,  # type: ignore[no-untyped-call]
              operator=operator.metadata, issuer=people.platform("amr-platform").metadata,
              issuer_person=people.organisation(ISSUER_USCC, "湖南省市场监督管理局", CLERK_ID).metadata,
              other_issuer=people.platform("edu-platform").metadata, alice=people.person(PERSON_ID, "张三").metadata,
              bob=people.person(OTHER_PERSON_ID, "李四").metadata, portal=people.platform("portal").metadata)
    channel.close()
    running.stop(0)


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
