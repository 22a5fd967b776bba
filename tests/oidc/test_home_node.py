"""Cross-node login: on node B's login page a citizen of node A chooses "log in at my home node", logs in at A,
and comes back through the federation assertion path -- one linked account at B, A's level never raised."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hutong.demo.cluster import free_port
from hutong.edge.serve import RunningEdge, start_edge
from hutong.federation import hub
from hutong.node import Node
from identity_svc import federation, orgs, persons, platforms, registers
from identity_svc.core import Identity
from identity_svc.models import Organisation as OrgRow
from identity_svc.models import Person as PersonRow
from identity_svc.sessions import subject_for
from tests.federation.conftest import install_trust_list
from tests.identity_fixtures import IDENTITY_CONFIG, PASSWORD, citizen_id
from tests.oidc.conftest import callback_params, hidden, pkce_pair


@dataclass
class Pair:
    a: Node
    b: Node
    url_a: str
    url_b: str
    rp: platforms.NewPlatform
    redirect_uri: str
    id_number: str
    person_a: str


@pytest.fixture(scope="module")
def pair(node_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    hub_node: Node = node_factory("hub")
    edges: list[RunningEdge] = []
    nodes, urls = [], []
    for node_id in ("prov-a", "prov-b"):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        config = IDENTITY_CONFIG + f'issuer = "{url}"\n[edge]\nlisten = "127.0.0.1:{port}"\n'
        n: Node = node_factory(node_id, config=config)
        edge = start_edge(n)
        assert edge is not None
        edges.append(edge)
        nodes.append(n)
        urls.append(url)
    a, b = nodes
    for n, url in zip(nodes, urls, strict=True):  # the edge's URL among the endpoints the trust list publishes
        hub.add_member(hub_node, hub.describe_node(n, endpoints=[n.config.server.listen, url]))
    install_trust_list(hub_node, hub.publish(hub_node), nodes, tmp_path_factory.mktemp("trust"))
    idn_a = Identity.of(a)
    number = citizen_id(901)
    home_portal = platforms.add_platform(idn_a, client_id="home-portal", name="A", scopes=["openid"])
    with a.db.session() as s:
        registers.TableRegister(idn_a).add_person(s, number, "李四")
    person_a = persons.register_person(idn_a, home_portal.info, id_number=number, name="李四", password=PASSWORD)
    redirect_uri = "http://127.0.0.1:9/rp-b/callback"
    rp = platforms.add_platform(Identity.of(b), client_id="rp-b", name="B 平台", scopes=["openid", "profile"],
                                redirect_uris=[redirect_uri])
    yield Pair(a, b, urls[0], urls[1], rp, redirect_uri, number, person_a)
    for e in edges:
        e.stop()


def authorize(pair: Pair, challenge: str, **extra: str) -> str:
    params = {"response_type": "code", "client_id": "rp-b", "scope": "openid profile", "state": "s", "nonce": "n",
              "redirect_uri": pair.redirect_uri, "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    return f"{pair.url_b}/oidc/authorize?" + str(httpx.QueryParams(params))


def login_via_home(pair: Pair, http: httpx.Client, challenge: str) -> httpx.Response:
    page = http.get(authorize(pair, challenge))
    assert page.status_code == 200 and 'value="prov-a"' in page.text  # B offers the member nodes
    to_home = http.post(f"{pair.url_b}/oidc/login", data={"tx": hidden(page.text, "tx"),
                        "csrf": hidden(page.text, "csrf"), "action": "home", "home": "prov-a"})
    assert to_home.status_code == 302 and to_home.headers["location"].startswith(pair.url_a + "/oidc/federation/")
    page_a = http.get(to_home.headers["location"])
    assert page_a.status_code == 200 and 'name="password"' in page_a.text
    done = http.post(f"{pair.url_a}/oidc/login", data={"tx": hidden(page_a.text, "tx"),
                     "csrf": hidden(page_a.text, "csrf"), "action": "login", "id_number": pair.id_number,
                     "password": PASSWORD})
    assert done.status_code == 200 and f'action="{pair.url_b}/oidc/federation/return"' in done.text
    assert pair.id_number not in done.text  # the assertion is encrypted to B
    return http.post(f"{pair.url_b}/oidc/federation/return", data={"assertion": hidden(done.text, "assertion"),
                     "tx": hidden(done.text, "tx")})


def linked_accounts(pair: Pair) -> int:
    idn_b = Identity.of(pair.b)
    with pair.b.db.session(readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(PersonRow).where(
            PersonRow.id_index == idn_b.person_index(pair.id_number))) or 0)


def test_log_in_at_my_home_node(pair: Pair) -> None:
    subjects = []
    for _ in range(2):
        verifier, challenge = pkce_pair()
        with httpx.Client(follow_redirects=False, timeout=30) as http:
            back = login_via_home(pair, http, challenge)
            params = callback_params(back)
            assert params["iss"] == pair.url_b
            token = httpx.post(f"{pair.url_b}/oidc/token", data={
                "grant_type": "authorization_code", "code": params["code"], "redirect_uri": pair.redirect_uri,
                "code_verifier": verifier}, auth=("rp-b", pair.rp.client_secret)).json()
        claims = httpx.get(f"{pair.url_b}/oidc/userinfo",
                           headers={"Authorization": f"Bearer {token['access_token']}"}).json()
        assert claims["name"] == "李四"
        subjects.append(claims["sub"])
    assert subjects[0] == subjects[1] and linked_accounts(pair) == 1  # one linked account at B
    idn_b = Identity.of(pair.b)
    with pair.b.db.session(readonly=True) as s:
        found = persons.find_person(idn_b, s, pair.id_number)
        assert found is not None
    assert subjects[0] == subject_for(idn_b, found.id, platforms.get_platform(idn_b, "rp-b"))


def test_level_is_never_raised_and_assertions_are_bound_to_one_login(pair: Pair) -> None:
    _, challenge = pkce_pair()
    with httpx.Client(follow_redirects=False, timeout=30) as http:
        page = http.get(authorize(pair, challenge, acr_values="high"))
        tx_high = hidden(page.text, "tx")
        page = http.get(authorize(pair, challenge))
        tx_other = hidden(page.text, "tx")
    idn_a = Identity.of(pair.a)

    def assertion(tx: str) -> str:
        return federation.issue_for(idn_a, pair.person_a, acr="substantial", amr=("pwd",), auth_time=time.time(),
                                    audience_node="prov-b", extra={"visited_tx": tx})

    # A vouches at level substantial; B's login needs high: refused to the platform, nothing issued.
    r = httpx.post(f"{pair.url_b}/oidc/federation/return", data={"assertion": assertion(tx_high), "tx": tx_high})
    params = callback_params(r)
    assert params["error"] == "unmet_authentication_requirements" and "code" not in params
    # An assertion made for another pending login is refused; so is one presented twice.
    r = httpx.post(f"{pair.url_b}/oidc/federation/return", data={"assertion": assertion(tx_high), "tx": tx_other})
    assert r.status_code == 400 and "ASSERTION_INVALID" in r.text
    good = assertion(tx_other)
    assert callback_params(httpx.post(f"{pair.url_b}/oidc/federation/return",
                                      data={"assertion": good, "tx": tx_other}))["code"]
    r = httpx.post(f"{pair.url_b}/oidc/federation/return", data={"assertion": good, "tx": tx_other})
    assert r.status_code == 400
    # A sends people back only to members the trust list names.
    r = httpx.get(f"{pair.url_a}/oidc/federation/start?node=evil&tx=tx_x")
    assert r.status_code == 400 and "location" not in r.headers


def test_acting_for_an_organisation_registered_at_home(pair: Pair) -> None:
    idn_a = Identity.of(pair.a)
    uscc, name = "91110000600037341L", "归属地某公司"
    with pair.a.db.session() as s:
        registers.TableRegister(idn_a).add_organisation(s, uscc, name, pair.id_number)
    orgs.register_organisation(idn_a, pair.person_a, uscc=uscc, name=name)
    verifier, challenge = pkce_pair()
    with httpx.Client(follow_redirects=False, timeout=30) as http:
        page = http.get(authorize(pair, challenge))
        to_home = http.post(f"{pair.url_b}/oidc/login", data={"tx": hidden(page.text, "tx"),
                            "csrf": hidden(page.text, "csrf"), "action": "home", "home": "prov-a"})
        page_a = http.get(to_home.headers["location"])
        chooser = http.post(f"{pair.url_a}/oidc/login", data={"tx": hidden(page_a.text, "tx"),
                            "csrf": hidden(page_a.text, "csrf"), "action": "login", "id_number": pair.id_number,
                            "password": PASSWORD})
        assert chooser.status_code == 200 and uscc in chooser.text  # A offers the organisations held there
        done = http.post(f"{pair.url_a}/oidc/organisation", data={"tx": hidden(chooser.text, "tx"),
                         "csrf": hidden(chooser.text, "csrf"), "org": uscc})
        back = http.post(f"{pair.url_b}/oidc/federation/return", data={"assertion": hidden(done.text, "assertion"),
                         "tx": hidden(done.text, "tx")})
    token = httpx.post(f"{pair.url_b}/oidc/token", data={
        "grant_type": "authorization_code", "code": callback_params(back)["code"], "redirect_uri": pair.redirect_uri,
        "code_verifier": verifier}, auth=("rp-b", pair.rp.client_secret)).json()
    info = httpx.get(f"{pair.url_b}/oidc/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    claims = info.json()
    # B's token carries the organisation and the roles as the home node asserted them.
    assert claims["org_uscc"] == uscc and claims["org_name"] == name and "legal_representative" in claims["roles"]
    with pair.b.db.session(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(OrgRow).where(OrgRow.uscc == uscc)) == 0  # nothing copied
