"""The home-node rule: a node accepts an assertion about a person or organisation only from its home node.

Reproduces the takeover (a member signing a citizen and a company registered only at B in at B, as the
company's legal representative) and shows it refused; a person's first login from elsewhere links them to
that node, and later assertions from other members are refused; organisation context only from the
organisation's home (registered here, bound by the trust list's region ranges, or first seen).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hutong.audit import AuditRecord
from hutong.errors import HutongError
from hutong.federation import assertion, hub
from hutong.node import Node
from identity_svc import federation, platforms, registers
from identity_svc.core import Identity
from identity_svc.models import Person
from identity_svc.orgs import bind_legal_representative
from identity_svc.persons import register_person
from identity_svc.sessions import verify_access_token
from tests.federation.conftest import FAST_IDENTITY, install_trust_list

CITIZEN, NAME = "11010519491231002X", "张三"
OTHER = "110102199101010078"
COMPANY = "91350100M000100Y43"  # region 350100
OTHER_COMPANY = "91110000600037341L"  # region 110000


@pytest.fixture
def fed(tmp_path: Path, hub_node: Node, province: Node, prov_b: Node, node_factory: Any) -> dict[str, Any]:
    prov_c: Node = node_factory("prov-c", config=FAST_IDENTITY)
    for n in (province, prov_b, prov_c):
        entry = hub.describe_node(n)
        hub.add_member(hub_node, replace(entry, home_regions=["3501"]) if n is prov_c else entry)
    install_trust_list(hub_node, hub.publish(hub_node), [province, prov_b, prov_c], tmp_path)
    idn_b = Identity.of(prov_b)
    portal_b = platforms.add_platform(idn_b, client_id="portal-b", name="Portal B").info
    return {"a": province, "b": prov_b, "c": prov_c, "idn_b": idn_b, "portal_b": portal_b}


def _forge(sender: Node, *, number: str, org: str | None = None) -> str:
    """What any member can sign with its own federation key: an identity.login assertion to B."""
    claims: dict[str, Any] = {"id_number": number, "name": NAME, "acr": "substantial", "amr": ["pwd"],
                              "auth_time": int(time.time())}
    if org:
        claims["org"] = {"uscc": org, "name": "某公司", "roles": ["legal_representative"]}
    return assertion.issue(sender, audience_node="prov-b", op=federation.OP, claims=claims)


def _exchange(fed: dict[str, Any], token: str) -> Any:
    return federation.accept(fed["idn_b"], fed["portal_b"], token)


def _refused(fed: dict[str, Any], token: str) -> str:
    with pytest.raises(HutongError) as err:
        _exchange(fed, token)
    return err.value.reason


def _persons(node: Node) -> int:
    with node.db.session(readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(Person)) or 0)


def test_the_takeover_of_a_citizen_and_company_registered_at_b_is_refused(fed: dict[str, Any]) -> None:
    idn_b = fed["idn_b"]
    with fed["b"].db.session() as s:
        registers.TableRegister(idn_b).add_person(s, CITIZEN, NAME)
    register_person(idn_b, fed["portal_b"], id_number=CITIZEN, name=NAME, password="correct horse 1")
    bind_legal_representative(idn_b, uscc=OTHER_COMPANY, org_name="某公司", representative_id_number=CITIZEN,
                              source="register")
    assert _refused(fed, _forge(fed["a"], number=CITIZEN, org=OTHER_COMPANY)) == "NOT_HOME_NODE"
    assert _refused(fed, _forge(fed["a"], number=CITIZEN)) == "NOT_HOME_NODE"
    # A person of A (first seen at B now) still cannot bring B's own company along.
    assert _refused(fed, _forge(fed["a"], number=OTHER, org=OTHER_COMPANY)) == "NOT_HOME_NODE"
    assert _persons(fed["b"]) == 1  # nothing was linked by the refused attempts
    with fed["b"].db.session(readonly=True) as s:
        actions = list(s.scalars(select(AuditRecord.action)))
    assert actions.count("identity.federation.refused") == 3


def test_first_login_from_elsewhere_links_and_other_members_are_refused_later(fed: dict[str, Any]) -> None:
    first = _exchange(fed, _forge(fed["a"], number=OTHER))
    assert first.access_token
    assert _refused(fed, _forge(fed["c"], number=OTHER)) == "NOT_HOME_NODE"  # C is not the person's home
    assert _exchange(fed, _forge(fed["a"], number=OTHER)).access_token  # A still is
    assert _persons(fed["b"]) == 1


def test_organisation_context_only_from_the_organisations_home(fed: dict[str, Any]) -> None:
    # The trust list binds region 3501 to C: A cannot assert COMPANY's context, whoever the person is.
    assert _refused(fed, _forge(fed["a"], number=OTHER, org=COMPANY)) == "NOT_HOME_NODE"
    # No range covers OTHER_COMPANY: the first member to assert it becomes its home here.
    assert _exchange(fed, _forge(fed["a"], number=OTHER, org=OTHER_COMPANY)).access_token
    assert _refused(fed, _forge(fed["c"], number=CITIZEN, org=OTHER_COMPANY)) == "NOT_HOME_NODE"


def test_a_node_does_not_assert_about_a_person_whose_home_is_elsewhere(fed: dict[str, Any]) -> None:
    tokens = _exchange(fed, _forge(fed["a"], number=OTHER))  # B's session for A's person
    check = verify_access_token(fed["idn_b"], tokens.access_token, audience=None)
    with pytest.raises(HutongError) as err:
        federation.issue(fed["idn_b"], check, audience_node="prov-c")  # B may not vouch for A's person
    assert err.value.reason == "NOT_HOME_NODE"
