"""Registering natural persons over gRPC: register matching, duplicates, bad identifiers, storage privacy."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import select

from hutong.audit import AuditRecord
from hutong.db import Base
from hutong.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from hutong.identity.v1 import identity_pb2, identity_pb2_grpc
from hutong_client.identity import IdentityClient

from .conftest import LI, NOT_REGISTERED, PASSWORD, PEOPLE, WANG, ZHANG, World


def test_register_then_log_in(world: World) -> None:
    sub = world.register(ZHANG)
    tokens = world.portal.login(ZHANG, PASSWORD)
    assert tokens.subject == sub and tokens.token_type == "Bearer"


@pytest.mark.parametrize(("number", "reason"), [
    ("1101051949123100", "CITIZEN_ID_INVALID_FORMAT"),
    ("110105194912310021", "CHECK_CHARACTER_MISMATCH"),
    ("110105194902300021", "INVALID_BIRTH_DATE"),
    ("990105194912310023", "INVALID_REGION_CODE"),
])
def test_bad_identifiers_are_refused_and_nothing_is_stored(world: World, expect, number: str, reason: str) -> None:
    before = world.snapshot()
    expect(InvalidArgument, reason, world.portal.register_person, number, "张三", PASSWORD)
    assert world.snapshot() == before


def test_status_code_and_reason_on_the_wire(world: World) -> None:
    stub = identity_pb2_grpc.IdentityServiceStub(world.channel)
    md = (("x-hutong-client-id", world.portal.client_id), ("x-hutong-client-secret", world.portal._client_secret))
    with pytest.raises(grpc.RpcError) as info:
        stub.RegisterPerson(identity_pb2.RegisterPersonRequest(id_number="110105194912310021", name="张三",
                                                               password=PASSWORD), metadata=md)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    detail = rpc_status.from_call(info.value).details[0]
    err = error_details_pb2.ErrorInfo()
    detail.Unpack(err)
    assert (err.reason, err.domain) == ("CHECK_CHARACTER_MISMATCH", "hutong.gov")
    assert "110105194912310021" not in info.value.details()


@pytest.mark.parametrize(("number", "name"), [(NOT_REGISTERED, "张三"), (ZHANG, "李四"), (ZHANG, "张 三")])
def test_name_and_number_must_match_the_register(world: World, expect, number: str, name: str) -> None:
    before = world.snapshot()
    expect(NotFound, "NOT_IN_REGISTER", world.portal.register_person, number, name, PASSWORD)
    assert world.snapshot() == before


def test_duplicate_registration_is_refused_even_through_another_platform(world: World, expect) -> None:
    world.register(LI)
    before = world.snapshot()
    expect(AlreadyExists, "PERSON_ALREADY_REGISTERED", world.idapp.register_person, LI, PEOPLE[LI], PASSWORD)
    assert world.snapshot() == before


def test_lower_case_x_is_the_same_person(world: World, expect) -> None:
    world.register(ZHANG)
    expect(AlreadyExists, "PERSON_ALREADY_REGISTERED", world.portal.register_person, ZHANG.lower(), "张三", PASSWORD)
    assert world.portal.login(ZHANG.lower(), PASSWORD).acr


@pytest.mark.parametrize("password", ["short1", "onlyletters", "1234567890123"])
def test_weak_passwords_are_refused(world: World, expect, password: str) -> None:
    expect(InvalidArgument, "PASSWORD_TOO_WEAK", world.portal.register_person, WANG, PEOPLE[WANG], password)


def test_platform_credentials_are_required(world: World, expect) -> None:
    anonymous = IdentityClient(world.channel)
    expect(Unauthenticated, "CLIENT_CREDENTIALS_MISSING", anonymous.register_person, WANG, PEOPLE[WANG], PASSWORD)
    wrong = IdentityClient(world.channel, client_id="portal", client_secret="guess")
    expect(Unauthenticated, "CLIENT_AUTHENTICATION_FAILED", wrong.register_person, WANG, PEOPLE[WANG], PASSWORD)


def _stored_bytes(world: World) -> bytes:
    """Everything the database holds: the SQLite files as they are on disk, or every row of every table."""
    if world.node.db.is_sqlite:
        files = [p for p in world.node.config.data_dir.iterdir() if p.name.startswith("hutong.db")]
        return b"".join(p.read_bytes() for p in files)
    with world.node.db.session(readonly=True) as s:
        rows = [row for table in Base.metadata.sorted_tables for row in s.execute(select(table))]
    return b"".join(v if isinstance(v, bytes) else str(v).encode() for row in rows for v in row)


def test_database_holds_no_plaintext_id_number_or_name(world: World) -> None:
    for number in (ZHANG, LI):
        world.register(number)
        world.idapp.login(number, PASSWORD, scopes=["openid", "id_number"])
    content = _stored_bytes(world)
    assert len(content) > 10_000
    for number in PEOPLE:
        assert number.encode() not in content and number.lower().encode() not in content
    assert "张三".encode() not in content  # names of natural persons are sealed too


def test_audit_log_records_registrations_without_id_numbers(world: World) -> None:
    world.register(ZHANG)
    with world.node.db.session() as s:
        records = list(s.scalars(select(AuditRecord)))
    assert any(r.action == "identity.person.register" for r in records)
    text = " ".join(f"{r.actor} {r.target} {r.details}" for r in records)
    assert all(number not in text for number in PEOPLE)
