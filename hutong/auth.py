"""Who is calling: the principal every servicer authorises against.

identity_svc turns call metadata (a bearer access token, or a platform's client credentials)
into a ``Principal``; the seal and cert services only read it. Domain code receives the
principal as a plain value and never looks at gRPC metadata itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

PrincipalKind = Literal["person", "platform", "operator"]

# Metadata keys (lower-case, as gRPC requires).
AUTHORIZATION = "authorization"  # "Bearer <access token>"
CLIENT_ID = "x-hutong-client-id"  # a relying platform's client id ...
CLIENT_SECRET = "x-hutong-client-secret"  # ... and its secret (over TLS only in production)


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    subject: str  # person: local account id; platform: client id; operator: name
    platform: str | None = None  # client id of the relying platform the call comes through
    org_uscc: str | None = None  # organisation context (acting on behalf of a legal person)
    roles: tuple[str, ...] = ()  # roles held in that organisation context
    acr: str = ""  # level of assurance reached: low / substantial / high
    token_id: str = ""
    scopes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def actor(self) -> str:
        """A short, log-safe description for the audit log (never an ID number)."""
        who = f"{self.kind}:{self.subject}"
        if self.org_uscc:
            who += f"@{self.org_uscc}"
        if self.platform and self.kind != "platform":
            who += f" via {self.platform}"
        return who


class Authenticator(Protocol):
    def authenticate(self, metadata: Mapping[str, str]) -> Principal: ...
