"""Register once, recognised everywhere: a person's home node vouches for them to another node.

At home node A, a signed-in person asks for an assertion addressed to node B (``issue``). A platform
attached to B presents it (``accept``): B finds the person by its own blind index of the ID number
-- or creates exactly one linked account, without a password -- and starts a session of its own at
exactly the level A reached (never raised: a platform that needs more gets STEP_UP_REQUIRED).
The assertion carries the minimum dataset: ID number and name (encrypted to B), level, methods,
authentication time -- and, for a session acting for an organisation, the organisation and the roles in
force at home. B then opens a short organisation-context session with exactly those roles
(``FEDERATED_ORG_SESSION_SECONDS``): a grant revoked at home stops working at B when it ends.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from hutong import audit, business_codes
from hutong.errors import InvalidArgument, PermissionDenied
from hutong.federation import assertion
from hutong.identifiers import normalise_citizen_id, normalise_uscc
from identity_svc import homes
from identity_svc.core import LEVELS, Identity, level_rank, new_id
from identity_svc.login import granted_scopes
from identity_svc.models import Organisation, Person
from identity_svc.orgs import ADMINISTRATOR, LEGAL_REPRESENTATIVE, STAFF
from identity_svc.persons import citizen_id_of, find_person, get_person, name_of, new_person
from identity_svc.platforms import PlatformInfo
from identity_svc.sessions import AccessCheck, Authentication, FederatedOrg, TokenSet, start_session

OP = "identity.login"
KNOWN_ROLES = {LEGAL_REPRESENTATIVE, ADMINISTRATOR, STAFF}


def issue(idn: Identity, check: AccessCheck, *, audience_node: str) -> str:
    """An assertion about the signed-in person for ``audience_node`` (short-lived, encrypted to it)."""
    family = check.family
    with idn.node.db.session(readonly=True) as s:
        org = _org_claim(s, check)
    return issue_for(idn, family.person_id, acr=family.acr, amr=tuple(family.amr.split()),
                     auth_time=family.auth_time, audience_node=audience_node, org=org)


def issue_for(idn: Identity, person_id: str, *, acr: str, amr: tuple[str, ...], auth_time: float,
              audience_node: str, org: dict[str, Any] | None = None, extra: dict[str, str] | None = None) -> str:
    """``issue`` for a login that has no token session here (the OpenID Connect provider's "log in at my home
    node"); ``extra`` binds the assertion to the visited node's pending request."""
    with idn.node.db.session(readonly=True) as s:
        person = get_person(s, person_id)
        if (home := homes.home_of_person(s, person.id_index)) is not None:  # a person linked from elsewhere
            raise PermissionDenied("NOT_HOME_NODE", f"this node is not the person's home: ask node {home!r} for an "
                                   "assertion")
        id_number, name = citizen_id_of(idn, person), name_of(idn, person)
    token = assertion.issue(idn.node, audience_node=audience_node, op=OP, claims={
        **(extra or {}), "id_number": id_number, "name": name, "acr": acr, "amr": list(amr),
        "auth_time": int(auth_time), **({"org": org} if org else {}),
    })
    with idn.node.db.session() as s:
        audit.append(s, actor=f"person:{person_id}", action="identity.federation.assert",
                     target=f"node:{audience_node}", details={"acr": acr})
    return token


def _org_claim(s: Session, check: AccessCheck) -> dict[str, Any] | None:
    """The organisation context of a home-node session, with the roles in force now (never a stale grant)."""
    if check.family.org_uscc is None or check.family.home_node is not None:
        return None  # a context asserted by yet another node is not passed on
    org = business_codes.get(s, Organisation, check.family.org_uscc)
    return {"uscc": check.family.org_uscc, "name": org.name if org else "", "roles": list(check.roles)}


def _federated_org(claims: dict[str, Any], home: str) -> FederatedOrg | None:
    raw = claims.get("org")
    if raw is None:
        return None
    try:
        uscc, roles = normalise_uscc(str(raw["uscc"])), tuple(str(r) for r in raw["roles"])
    except (KeyError, TypeError):
        raise InvalidArgument("ASSERTION_MALFORMED", "the assertion's organisation context is malformed") from None
    if not roles or not all(r in KNOWN_ROLES or r.startswith("matter:") for r in roles):
        raise InvalidArgument("ASSERTION_MALFORMED", "the assertion names no valid organisation roles")
    return FederatedOrg(home_node=home, uscc=uscc, name=str(raw.get("name", "")), roles=roles)


@dataclass(frozen=True)
class Admitted:
    """A person vouched for by their home node, linked to (or found as) one local account here."""

    person: Person
    acr: str
    amr: tuple[str, ...]
    auth_time: float | None
    org: FederatedOrg | None
    home: str
    claims: dict[str, Any]


def admit(idn: Identity, s: Session, token: str, *, required_acr: str) -> Admitted:
    """Verify an assertion from a member node and find or link the person, in the caller's transaction; a level
    below ``required_acr`` is refused with STEP_UP_REQUIRED (the home node's level is never raised here)."""
    a = assertion.accept(idn.node, token, op=OP)
    claims = a.claims
    acr = str(claims.get("acr", ""))
    if acr not in LEVELS:
        raise InvalidArgument("ASSERTION_MALFORMED", "the assertion names no valid level of assurance")
    if level_rank(acr) < level_rank(required_acr):
        raise PermissionDenied("STEP_UP_REQUIRED", f"level {required_acr} is required; the home node's login reached "
                               f"{acr}", metadata={"required_acr": required_acr, "acr": acr})
    number = normalise_citizen_id(str(claims.get("id_number", "")))
    org = _federated_org(claims, a.issuer_node)
    amr = tuple(str(m) for m in claims.get("amr", [])) + ("fed",)
    # The home-node rule, before the caller's transaction has done anything (a refusal is audited on its own).
    index, org_uscc = idn.person_index(number), org.uscc if org else None
    links = homes.check(idn, person_index=index, org_uscc=org_uscc, issuer=a.issuer_node,  # NOT_HOME_NODE
                        citizen_id=number)
    person = find_person(idn, s, number)
    homes.link(idn, s, links, person_index=index, org_uscc=org_uscc, issuer=a.issuer_node)
    if person is None:
        person = _link_person(idn, number, str(claims.get("name", "")), home=a.issuer_node)
        s.add(person)
        s.flush()
        audit.append(s, actor=f"node:{a.issuer_node}", action="identity.person.link", target=f"person:{person.id}",
                     details={"home": a.issuer_node})
    return Admitted(person, acr, amr, float(claims.get("auth_time", 0)) or None, org, a.issuer_node, claims)


def accept(idn: Identity, platform: PlatformInfo, token: str) -> TokenSet:
    """Verify an assertion from a member node and sign the person in here, for ``platform``."""
    with idn.node.db.session() as s:
        a = admit(idn, s, token, required_acr=platform.required_acr)
        auth = Authentication(acr=a.acr, amr=a.amr, scopes=granted_scopes(platform, ()))
        tokens = start_session(idn, s, a.person, platform, auth, auth_time=a.auth_time, federated_org=a.org)
        audit.append(s, actor=f"platform:{platform.client_id}", action="identity.login.federated",
                     target=f"person:{a.person.id}",
                     details={"acr": a.acr, "home": a.home, "org": a.org.uscc if a.org else ""})
    return tokens


def _link_person(idn: Identity, number: str, name: str, *, home: str) -> Person:
    """A local account for a person registered at ``home``: no password here (they sign in at home)."""
    return new_person(idn, new_id("p"), number=number, name=name,
                      password_hash=idn.hasher.hash(secrets.token_urlsafe(32)))  # a password nobody knows
