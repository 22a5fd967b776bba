"""The ``[identity]`` section of ``hutong.toml``.

Password hashing is Argon2id (RFC 9106). The defaults (t=3, m=64 MiB, p=1) follow the RFC's second
recommended option for memory-constrained servers; raise ``argon2_memory_kib`` where RAM allows, lower
it only in tests. Throttling: after ``free_failures`` failed logins for one identity, each further
attempt must wait ``base_delay_seconds * 2**(n - free_failures)`` (capped) after the last failure,
and ``lockout_failures`` failures lock the identity for ``lockout_seconds``. Each platform (client)
has the same scheme with its own, higher thresholds, against spraying many identities.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hutong.config import settings_of
from hutong.node import Node


@dataclass(frozen=True)
class IdentitySettings:
    issuer: str = ""  # `iss` of this node's tokens; empty = urn:hutong:node:<node id>
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 1
    password_min_length: int = 8
    access_token_seconds: int = 600
    id_token_seconds: int = 600
    refresh_token_seconds: int = 30 * 24 * 3600
    challenge_seconds: int = 120
    totp_digits: int = 6
    totp_period_seconds: int = 30
    totp_window_steps: int = 1  # accept codes this many periods either side (clock drift)
    free_failures: int = 3
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 300.0
    lockout_failures: int = 10
    lockout_seconds: float = 900.0
    client_free_failures: int = 50
    client_lockout_failures: int = 500
    failure_memory_seconds: float = 24 * 3600.0  # failures older than this are forgotten
    register: str = "table"  # real-name register adapter: "table" (embedded, loaded from CSV)


def load_settings(node: Node) -> IdentitySettings:
    settings = settings_of(node.config, IdentitySettings, "identity")
    if not settings.issuer:
        settings = replace(settings, issuer=f"urn:hutong:node:{node.id}")
    return settings
