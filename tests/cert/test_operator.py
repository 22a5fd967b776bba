"""The operator's RPCs (PutType, RegisterIssuer, AuthoriseIssuer) over gRPC with real credentials: the operator
is a platform registered with ``node:operate``; persons (even at that platform) and other platforms are refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from cert_svc import catalogue
from hutong import identifiers
from hutong.auth import CLIENT_ID, CLIENT_SECRET
from hutong.cert.v1 import cert_pb2 as pb

from .conftest import COMPANY_USCC, ISSUER_USCC, OTHER_PERSON_ID, Env
from .test_issue import reason_of

NEW_TYPE = catalogue.DIPLOMA[:18] + "099"


def _put_type(env: Env, who: list[tuple[str, str]]) -> Any:
    t = env.stub.GetType(pb.GetTypeRequest(code=catalogue.DIPLOMA), metadata=env.bob).type
    t.code, t.name = NEW_TYPE, "测试结业证书"
    return env.stub.PutType(pb.PutTypeRequest(type=t), metadata=who).type


def _register(env: Env, who: list[tuple[str, str]]) -> Any:
    req = pb.RegisterIssuerRequest(uscc=COMPANY_USCC, name="某某培训学校", type_codes=[catalogue.DIPLOMA])
    return env.stub.RegisterIssuer(req, metadata=who).issuer


def _authorise(env: Env, who: list[tuple[str, str]]) -> Any:
    req = pb.AuthoriseIssuerRequest(uscc=COMPANY_USCC, type_codes=[catalogue.DIPLOMA, NEW_TYPE])
    return env.stub.AuthoriseIssuer(req, metadata=who).issuer


def _refusals(env: Env) -> list[tuple[list[tuple[str, str]], grpc.StatusCode, str]]:
    ops = env.people.operator()
    person_at_ops = env.people.person(OTHER_PERSON_ID, via=ops.client_id)  # bob, logged in at the ops platform
    return [
        (env.alice, grpc.StatusCode.PERMISSION_DENIED, "OPERATOR_REQUIRED"),  # a person
        (env.issuer, grpc.StatusCode.PERMISSION_DENIED, "OPERATOR_REQUIRED"),  # a platform without node:operate
        (person_at_ops.metadata, grpc.StatusCode.PERMISSION_DENIED, "OPERATOR_REQUIRED"),  # a person, via ops
        ([], grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING"),
        ([(CLIENT_ID, ops.client_id), (CLIENT_SECRET, "wrong")], grpc.StatusCode.UNAUTHENTICATED,
         "CLIENT_AUTHENTICATION_FAILED"),
    ]


def _state(env: Env) -> tuple[object, ...]:
    types = {t.code: t.name for t in env.stub.ListTypes(pb.ListTypesRequest()).types}
    found = {i.uscc: tuple(i.type_codes) for i in env.stub.ListIssuers(pb.ListIssuersRequest()).issuers}
    return tuple(sorted(types.items())), tuple(sorted(found.items()))


@pytest.mark.parametrize("call", [_put_type, _register, _authorise], ids=["PutType", "RegisterIssuer",
                                                                          "AuthoriseIssuer"])
def test_only_the_operator(env: Env, call: Callable[[Env, list[tuple[str, str]]], Any]) -> None:
    refusals = _refusals(env)
    before = _state(env)
    for who, code, reason in refusals:
        assert reason_of(lambda who=who: call(env, who)) == (code, reason)
    assert _state(env) == before


def test_operator_puts_types_registers_and_authorises_issuers(env: Env) -> None:
    assert _put_type(env, env.operator).name == "测试结业证书"
    assert list(_register(env, env.operator).type_codes) == [catalogue.DIPLOMA]
    assert sorted(_authorise(env, env.operator).type_codes) == sorted([catalogue.DIPLOMA, NEW_TYPE])


def test_catalogue_reads_are_public_and_show_no_internal_ids(env: Env) -> None:
    """The rule stated in the proto: no credentials needed; platform client ids and seal ids to the operator only."""
    anonymous = env.stub.ListIssuers(pb.ListIssuersRequest()).issuers
    assert anonymous and all(i.platform_client_id == "" and i.seal_id == "" for i in anonymous)
    assert all(i.chain.certificates_der for i in anonymous)  # what a verifier needs is there
    as_issuer = env.stub.ListIssuers(pb.ListIssuersRequest(), metadata=env.issuer).issuers
    assert all(i.platform_client_id == "" for i in as_issuer)
    as_operator = {i.uscc: i.platform_client_id
                   for i in env.stub.ListIssuers(pb.ListIssuersRequest(), metadata=env.operator).issuers}
    assert as_operator[ISSUER_USCC] == "amr-platform"
    assert reason_of(lambda: env.stub.ListIssuers(pb.ListIssuersRequest(), metadata=[
        (CLIENT_ID, "ops"), (CLIENT_SECRET, "wrong")])) == (grpc.StatusCode.UNAUTHENTICATED,
                                                            "CLIENT_AUTHENTICATION_FAILED")
    types = env.stub.ListTypes(pb.ListTypesRequest()).types
    assert types and env.stub.GetType(pb.GetTypeRequest(code=types[0].code)).type.code == types[0].code


def test_a_platform_issues_for_one_department_only(env: Env) -> None:
    """Registering a second department under a platform that already issues for one is refused with a reason
    (it used to fail on the database's unique key as an internal error), and nothing is stored."""
    before = _state(env)
    new_department = "11350000MB0000001" + identifiers.uscc_check_character("11350000MB0000001")
    req = pb.RegisterIssuerRequest(uscc=new_department, name="某某局", type_codes=[catalogue.DIPLOMA],
                                   platform_client_id="amr-platform")
    assert reason_of(lambda: env.stub.RegisterIssuer(req, metadata=env.operator)) == (
        grpc.StatusCode.ALREADY_EXISTS, "ISSUER_PLATFORM_TAKEN")
    assert _state(env) == before
    again = pb.RegisterIssuerRequest(uscc=ISSUER_USCC, name="again", type_codes=[catalogue.DIPLOMA])
    assert reason_of(lambda: env.stub.RegisterIssuer(again, metadata=env.operator)) == (
        grpc.StatusCode.ALREADY_EXISTS, "ISSUER_EXISTS")
