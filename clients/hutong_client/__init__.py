"""Hutong Python SDK: one entry point for the identity, seal and cert services of a node.

    from hutong_client import Hutong, TlsOptions

    with Hutong("node.example:7443", client_id="portal", client_secret=secret,
                tls=TlsOptions(ca_file="node-ca.pem")) as platform:
        session = platform.login("11010519491231002X", "correct horse 1")   # refreshes itself
        claims = platform.identity.verify_id_token(session.tokens.id_token)  # offline (JWKS)
        person = platform.as_person(session)
        person.seal.sign_file("contract.pdf", "sealed.pdf", seal_id, placement=...)
        person.cert.verify(identifier="1.2.156.3005.2....")

Every call has a deadline; idempotent calls are retried with back-off when the node is UNAVAILABLE;
failures raise ``hutong.errors`` classes (``InvalidArgument``, ``PermissionDenied``, ...) carrying the
node's stable ``reason`` (see docs/errors.md). ``hutong_client.aio`` has the asyncio variant.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc

from hutong.errors import (
    AlreadyExists,
    FailedPrecondition,
    HutongError,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from hutong.verify.tokens import verify_token
from hutong_client._channel import (
    DEFAULT_TIMEOUT,
    NO_RETRY,
    Caller,
    Credentials,
    RetryPolicy,
    TlsOptions,
    TokenSource,
    open_channel,
)
from hutong_client.cert import CertClient, OfflineVerifier
from hutong_client.identity import IdentityClient, Session
from hutong_client.seal import OfflinePdfVerifier, SealClient

DEFAULT_TARGET = "127.0.0.1:7443"


class Hutong:
    """A connection to one node with one set of credentials: ``.identity``, ``.seal``, ``.cert``.

    ``client_id`` / ``client_secret`` authenticate a relying platform; ``token`` (an access token or a
    ``Session``) a person. ``tls`` (or ``tls_ca`` / ``tls_cert`` / ``tls_key``, PEM files) turns on
    TLS / mTLS; without it the channel is plaintext (loopback and tests only). ``timeout`` is the
    deadline of unary calls in seconds; document transfers get ``TRANSFER_TIMEOUT``.
    """

    def __init__(self, target: str = DEFAULT_TARGET, *, client_id: str = "", client_secret: str = "",
                 token: str | TokenSource | None = None, tls: TlsOptions | None = None,
                 tls_ca: str | Path | None = None, tls_cert: str | Path | None = None,
                 tls_key: str | Path | None = None, tls_server_name: str = "",
                 timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy | None = None,
                 channel: grpc.Channel | None = None) -> None:
        if tls is None and (tls_ca or tls_cert or tls_key):
            tls = TlsOptions(tls_ca, tls_cert, tls_key, tls_server_name)
        self.target = target
        self._owns_channel = channel is None
        self.channel = channel if channel is not None else open_channel(target, tls)
        self._caller = Caller(self.channel, Credentials(client_id, client_secret, token), timeout=timeout,
                              retry=retry)
        self.identity = IdentityClient(self.channel, client_id=client_id, client_secret=client_secret,
                                       access_token=token or "", caller=self._caller)  # type: ignore[arg-type]
        self.seal = SealClient(self.channel, token=token, client_id=client_id, client_secret=client_secret,
                               caller=self._caller)
        self.cert = CertClient(self.channel, token=token, client_id=client_id, client_secret=client_secret,
                               caller=self._caller)

    @classmethod
    def from_env(cls, target: str | None = None, **overrides: Any) -> Hutong:
        """Settings from the environment: HUTONG_TARGET, HUTONG_CLIENT_ID, HUTONG_CLIENT_SECRET, HUTONG_TOKEN,
        HUTONG_TLS_CA, HUTONG_TLS_CERT, HUTONG_TLS_KEY; keyword arguments win."""
        env = os.environ
        settings: dict[str, Any] = {
            "client_id": env.get("HUTONG_CLIENT_ID", ""), "client_secret": env.get("HUTONG_CLIENT_SECRET", ""),
            "token": env.get("HUTONG_TOKEN") or None, "tls_ca": env.get("HUTONG_TLS_CA") or None,
            "tls_cert": env.get("HUTONG_TLS_CERT") or None, "tls_key": env.get("HUTONG_TLS_KEY") or None,
        }
        settings.update(overrides)
        return cls(target or env.get("HUTONG_TARGET", DEFAULT_TARGET), **settings)

    def login(self, id_number: str, password: str, **options: Any) -> Session:
        """Log a person in through this platform; the session refreshes its tokens before they expire."""
        return self.identity.login_session(id_number, password, **options)

    def access_token(self) -> str:
        """The person's current access token ("" without one); a ``Session`` refreshes it first if due."""
        token = self._caller.credentials.token
        return token.access_token() if isinstance(token, TokenSource) else (token or "")

    def as_person(self, token: str | TokenSource) -> Hutong:
        """The same channel and platform, calling on behalf of a person (access token or ``Session``)."""
        creds = self._caller.credentials
        return Hutong(self.target, client_id=creds.client_id, client_secret=creds.client_secret, token=token,
                      timeout=self._caller.timeout, retry=self._caller.retry, channel=self.channel)

    def close(self) -> None:
        if self._owns_channel:
            self.channel.close()

    def __enter__(self) -> Hutong:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


__all__ = [
    "DEFAULT_TARGET", "NO_RETRY", "AlreadyExists", "CertClient", "Credentials", "FailedPrecondition", "Hutong",
    "HutongError", "IdentityClient", "Internal", "InvalidArgument", "NotFound", "OfflinePdfVerifier",
    "OfflineVerifier", "PermissionDenied", "ResourceExhausted", "RetryPolicy", "SealClient", "Session",
    "TlsOptions", "TokenSource", "Unauthenticated", "Unavailable", "verify_token",
]
