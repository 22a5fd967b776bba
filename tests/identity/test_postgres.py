"""The identity flow on PostgreSQL (row locks for refresh rotation, the same schema)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hutong.errors import Unauthenticated
from hutong.node import Node
from identity_svc import login, orgs, persons, platforms, registers, sessions
from identity_svc.core import Identity

from .conftest import ACME, IDENTITY_CONFIG, PASSWORD, ZHANG, write_register_csvs

pytestmark = pytest.mark.postgres


def test_register_login_refresh_reuse_and_org_on_postgres(node_factory: Callable[..., Any], tmp_path: Path) -> None:
    node: Node = node_factory(backend="postgresql", config=IDENTITY_CONFIG)
    idn = Identity.of(node)
    for csv_file in write_register_csvs(tmp_path):
        registers.import_csv(idn, csv_file)
    portal = platforms.add_platform(idn, client_id="portal", name="Portal").info
    person_id = persons.register_person(idn, portal, id_number=ZHANG, name="张三", password=PASSWORD)
    first = login.login(idn, portal, login.LoginRequest(ZHANG, PASSWORD))
    second = sessions.refresh(idn, portal, first.refresh_token)
    with pytest.raises(Unauthenticated) as info:
        sessions.refresh(idn, portal, first.refresh_token)
    assert info.value.reason == "REFRESH_TOKEN_REUSED"
    with pytest.raises(Unauthenticated):
        sessions.verify_access_token(idn, second.access_token, audience="portal")
    orgs.register_organisation(idn, person_id, uscc=ACME[0], name=ACME[1])
    check = sessions.verify_access_token(idn, login.login(idn, portal, login.LoginRequest(ZHANG, PASSWORD))
                                         .access_token, audience="portal")
    org_tokens = sessions.switch_organisation(idn, check, ACME[0])
    assert sessions.verify_access_token(idn, org_tokens.access_token, audience="portal").roles[0] == (
        "legal_representative")
