"""Seal fixtures: a node's SealService/Sealer, organisations, principals and a ready seal + grant.

Domain tests use plain ``Principal`` values (``admin_of``, ``staff``); the gRPC tests (``rpc``) call with
real identity_svc tokens and platform credentials (``tests/identity_fixtures.py``) and the node's own
authenticator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from hutong.auth import Principal
from seal_svc.sealing import Sealer
from seal_svc.seals import SealInfo, SealService, SealType
from tests.identity_fixtures import IDENTITY_CONFIG, Caller, Identities, citizen_id

USCC_A = "91350100M000100Y43"
USCC_B = "91110000600037341L"
ORG_A = "福建省某某科技有限公司"
ORG_B = "北京某某贸易有限公司"
REPRESENTATIVE_A, STAFF_A = citizen_id(1), citizen_id(2)  # citizen IDs of org A's people (gRPC tests)


def admin_of(uscc: str) -> Principal:
    return Principal(kind="person", subject=f"admin-{uscc[-4:]}", org_uscc=uscc, roles=("administrator",), acr="high")


def staff(subject: str = "staff-1", uscc: str = USCC_A) -> Principal:
    return Principal(kind="person", subject=subject, org_uscc=uscc, roles=("staff",), acr="substantial")


@dataclass
class SealEnv:
    node: object
    service: SealService
    sealer: Sealer

    def seal_for(self, uscc: str = USCC_A, org: str = ORG_A, *, user: Principal | None = None,
                 seal_type: SealType = SealType.CONTRACT, **grant: object) -> SealInfo:
        """A new seal of the organisation, granted to ``user`` (default: staff-1)."""
        info = self.service.create_seal(admin_of(uscc), org_uscc=uscc, org_name=org, seal_type=seal_type)
        user = user or staff(uscc=uscc)
        self.service.grant(admin_of(uscc), info.seal_id, grantee_kind=user.kind, grantee=user.subject,
                           **grant)  # type: ignore[arg-type]
        return info


@pytest.fixture
def node(node_factory: Callable[..., object]) -> object:
    """A fresh node whose identity service hashes passwords cheaply."""
    return node_factory(config=IDENTITY_CONFIG)


@pytest.fixture
def env(node: object) -> SealEnv:
    service = SealService(node)  # type: ignore[arg-type]
    return SealEnv(node=node, service=service, sealer=Sealer(service))


# -- a real gRPC server for the seal service -------------------------------------------------

@dataclass
class SealRpc:
    env: SealEnv
    channel: object
    people: Identities
    admin: Caller  # org A's legal representative, in org A's context
    staff: Caller  # a staff member of org A (all matters), in org A's context
    target: str = ""

    def client(self, caller: Caller) -> object:
        from hutong_client.seal import SealClient

        return SealClient(self.channel, token=caller.token or None, client_id=caller.client_id,  # type: ignore[arg-type]
                          client_secret=caller.client_secret)

    def seal_for(self, **kw: object) -> SealInfo:
        """A new seal of org A granted to ``staff`` (or ``user=``)."""
        kw.setdefault("user", self.staff.principal)
        return self.env.seal_for(**kw)  # type: ignore[arg-type]


def start_seal_server(node: object) -> tuple[object, object, str]:
    """The seal service behind the real error interceptor and the node's real authenticator."""
    from concurrent import futures

    import grpc

    from hutong.rpc import ErrorInterceptor
    from seal_svc.service import add_to_server

    limit = node.config.server.max_message_bytes  # type: ignore[attr-defined]
    opts = [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=[ErrorInterceptor()], options=opts)
    add_to_server(server, node)  # type: ignore[arg-type]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=opts)
    grpc.channel_ready_future(channel).result(timeout=10)
    return server, channel, f"127.0.0.1:{port}"


def org_a_people(env: SealEnv) -> tuple[Identities, Caller, Caller]:
    """Org A registered in identity_svc: its legal representative and a staff member, both acting for it."""
    people = Identities(env.node)  # type: ignore[arg-type]
    admin = people.organisation(USCC_A, ORG_A, REPRESENTATIVE_A)
    return people, admin, people.member(admin, STAFF_A)


@contextmanager
def seal_rpc(env: SealEnv) -> Iterator[SealRpc]:
    people, admin, staff_a = org_a_people(env)
    server, channel, target = start_seal_server(env.node)
    try:
        yield SealRpc(env=env, channel=channel, people=people, admin=admin, staff=staff_a, target=target)
    finally:
        channel.close()  # type: ignore[attr-defined]
        server.stop(grace=0)  # type: ignore[attr-defined]


@pytest.fixture
def rpc(env: SealEnv) -> Iterator[SealRpc]:
    with seal_rpc(env) as r:
        yield r
