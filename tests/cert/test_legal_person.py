"""Business licence -> legal person, over gRPC with real tokens: a valid licence binds its legal representative
(who then acts for the business: SwitchOrganisation, CreateSeal); suspending the licence suspends the binding,
revoking it ends the binding, each refused at the next use of the organisation token with its own reason."""

from __future__ import annotations

import grpc

from hutong.cert.v1 import cert_pb2 as pb
from hutong.seal.v1 import seal_pb2
from hutong_client.cert import CertClient
from hutong_client.identity import IdentityClient
from hutong_client.seal import SealClient
from tests.identity_fixtures import Caller, citizen_id

from .conftest import Env, licence_fields
from .test_issue import issue, reason_of

BUSINESS = "91350100MA0000001P"
BUSINESS_NAME = "福州新办科技有限公司"
REPRESENTATIVE, SUCCESSOR = citizen_id(21), citizen_id(22)


def _licence(env: Env, representative: str) -> pb.Certificate:
    fields = licence_fields(name=BUSINESS_NAME, legal_representative_id=representative)
    return issue(env, holder_id=BUSINESS, fields=fields)


def _identity(env: Env, person: Caller) -> IdentityClient:
    return IdentityClient(env.channel, client_id=person.client_id, client_secret=person.client_secret,
                          access_token=person.token)


def _in_business(env: Env, person: Caller) -> SealClient:
    """The person's organisation-context token, obtained over gRPC, in a seal client."""
    tokens = _identity(env, person).switch_organisation(BUSINESS)
    return SealClient(env.channel, token=tokens.access_token, client_id=person.client_id,
                      client_secret=person.client_secret)


def test_licence_binds_and_its_lifecycle_drives_the_binding(env: Env) -> None:
    licence = _licence(env, REPRESENTATIVE)  # the representative has not even registered yet
    rep = env.people.person(REPRESENTATIVE)
    orgs = {o.uscc: o for o in _identity(env, rep).my_organisations()}
    assert "legal_representative" in orgs[BUSINESS].roles and orgs[BUSINESS].name == BUSINESS_NAME
    seals = _in_business(env, rep)
    seal = seals.create_seal(org_uscc=BUSINESS, type=seal_pb2.SEAL_TYPE_OFFICIAL)
    assert (seal.org_uscc, seal.org_name) == (BUSINESS, BUSINESS_NAME)

    issuer = CertClient(env.channel, metadata=env.issuer)
    issuer.suspend(licence.identifier, "inspection")
    assert reason_of(seals.list_seals) == (grpc.StatusCode.PERMISSION_DENIED, "REPRESENTATION_SUSPENDED")
    issuer.change_status(licence.identifier, pb.CERT_STATUS_VALID, "inspection passed")
    assert [s.seal_id for s in seals.list_seals()] == [seal.seal_id]  # the same token works again

    issuer.revoke(licence.identifier, "revoked by the regulator")
    assert reason_of(seals.list_seals) == (grpc.StatusCode.PERMISSION_DENIED, "REPRESENTATION_ENDED")
    assert reason_of(lambda: _in_business(env, rep)) == (grpc.StatusCode.PERMISSION_DENIED, "REPRESENTATION_ENDED")
    assert BUSINESS not in {o.uscc for o in _identity(env, rep).my_organisations()}


def test_a_newer_licence_rebinds_and_the_old_ones_end_leaves_it(env: Env) -> None:
    first = _licence(env, REPRESENTATIVE)
    old_rep = _in_business(env, env.people.person(REPRESENTATIVE))
    second = _licence(env, SUCCESSOR)
    assert reason_of(old_rep.list_seals)[1] == "GRANT_REVOKED"  # someone else is the representative now
    CertClient(env.channel, metadata=env.issuer).revoke(first.identifier, "superseded")
    successor = _in_business(env, env.people.person(SUCCESSOR))
    successor.list_seals()  # the second licence's binding stands
    updated = CertClient(env.channel, metadata=env.issuer).update(
        second.identifier, dict(second.fields, legal_representative_id=REPRESENTATIVE), "new representative")
    assert updated.version == 2  # the new version binds its representative; the old version's end leaves it
    assert reason_of(successor.list_seals)[1] == "GRANT_REVOKED"
    _in_business(env, env.people.person(REPRESENTATIVE)).list_seals()


def _payload(token: str) -> str:
    import base64

    body = token.split(".")[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def test_signed_forms_carry_no_citizen_id_and_the_binding_still_holds(env: Env) -> None:
    representative = citizen_id(23)
    licence = _licence(env, representative)
    for form in (licence.jws, licence.qr):
        assert representative not in _payload(form)
    assert "legal_representative_id" not in licence.fields  # not even to the issuer, after issuing
    rep = env.people.person(representative)
    assert BUSINESS in {o.uscc for o in _identity(env, rep).my_organisations()}  # bound by the blind index
    # A person holder: the holder sees their own ID number; the signed form does not carry it.
    from cert_svc import catalogue

    from .conftest import PERSON_ID, diploma_fields

    diploma = issue(env, env.other_issuer, type_code=catalogue.DIPLOMA, holder_id=PERSON_ID, fields=diploma_fields())
    assert PERSON_ID not in _payload(diploma.jws) and PERSON_ID not in _payload(diploma.qr)
    assert CertClient(env.channel, metadata=env.alice).get(diploma.identifier).holder.id == PERSON_ID
