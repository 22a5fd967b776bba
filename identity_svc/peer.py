"""identity_svc's side of ``hutong.peers.IdentityPeer``: what the seal and cert services may ask of identity.

Injected into ``node.peers`` when the node is wired (``hutong.wiring``); the other services see only the Protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from hutong import business_codes
from hutong.auth import Authenticator, Principal
from hutong.errors import FailedPrecondition, PermissionDenied
from hutong.node import Node
from hutong.peers import RepresentativeBinding
from identity_svc import orgs
from identity_svc.authn import TokenAuthenticator
from identity_svc.core import Identity
from identity_svc.models import Organisation, Person
from identity_svc.persons import find_person


@dataclass(frozen=True)
class IdentityPeer:
    node: Node

    def organisation_name(self, uscc: str) -> str | None:
        with self.node.db.session(readonly=True) as s:
            org = business_codes.get(s, Organisation, uscc)
            return org.name if org is not None else None

    def person_account(self, id_number: str) -> str | None:
        with self.node.db.session(readonly=True) as s:
            person = find_person(Identity.of(self.node), s, id_number)
            return person.id if person is not None else None

    def holder_index(self, principal: Principal) -> str:
        """A person's blind index from their account; an organisation context's from its USCC."""
        if principal.org_uscc:
            return self.node.pki.blind_index(principal.org_uscc)
        if principal.kind != "person":
            raise PermissionDenied("NOT_CERT_HOLDER", "only persons and organisations hold certificates")
        with self.node.db.session(readonly=True) as s:
            person = s.get(Person, principal.subject)
            if person is None:
                raise FailedPrecondition("HOLDER_UNKNOWN", "the caller's account has no verified ID number")
            return person.id_index

    def bind_legal_representatives(self, bindings: Sequence[RepresentativeBinding], *, actor: str,
                                   session: Session) -> None:
        orgs.bind_legal_representatives(Identity.of(self.node), bindings, actor=actor, session=session)

    def end_binding(self, *, uscc: str, source: str, suspend: bool, actor: str, session: Session) -> None:
        orgs.end_binding(Identity.of(self.node), uscc=uscc, source=source, suspend=suspend, actor=actor,
                         session=session)

    def authenticator(self) -> Authenticator:
        return TokenAuthenticator(self.node)

    def token_lifetime_seconds(self) -> int:
        settings = Identity.of(self.node).settings
        return max(settings.access_token_seconds, settings.id_token_seconds)
