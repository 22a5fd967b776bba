"""The inputs that once answered INTERNAL, each over a real server: now a status with a reason.

The fuzz test looks for the class; these pin the instances that were reported, so that they stay fixed
whatever the fuzzer's seed happens to reach.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from hutong.cert.v1 import cert_pb2, cert_pb2_grpc
from hutong.common.v1 import common_pb2
from hutong.errors import InvalidArgument
from hutong.federation import assertion
from hutong.federation.v1 import federation_pb2, federation_pb2_grpc
from hutong.identity.v1 import identity_pb2, identity_pb2_grpc
from hutong.seal.v1 import seal_pb2, seal_pb2_grpc
from tests.identity_fixtures import IDENTITY_CONFIG, Identities, citizen_id

USCC = "91350100M000100Y43"


def _fails(call: Callable[[], object]) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    err = info.value
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, f"{err.code()} without a status detail: {err.details()}"  # type: ignore[attr-defined]
    detail = error_details_pb2.ErrorInfo()
    assert status.details and status.details[0].Unpack(detail)
    return err.code(), detail.reason, dict(detail.metadata)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def setup(node_factory: Callable[..., object]) -> Iterator[tuple[grpc.Channel, Identities]]:
    """One node and server for the module: every case here is refused, so none changes what the next sees."""
    from hutong.server import start_server

    node = node_factory(config=IDENTITY_CONFIG)
    server = start_server(node, "127.0.0.1:0", threads=4)  # type: ignore[arg-type]
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    people = Identities(node)  # type: ignore[arg-type]
    people.organisation(USCC, "福建省某某科技有限公司", citizen_id(1))
    yield channel, people
    channel.close()
    server.stop(grace=0)


@pytest.mark.parametrize("ts", [Timestamp(nanos=1_000_000_000), Timestamp(seconds=2**62),
                                Timestamp(seconds=-(2**62)), Timestamp(nanos=-1)])
def test_out_of_range_timestamps(setup: tuple[grpc.Channel, Identities], ts: Timestamp) -> None:
    channel, people = setup
    person = people.person(citizen_id(5)).metadata
    admin = people.acting_for(people.person(citizen_id(1)), USCC).metadata
    cert = cert_pb2_grpc.CertServiceStub(channel)
    code, reason, meta = _fails(lambda: cert.GrantConsent(cert_pb2.GrantConsentRequest(
        platform="portal", identifiers=["x"], purpose="p", expires_at=ts), metadata=person, timeout=30))
    assert (code, reason, meta.get("field")) == (grpc.StatusCode.INVALID_ARGUMENT, "TIME_INVALID", "expires_at")
    orgs = identity_pb2_grpc.OrganisationServiceStub(channel)
    code, reason, _ = _fails(lambda: orgs.CreateGrant(identity_pb2.CreateGrantRequest(
        uscc=USCC, id_number=citizen_id(5), role=identity_pb2.GRANT_ROLE_STAFF, all_matters=True, valid_from=ts),
        metadata=admin, timeout=30))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "TIME_INVALID")
    seals = seal_pb2_grpc.SealServiceStub(channel)
    code, reason, _ = _fails(lambda: seals.GrantSeal(seal_pb2.GrantSealRequest(
        seal_id="x", grantee_kind=seal_pb2.GRANTEE_KIND_PERSON, grantee="y", not_before=ts), metadata=admin,
        timeout=30))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "TIME_INVALID")


@pytest.mark.parametrize(("page", "reason"), [
    (common_pb2.PageRequest(page_size=-(2**31)), "PAGE_SIZE_INVALID"),
    (common_pb2.PageRequest(page_size=-1), "PAGE_SIZE_INVALID"),
    (common_pb2.PageRequest(page_token="²"), "PAGE_TOKEN_INVALID"),
    (common_pb2.PageRequest(page_token="1" * 30), "PAGE_TOKEN_INVALID"),
    (common_pb2.PageRequest(page_token="0"), "PAGE_TOKEN_INVALID"),
])
def test_bad_pages_on_every_paged_list(setup: tuple[grpc.Channel, Identities], page: common_pb2.PageRequest,
                                       reason: str) -> None:
    channel, people = setup
    admin = people.acting_for(people.person(citizen_id(1)), USCC).metadata
    operator = people.operator().metadata
    cert = cert_pb2_grpc.CertServiceStub(channel)
    calls = [
        lambda: seal_pb2_grpc.SealServiceStub(channel).ListSeals(seal_pb2.ListSealsRequest(org_uscc=USCC, page=page),
                                                                 metadata=admin, timeout=30),
        lambda: identity_pb2_grpc.OrganisationServiceStub(channel).ListGrants(
            identity_pb2.ListGrantsRequest(uscc=USCC, page=page), metadata=admin, timeout=30),
        lambda: cert.ListCertificates(cert_pb2.ListCertificatesRequest(page=page), metadata=admin, timeout=30),
        lambda: cert.ListCertificates(cert_pb2.ListCertificatesRequest(page=page, type_code="x"), metadata=operator,
                                      timeout=30),
        lambda: cert.ListAccessLog(cert_pb2.ListAccessLogRequest(page=page), metadata=admin, timeout=30),
    ]
    for call in calls:
        code, got, _ = _fails(call)
        assert (code, got) == (grpc.StatusCode.INVALID_ARGUMENT, reason)


@pytest.mark.parametrize("envelope", ["W10.e30.x.y.z", "e30.W10.x.y.z", "IiI.e30.x.y.z", "bnVsbA.e30.x.y.z",
                                      "²³.a.b.c.d", "a.b.c", ""])
def test_federation_envelopes_of_the_wrong_shape(setup: tuple[grpc.Channel, Identities], envelope: str) -> None:
    channel, people = setup
    stub = federation_pb2_grpc.FederationServiceStub(channel)
    # Without a member's TLS certificate the envelope is not even read (no parse, no HSM decryption); the
    # shapes themselves are checked by accept() below, as a member's Deliver would reach it.
    code, reason, _ = _fails(lambda: stub.Deliver(federation_pb2.DeliverRequest(envelope=envelope), timeout=30))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "PEER_NOT_AUTHENTICATED")
    with pytest.raises(InvalidArgument) as info:
        assertion.accept(people.idn.node, envelope, op=None)
    assert info.value.reason == "ASSERTION_MALFORMED"


@pytest.mark.parametrize("path", ["/hutong.seal.v1.SealService/GetSeal", "/hutong.cert.v1.CertService/Verify",
                                  "/hutong.identity.v1.IdentityService/Login",
                                  "/hutong.federation.v1.FederationService/Deliver"])
@pytest.mark.parametrize("data", [b"\x0a\xff\xff\xff\xff\x0f", b"\x0a\x02\xc3\x28", b"\x0f"])
def test_undecodable_unary_requests(setup: tuple[grpc.Channel, Identities], path: str, data: bytes) -> None:
    channel, _ = setup
    call = channel.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    code, reason, _ = _fails(lambda: call(data, timeout=30))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_UNDECODABLE")


def test_undecodable_message_in_a_stream(setup: tuple[grpc.Channel, Identities]) -> None:
    channel, people = setup
    admin = people.operator().metadata
    header = seal_pb2.SignPdfRequest(header=seal_pb2.SignPdfHeader(seal_id="x")).SerializeToString()
    call = channel.stream_stream("/hutong.seal.v1.SealService/SignPdf", request_serializer=lambda b: b,
                                 response_deserializer=lambda b: b)
    code, reason, _ = _fails(lambda: list(call(iter([header, b"\x0a\x02\xc3\x28"]), metadata=admin, timeout=30)))
    # the header fails first or the junk does; either way a reason, never INTERNAL
    assert code != grpc.StatusCode.INTERNAL and reason
    verify = channel.stream_unary("/hutong.seal.v1.SealService/VerifyPdf", request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
    code, reason, _ = _fails(lambda: verify(iter([b"\x0f"]), metadata=admin, timeout=30))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_UNDECODABLE")


def test_error_messages_echoing_huge_input_stay_readable(setup: tuple[grpc.Channel, Identities]) -> None:
    """A status whose message quotes 100 KB of input would exceed the client's 8 KB trailer limit."""
    channel, people = setup
    stub = cert_pb2_grpc.CertServiceStub(channel)
    code, reason, _ = _fails(lambda: stub.GetType(cert_pb2.GetTypeRequest(code="Z" * 100_000),
                                                  metadata=people.operator().metadata, timeout=30))
    assert code == grpc.StatusCode.NOT_FOUND and reason
