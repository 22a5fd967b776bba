"""The ``[cert]`` section of ``hutong.toml``.

``status_list_ttl`` is how long a published status list may be cached (seconds): a suspension or a
revocation reaches offline verifiers within it. Anonymous verification by identifier is bounded per
caller address by a token bucket (``verify_per_minute`` refill, ``verify_burst`` capacity) against
enumeration; callers with credentials are not.
"""

from __future__ import annotations

from dataclasses import dataclass

from hutong.config import NodeConfig, settings_of


@dataclass(frozen=True)
class CertSettings:
    status_list_ttl: int = 300
    verify_per_minute: float = 60.0
    verify_burst: int = 20


def load_settings(config: NodeConfig) -> CertSettings:
    return settings_of(config, CertSettings, "cert")
