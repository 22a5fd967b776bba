"""Connection plumbing shared by every SDK client: channels, credentials, deadlines, retries, typed errors.

    tls = TlsOptions(ca_file="node-ca.pem", cert_file="me.pem", key_file="me.key")   # mTLS; ca_file alone = TLS
    channel = open_channel("node.example:7443", tls)
    caller = Caller(channel, Credentials(client_id="portal", client_secret=secret))
    caller.unary(stub.GetJwks, request, idempotent=True)

Every call gets a deadline (``timeout``, seconds). Only calls marked idempotent are retried, and only
when the node answered UNAVAILABLE (not reachable, restarting, overloaded), with exponential back-off
and jitter. A call refused with TOKEN_EXPIRED is repeated once after the token source refreshed
(authentication happens before anything is done, so this is safe for every unary call). Failures
raise the ``hutong.errors`` class of the status with the node's stable ``reason``
(``hutong.status.error_from_rpc``: the one place that rebuilds them).
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import grpc
import grpc.aio

from hutong.auth import AUTHORIZATION, CLIENT_ID, CLIENT_SECRET
from hutong.errors import HutongError, InvalidArgument
from hutong.status import error_from_rpc

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0  # seconds, unary calls
TRANSFER_TIMEOUT = 600.0  # seconds, calls that stream documents
MAX_MESSAGE = 16 * 1024 * 1024  # documents travel in 1 MiB chunks; this only bounds single messages
CHUNK = 1024 * 1024
TOKEN_EXPIRED = "TOKEN_EXPIRED"


# -- channels ---------------------------------------------------------------------------------------

def _read_pem(path: str | Path | None, what: str) -> bytes | None:
    if path is None or path == "":
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidArgument("TLS_FILE_UNREADABLE", f"cannot read the {what} {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class TlsOptions:
    """TLS to the node from PEM files: ``ca_file`` alone is TLS, with ``cert_file`` + ``key_file`` mTLS.

    ``ca_file=None`` trusts the system roots. ``server_name`` overrides the name checked in the node's
    certificate (when connecting by IP address, for example).
    """

    ca_file: str | Path | None = None
    cert_file: str | Path | None = None
    key_file: str | Path | None = None
    server_name: str = ""

    def credentials(self) -> grpc.ChannelCredentials:
        if bool(self.cert_file) != bool(self.key_file):
            raise InvalidArgument("TLS_OPTIONS_INVALID", "a client certificate and its key go together (mTLS)")
        return grpc.ssl_channel_credentials(
            root_certificates=_read_pem(self.ca_file, "CA certificate"),
            private_key=_read_pem(self.key_file, "client key"),
            certificate_chain=_read_pem(self.cert_file, "client certificate"),
        )

    def options(self) -> list[tuple[str, Any]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def channel_options(extra: Sequence[tuple[str, Any]] = ()) -> list[tuple[str, Any]]:
    return [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE),
            *extra]


def open_channel(target: str, tls: TlsOptions | None = None, *,
                 options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
    """A channel to ``target`` (HOST:PORT), plaintext unless ``tls`` is given."""
    if tls is None:
        return grpc.insecure_channel(target, options=channel_options(options))
    return grpc.secure_channel(target, tls.credentials(), options=channel_options([*tls.options(), *options]))


def open_aio_channel(target: str, tls: TlsOptions | None = None, *,
                     options: Sequence[tuple[str, Any]] = ()) -> grpc.aio.Channel:
    """The asyncio twin of ``open_channel``."""
    if tls is None:
        return grpc.aio.insecure_channel(target, options=channel_options(options))
    return grpc.aio.secure_channel(target, tls.credentials(),
                                   options=channel_options([*tls.options(), *options]))


# -- credentials ------------------------------------------------------------------------------------

@runtime_checkable
class TokenSource(Protocol):
    """Something that hands out a current access token (``identity.Session`` refreshes its own)."""

    def access_token(self) -> str: ...

    def refresh(self) -> object: ...


_METADATA_SAFE = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces


@dataclass(frozen=True)
class Credentials:
    """What a call carries: a platform's client id + secret, and/or a person's bearer access token."""

    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    token: str | TokenSource | None = field(default=None, repr=False)
    extra: tuple[tuple[str, str], ...] = ()  # further metadata pairs, sent as they are

    def __post_init__(self) -> None:
        # Both travel as call metadata, where gRPC refuses anything but printable ASCII with a bare
        # "INTERNAL: Invalid metadata" (after its C core has printed a trace): say what is wrong first.
        if self.client_id and not _METADATA_SAFE.match(self.client_id):
            raise InvalidArgument("CLIENT_ID_INVALID", "a client id has 3-80 characters: a-z 0-9 . _ -")
        if self.client_secret and not _METADATA_SAFE.match(self.client_secret):
            raise InvalidArgument("CLIENT_SECRET_INVALID", "the client secret holds characters no secret has "
                                  "(a space, a line break, a control or non-ASCII character): give the secret "
                                  "`hutong platform add` printed, alone")

    def metadata(self) -> list[tuple[str, str]]:
        md = [(CLIENT_ID, self.client_id), (CLIENT_SECRET, self.client_secret)] if self.client_id else []
        token = self.token.access_token() if isinstance(self.token, TokenSource) else self.token
        return md + ([(AUTHORIZATION, f"Bearer {token}")] if token else []) + list(self.extra)

    def with_token(self, token: str | TokenSource | None) -> Credentials:
        return replace(self, token=token)

    @property
    def refreshable(self) -> bool:
        return isinstance(self.token, TokenSource)


# -- retries ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off for idempotent calls the node answered UNAVAILABLE."""

    attempts: int = 4  # in all, the first one included; 1 = never retry
    initial_backoff: float = 0.2
    max_backoff: float = 3.0
    multiplier: float = 2.0
    jitter: float = 0.2  # +- this fraction of each delay

    def delays(self) -> Iterator[float]:
        delay = self.initial_backoff
        for _ in range(max(self.attempts - 1, 0)):
            yield delay * (1 + random.uniform(-self.jitter, self.jitter))
            delay = min(delay * self.multiplier, self.max_backoff)


NO_RETRY = RetryPolicy(attempts=1)


def _retryable(exc: grpc.RpcError) -> bool:
    return exc.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined, no-any-return]


# -- the caller -------------------------------------------------------------------------------------

class Caller:
    """Makes calls on one channel with credentials, a deadline, retries and typed errors."""

    def __init__(self, channel: grpc.Channel, credentials: Credentials | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.channel = channel
        self.credentials = credentials or Credentials()
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._refresh_lock = threading.Lock()

    def with_credentials(self, credentials: Credentials) -> Caller:
        """The same channel, deadline and retry policy; other credentials."""
        return Caller(self.channel, credentials, timeout=self.timeout, retry=self.retry, sleep=self._sleep)

    @property
    def metadata(self) -> list[tuple[str, str]]:
        return self.credentials.metadata()

    def _run(self, attempt: Callable[[], T], idempotent: bool) -> T:
        refreshed = False
        delays = iter(self.retry.delays() if idempotent else ())
        while True:
            try:
                return attempt()
            except grpc.RpcError as exc:
                err = error_from_rpc(exc)
                if _retryable(exc) and (delay := next(delays, None)) is not None:
                    self._sleep(delay)
                    continue
                if err.reason == TOKEN_EXPIRED and not refreshed and self._refresh():
                    refreshed = True
                    continue
                raise err from None

    def _refresh(self) -> bool:
        token = self.credentials.token
        if not isinstance(token, TokenSource):
            return False
        with self._refresh_lock:
            token.refresh()
        return True

    def unary(self, method: Callable[..., T], request: Any, *, idempotent: bool = False,
              timeout: float | None = None) -> T:
        """A unary call (or a client-streaming one whose ``request`` is a ready iterator: never retried)."""
        return self._run(lambda: method(request, metadata=self.metadata, timeout=timeout or self.timeout),
                         idempotent and not isinstance(request, Iterator))

    def client_stream(self, method: Callable[..., T], requests: Callable[[], Iterable[Any]], *,
                      idempotent: bool = False, timeout: float | None = None) -> T:
        """A client-streaming call; ``requests`` makes a fresh message iterator for every attempt."""
        return self._run(lambda: method(iter(requests()), metadata=self.metadata,
                                        timeout=timeout or TRANSFER_TIMEOUT), idempotent)

    def server_stream(self, method: Callable[..., Iterable[T]], request: Any, *, idempotent: bool = False,
                      timeout: float | None = None) -> Iterator[T]:
        """A server-streaming call; retried (when idempotent) only before its first message arrived."""
        delays = iter(self.retry.delays() if idempotent else ())
        while True:
            started = False
            try:
                for message in method(request, metadata=self.metadata, timeout=timeout or TRANSFER_TIMEOUT):
                    started = True
                    yield message
                return
            except grpc.RpcError as exc:
                if not started and _retryable(exc) and (delay := next(delays, None)) is not None:
                    self._sleep(delay)
                    continue
                raise error_from_rpc(exc) from None

    def bidi_stream(self, method: Callable[..., Iterable[T]], requests: Iterable[Any], *,
                    timeout: float | None = None, metadata: Sequence[tuple[str, str]] = ()) -> Iterator[T]:
        """A bidirectional stream (e.g. sealing): never retried here, errors typed; ``metadata`` is added."""
        try:
            yield from method(iter(requests), metadata=[*self.metadata, *metadata],
                              timeout=timeout or TRANSFER_TIMEOUT)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None


# -- paging ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    """One page of a list call: its items and the token of the next page ("" when it was the last)."""

    items: list[Any]
    next_page_token: str


def fetch_page(caller: Caller, method: Callable[..., Any], request: Any, field_name: str, *, page_size: int = 0,
               page_token: str = "") -> Page:
    """One page of a list RPC whose request has ``page`` (``hutong.common.v1.PageRequest``)."""
    request.page.page_size, request.page.page_token = page_size, page_token
    resp = caller.unary(method, request, idempotent=True)
    return Page(list(getattr(resp, field_name)), resp.page.next_page_token)


def iterate_pages(caller: Caller, method: Callable[..., Any], request: Any, field_name: str, *,
                  page_size: int = 0, page_token: str = "") -> Iterator[Any]:
    """Every item of a list RPC, fetching page after page as the iteration goes (never only the first)."""
    token = page_token
    while True:
        page = fetch_page(caller, method, request, field_name, page_size=page_size, page_token=token)
        yield from page.items
        token = page.next_page_token
        if not token:
            return


class AsyncCaller:
    """The asyncio twin of ``Caller`` for ``grpc.aio`` channels (unary calls)."""

    def __init__(self, channel: grpc.aio.Channel, credentials: Credentials | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None) -> None:
        self.channel = channel
        self.credentials = credentials or Credentials()
        self.timeout = timeout
        self.retry = retry or RetryPolicy()

    def with_credentials(self, credentials: Credentials) -> AsyncCaller:
        return AsyncCaller(self.channel, credentials, timeout=self.timeout, retry=self.retry)

    async def unary(self, method: Callable[..., Awaitable[T]], request: Any, *, idempotent: bool = False,
                    timeout: float | None = None) -> T:
        delays = iter(self.retry.delays() if idempotent else ())
        while True:
            try:
                return await method(request, metadata=self.credentials.metadata(), timeout=timeout or self.timeout)
            except grpc.aio.AioRpcError as exc:
                if _retryable(exc) and (delay := next(delays, None)) is not None:
                    await asyncio.sleep(delay)
                    continue
                raise error_from_rpc(exc) from None


__all__ = [
    "CHUNK", "DEFAULT_TIMEOUT", "NO_RETRY", "TRANSFER_TIMEOUT", "AsyncCaller", "Caller", "Credentials",
    "HutongError", "Page", "RetryPolicy", "TlsOptions", "TokenSource", "fetch_page", "iterate_pages",
    "open_aio_channel", "open_channel",
]
