"""What one service needs of another, declared here as Protocols; the providing service implements them.

Services never import each other: seal asks ``identity(node)`` for an organisation's registered name or a
person's account, cert asks it for a holder's blind index and to bind or end a legal representative, and cert
asks ``seal(node)`` to seal and check a rendition. Each providing service registers its implementation with
``provide`` in its package ``__init__`` — which every node imports, since ``hutong.db`` loads every service's
tables — so a node is wired as soon as it has a database; a test or an operator may ``provide`` another one.
Without a provider (a node built without that service) the answer is None and the caller decides.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from hutong.errors import Unauthenticated

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hutong.auth import Authenticator, Principal
    from hutong.node import Node
    from hutong.verify.pdfreport import VerificationReport


class IdentityPeer(Protocol):
    """What seal and cert need of identity."""

    def organisation_name(self, uscc: str) -> str | None:
        """The registered name of an organisation this node knows, else None."""

    def person_account(self, id_number: str) -> str | None:
        """The account id of the person registered here with this citizen ID number, else None."""

    def holder_index(self, principal: Principal) -> str:
        """The blind index of the certificate holder a caller stands for (a person, or an organisation context)."""

    def bind_legal_representative(self, *, uscc: str, org_name: str, representative_id_number: str, source: str,
                                  actor: str, session: Session) -> None:
        """Bind the representative a valid business licence (``source``) names, in the caller's transaction."""

    def end_binding(self, *, uscc: str, source: str, suspend: bool, actor: str, session: Session) -> None:
        """End (or suspend) the binding ``source`` made, in the caller's transaction."""

    def authenticator(self) -> Authenticator:
        """What turns call metadata into a ``Principal`` for every service of the node."""


class SealPeer(Protocol):
    """What cert needs of seal: its renditions sealed with the department's e-seal, and checked."""

    def seal_pdf(self, *, seal_id: str, pdf: bytes, principal: Principal, box: tuple[float, float, float, float],
                 reason: str, location: str) -> bytes:
        """``pdf`` sealed on page 1 in ``box`` (x, y, width, height) by ``principal``'s use of ``seal_id``."""

    def verify_pdf(self, pdf: bytes) -> VerificationReport:
        """The node's verdict on a sealed PDF (its own trust material)."""


_PROVIDERS: dict[str, Callable[[Node], Any]] = {}
_LOCK = threading.Lock()


def provide(name: str, factory: Callable[[Node], Any]) -> None:
    """Register the provider of ``name`` (``"identity"``, ``"seal"``) for every node."""
    with _LOCK:
        _PROVIDERS[name] = factory


def _get(name: str, node: Node) -> Any:
    factory = _PROVIDERS.get(name)
    if factory is None:
        from hutong.db import load_models  # imports every service package (and so their providers)

        load_models()
        factory = _PROVIDERS.get(name)
    return factory(node) if factory is not None else None


def identity(node: Node) -> IdentityPeer | None:
    return _get("identity", node)  # type: ignore[no-any-return]


def seal(node: Node) -> SealPeer | None:
    return _get("seal", node)  # type: ignore[no-any-return]


class _NoAuthenticator:
    def authenticate(self, metadata: Mapping[str, str]) -> Principal:
        raise Unauthenticated("AUTHENTICATION_UNAVAILABLE", "this node cannot authenticate callers")


def default_authenticator(node: Node) -> Authenticator:
    """The node's authenticator: identity's, or one that refuses everyone on a node without identity."""
    provider = identity(node)
    return provider.authenticator() if provider is not None else _NoAuthenticator()
