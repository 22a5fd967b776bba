"""The scenario of DESIGN.md §9, step by step, through the client SDK against three real nodes.

Every step prints what happened and raises ``DemoFailure`` (with the reason) if a check fails.
Artefacts go to ``out`` named for what they are: *.pdf, *.jws, *.jwt, trust-list.jws, *.pem.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.writer import PdfFileWriter

from hutong.cert.v1 import cert_pb2
from hutong.common.v1 import common_pb2
from hutong.demo.cluster import DemoFailure, LocalNode
from hutong.identifiers import citizen_id_check_character, uscc_check_character
from hutong.pdfpage import Page, to_bytes
from hutong.seal.v1 import seal_pb2
from hutong.verify.tokens import verify_token
from hutong_client import Hutong

CITIZEN, CITIZEN_NAME = "11010519491231002X", "张三"
STAFF, STAFF_NAME = "110102199101010078", "李四"
COMPANY, COMPANY_NAME = "91350100M000100Y43", "福州阿克米科技有限公司"
AMR_A = "11350000MB0" + "00001" + "1"  # market regulator of province A (check character added below)
EDU_B = "12110000MB0" + "00002" + "3"  # education department of province B
PASSWORD = "Hutong-demo-2026"
STATUS_TTL = 3  # seconds: province A's status lists refresh quickly so step 7 can watch a suspension


def _uscc(first17: str) -> str:
    return first17 + uscc_check_character(first17)


AMR_A_USCC, EDU_B_USCC = _uscc(AMR_A), _uscc(EDU_B)
assert citizen_id_check_character(CITIZEN[:17]) == CITIZEN[17]


@dataclass
class Platform:
    node: LocalNode
    client_id: str
    secret: str

    def client(self, token: Any = None) -> Hutong:
        return Hutong(self.node.target, client_id=self.client_id, client_secret=self.secret, token=token)


@dataclass
class Scenario:
    hub: LocalNode
    a: LocalNode
    b: LocalNode
    out: Path
    say: Callable[[str], object]
    platforms: dict[str, Platform] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    # -- helpers ---------------------------------------------------------------------------------
    def keep(self, name: str, data: bytes | str) -> Path:
        path = self.out / name
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return path

    def platform(self, node: LocalNode, client_id: str, *args: str) -> Platform:
        info = node.hutong_json("platform", "add", client_id, *args)
        p = Platform(node, client_id, str(info["client_secret"]))
        self.platforms[client_id] = p
        return p

    # -- 1 ---------------------------------------------------------------------------------------
    def step1_trust_list(self) -> None:
        for member in (self.a, self.b):
            descriptor = self.out / f"{member.node_id}-descriptor.json"
            descriptor.write_text(member.hutong("federation", "describe"))
            self.hub.hutong("federation", "add", str(descriptor))
        self.hub.hutong("federation", "publish", "--validity-days", "7", "--out", str(self.out / "trust-list.jws"))
        hub_root = self.out / "hub-root-ca.pem"
        for member in (self.a, self.b):
            member.hutong("federation", "join", "--hub", self.hub.federation_target, "--hub-root", str(hub_root))
            member.hutong("federation", "refresh")
        self.say(f"the hub signed trust list #1 naming {self.a.node_id} and {self.b.node_id}; both fetched and "
                 "verified it against the hub's root, over mutual TLS")

    # -- 2 ---------------------------------------------------------------------------------------
    def step2_register_at_a(self) -> None:
        portal = self.platforms["portal-a"].client()
        portal.identity.register_person(CITIZEN, CITIZEN_NAME, PASSWORD)
        person = portal.as_person(portal.identity.login(CITIZEN, PASSWORD).access_token)
        key = self.facts["holder_key"]
        person.identity.register_public_key(public_key_pem=key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())
        tokens = self.login_high()
        jwks, issuer = portal.identity.jwks()
        claims = verify_token(tokens.id_token, jwks, issuer=issuer, audience="portal-a", kind="id")
        if claims.get("acr") != "high":
            raise DemoFailure(f"the login reached {claims.get('acr')!r}, not high")
        self.keep("citizen-id-token-at-a.jwt", tokens.id_token)
        self.say(f"{CITIZEN_NAME} registered at {self.a.node_id} (name + ID matched in A's register), logged in "
                 f"with password + a challenge signed by the citizen's own key: acr={claims['acr']}, "
                 f"amr={claims.get('amr')}")

    def login_high(self) -> Any:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        portal = self.platforms["portal-a"].client()
        ch = portal.identity.create_login_challenge(CITIZEN)
        signature = self.facts["holder_key"].sign(ch.to_sign, ec.ECDSA(hashes.SHA256()))
        return portal.identity.login(CITIZEN, PASSWORD, challenge_id=ch.challenge_id, signature=signature)

    # -- 3 ---------------------------------------------------------------------------------------
    def step3_recognised_at_b(self) -> None:
        at_a = self.platforms["portal-a"].client(self.login_high().access_token)
        assertion = at_a.identity.create_federation_assertion(self.b.node_id)
        service_b = self.platforms["service-b"].client()
        tokens = service_b.identity.exchange_federation_assertion(assertion)
        jwks, issuer = service_b.identity.jwks()
        claims = verify_token(tokens.id_token, jwks, issuer=issuer, audience="service-b", kind="id")
        self.facts["b_token"] = tokens.access_token
        self.keep("citizen-id-token-at-b.jwt", tokens.id_token)
        self.say(f"a platform at {self.b.node_id} accepted A's assertion: no second registration, B's own token "
                 f"(issuer {issuer}), pairwise sub {claims['sub'][:12]}…, acr={claims['acr']} (not raised)")

    # -- 4 ---------------------------------------------------------------------------------------
    def step4_business_licence(self) -> None:
        ops = self.platforms["ops-a"].client()
        ops.cert.register_issuer(AMR_A_USCC, "A省市场监督管理局", [self.facts["licence_type"]],
                                 platform_client_id="amr-a")
        amr = self.platforms["amr-a"].client()
        cert = amr.cert.issue(self.facts["licence_type"], COMPANY, COMPANY_NAME, {
            "name": COMPANY_NAME, "entity_type": "有限责任公司", "legal_representative": CITIZEN_NAME,
            "legal_representative_id": CITIZEN, "registered_capital": "1000", "established_on": "2020-01-01",
            "address": "福建省福州市鼓楼区五四路1号", "business_scope": "软件开发；信息技术咨询服务",
            "registration_authority": "福州市市场监督管理局"})
        self.facts["licence"] = cert.identifier
        self.keep("business-licence.jws", cert.jws)
        self.say(f"A's market regulator issued the electronic business licence {cert.identifier} to "
                 f"{COMPANY_NAME} with {CITIZEN_NAME} as legal representative")

    # -- 5 ---------------------------------------------------------------------------------------
    def step5_company_seal(self) -> None:
        citizen = self.platforms["portal-a"].client(self.login_high().access_token)
        org = citizen.as_person(citizen.identity.switch_organisation(COMPANY).access_token)
        seal = org.seal.create_seal(org_uscc=COMPANY, org_name=COMPANY_NAME, type=seal_pb2.SEAL_TYPE_OFFICIAL)
        portal = self.platforms["portal-a"].client()
        portal.identity.register_person(STAFF, STAFF_NAME, PASSWORD)
        org.identity.create_grant(COMPANY, STAFF, "staff", all_matters=True)
        org.seal.grant(seal.seal_id, grantee=STAFF)
        self.facts["seal_id"] = seal.seal_id
        self.say(f"{CITIZEN_NAME}, acting for {COMPANY_NAME}, created its official seal {seal.seal_id} (key in A's "
                 f"HSM, certificate from A's seal CA) and granted {STAFF_NAME} its use")

    # -- 6 ---------------------------------------------------------------------------------------
    def step6_seal_contract(self) -> None:
        contract = self.keep("contract.pdf", contract_pdf())
        portal = self.platforms["portal-a"].client()
        staff = portal.as_person(portal.identity.login(STAFF, PASSWORD).access_token)
        staff = staff.as_person(staff.identity.switch_organisation(COMPANY).access_token)
        sealed = self.out / "contract-sealed.pdf"
        staff.seal.sign_file(contract, sealed, self.facts["seal_id"],
                             placement=seal_pb2.Placement(page=1, x=330, y=120, width=130, height=130),
                             reason="合同签署", location="福州", level=seal_pb2.PADES_LEVEL_B_T)
        self.say(f"{STAFF_NAME} sealed the contract at {self.a.node_id}: visible seal, PAdES B-T with A's "
                 f"timestamp -> {sealed.name}")

    # -- 7 ---------------------------------------------------------------------------------------
    def step7_verify_at_b(self) -> None:
        verifier = self.platforms["service-b"].client()
        report = verifier.seal.verify_file(self.out / "contract-sealed.pdf")
        if report.verdict != common_pb2.VERDICT_VALID:
            raise DemoFailure(f"B judged the sealed contract {common_pb2.Verdict.Name(report.verdict)}: "
                              f"{[f.reason for f in report.findings]}")
        sig = report.signatures[0]
        licence = verifier.cert.verify(jws_token=(self.out / "business-licence.jws").read_text())
        if licence.verdict != common_pb2.VERDICT_VALID:
            raise DemoFailure(f"B judged the licence {common_pb2.Verdict.Name(licence.verdict)}")
        self.say(f"B verified the contract offline: seal of {sig.org_name} ({sig.org_uscc}), trusted through the "
                 f"trust list, timestamped; and the business licence: valid")
        self.platforms["amr-a"].client().cert.suspend(self.facts["licence"], "经营异常核查")
        time.sleep(STATUS_TTL + 1)
        after = verifier.cert.verify(jws_token=(self.out / "business-licence.jws").read_text())
        status = cert_pb2.CertStatus.Name(after.certificate.status)
        if after.certificate.status != cert_pb2.CERT_STATUS_SUSPENDED:
            raise DemoFailure(f"after A suspended the licence, B still reports {status}")
        self.say(f"A suspended the licence; after the status-list refresh B reports it {status} "
                 f"(verdict {common_pb2.Verdict.Name(after.verdict)})")

    # -- 8 ---------------------------------------------------------------------------------------
    def step8_diploma_through_the_hub(self) -> None:
        ops = self.platforms["ops-b"].client()
        ops.cert.register_issuer(EDU_B_USCC, "B省教育厅", [self.facts["diploma_type"]], platform_client_id="edu-b")
        edu = self.platforms["edu-b"].client()
        diploma = edu.cert.issue(self.facts["diploma_type"], CITIZEN, CITIZEN_NAME, {
            "name": CITIZEN_NAME, "institution": "B省某某大学", "major": "计算机科学与技术", "level": "本科",
            "enrolled_on": "2010-09-01", "graduated_on": "2014-07-01", "certificate_number": "100011201405000123"})
        citizen_at_b = self.platforms["service-b"].client(self.facts["b_token"])
        citizen_at_b.cert.grant_consent(f"{self.a.node_id}/portal-a", [diploma.identifier], "办理人才引进",
                                        expires_at=datetime.now(UTC) + timedelta(days=30))
        portal = self.platforms["portal-a"].client()
        token = portal.cert.fetch_remote(self.b.node_id, diploma.identifier, "办理人才引进")
        result = portal.cert.verify(jws_token=token)
        if result.verdict != common_pb2.VERDICT_VALID:
            raise DemoFailure(f"A judged B's diploma {common_pb2.Verdict.Name(result.verdict)}")
        self.keep("diploma.jws", token)
        self.say(f"B's education department issued a diploma; with {CITIZEN_NAME}'s consent a platform at "
                 f"{self.a.node_id} fetched it through the hub and verified it: valid")


def contract_pdf() -> bytes:
    """A one-page contract with Chinese text (the CJK font embedded)."""
    writer = PdfFileWriter()
    page = Page(writer)
    page.centred(760, "软件开发服务合同", 24)
    y = 700.0
    for line in ("甲方：福州阿克米科技有限公司", "乙方：B省某某信息技术有限公司",
                 "第一条 乙方为甲方开发政务服务平台接入模块，交付期限为合同签订之日起九十日。",
                 "第二条 合同总价人民币壹拾贰万元整，分两期支付。",
                 "第三条 本合同经双方加盖电子印章后生效，与纸质合同具有同等法律效力。"):
        y = page.wrapped(60, y, line, 12, 475) - 8
    page.text(60, 260, "甲方（盖章）：", 12)
    page.text(330, 260, "乙方（盖章）：", 12)
    page.finish()
    return to_bytes(writer)
