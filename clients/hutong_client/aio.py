"""The asyncio (``grpc.aio``) variant for platforms built on asyncio: logins, sessions, token checks.

    async with AsyncHutong("node.example:7443", client_id="portal", client_secret=secret) as platform:
        session = await platform.login("11010519491231002X", "correct horse 1")
        claims = await platform.identity.verify_id_token(session.tokens.id_token)   # JWKS fetched once
        info = await platform.identity.introspect(await session.access_token())

Same deadlines, retries (idempotent calls, UNAVAILABLE only) and typed ``hutong.errors`` as the
synchronous SDK; token verification itself is local (``hutong.verify.tokens.verify_token``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc.aio

from hutong.identity.v1 import identity_pb2 as pb
from hutong.identity.v1 import identity_pb2_grpc as pb_grpc
from hutong.verify.tokens import TokenKind, verify_token
from hutong_client._channel import DEFAULT_TIMEOUT, AsyncCaller, Credentials, RetryPolicy, TlsOptions, open_aio_channel
from hutong_client.identity import keep_id_token


class AsyncSession:
    """A person's session that refreshes its access token (rotating the refresh token) before it expires."""

    def __init__(self, tokens: pb.TokenSet, refresher: Callable[[str], Awaitable[pb.TokenSet]], *,
                 margin: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        self._refresher, self._margin, self._clock = refresher, margin, clock
        self._lock = asyncio.Lock()
        self._set(tokens)

    def _set(self, tokens: pb.TokenSet) -> None:
        self.tokens = keep_id_token(tokens, getattr(self, "tokens", None))
        self.expires_at = self._clock() + tokens.expires_in
        self._early = min(self._margin, tokens.expires_in / 2)

    async def access_token(self) -> str:
        async with self._lock:
            if self._clock() >= self.expires_at - self._early:
                self._set(await self._refresher(self.tokens.refresh_token))
            return self.tokens.access_token

    async def refresh(self) -> pb.TokenSet:
        async with self._lock:
            self._set(await self._refresher(self.tokens.refresh_token))
            return self.tokens


class AsyncIdentityClient:
    """IdentityService over ``grpc.aio``: the calls a relying platform makes to log people in."""

    def __init__(self, channel: grpc.aio.Channel, *, client_id: str = "", client_secret: str = "",
                 timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None) -> None:
        self.client_id = client_id
        self._caller = AsyncCaller(channel, Credentials(client_id, client_secret), timeout=timeout, retry=retry)
        self._stub = pb_grpc.IdentityServiceStub(channel)
        self._jwks: tuple[dict[str, Any], str] | None = None

    async def register_person(self, id_number: str, name: str, password: str) -> str:
        req = pb.RegisterPersonRequest(id_number=id_number, name=name, password=password)
        return (await self._caller.unary(self._stub.RegisterPerson, req)).subject  # type: ignore[no-any-return]

    async def login(self, id_number: str, password: str, *, totp_code: str = "", scopes: Sequence[str] = (),
                    nonce: str = "") -> pb.TokenSet:
        req = pb.LoginRequest(id_number=id_number, password=password, scopes=list(scopes), nonce=nonce)
        if totp_code:
            req.totp_code = totp_code
        return (await self._caller.unary(self._stub.Login, req)).tokens  # type: ignore[no-any-return]

    async def login_session(self, id_number: str, password: str, *, margin: float = 60.0,
                            **login: Any) -> AsyncSession:
        return AsyncSession(await self.login(id_number, password, **login), self.refresh, margin=margin)

    async def refresh(self, refresh_token: str) -> pb.TokenSet:
        req = pb.RefreshTokenRequest(refresh_token=refresh_token)
        return (await self._caller.unary(self._stub.RefreshToken, req)).tokens  # type: ignore[no-any-return]

    async def revoke(self, token: str) -> None:
        await self._caller.unary(self._stub.RevokeToken, pb.RevokeTokenRequest(token=token), idempotent=True)

    async def introspect(self, token: str) -> pb.IntrospectTokenResponse:
        req = pb.IntrospectTokenRequest(token=token)
        return await self._caller.unary(self._stub.IntrospectToken, req, idempotent=True)  # type: ignore[no-any-return]

    async def jwks(self, *, refresh: bool = False) -> tuple[dict[str, Any], str]:
        """The node's JWKS and token issuer (cached after the first call)."""
        if self._jwks is None or refresh:
            resp = await self._caller.unary(self._stub.GetJwks, pb.GetJwksRequest(), idempotent=True)
            self._jwks = (json.loads(resp.jwks_json), resp.issuer)
        return self._jwks

    async def verify(self, token: str, *, kind: TokenKind = "id") -> dict[str, Any]:
        """Verify a token locally against the (cached) JWKS, for this platform as audience."""
        keys, issuer = await self.jwks()
        return verify_token(token, keys, issuer=issuer, audience=self.client_id or None, kind=kind)

    async def verify_id_token(self, token: str) -> dict[str, Any]:
        return await self.verify(token, kind="id")


class AsyncHutong:
    """asyncio entry point: ``.identity`` (``AsyncIdentityClient``) over one ``grpc.aio`` channel."""

    def __init__(self, target: str, *, client_id: str = "", client_secret: str = "", tls: TlsOptions | None = None,
                 tls_ca: str | Path | None = None, tls_cert: str | Path | None = None,
                 tls_key: str | Path | None = None, timeout: float = DEFAULT_TIMEOUT,
                 retry: RetryPolicy | None = None) -> None:
        if tls is None and (tls_ca or tls_cert or tls_key):
            tls = TlsOptions(tls_ca, tls_cert, tls_key)
        self.channel = open_aio_channel(target, tls)
        self.identity = AsyncIdentityClient(self.channel, client_id=client_id, client_secret=client_secret,
                                            timeout=timeout, retry=retry)

    async def login(self, id_number: str, password: str, **options: Any) -> AsyncSession:
        return await self.identity.login_session(id_number, password, **options)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncHutong:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()


__all__ = ["AsyncHutong", "AsyncIdentityClient", "AsyncSession"]
