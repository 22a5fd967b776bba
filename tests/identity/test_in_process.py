"""The in-process recipe of ``identity_svc/__init__.py`` works as documented (other services' tests use it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from identity_svc import login, orgs, persons, platforms, registers, sessions
from identity_svc.authn import TokenAuthenticator
from identity_svc.core import Identity

from .conftest import IDENTITY_CONFIG


def test_documented_recipe(node_factory: Callable[..., Any]) -> None:
    node = node_factory(config=IDENTITY_CONFIG)
    idn = Identity.of(node)
    with node.db.session() as s:
        registers.TableRegister(idn).add_person(s, "11010519491231002X", "张三")
        registers.TableRegister(idn).add_organisation(s, "91350100M000100Y43", "某某公司", "11010519491231002X")
    portal = platforms.add_platform(idn, client_id="portal", name="Portal", scopes=["openid", "profile"],
                                    required_acr="substantial")
    person_id = persons.register_person(idn, portal.info, id_number="11010519491231002X", name="张三",
                                        password="correct horse 1")
    tokens = login.login(idn, portal.info, login.LoginRequest("11010519491231002X", "correct horse 1"))
    authn = TokenAuthenticator(idn)
    assert authn.authenticate({"authorization": f"Bearer {tokens.access_token}"}).subject == person_id
    orgs.register_organisation(idn, person_id, uscc="91350100M000100Y43", name="某某公司")
    check = sessions.verify_access_token(idn, tokens.access_token, audience=None)
    org_tokens = sessions.switch_organisation(idn, check, "91350100M000100Y43")
    principal = authn.authenticate({"authorization": f"Bearer {org_tokens.access_token}"})
    assert (principal.org_uscc, principal.roles[0]) == ("91350100M000100Y43", "legal_representative")
    platform = authn.authenticate({"x-hutong-client-id": "portal", "x-hutong-client-secret": portal.client_secret})
    assert platform.kind == "platform"
