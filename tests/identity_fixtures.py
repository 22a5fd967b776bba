"""Real identity_svc callers for the other services' tests.

Persons, organisations and platforms are made in-process through identity_svc's domain API (the recipe
of ``identity_svc/__init__.py``); a caller's metadata is what a real client sends: ``authorization: Bearer
<access token>`` plus the client credentials of the platform the token was issued to (persons), or the
client credentials alone (platforms). The node's own authenticator turns them into principals.

Plain factories, not a pytest plugin (``pytest_plugins`` is allowed in the root conftest only): each
suite's conftest wraps ``Identities(node)`` in a thin fixture. Nodes using it need ``IDENTITY_CONFIG``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hutong.auth import AUTHORIZATION, CLIENT_ID, CLIENT_SECRET, OPERATOR_SCOPE, Principal
from hutong.identifiers import citizen_id_check_character
from hutong.node import Node
from identity_svc import login, orgs, persons, platforms, registers, sessions
from identity_svc.authn import TokenAuthenticator
from identity_svc.core import Identity

# Cheap Argon2 for tests; tokens outlive a module-scoped fixture.
IDENTITY_CONFIG = """
[identity]
argon2_time_cost = 1
argon2_memory_kib = 1024
access_token_seconds = 3600
"""
PASSWORD = "correct horse 1"
PORTAL = "portal"  # the platform persons log in through unless told otherwise


def citizen_id(n: int) -> str:
    """The n-th of a series of valid citizen ID numbers (Beijing Chaoyang, born 1990-01-01)."""
    first17 = f"11010519900101{n:03d}"
    return first17 + citizen_id_check_character(first17)


Metadata = list[tuple[str, str]]


@dataclass(frozen=True)
class Caller:
    """One caller: the metadata to send, and the principal the node makes of it."""

    metadata: Metadata
    principal: Principal
    token: str = ""  # persons: the access token
    client_id: str = ""  # the platform (persons: the one the token was issued to)
    client_secret: str = field(default="", repr=False)

    @property
    def subject(self) -> str:
        return self.principal.subject


class Identities:
    """The identity side of one node, for tests: register, log in, switch organisations, grant."""

    def __init__(self, node: Node) -> None:
        self.idn = Identity.of(node)
        self.authn = TokenAuthenticator(self.idn)
        self._platforms: dict[str, platforms.NewPlatform] = {}
        self._people: dict[str, str] = {}  # citizen ID -> account id

    def _caller(self, metadata: Metadata, token: str, platform: platforms.NewPlatform) -> Caller:
        return Caller(metadata, self.authn.authenticate(dict(metadata)), token, platform.info.client_id,
                      platform.client_secret)

    def _platform(self, client_id: str, scopes: tuple[str, ...]) -> platforms.NewPlatform:
        if client_id not in self._platforms:
            self._platforms[client_id] = platforms.add_platform(
                self.idn, client_id=client_id, name=client_id, scopes=("openid", "profile", *scopes))
        return self._platforms[client_id]

    def platform(self, client_id: str, *scopes: str) -> Caller:
        """A relying platform (registered on first use) calling with its client credentials."""
        new = self._platform(client_id, scopes)
        return self._caller([(CLIENT_ID, client_id), (CLIENT_SECRET, new.client_secret)], "", new)

    def operator(self, client_id: str = "ops") -> Caller:
        """The node operator: a platform registered with ``node:operate``."""
        return self.platform(client_id, OPERATOR_SCOPE)

    def person(self, id_number: str, name: str = "", *, via: str = PORTAL) -> Caller:
        """A natural person, put in the register and registered on first use, logged in at ``via``."""
        new = self._platform(via, ())
        if id_number not in self._people:
            with self.idn.node.db.session() as s:
                known = persons.find_person(self.idn, s, id_number)
            self._people[id_number] = known.id if known else self._register(new, id_number, name)
        tokens = login.login(self.idn, new.info, login.LoginRequest(id_number, PASSWORD))
        return self._person_caller(tokens.access_token, new)

    def _register(self, new: platforms.NewPlatform, id_number: str, name: str) -> str:
        name = name or f"测试{id_number[-4:]}"
        with self.idn.node.db.session() as s:
            registers.TableRegister(self.idn).add_person(s, id_number, name)
        return persons.register_person(self.idn, new.info, id_number=id_number, name=name, password=PASSWORD)

    def _person_caller(self, token: str, new: platforms.NewPlatform) -> Caller:
        metadata = [(AUTHORIZATION, f"Bearer {token}"), (CLIENT_ID, new.info.client_id),
                    (CLIENT_SECRET, new.client_secret)]
        return self._caller(metadata, token, new)

    def organisation(self, uscc: str, name: str, representative: str) -> Caller:
        """An organisation in the legal-entity register, registered on the node by its representative
        (citizen ID); returns the representative acting for it."""
        with self.idn.node.db.session() as s:
            registers.TableRegister(self.idn).add_organisation(s, uscc, name, representative)
        rep = self.person(representative)
        orgs.register_organisation(self.idn, rep.subject, uscc=uscc, name=name)
        return self.acting_for(rep, uscc)

    def acting_for(self, person: Caller, uscc: str) -> Caller:
        """The person's organisation-context token (SwitchOrganisation)."""
        check = sessions.verify_access_token(self.idn, person.token, audience=None)
        tokens = sessions.switch_organisation(self.idn, check, uscc)
        return self._person_caller(tokens.access_token, self._platforms[person.client_id])

    def member(self, admin: Caller, id_number: str, role: str = orgs.STAFF) -> Caller:
        """``id_number`` granted ``role`` (staff: all matters) by ``admin`` (organisation context), acting
        for the organisation."""
        assert admin.principal.org_uscc
        person = self.person(id_number)
        orgs.create_grant(self.idn, admin.subject, orgs.GrantSpec(
            uscc=admin.principal.org_uscc, id_number=id_number, role=role, all_matters=role == orgs.STAFF))
        return self.acting_for(person, admin.principal.org_uscc)
