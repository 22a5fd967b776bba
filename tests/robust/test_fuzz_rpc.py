"""Every RPC of every service, called with hostile messages and no, junk and valid credentials.

The node must answer each call with a documented status and an ErrorInfo reason (or succeed): never
INTERNAL, never UNKNOWN. Afterwards it must still be SERVING and its audit chain intact. RPCs are
enumerated from the service descriptors, so a new RPC is fuzzed without touching this file.

Bounded in count (and, as a guard, in time). A fixed seed always runs, plus one random seed; a failure
prints the seed, the RPC, the credentials and the message so that ``HUTONG_FUZZ_SEED=<seed>`` replays it.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from bench.pdfgen import make_pdf
from hutong.cert.v1 import cert_pb2
from hutong.common.v1 import common_pb2
from hutong.federation.v1 import federation_pb2
from hutong.identity.v1 import identity_pb2
from hutong.seal.v1 import seal_pb2
from tests.identity_fixtures import IDENTITY_CONFIG, Identities, citizen_id
from tests.robust.fuzzgen import Fuzzer

ALWAYS = (identity_pb2, seal_pb2, cert_pb2, federation_pb2)  # imported so the pool knows them
FIXED_SEED = 20261129
CALLS_PER_RPC = 12  # per seed and credential set
RELOGIN_EVERY = 40
TIME_GUARD_S = 55.0  # per seed: stop early on a slow machine rather than run for ever
USCC = "91350100M000100Y43"
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


@dataclass
class Failure:
    rpc: str
    creds: str
    code: str
    detail: str
    request: str


def _identity(x: bytes) -> bytes:
    return x


def _reason(err: grpc.RpcError) -> str:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    if status is None:
        return ""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def _sign_pdf(fz: Fuzzer, seal_id: str, real_pdf: bytes) -> list[bytes]:
    """SignPdf that gets past the first checks: a real seal and PDF, hostile placement and options."""
    header = seal_pb2.SignPdfHeader()
    fz.fill(header)
    header.seal_id = seal_id
    if fz.rng.random() < 0.7:
        header.document_size = len(real_pdf)
    if fz.rng.random() < 0.5:
        header.ClearField("field_name")
    return [seal_pb2.SignPdfRequest(header=header).SerializeToString(),
            seal_pb2.SignPdfRequest(chunk=common_pb2.Chunk(data=real_pdf)).SerializeToString()]


def _requests(fz: Fuzzer, method: MethodDescriptor, real_pdf: bytes, seal_id: str) -> list[bytes]:
    """The wire messages of one call: usually one valid-but-hostile message per request, sometimes junk."""
    cls = GetMessageClass(method.input_type)
    if method.name == "SignPdf" and fz.rng.random() < 0.5:
        return _sign_pdf(fz, seal_id, real_pdf)

    def one() -> bytes:
        if fz.rng.random() < 0.12:
            return fz.raw_bytes()
        msg = fz.message(method.input_type)
        if fz.rng.random() < 0.15 and "chunk" in cls.DESCRIPTOR.fields_by_name:
            msg.chunk.data = real_pdf  # type: ignore[attr-defined]
        return bytes(msg.SerializeToString())

    if not method.client_streaming:
        return [one()]
    return [one() for _ in range(fz.rng.randint(0, 4))]


def _call(channel: grpc.Channel, method: MethodDescriptor, requests: list[bytes],
          metadata: list[tuple[str, str]]) -> grpc.RpcError | None:
    path = f"/{method.containing_service.full_name}/{method.name}"
    kw: dict[str, Any] = {"request_serializer": _identity, "response_deserializer": _identity}
    try:
        if method.client_streaming and method.server_streaming:
            list(channel.stream_stream(path, **kw)(iter(requests), metadata=metadata, timeout=30))
        elif method.client_streaming:
            channel.stream_unary(path, **kw)(iter(requests), metadata=metadata, timeout=30)
        elif method.server_streaming:
            list(channel.unary_stream(path, **kw)(requests[0], metadata=metadata, timeout=30))
        else:
            channel.unary_unary(path, **kw)(requests[0], metadata=metadata, timeout=30)
    except grpc.RpcError as err:
        return err
    return None


def _credentials(people: Identities) -> dict[str, list[tuple[str, str]]]:
    rep = people.person(citizen_id(1))
    admin = people.acting_for(rep, USCC)
    return {
        "none": [],
        "junk": [("authorization", "Bearer W10.e30.x"), ("x-hutong-client-id", "../\\x00"),
                 ("x-hutong-client-secret", "x" * 300)],
        "person": people.person(citizen_id(3)).metadata,
        "org-admin": admin.metadata,
        "operator": people.operator().metadata,
    }


def _services(channel: grpc.Channel) -> list[ServiceDescriptor]:
    """Every Hutong service the server lists through reflection, as a client discovers them."""
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=30)
    names = sorted(s.name for a in answers for s in a.list_services_response.service if s.name.startswith("hutong."))
    return [descriptor_pool.Default().FindServiceByName(n) for n in names]


def _fuzz(channel: grpc.Channel, seed: int, login: Callable[[], dict[str, list[tuple[str, str]]]],
          known: list[str]) -> tuple[list[Failure], int]:
    fz = Fuzzer(seed, extra_strings=known, extra_bytes=[make_pdf(pages=1)])
    real_pdf = make_pdf(pages=1)
    failures: list[Failure] = []
    outcomes: Counter[str] = Counter()
    calls, deadline = 0, time.monotonic() + TIME_GUARD_S
    services = _services(channel)
    expected = {svc.full_name for m in ALWAYS for svc in m.DESCRIPTOR.services_by_name.values()}
    assert {s.full_name for s in services} >= expected
    methods = [m for svc in services for m in svc.methods]
    creds = login()
    plan = [(m, name) for m in methods for name in creds for _ in range(CALLS_PER_RPC)]
    random.Random(seed).shuffle(plan)
    for method, cred_name in plan:
        if time.monotonic() > deadline:
            break
        if calls % RELOGIN_EVERY == 0:  # fuzzed RevokeToken / LogoutEverywhere end sessions: log in again
            creds = login()
        requests = _requests(fz, method, real_pdf, known[0])
        err = _call(channel, method, requests, creds[cred_name])
        calls += 1
        if err is None:
            outcomes[f"{method.name}:OK"] += 1
            continue
        code, reason = err.code(), _reason(err)  # type: ignore[attr-defined]
        outcomes[f"{method.name}:{reason or code.name}"] += 1
        if code in FORBIDDEN or not reason:
            failures.append(Failure(f"{method.containing_service.name}/{method.name}", cred_name, code.name,
                                    err.details() or "", repr(requests[:2])[:600]))  # type: ignore[attr-defined]
    print(f"fuzz seed {seed}: {calls} calls; outcomes {sorted(outcomes.items())}")
    return failures, calls


def _seeds() -> Iterator[int]:
    yield FIXED_SEED
    yield int(os.environ.get("HUTONG_FUZZ_SEED") or random.SystemRandom().randrange(2**32))


@pytest.fixture
def fuzz_node(node_factory: Callable[..., object]) -> object:
    return node_factory(config=IDENTITY_CONFIG)


@pytest.mark.parametrize("which", ["fixed", "random"])
def test_no_rpc_answers_internal(which: str, fuzz_node: object, serve: Callable[[object], grpc.Channel]) -> None:
    seed = list(_seeds())[0 if which == "fixed" else 1]
    channel = serve(fuzz_node)
    people = Identities(fuzz_node)  # type: ignore[arg-type]
    # Real values the node knows, so that some calls get past the first checks.
    from seal_svc.seals import SealService, SealType
    from tests.seal.conftest import admin_of

    people.organisation(USCC, "福建省某某科技有限公司", citizen_id(1))
    seals = SealService(fuzz_node)  # type: ignore[arg-type]
    seal = seals.create_seal(admin_of(USCC), org_uscc=USCC, org_name="福建省某某科技有限公司",
                             seal_type=SealType.CONTRACT)
    rep = people.person(citizen_id(1))
    seals.grant(admin_of(USCC), seal.seal_id, grantee_kind="person", grantee=rep.subject)
    known = [seal.seal_id, citizen_id(1), citizen_id(3), fuzz_node.id, "portal", "ops"]  # type: ignore[attr-defined]

    failures, calls = _fuzz(channel, seed, lambda: _credentials(people), known)

    summary = "\n".join(f"  {f.rpc} [{f.creds}] -> {f.code}: {f.detail!r}\n    request {f.request}"
                        for f in failures[:15])
    assert not failures, f"seed {seed} (replay: HUTONG_FUZZ_SEED={seed}): {len(failures)} of {calls} calls " \
                         f"failed without a reason or with INTERNAL/UNKNOWN:\n{summary}"
    assert calls > 100  # the guard did not stop the run before it started
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    # The log's integrator signs checkpoints in the background: let it catch up, then verify. A broken
    # log stays broken however often it is integrated.
    for _ in range(20):
        fuzz_node.tlog.integrate_all()  # type: ignore[attr-defined]
        report = fuzz_node.audit.verify()  # type: ignore[attr-defined]
        if report.ok and not report.pending:
            break
        time.sleep(0.5)
    assert report.ok, f"seed {seed}: audit log broken after fuzzing: {report}"
