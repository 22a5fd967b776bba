"""A real node for the SDK, example and CLI tests: a served node (SoftHSM token, SQLite, real server and
real authentication) with a loaded register, two platforms (a portal and the market regulator's issuing
system), a registered person, and the market regulator registered as an issuer of business licences.

Built once per test module (node set-up is the slow part); tests that change state use their own names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hutong.auth import Principal
from hutong.node import Node

IDENTITY_CONFIG = """
[identity]
argon2_time_cost = 1
argon2_memory_kib = 1024
"""

PASSWORD = "correct horse 1"
ZHANG = "11010519491231002X"  # legal representative of ACME
LI = "110102199101010078"
PEOPLE = {ZHANG: "张三", LI: "李四"}
ACME = ("91350100M000100Y43", "福州阿克米有限公司")
REGULATOR = ("11430000006122244L", "湖南省市场监督管理局")


def licence_fields(name: str = ACME[1], **changes: str) -> dict[str, str]:
    fields = {
        "name": name, "entity_type": "有限责任公司", "legal_representative": "张三",
        "legal_representative_id": ZHANG, "registered_capital": "100", "established_on": "2020-01-01",
        "address": "福建省福州市鼓楼区某某路1号", "business_scope": "软件开发；信息技术咨询服务",
        "registration_authority": "福州市市场监督管理局",
    }
    return {**fields, **changes}


@dataclass
class World:
    node: Node
    target: str
    data_dir: Path
    portal_secret: str
    regulator_secret: str
    ops_secret: str
    licence_type: str
    certificate_id: str
    tmp: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def portal(self) -> dict[str, str]:
        return {"client_id": "portal", "client_secret": self.portal_secret}

    @property
    def regulator(self) -> dict[str, str]:
        return {"client_id": "amr-platform", "client_secret": self.regulator_secret}


def build_world(node_factory: Callable[..., Any], tmp: Path) -> Iterator[World]:
    from cert_svc import catalogue, issuance, issuers
    from cert_svc.records import Holder
    from hutong.server import start_server
    from identity_svc import platforms, registers
    from identity_svc.core import Identity
    from identity_svc.persons import register_person

    node: Node = node_factory(config=IDENTITY_CONFIG)
    idn = Identity.of(node)
    people, orgs = tmp / "people.csv", tmp / "orgs.csv"
    people.write_text("name,id_number\n" + "".join(f"{n},{i}\n" for i, n in PEOPLE.items()), encoding="utf-8")
    orgs.write_text(f"name,uscc,representative_name,representative_id_number\n{ACME[1]},{ACME[0]},张三,{ZHANG}\n",
                    encoding="utf-8")
    registers.import_csv(idn, people)
    registers.import_csv(idn, orgs)
    portal = platforms.add_platform(idn, client_id="portal", name="Portal", scopes=["openid", "profile"])
    regulator = platforms.add_platform(idn, client_id="amr-platform", name="Market regulator")
    for number, name in PEOPLE.items():
        register_person(idn, portal.info, id_number=number, name=name, password=PASSWORD)
    from hutong.auth import OPERATOR_SCOPE

    ops = platforms.add_platform(idn, client_id="ops", name="Node operator", scopes=["openid", OPERATOR_SCOPE])
    operator = Principal(kind="platform", subject="ops", platform="ops", scopes=("openid", OPERATOR_SCOPE))
    issuers.register(node, operator, uscc=REGULATOR[0], name=REGULATOR[1], type_codes=[catalogue.BUSINESS_LICENCE],
                     platform_client_id="amr-platform")
    cert = issuance.issue(node, Principal(kind="platform", subject="amr-platform", platform="amr-platform"),
                          issuance.IssueRequest(type_code=catalogue.BUSINESS_LICENCE,
                                                holder=Holder(kind="organisation", id=ACME[0], name=ACME[1]),
                                                fields=licence_fields()))
    server = start_server(node, "127.0.0.1:0", threads=8)
    try:
        yield World(node=node, target=f"127.0.0.1:{server.port}", data_dir=Path(node.config.data_dir),
                    portal_secret=portal.client_secret, regulator_secret=regulator.client_secret,
                    ops_secret=ops.client_secret, licence_type=catalogue.BUSINESS_LICENCE,
                    certificate_id=cert.identifier, tmp=tmp)
    finally:
        server.stop(grace=0)


@pytest.fixture(scope="module")
def world(node_factory: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from build_world(node_factory, tmp_path_factory.mktemp("world"))
