"""Legal persons: registration by the legal representative, administrators, staff grants, org context."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hutong.audit import AuditRecord
from hutong.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from hutong_client.identity import IdentityClient
from identity_svc.authn import TokenAuthenticator

from .conftest import ACME, LI, NOT_REGISTERED, OTHER_ORG, PASSWORD, WANG, ZHANG, ZHAO, World

USCC, NAME = ACME


@pytest.fixture
def acme(world: World) -> World:
    """ACME registered by its legal representative ZHANG; LI, WANG, ZHAO registered too."""
    for number in (LI, WANG, ZHAO):
        world.register(number)
    world.rep = world.person(ZHANG)  # type: ignore[attr-defined]
    world.rep.register_organisation(USCC, NAME)  # type: ignore[attr-defined]
    return world


def _login(world: World, number: str) -> IdentityClient:
    return world.portal.as_person(world.portal.login(number, PASSWORD).access_token)


def test_representative_registers_and_acts_for_the_business(acme: World) -> None:
    rep: IdentityClient = acme.rep  # type: ignore[attr-defined]
    (org,) = rep.my_organisations()
    assert (org.uscc, org.name, "legal_representative" in org.roles) == (USCC, NAME, True)
    tokens = rep.switch_organisation(USCC)
    claims = acme.portal.verify(tokens.access_token, kind="access")
    assert (claims["org_uscc"], claims["org_name"], claims["act"]["sub"]) == (USCC, NAME, tokens.subject)
    principal = TokenAuthenticator(acme.node).authenticate({"authorization": f"Bearer {tokens.access_token}"})
    assert principal.org_uscc == USCC and "legal_representative" in principal.roles


def test_organisation_registration_failures(world: World, expect) -> None:
    li = world.person(LI)
    zhang = world.person(ZHANG)
    before = world.snapshot()
    expect(PermissionDenied, "NOT_LEGAL_REPRESENTATIVE", li.register_organisation, USCC, NAME)
    expect(NotFound, "ORGANISATION_NOT_IN_REGISTER", zhang.register_organisation, USCC, "别的名字")
    expect(InvalidArgument, "CHECK_CHARACTER_MISMATCH", zhang.register_organisation, "91110000600037341N", NAME)
    expect(InvalidArgument, "USCC_INVALID_FORMAT", zhang.register_organisation, "9111000060003734", NAME)
    assert world.snapshot() == before
    zhang.register_organisation(USCC.lower(), NAME)
    expect(AlreadyExists, "ORGANISATION_ALREADY_REGISTERED", zhang.register_organisation, USCC, NAME)
    li.register_organisation(*OTHER_ORG)


def test_administrator_grants_staff_roles_for_named_matters(acme: World) -> None:
    rep: IdentityClient = acme.rep  # type: ignore[attr-defined]
    rep.create_grant(USCC, LI, "administrator")
    admin = _login(acme, LI)
    until = datetime.now(UTC) + timedelta(days=30)
    grant = admin.create_grant(USCC, WANG, "staff", matters=["tax", "contracts"], valid_until=until)
    assert (grant.in_force, list(grant.matters), grant.person_masked_id) == (True, ["tax", "contracts"],
                                                                              "4401************1X")
    staff_tokens = _login(acme, WANG).switch_organisation(USCC)
    claims = acme.portal.verify(staff_tokens.access_token, kind="access")
    assert claims["roles"] == ["staff", "matter:tax", "matter:contracts"]
    assert {g.grant_id for g in admin.list_grants(USCC)} >= {grant.grant_id}


def test_grants_by_non_administrators_are_refused(acme: World, expect) -> None:
    rep: IdentityClient = acme.rep  # type: ignore[attr-defined]
    rep.create_grant(USCC, WANG, "staff", all_matters=True)
    rep.create_grant(USCC, LI, "administrator")
    staff, admin, outsider = _login(acme, WANG), _login(acme, LI), _login(acme, ZHAO)
    before = acme.snapshot()
    expect(PermissionDenied, "NOT_ADMINISTRATOR", staff.create_grant, USCC, ZHAO, "staff", all_matters=True)
    expect(PermissionDenied, "NOT_LEGAL_REPRESENTATIVE", admin.create_grant, USCC, ZHAO, "administrator")
    expect(PermissionDenied, "NOT_ADMINISTRATOR", outsider.list_grants, USCC)
    expect(NotFound, "ORGANISATION_NOT_FOUND", admin.create_grant, OTHER_ORG[0], ZHAO, "staff", all_matters=True)
    assert acme.snapshot() == before


def test_bad_grant_requests(acme: World, expect) -> None:
    rep: IdentityClient = acme.rep  # type: ignore[attr-defined]
    before = acme.snapshot()
    past = datetime.now(UTC) - timedelta(days=1)
    expect(InvalidArgument, "GRANT_PERIOD_INVALID", rep.create_grant, USCC, WANG, "staff", all_matters=True,
           valid_until=past)
    expect(InvalidArgument, "MATTERS_REQUIRED", rep.create_grant, USCC, WANG, "staff")
    expect(InvalidArgument, "MATTERS_REQUIRED", rep.create_grant, USCC, WANG, "staff", all_matters=True,
           matters=["tax"])
    expect(InvalidArgument, "CHECK_CHARACTER_MISMATCH", rep.create_grant, USCC, "110105194912310021", "staff",
           all_matters=True)
    expect(NotFound, "PERSON_NOT_FOUND", rep.create_grant, USCC, NOT_REGISTERED, "staff", all_matters=True)
    assert acme.snapshot() == before


def test_revoking_a_grant_takes_effect_at_the_next_use(acme: World, expect) -> None:
    rep: IdentityClient = acme.rep  # type: ignore[attr-defined]
    grant = rep.create_grant(USCC, WANG, "staff", all_matters=True)
    staff_login = acme.portal.login(WANG, PASSWORD)
    org_tokens = acme.portal.as_person(staff_login.access_token).switch_organisation(USCC)
    staff = acme.portal.as_person(org_tokens.access_token)
    staff.my_organisations()
    revoked = rep.revoke_grant(USCC, grant.grant_id)
    assert revoked.HasField("revoke_time") and not revoked.in_force
    expect(PermissionDenied, "GRANT_REVOKED", staff.my_organisations)
    expect(PermissionDenied, "GRANT_REVOKED", acme.portal.refresh, org_tokens.refresh_token)
    assert acme.portal.introspect(org_tokens.access_token).inactive_reason == "GRANT_REVOKED"
    # The personal session is untouched; switching back in is refused.
    expect(PermissionDenied, "NOT_A_MEMBER", acme.portal.as_person(staff_login.access_token).switch_organisation,
           USCC)


def test_grant_validity_dates(acme: World, expect) -> None:
    rep: IdentityClient = acme.rep  # type: ignore[attr-defined]
    later = datetime.now(UTC) + timedelta(days=1)
    grant = rep.create_grant(USCC, ZHAO, "staff", matters=["tax"], valid_from=later)
    assert not grant.in_force
    expect(PermissionDenied, "NOT_A_MEMBER", _login(acme, ZHAO).switch_organisation, USCC)
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    rep.create_grant(USCC, WANG, "staff", matters=["tax"], valid_until=soon)
    org_tokens = _login(acme, WANG).switch_organisation(USCC)
    time.sleep(1.6)
    expect(PermissionDenied, "GRANT_REVOKED", acme.portal.as_person(org_tokens.access_token).my_organisations)


def test_logins_failures_grants_and_revocations_are_audited(acme: World) -> None:
    from hutong.errors import Unauthenticated

    rep: IdentityClient = acme.rep  # type: ignore[attr-defined]
    grant = rep.create_grant(USCC, WANG, "staff", all_matters=True)
    rep.revoke_grant(USCC, grant.grant_id)
    with pytest.raises(Unauthenticated):
        acme.portal.login(WANG, "wrong password 1")
    with acme.node.db.session() as s:
        rows = [(r.action, r.outcome) for r in s.scalars(select(AuditRecord))]
    for expected in [("identity.login", "ok"), ("identity.login", "INVALID_CREDENTIALS"),
                     ("identity.grant.create", "ok"), ("identity.grant.revoke", "ok"), ("identity.org.register", "ok")]:
        assert expected in rows
    assert acme.node.audit.verify().ok


def test_licence_binding_replaces_suspends_and_ends(acme: World, expect) -> None:
    """``bind_legal_representative`` / ``end_binding`` (what cert_svc calls for business licences)."""
    from identity_svc import orgs

    rep: IdentityClient = acme.rep  # type: ignore[attr-defined]
    zhang_org = rep.as_person(rep.switch_organisation(USCC).access_token)
    orgs.bind_legal_representative(acme.idn, uscc=USCC, org_name=NAME, representative_id_number=LI,
                                   source="licence:L1", actor="test")
    expect(PermissionDenied, "GRANT_REVOKED", zhang_org.list_grants, USCC)  # LI represents ACME now
    li_org = _login(acme, LI)
    li_org = li_org.as_person(li_org.switch_organisation(USCC).access_token)
    assert orgs.end_binding(acme.idn, uscc=USCC, source="licence:L0") is False  # not the binding's source
    assert orgs.end_binding(acme.idn, uscc=USCC, source="licence:L1", suspend=True)
    expect(PermissionDenied, "REPRESENTATION_SUSPENDED", li_org.list_grants, USCC)
    orgs.bind_legal_representative(acme.idn, uscc=USCC, org_name=NAME, representative_id_number=LI,
                                   source="licence:L1")
    li_org.list_grants(USCC)  # valid again: the same token works
    assert orgs.end_binding(acme.idn, uscc=USCC, source="licence:L1")
    expect(PermissionDenied, "REPRESENTATION_ENDED", li_org.list_grants, USCC)
    expect(PermissionDenied, "REPRESENTATION_ENDED", _login(acme, LI).switch_organisation, USCC)
    # A licence for an organisation identity_svc does not know yet creates it; the person may register later.
    orgs.bind_legal_representative(acme.idn, uscc=OTHER_ORG[0], org_name=OTHER_ORG[1],
                                   representative_id_number=NOT_REGISTERED, source="licence:L2")
    with acme.node.db.session() as s:
        actions = list(s.scalars(select(AuditRecord.action).where(AuditRecord.action.like("identity.org.bind%"))
                                 .order_by(AuditRecord.seq)))
    assert actions == ["identity.org.bind", "identity.org.binding-suspended", "identity.org.bind",
                       "identity.org.binding-ended", "identity.org.bind"]
