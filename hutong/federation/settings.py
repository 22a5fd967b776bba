"""The ``[federation]`` section of ``hutong.toml``: how this node takes part in a federation.

``hub`` / ``hub_root_file``: where the trust list is fetched and the hub roots it must be signed by
(a member; empty on a node that is not federated or is the hub). ``listen``: the mutual-TLS port other
nodes call; ``endpoints``: where they reach it as published in the trust list (default: ``listen``).
``refresh_seconds``: how often the trust list is fetched; ``crl_refresh_seconds``: how long a member's
CRL is used before it is fetched again. ``type_mapping`` / ``home_regions`` / ``person_regions``: what this
node publishes about itself in the trust list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hutong.config import NodeConfig, settings_of


@dataclass(frozen=True)
class FederationSettings:
    hub: str = ""
    hub_root_file: str = ""
    listen: str = ""
    endpoints: list[str] = field(default_factory=list)
    refresh_seconds: int = 3600
    crl_refresh_seconds: float = 300.0
    type_mapping: dict[str, str] = field(default_factory=dict)
    home_regions: list[str] = field(default_factory=list)  # USCC region-code prefixes (organisations' home)
    person_regions: list[str] = field(default_factory=list)  # citizen-ID division prefixes (persons' home)


def federation_settings(config: NodeConfig) -> FederationSettings:
    return settings_of(config, FederationSettings, "federation")
