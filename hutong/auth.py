"""Who is calling: the principal every servicer authorises against.

identity_svc turns call metadata (a bearer access token, or a platform's client credentials)
into a ``Principal``; the seal and cert services only read it. Domain code receives the
principal as a plain value and never looks at gRPC metadata itself.

Kinds: ``person`` (a bearer access token) and ``platform`` (a relying platform's client credentials)
come from call metadata; ``service`` is an in-process caller (another service of this node) and is
made only by ``service_principal``: no authenticator produces it, so nothing reachable over gRPC can.

The node **operator** is a relying platform registered with the scope ``node:operate``
(``hutong platform add ops --scope node:operate``): ``Principal.is_operator``. Persons never are,
whatever platform their token was issued to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

PrincipalKind = Literal["person", "platform", "service"]

OPERATOR_SCOPE = "node:operate"  # a platform with this scope is the node operator

# Metadata keys (lower-case, as gRPC requires).
AUTHORIZATION = "authorization"  # "Bearer <access token>"
CLIENT_ID = "x-hutong-client-id"  # a relying platform's client id ...
CLIENT_SECRET = "x-hutong-client-secret"  # ... and its secret (over TLS only in production)
# Set by the server from the verified mTLS client certificate (SHA-256 of its DER, hex); a value sent by
# the client under this name is dropped, so only the TLS layer can vouch for it.
PEER_CERT_SHA256 = "x-hutong-peer-cert-sha256"
# A client-chosen key that makes a retried sealing or issuing batch return the first result (hutong.idempotency).
IDEMPOTENCY_KEY = "idempotency-key"


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    subject: str  # person: local account id; platform: client id; service: its name
    platform: str | None = None  # client id of the relying platform the call comes through (service: acts for)
    org_uscc: str | None = None  # organisation context (acting on behalf of a legal person)
    roles: tuple[str, ...] = ()  # roles held in that organisation context
    acr: str = ""  # level of assurance reached: low / substantial / high
    token_id: str = ""
    scopes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_operator(self) -> bool:
        """The node operator: a relying platform registered with ``OPERATOR_SCOPE``."""
        return self.kind == "platform" and OPERATOR_SCOPE in self.scopes

    @property
    def actor(self) -> str:
        """A short, log-safe description for the audit log (never an ID number)."""
        who = f"{self.kind}:{self.subject}"
        if self.org_uscc:
            who += f"@{self.org_uscc}"
        if self.platform and self.kind != "platform":
            who += f" via {self.platform}"
        return who


def service_principal(name: str, *, on_behalf_of: str | None = None) -> Principal:
    """An in-process caller, e.g. ``service_principal("cert_svc", on_behalf_of=department_platform)``
    when cert_svc seals a rendition with the department's seal: it uses the grants of the platform
    it acts for (audited as ``service:cert_svc via <platform>``), never more. Only code in the node's
    process can make one; it is never an operator."""
    return Principal(kind="service", subject=name, platform=on_behalf_of)


class Authenticator(Protocol):
    def authenticate(self, metadata: Mapping[str, str]) -> Principal: ...
