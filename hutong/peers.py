"""What one service needs of another, declared here as Protocols; the providing service implements them.

Services never import each other: seal asks ``identity(node)`` for an organisation's registered name or a
person's account, cert asks it for a holder's blind index and to bind or end a legal representative, and cert
asks ``seal(node)`` to seal and check a rendition. Each providing service implements its Protocol
(``identity_svc/peer.py``, ``seal_svc/peer.py``); the app layer injects them into ``node.peers`` when it wires
the node (``hutong.wiring.wire``: the server, the command line, the test fixtures), so one peer lives per node
and nothing is registered behind an import. Without a provider the answer is None and the caller decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from hutong.errors import Unauthenticated

if TYPE_CHECKING:
    from pyhanko.pdf_utils.writer import PdfFileWriter
    from sqlalchemy.orm import Session

    from hutong.auth import Authenticator, Principal
    from hutong.node import Node
    from hutong.verify.pdfreport import VerificationReport


@dataclass(frozen=True)
class RepresentativeBinding:
    """A legal representative a valid business licence (``source``, ``"licence:<identifier>"``) names."""

    uscc: str
    org_name: str
    representative_id_number: str
    source: str


class IdentityPeer(Protocol):
    """What seal and cert need of identity."""

    def organisation_name(self, uscc: str) -> str | None:
        """The registered name of an organisation this node knows, else None."""

    def person_account(self, id_number: str) -> str | None:
        """The account id of the person registered here with this citizen ID number, else None."""

    def holder_indexes(self, principal: Principal) -> tuple[str, ...]:
        """The blind indexes of the certificate holder a caller stands for (a person, or an organisation
        context) under every blind-index key in use, the active key's first."""

    def bind_legal_representatives(self, bindings: Sequence[RepresentativeBinding], *, actor: str,
                                   session: Session) -> None:
        """Bind the representatives valid business licences name, in order (a later one for the same organisation
        replaces an earlier one), in the caller's transaction (a batch of licences: one set of statements)."""

    def end_binding(self, *, uscc: str, source: str, suspend: bool, actor: str, session: Session) -> None:
        """End (or suspend) the binding ``source`` made, in the caller's transaction."""

    def authenticator(self) -> Authenticator:
        """What turns call metadata into a ``Principal`` for every service of the node."""

    def token_lifetime_seconds(self) -> int:
        """How long the longest-lived token this node signs (access or ID token) stays valid."""


class SealPeer(Protocol):
    """What cert needs of seal: its renditions sealed with the department's e-seal, and checked."""

    def seal_built(self, *, seal_id: str, writer: PdfFileWriter, principal: Principal,
                   box: tuple[float, float, float, float], reason: str, location: str) -> bytes:
        """The document being built in ``writer`` (not yet written) sealed on page 1 in ``box`` (x, y, width,
        height) by ``principal``'s use of ``seal_id``, page and seal written in one pass: the sealed bytes."""

    def verify_pdf(self, pdf: bytes) -> VerificationReport:
        """The node's verdict on a sealed PDF (its own trust material)."""


@dataclass
class Peers:
    """A node's providers of the Protocols above, set when the node is wired (``hutong.wiring.wire``); None on a
    node built without that service (or not wired), and the caller decides what that means."""

    identity: IdentityPeer | None = None
    seal: SealPeer | None = None


def identity(node: Node) -> IdentityPeer | None:
    return node.peers.identity


def seal(node: Node) -> SealPeer | None:
    return node.peers.seal


class _NoAuthenticator:
    def authenticate(self, metadata: Mapping[str, str]) -> Principal:
        raise Unauthenticated("AUTHENTICATION_UNAVAILABLE", "this node cannot authenticate callers")


def default_authenticator(node: Node) -> Authenticator:
    """The node's authenticator: identity's, or one that refuses everyone on a node without identity."""
    provider = identity(node)
    return provider.authenticator() if provider is not None else _NoAuthenticator()
