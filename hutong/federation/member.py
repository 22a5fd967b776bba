"""What a node trusts: itself, and -- once it has joined a federation -- every member on the trust list.

Configuration (``[federation]`` in hutong.toml):

    hub = "127.0.0.1:7443"          # where to fetch the trust list (empty on the hub itself)
    hub_root_file = "hub-root.pem"  # the hub's root CA, given out of band (relative to the data dir)
    refresh_seconds = 3600          # how often the background refresher fetches

Seal and cert verification ask ``Trust`` for trust anchors; when the node is federated and its
list is stale past the grace period, those calls fail closed with ``TRUST_LIST_STALE``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography import x509

from hutong import pki
from hutong.errors import HutongError, NotFound
from hutong.federation.settings import federation_settings
from hutong.federation.trustlist import MemberEntry, TrustList, TrustListStore

if TYPE_CHECKING:  # the node holds its Trust (hutong.node imports this module)
    from hutong.node import Node

log = logging.getLogger("hutong.federation")

Role = Literal["root", "seal", "issuer", "tsa"]
_OWN = {"root": pki.ROOT, "seal": pki.SEAL_CA, "issuer": pki.ISSUER_CA, "tsa": pki.TSA}


@dataclass(frozen=True)
class Anchor:
    """A trusted CA certificate and the node it belongs to."""

    node_id: str
    certificate: x509.Certificate


class Trust:
    """Trust anchors of one node: its own CAs plus the federation's members'."""

    def __init__(self, node: Node) -> None:
        self.node = node
        cfg = federation_settings(node.config)
        self.hub_target: str = cfg.hub
        self.refresh_seconds = cfg.refresh_seconds
        self.store: TrustListStore | None = None
        root_file = cfg.hub_root_file
        if root_file:
            path = Path(root_file)
            path = path if path.is_absolute() else node.config.data_dir / path
            self.store = TrustListStore(path=node.config.data_dir / "federation" / "trust-list.jws",
                                        hub_roots=TrustListStore.load_roots(path))

    @property
    def federated(self) -> bool:
        return self.store is not None

    def trust_list(self) -> TrustList | None:
        """The list in force (None when not federated); raises TRUST_LIST_STALE / TRUST_LIST_MISSING."""
        return self.store.current() if self.store else None

    def anchors(self, role: Role) -> list[Anchor]:
        own = [Anchor(self.node.id, c) for c in self.node.pki.with_retired(_OWN[role])]
        tl = self.trust_list()
        if tl is None:
            return own
        return own + [Anchor(m.node_id, c) for m in tl.members if m.node_id != self.node.id
                      for c in m.certificates(role)]

    def certificates(self, role: Role) -> list[x509.Certificate]:
        return [a.certificate for a in self.anchors(role)]

    def member(self, node_id: str) -> MemberEntry:
        tl = self.trust_list()
        if tl is None:
            raise NotFound("NODE_NOT_IN_TRUST_LIST", "this node is not federated")
        return tl.member(node_id)

    # -- refreshing ----------------------------------------------------------------------------
    def refresh(self, fetch: Callable[[int], str]) -> TrustList | None:
        """Fetch (``fetch(known_sequence) -> token or ""``) and accept a newer list; keep the old one otherwise."""
        if self.store is None:
            return None
        held = self.store.held()  # even when stale: a stale list must not stop its own replacement
        known = held.sequence if held else 0
        token = fetch(known)
        return self.store.accept(token) if token else self.store.current()

    def start_refresher(self, fetch: Callable[[int], str]) -> threading.Event:
        """Refresh now and then every ``refresh_seconds`` until the returned event is set."""
        stop = threading.Event()

        def loop() -> None:
            while True:
                try:
                    self.refresh(fetch)
                except HutongError as err:
                    log.warning("trust list refresh failed: %s (keeping the last good list)", err)
                except Exception:  # noqa: BLE001 - a background loop must survive a bad fetch
                    log.exception("trust list refresh failed (keeping the last good list)")
                if stop.wait(self.refresh_seconds):
                    return

        threading.Thread(target=loop, name="trust-list-refresh", daemon=True).start()
        return stop
