"""The public verification page in a real browser (Debian's chromium driven by Playwright): the QR is
decoded from a sealed rendition with zbarimg, its URL opened, and the verdict read off the page --
valid, suspended, tampered, expired, stale status, unreachable status -- plus the scripts-off form and
the sealed-PDF upload page. Screenshots are kept in the test's temporary directory."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cert_svc import catalogue, issuers
from hutong.cert.v1 import cert_pb2 as pb
from hutong.cert.v1 import cert_pb2_grpc
from hutong.verify import jose as jws
from hutong_client.cert import CertClient
from tests.edge.conftest import TTL, EdgeEnv

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (shutil.which("chromium") and shutil.which("zbarimg") and shutil.which("pdftoppm")),
                       reason="chromium, zbar-tools and poppler-utils are installed by scripts/setup"),
]

UNIVERSITY = "121200004013590816"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@dataclass
class Licence:
    identifier: str
    url: str  # what the QR on the rendition says
    pdf: bytes


@dataclass
class World:
    env: EdgeEnv
    uni: list[tuple[str, str]]
    shots: Path


@pytest.fixture(scope="module")
def world(edge_env: EdgeEnv, tmp_path_factory: pytest.TempPathFactory) -> World:
    from seal_svc.seals import SealService, SealType

    seals, operator = SealService(edge_env.node), edge_env.people.operator().principal
    seal = seals.create_seal(operator, org_uscc=UNIVERSITY, org_name="某某大学", seal_type=SealType.OFFICIAL)
    seals.grant(operator, seal.seal_id, grantee_kind="platform", grantee="uni-platform")
    issuers.register(edge_env.node, operator, uscc=UNIVERSITY, name="某某大学", type_codes=[catalogue.DIPLOMA],
                     platform_client_id="uni-platform", seal_id=seal.seal_id)
    return World(edge_env, edge_env.people.platform("uni-platform").metadata, tmp_path_factory.mktemp("screenshots"))


def issue(world: World, tmp: Path, **kw: str) -> Licence:
    stub = cert_pb2_grpc.CertServiceStub(world.env.channel)  # type: ignore[no-untyped-call]
    fields = {"name": "张三丰", "institution": "某某大学", "major": "计算机科学与技术", "level": "本科",
              "enrolled_on": "2010-09-01", "graduated_on": "2014-07-01", "certificate_number": "100011201405000123"}
    cert = stub.IssueCertificate(pb.IssueCertificateRequest(
        type_code=catalogue.DIPLOMA, holder=pb.Holder(id="11010519491231002X", name="张三丰"), fields=fields, **kw),
        metadata=world.uni).certificate
    pdf = CertClient(world.env.channel, metadata=world.env.alice).rendition(cert.identifier)
    return Licence(cert.identifier, qr_of(pdf, tmp), pdf)


def qr_of(pdf: bytes, tmp: Path) -> str:
    """The QR code's content, read from the rendered page by an independent decoder."""
    (tmp / "r.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-f", "1", "-l", "1", str(tmp / "r.pdf"), str(tmp / "page")],
                   check=True)
    page = next(tmp.glob("page*.png"))
    out = subprocess.run(["zbarimg", "--raw", "-q", str(page)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser: Any, url: str, shot: Path, *, setup: Any = None, javascript: bool = True) -> Any:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, java_script_enabled=javascript,
                              locale="zh-CN")
    page = ctx.new_page()
    if setup:
        setup(page)
    page.goto(url)
    if javascript:
        page.wait_for_selector("#verdict:is([data-verdict=green], [data-verdict=red], [data-verdict=orange], "
                               "[data-verdict=none])")
    page.screenshot(path=str(shot), full_page=True)
    return page


def verdict(page: Any) -> str:
    return str(page.get_attribute("#verdict", "data-verdict"))


def test_valid_licence_opens_green(world: World, browser: Any, tmp_path: Path) -> None:
    lic = issue(world, tmp_path)
    assert lic.url.startswith(world.env.edge.base_url + "/v#")
    page = open_page(browser, lic.url, world.shots / "valid.png")
    assert verdict(page) == "green", page.inner_text("main")
    assert page.inner_text("#verdict-zh") == "证照有效"
    assert page.inner_text("#f-holder") == "张*丰"  # masked; the full name is on the paper
    assert page.inner_text("#f-type") == "学历证书" and page.inner_text("#f-issuer") == "某某大学"
    steps = page.locator("#checklist li")
    assert steps.count() == 4 and all(s == "ok" for s in steps.evaluate_all("els => els.map(e => e.dataset.state)"))
    assert "信任列表" in page.inner_text("#checklist") or "本节点" in page.inner_text("#checklist")
    assert page.inner_text("#checked-at") and page.inner_text("#checked-where")
    assert "11010519491231002X" not in page.content()  # no ID number anywhere on the page
    # The scanned URL is also what gRPC Verify takes as QR content.
    stub = cert_pb2_grpc.CertServiceStub(world.env.channel)  # type: ignore[no-untyped-call]
    assert stub.Verify(pb.VerifyRequest(qr=lic.url)).verdict == 1  # VERDICT_VALID


def test_suspended_licence_opens_red(world: World, browser: Any, tmp_path: Path) -> None:
    lic = issue(world, tmp_path)
    stub = cert_pb2_grpc.CertServiceStub(world.env.channel)  # type: ignore[no-untyped-call]
    stub.ChangeStatus(pb.ChangeStatusRequest(identifier=lic.identifier, status=pb.CERT_STATUS_SUSPENDED,
                                             reason="核查中"), metadata=world.uni)
    deadline = time.time() + TTL + 5  # the published list follows the change within its time-to-live
    page = open_page(browser, lic.url, world.shots / "suspended.png")
    while verdict(page) != "red" and time.time() < deadline:
        page.close()
        time.sleep(0.5)
        page = open_page(browser, lic.url, world.shots / "suspended.png")
    assert verdict(page) == "red"
    assert page.inner_text("#verdict-zh") == "证照已暂扣"


def _tamper(url: str) -> str:
    base, token = url.split("#", 1)
    h, p, s = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["valid_until"] = "2099-12-31"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{base}#{h}.{forged}.{s}"


def test_tampered_qr_opens_red(world: World, browser: Any, tmp_path: Path) -> None:
    lic = issue(world, tmp_path)
    page = open_page(browser, _tamper(lic.url), world.shots / "tampered.png")
    assert verdict(page) == "red"
    assert "签名无效" in page.inner_text("#checklist")


def test_expired_licence_opens_red(world: World, browser: Any, tmp_path: Path) -> None:
    lic = issue(world, tmp_path, valid_from="2014-07-01", valid_until="2019-07-01")
    page = open_page(browser, lic.url, world.shots / "expired.png")
    assert verdict(page) == "red"
    assert page.inner_text("#verdict-zh") == "证照已过期"


def test_stale_or_unreachable_status_opens_orange(world: World, browser: Any, tmp_path: Path) -> None:
    lic = issue(world, tmp_path)
    token = lic.url.split("#", 1)[1]
    ref = jws.Compact(token).payload["status"]["status_list"]
    old = world.env.http.get(f"/status/{ref['uri']}").text
    iat = int(jws.Compact(old).payload["iat"])
    while time.time() < iat + TTL + 1:  # let the copy we hold outlive its time-to-live
        time.sleep(0.2)

    def stale(page: Any) -> None:  # a cache (CDN, proxy) serving a list past its TTL
        page.route("**/status/**", lambda route: route.fulfill(status=200, body=old, content_type="application/jose"))

    page = open_page(browser, lic.url, world.shots / "stale-status.png", setup=stale)
    assert verdict(page) == "orange"
    assert page.inner_text("#verdict-zh") == "暂时无法核验"
    page = open_page(browser, lic.url, world.shots / "unreachable-status.png",
                     setup=lambda p: p.route("**/status/**", lambda route: route.abort()))
    assert verdict(page) == "orange"


def test_scripts_off_form_verifies_on_the_server(world: World, browser: Any, tmp_path: Path) -> None:
    lic = issue(world, tmp_path)
    page = open_page(browser, world.env.edge.base_url + "/v", world.shots / "noscript-form.png", javascript=False)
    page.fill("textarea[name=token]", lic.url)
    page.click("button[type=submit]")
    page.wait_for_selector("#verdict[data-rendered=server]")
    page.screenshot(path=str(world.shots / "noscript-result.png"), full_page=True)
    assert verdict(page) == "green"
    assert page.inner_text("#f-holder") == "张*丰"
    page.go_back()
    page.fill("textarea[name=token]", _tamper(lic.url))
    page.click("button[type=submit]")
    page.wait_for_selector("#verdict[data-rendered=server]")
    assert verdict(page) == "red"


def test_pdf_upload_page_shows_seal_verdicts(world: World, browser: Any, tmp_path: Path) -> None:
    lic = issue(world, tmp_path)
    (tmp_path / "licence.pdf").write_bytes(lic.pdf)
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    page.goto(world.env.edge.base_url + "/v/pdf")
    page.set_input_files("input[name=pdf]", str(tmp_path / "licence.pdf"))
    page.click("button[type=submit]")
    page.wait_for_selector("#verdict")
    page.screenshot(path=str(world.shots / "pdf-valid.png"), full_page=True)
    assert verdict(page) == "green", page.inner_text("main")
    assert "某某大学" in page.inner_text("table")


# -- federated: the page checks the issuing node against the hub's trust list (these run last: they
# -- make the module's node a federation member, and finally let its trust list go stale) -------------

def test_federated_member_licence_names_the_trust_list(world: World, browser: Any, tmp_path: Path,
                                                      node_factory: Any) -> None:
    from datetime import timedelta

    from hutong.federation import hub
    from tests.federation.conftest import federate, install_trust_list

    hub_node = node_factory("hub")
    federate(hub_node, [world.env.node], tmp_path)
    lic = issue(world, tmp_path)
    page = open_page(browser, lic.url, world.shots / "federated-valid.png")
    assert verdict(page) == "green", page.inner_text("main")
    assert "见于信任列表第 1 版" in page.inner_text("#checklist")
    # A trust list altered on the way (a cache serving something else) is not believed: orange.
    served = world.env.http.get("/trust-list.jws").text
    h, p, sig = served.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["seq"] = 99
    forged = f"{h}.{base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip('=')}.{sig}"
    page = open_page(browser, lic.url, world.shots / "forged-trust-list.png", setup=lambda pg: pg.route(
        "**/trust-list.jws", lambda route: route.fulfill(status=200, body=forged, content_type="application/jose")))
    assert verdict(page) == "orange" and "信任列表签名无法验证" in page.inner_text("#checklist")
    # The member's copy of the trust list goes stale (past next_update and the grace period): orange.
    install_trust_list(hub_node, hub.publish(hub_node, validity=-timedelta(days=3)), [world.env.node], tmp_path)
    page = open_page(browser, lic.url, world.shots / "stale-trust-list.png")
    assert verdict(page) == "orange", page.inner_text("main")
    assert "信任列表已过期" in page.inner_text("#checklist")
