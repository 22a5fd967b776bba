"""Identity test world: a fresh node (SoftHSM token, SQLite) with a loaded register, three platforms and a
real gRPC server, reached through the SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import select

from hutong.db import Base
from hutong.errors import HutongError
from hutong.identifiers import citizen_id_check_character
from hutong.node import Node
from hutong.rpc import ErrorInterceptor
from hutong_client.identity import IdentityClient
from identity_svc import platforms, registers
from identity_svc.core import Identity
from identity_svc.service import add_to_server

# Low Argon2 cost keeps the suite fast; small throttling numbers make lockout testable in a second.
IDENTITY_CONFIG = """
[identity]
argon2_time_cost = 1
argon2_memory_kib = 1024
free_failures = 2
base_delay_seconds = 0.4
max_delay_seconds = 5
lockout_failures = 4
lockout_seconds = 60
client_free_failures = 6
client_lockout_failures = 100
"""

PASSWORD = "correct horse 1"


def citizen_id(first17: str) -> str:
    return first17 + citizen_id_check_character(first17)


ZHANG = "11010519491231002X"  # legal representative of ACME
LI = "110102199101010078"
WANG = "44011320141005001X"
ZHAO = citizen_id("32010219800101003")
NOT_REGISTERED = citizen_id("31011519751103004")
EXTRA = [citizen_id(f"3301061990010{i}01{i}") for i in range(1, 9)]  # for per-client throttling
PEOPLE = {ZHANG: "张三", LI: "李四", WANG: "王五", ZHAO: "赵六", **{n: f"员工{i}" for i, n in enumerate(EXTRA)}}
ACME = ("91350100M000100Y43", "福州阿克米有限公司")
OTHER_ORG = ("91110000600037341L", "北京某某有限公司")  # in the register, represented by LI


def write_register_csvs(directory: Path) -> tuple[Path, Path]:
    people = directory / "people.csv"
    people.write_text("name,id_number\n" + "".join(f"{n},{i}\n" for i, n in PEOPLE.items()), encoding="utf-8")
    orgs = directory / "orgs.csv"
    orgs.write_text("name,uscc,representative_name,representative_id_number\n"
                    f"{ACME[1]},{ACME[0]},张三,{ZHANG}\n{OTHER_ORG[1]},{OTHER_ORG[0]},李四,{LI}\n", encoding="utf-8")
    return people, orgs


@dataclass
class World:
    node: Node
    idn: Identity
    channel: grpc.Channel
    portal: IdentityClient  # openid profile; requires substantial; pairwise sub
    secure: IdentityClient  # openid; requires high
    idapp: IdentityClient  # openid profile id_number; registered for the ID number

    def register(self, number: str, via: IdentityClient | None = None) -> str:
        return (via or self.portal).register_person(number, PEOPLE[number], PASSWORD)

    def person(self, number: str, via: IdentityClient | None = None) -> IdentityClient:
        """Registered and logged in (substantial) at ``via``; returns the client acting for the person."""
        client = via or self.portal
        self.register(number, client)
        return client.as_person(client.login(number, PASSWORD).access_token)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every identity_svc row (audit log and throttling counters are expected to move)."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.node.db.session() as s:
            for table in Base.metadata.sorted_tables:
                if table.name.startswith("identity_") and table.name != "identity_throttle":
                    out[table.name] = sorted(tuple(map(str, r)) for r in s.execute(select(table)))
        return out


def _client(channel: grpc.Channel, new: platforms.NewPlatform) -> IdentityClient:
    return IdentityClient(channel, client_id=new.info.client_id, client_secret=new.client_secret)


@pytest.fixture
def id_node(node_factory: Callable[..., Any], tmp_path: Path) -> Node:
    node: Node = node_factory(config=IDENTITY_CONFIG)
    idn = Identity.of(node)
    for csv_file in write_register_csvs(tmp_path):
        registers.import_csv(idn, csv_file)
    return node


@pytest.fixture
def identity_channel(id_node: Node) -> Iterator[grpc.Channel]:
    """A real gRPC server with the identity services only (the other services are not needed here),
    behind the same error interceptor the node server uses."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), interceptors=[ErrorInterceptor()])
    add_to_server(server, id_node)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    yield channel
    channel.close()
    server.stop(grace=0)


@pytest.fixture
def world(id_node: Node, identity_channel: grpc.Channel) -> World:
    idn = Identity.of(id_node)
    channel = identity_channel
    add = platforms.add_platform
    return World(
        node=id_node, idn=idn, channel=channel,
        portal=_client(channel, add(idn, client_id="portal", name="Portal", scopes=["openid", "profile"])),
        secure=_client(channel, add(idn, client_id="secure", name="Secure", required_acr="high")),
        idapp=_client(channel, add(idn, client_id="idapp", name="ID app", scopes=["openid", "profile", "id_number"])),
    )


@pytest.fixture
def expect() -> Iterator[Callable[..., HutongError]]:
    """``expect(ErrorClass, "REASON", fn, *args)``: the call fails with that status and reason."""

    def check(cls: type[HutongError], reason: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> HutongError:
        with pytest.raises(HutongError) as info:
            fn(*args, **kwargs)
        assert (type(info.value), info.value.reason) == (cls, reason), str(info.value)
        return info.value

    yield check
