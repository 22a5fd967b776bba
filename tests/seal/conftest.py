"""Seal fixtures: a node's SealService/Sealer, organisations, principals and a ready seal + grant."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hutong.auth import Principal  # noqa: E402
from seal_svc.sealing import Sealer  # noqa: E402
from seal_svc.seals import SealInfo, SealService, SealType  # noqa: E402

USCC_A = "91350100M000100Y43"
USCC_B = "91110000600037341L"
ORG_A = "福建省某某科技有限公司"
ORG_B = "北京某某贸易有限公司"


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
def env(node: object) -> SealEnv:
    service = SealService(node)  # type: ignore[arg-type]
    return SealEnv(node=node, service=service, sealer=Sealer(service))


# -- a real gRPC server for the seal service -------------------------------------------------

class TokenTable:
    """Stands in for identity_svc's authenticator: opaque bearer tokens mapped to principals."""

    def __init__(self) -> None:
        self.tokens: dict[str, Principal] = {}

    def issue(self, principal: Principal) -> str:
        import secrets

        token = secrets.token_urlsafe(16)
        self.tokens[token] = principal
        return token

    def authenticate(self, metadata: dict[str, str]) -> Principal:
        from hutong.errors import Unauthenticated

        value = metadata.get("authorization", "")
        principal = self.tokens.get(value.removeprefix("Bearer "))
        if principal is None:
            raise Unauthenticated("TOKEN_INVALID", "unknown token")
        return principal


@dataclass
class SealRpc:
    env: SealEnv
    channel: object
    tokens: TokenTable
    target: str = ""

    def client(self, principal: Principal) -> object:
        from hutong_client.seal import SealClient

        return SealClient(self.channel, token=self.tokens.issue(principal))  # type: ignore[arg-type]


def start_seal_server(node: object, tokens: TokenTable) -> tuple[object, object, str]:
    from concurrent import futures

    import grpc

    from hutong.rpc import ErrorInterceptor
    from seal_svc.service import add_to_server

    limit = node.config.server.max_message_bytes  # type: ignore[attr-defined]
    opts = [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=[ErrorInterceptor()], options=opts)
    add_to_server(server, node, authenticator=tokens)  # type: ignore[arg-type]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=opts)
    grpc.channel_ready_future(channel).result(timeout=10)
    return server, channel, f"127.0.0.1:{port}"


@pytest.fixture
def rpc(env: SealEnv) -> Iterator[SealRpc]:
    tokens = TokenTable()
    server, channel, target = start_seal_server(env.node, tokens)
    yield SealRpc(env=env, channel=channel, tokens=tokens, target=target)
    channel.close()  # type: ignore[attr-defined]
    server.stop(grace=0)  # type: ignore[attr-defined]
