"""The Python SDK against a real node: one entry point, sessions that refresh themselves, typed errors,
deadlines and retries, streaming from files / bytes / streams, offline verification, TLS / mTLS, asyncio."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from hutong.common.v1 import common_pb2
from hutong.errors import HutongError, InvalidArgument, Unauthenticated, Unavailable
from hutong.identity.v1 import identity_pb2
from hutong.seal.v1 import seal_pb2
from hutong.verify.tokens import verify_token
from hutong_client import Hutong, RetryPolicy, TlsOptions
from hutong_client._channel import Caller, Credentials
from hutong_client.cert import OfflineVerifier
from hutong_client.identity import Session
from tests.clients.sdk_world import ACME, LI, PASSWORD, ZHANG, World
from tests.tls_fixtures import tls_files


@pytest.fixture
def portal(world: World) -> Iterator[Hutong]:
    with Hutong(world.target, client_id="portal", client_secret=world.portal_secret) as client:
        yield client


def test_login_session_and_offline_token_check(portal: Hutong) -> None:
    session = portal.login(LI, PASSWORD)
    claims = portal.identity.verify_id_token(session.tokens.id_token)
    assert claims["acr"] == "substantial" and claims["aud"] in ("portal", ["portal"])
    keys, issuer = portal.identity.jwks()
    access = verify_token(session.access_token(), keys, issuer=issuer, audience="portal", kind="access")
    assert access["sub"] == claims["sub"]
    with pytest.raises(Unauthenticated) as e:
        verify_token(session.tokens.id_token, keys, issuer=issuer, audience="another-platform")
    assert e.value.reason == "TOKEN_WRONG_AUDIENCE"


def test_session_refreshes_before_expiry_and_rotates(portal: Hutong) -> None:
    now = [1000.0]
    seen: list[identity_pb2.TokenSet] = []
    tokens = portal.identity.login(LI, PASSWORD)
    session = Session(tokens, portal.identity.refresh, margin=60, clock=lambda: now[0], on_refresh=seen.append)
    person = portal.as_person(session)
    assert person.identity.introspect(session.access_token()).active
    assert not seen  # far from expiry: no refresh
    now[0] += tokens.expires_in - 30  # within the margin
    assert person.identity.my_organisations() == []  # the call carried a refreshed token
    assert len(seen) == 1 and seen[0].refresh_token != tokens.refresh_token
    with pytest.raises(Unauthenticated) as e:  # the spent refresh token is refused (and kills the family)
        portal.identity.refresh(tokens.refresh_token)
    assert e.value.reason == "REFRESH_TOKEN_REUSED"


def test_failures_are_typed_with_the_node_reason(world: World, portal: Hutong) -> None:
    with pytest.raises(Unauthenticated) as e:
        portal.login(ZHANG, "not the password 1")
    assert e.value.reason == "INVALID_CREDENTIALS"
    with pytest.raises(HutongError) as e2:
        Hutong(world.target, client_id="portal", client_secret="guess").identity.register_person(LI, "李四", "x")
    assert e2.value.reason == "CLIENT_AUTHENTICATION_FAILED"
    with pytest.raises(Unauthenticated) as e3:
        Hutong(world.target).seal.list_seals(ACME[0])
    assert e3.value.reason == "TOKEN_MISSING"


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "node restarting"

    def trailing_metadata(self) -> tuple[()]:
        return ()


def _flaky(failures: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> tuple[Callable[..., str], list[Any]]:
    calls: list[Any] = []

    def method(request: Any, *, metadata: Any, timeout: float) -> str:
        calls.append((metadata, timeout))
        if len(calls) <= failures:
            raise FakeRpcError(code)
        return "ok"

    return method, calls


def test_retries_only_idempotent_calls_and_only_on_unavailable() -> None:
    sleeps: list[float] = []
    caller = Caller(None, Credentials("portal", "s3cret", "tok"), timeout=7.0,  # type: ignore[arg-type]
                    retry=RetryPolicy(attempts=4, initial_backoff=0.1, jitter=0), sleep=sleeps.append)
    method, calls = _flaky(2)
    assert caller.unary(method, object(), idempotent=True) == "ok"
    assert sleeps == [0.1, 0.2] and len(calls) == 3
    assert calls[0] == ([("x-hutong-client-id", "portal"), ("x-hutong-client-secret", "s3cret"),
                         ("authorization", "Bearer tok")], 7.0)  # credentials and a deadline on every call
    method, calls = _flaky(1)
    with pytest.raises(Unavailable):  # not idempotent: never repeated
        caller.unary(method, object())
    assert len(calls) == 1
    method, calls = _flaky(1, grpc.StatusCode.INVALID_ARGUMENT)
    with pytest.raises(HutongError):  # idempotent, but not UNAVAILABLE
        caller.unary(method, object(), idempotent=True)
    assert len(calls) == 1
    method, calls = _flaky(10)
    with pytest.raises(Unavailable):  # gives up after the policy's attempts
        caller.unary(method, object(), idempotent=True)
    assert len(calls) == 4


def test_unreachable_node_is_unavailable_after_back_off() -> None:
    client = Hutong("127.0.0.1:1", timeout=2, retry=RetryPolicy(attempts=2, initial_backoff=0.01))
    with pytest.raises(Unavailable) as e:
        client.identity.jwks()
    assert e.value.reason == "UNAVAILABLE"


def test_streaming_from_bytes_and_streams_and_offline_pdf_check(world: World, portal: Hutong, pdf: Path,
                                                               tmp_path: Path) -> None:
    session = portal.login(ZHANG, PASSWORD)
    person = portal.as_person(session)
    if ACME[0] not in {o.uscc for o in person.identity.my_organisations()}:
        person.identity.register_organisation(ACME[0], ACME[1])
    company = portal.as_person(portal.identity.session(person.identity.switch_organisation(ACME[0])))
    seal = company.seal.create_seal(org_uscc=ACME[0], type=seal_pb2.SEAL_TYPE_FINANCE)
    company.seal.grant(seal.seal_id, grantee="portal", kind=seal_pb2.GRANTEE_KIND_PLATFORM, max_uses=2)
    place = seal_pb2.Placement(page=1, x=400, y=60, width=100, height=100)
    sink = io.BytesIO()
    result = portal.seal.sign(pdf.read_bytes(), sink, seal.seal_id, placement=place, level=seal_pb2.PADES_LEVEL_B_B)
    assert len(sink.getvalue()) == result.output_size
    with pdf.open("rb") as source:  # a binary stream in, a path out (atomic)
        portal.seal.sign(source, tmp_path / "two.pdf", seal.seal_id, placement=place)
    assert portal.seal.verify(io.BytesIO(sink.getvalue())).verdict == common_pb2.VERDICT_VALID
    offline = portal.seal.offline_verifier()
    assert offline.verify(tmp_path / "two.pdf").verdict.value == "valid"
    with pytest.raises(HutongError) as e:  # the grant is used up: no third seal, and no partial file left
        portal.seal.sign(pdf, tmp_path / "three.pdf", seal.seal_id, placement=place)
    assert e.value.reason == "GRANT_EXHAUSTED"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contract.pdf", "two.pdf"]


def test_certificate_offline_from_a_cached_trust_bundle(world: World, tmp_path: Path) -> None:
    with Hutong(world.target) as anyone:  # verification needs no credentials
        cached = tmp_path / "bundle.bin"
        cached.write_bytes(anyone.cert.trust_bundle().SerializeToString())
        cert_jws = Hutong(world.target, **world.regulator).cert.get(world.certificate_id).jws
        from hutong.cert.v1 import cert_pb2

        bundle = cert_pb2.GetTrustBundleResponse.FromString(cached.read_bytes())
        result = OfflineVerifier.from_bundle(bundle, fetch=anyone.cert.status_list).verify(cert_jws)
        assert result.verdict == "valid" and result.status == "valid"
        with pytest.raises(HutongError) as e:  # no way to fetch status lists: refuses rather than guesses
            OfflineVerifier.from_bundle(bundle).verify(cert_jws)
        assert e.value.reason == "STATUS_LIST_STALE"


def test_tls_options_name_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as e:
        Hutong("127.0.0.1:1", tls_ca=tmp_path / "missing.pem")
    assert e.value.reason == "TLS_FILE_UNREADABLE"
    with pytest.raises(InvalidArgument) as e:
        TlsOptions(cert_file=tmp_path / "me.pem").credentials()
    assert e.value.reason == "TLS_OPTIONS_INVALID"


def test_mutual_tls(node_factory: Callable[..., Any], tmp_path: Path) -> None:
    from hutong.server import start_server

    f = tls_files(tmp_path)
    node = node_factory(config=f'[server]\ntls_cert_file = "{f["server_cert"]}"\ntls_key_file = "{f["server_key"]}"\n'
                               f'tls_client_ca_file = "{f["ca"]}"\n')
    server = start_server(node, "127.0.0.1:0", threads=4)
    target = f"127.0.0.1:{server.port}"
    try:
        with Hutong(target, tls_ca=f["ca"], tls_cert=f["client_cert"], tls_key=f["client_key"]) as client:
            _, issuer = client.identity.jwks()
            assert issuer.startswith("urn:hutong:node:")
        no_cert = Hutong(target, tls_ca=f["ca"], timeout=3, retry=RetryPolicy(attempts=1))
        with pytest.raises(HutongError):  # the node requires a client certificate
            no_cert.identity.jwks()
        no_cert.close()
    finally:
        server.stop(grace=0)


def test_asyncio_login_and_token_verification(world: World) -> None:
    from hutong_client.aio import AsyncHutong

    async def scenario() -> tuple[dict[str, Any], bool, str]:
        async with AsyncHutong(world.target, client_id="portal", client_secret=world.portal_secret) as platform:
            session = await platform.login(LI, PASSWORD)
            claims = await platform.identity.verify_id_token(session.tokens.id_token)
            info = await platform.identity.introspect(await session.access_token())
            try:
                await platform.identity.login(LI, "wrong password 1")
            except Unauthenticated as exc:
                return claims, info.active, exc.reason
            return claims, info.active, ""

    claims, active, reason = asyncio.run(scenario())
    assert claims["acr"] == "substantial" and active and reason == "INVALID_CREDENTIALS"
