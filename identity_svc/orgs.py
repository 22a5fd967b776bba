"""Legal persons: registration, the legal representative, administrators and staff grants.

Roles a person holds in an organisation (as carried in tokens and ``Principal.roles``):
- ``legal_representative`` (bound, see below; holds every power: also ``administrator`` and ``matter:*``);
- ``administrator`` (appointed by the legal representative; grants and revokes staff roles);
- ``staff`` with ``matter:*`` (all matters) or ``matter:<name>`` per named matter.
Roles are recomputed from the grants in force at every token use, so a revocation bites at once.

The legal representative's binding (one per organisation, by the blind index of their citizen ID):
- made by ``register_organisation`` (the legal-entity register names the caller), or by
  ``bind_legal_representative`` from a valid electronic business licence (cert_svc; the organisation
  record is created if missing, the person need not be registered yet); a later binding replaces an
  earlier one;
- ``end_binding`` ends it when its source (that licence) is revoked, cancelled, deregistered,
  invalidated or transferred out, or suspends it while the licence is suspended (暂扣): then the
  representative's organisation-context tokens are refused at their next use with
  ``REPRESENTATION_ENDED`` / ``REPRESENTATION_SUSPENDED``. Grants the representative made stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from hutong import audit, business_codes
from hutong.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from hutong.identifiers import normalise_citizen_id, normalise_uscc
from hutong.peers import RepresentativeBinding
from identity_svc.core import Identity, new_id
from identity_svc.models import Organisation, OrgGrant, Person
from identity_svc.persons import citizen_id_of, find_person, get_person, summary
from identity_svc.registers import clean_name, register_for

LEGAL_REPRESENTATIVE, ADMINISTRATOR, STAFF = "legal_representative", "administrator", "staff"
ALL_MATTERS = "*"
BOUND, SUSPENDED, ENDED = "bound", "suspended", "ended"  # states of the legal representative's binding
REGISTER_SOURCE = "register"


@dataclass(frozen=True)
class OrgView:
    uscc: str
    name: str
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class GrantSpec:
    uscc: str
    id_number: str  # the grantee
    role: str  # administrator | staff
    all_matters: bool = False
    matters: tuple[str, ...] = ()
    valid_from: float | None = None  # epoch seconds; None = now
    valid_until: float | None = None  # None = no end


@dataclass(frozen=True)
class GrantView:
    grant_id: str
    uscc: str
    person_masked_id: str
    person_name: str
    role: str
    all_matters: bool
    matters: tuple[str, ...]
    valid_from: float
    valid_until: float | None
    revoked_at: float | None
    in_force: bool


def _in_force(g: OrgGrant, now: float) -> bool:
    return g.revoked_at is None and g.valid_from <= now and (g.valid_until is None or now < g.valid_until)


def _grant_roles(g: OrgGrant) -> list[str]:
    if g.role == ADMINISTRATOR:
        return [ADMINISTRATOR]
    return [STAFF, *(f"matter:{m}" for m in g.matters.split("\n"))]


def _person_index(s: Session, person_id: str) -> str | None:
    person = s.get(Person, person_id)
    return person.id_index if person is not None else None


def roles_in_force(s: Session, uscc: str, person_id: str, now: float) -> tuple[str, ...]:
    """Every role the person holds in the organisation right now (empty: none)."""
    org = business_codes.get(s, Organisation, uscc)
    if org is None:
        return ()
    roles: list[str] = []
    if org.binding_state == BOUND and org.representative_index == _person_index(s, person_id):
        roles += [LEGAL_REPRESENTATIVE, ADMINISTRATOR, f"matter:{ALL_MATTERS}"]
    grants = s.scalars(select(OrgGrant).where(business_codes.matching(s, OrgGrant.org_uscc, uscc),
                                               OrgGrant.person_id == person_id))
    for g in grants:
        if _in_force(g, now):
            roles += _grant_roles(g)
    return tuple(dict.fromkeys(roles))  # de-duplicated, order kept


def binding_lapsed(s: Session, uscc: str, person_id: str) -> PermissionDenied | None:
    """Why the person, bound as the organisation's legal representative, no longer acts as such (None: not that)."""
    org = business_codes.get(s, Organisation, uscc)
    if org is None or org.binding_state == BOUND or org.representative_index != _person_index(s, person_id):
        return None
    if org.binding_state == SUSPENDED:
        return PermissionDenied("REPRESENTATION_SUSPENDED", "the business licence binding this person as the "
                                "organisation's legal representative is suspended")
    return PermissionDenied("REPRESENTATION_ENDED", "this person is no longer bound as the organisation's legal "
                            "representative (the business licence is no longer valid)")


def roles_required(s: Session, uscc: str, person_id: str, now: float) -> tuple[str, ...]:
    """``roles_in_force`` for an organisation-context token: none left is refused, with the reason."""
    roles = roles_in_force(s, uscc, person_id, now)
    if not roles:
        raise binding_lapsed(s, uscc, person_id) or PermissionDenied(
            "GRANT_REVOKED", "the person no longer holds a role in this organisation")
    return roles


def _org(s: Session, uscc: str) -> Organisation:
    org = business_codes.get(s, Organisation, normalise_uscc(uscc))
    if org is None:
        raise NotFound("ORGANISATION_NOT_FOUND", "this organisation is not registered on this node")
    return org


def _require(roles: tuple[str, ...], role: str) -> None:
    if role not in roles:
        reason = "NOT_LEGAL_REPRESENTATIVE" if role == LEGAL_REPRESENTATIVE else "NOT_ADMINISTRATOR"
        raise PermissionDenied(reason, f"only the organisation's {role.replace('_', ' ')} may do this")


def register_organisation(idn: Identity, person_id: str, *, uscc: str, name: str) -> OrgView:
    """Register a business; the caller must be its legal representative according to the register."""
    code, name = normalise_uscc(uscc), clean_name(name)
    register = register_for(idn)
    with idn.node.db.session() as s:
        citizen_id = citizen_id_of(idn, get_person(s, person_id))
    # The register adapter runs its own queries (or calls out): never inside our write transaction.
    if not register.organisation_matches(code, name):
        raise NotFound("ORGANISATION_NOT_IN_REGISTER", "this name and USCC are not in the legal-entity register")
    if not register.is_representative(code, citizen_id):
        raise PermissionDenied("NOT_LEGAL_REPRESENTATIVE",
                               "only the legal representative in the register may register the organisation")
    with idn.node.db.session() as s:
        if business_codes.get(s, Organisation, code) is not None:
            raise AlreadyExists("ORGANISATION_ALREADY_REGISTERED", "this organisation is already registered")
        now = datetime.now(UTC)
        s.add(Organisation(uscc=code, name=name, representative_index=idn.person_index(citizen_id),
                           binding_source=REGISTER_SOURCE, binding_state=BOUND, binding_changed_at=now,
                           registered_at=now))
        audit.append(s, actor=f"person:{person_id}", action="identity.org.register", target=f"org:{code}")
    return OrgView(code, name, (LEGAL_REPRESENTATIVE, ADMINISTRATOR, f"matter:{ALL_MATTERS}"))


def bind_legal_representative(idn: Identity, *, uscc: str, org_name: str, representative_id_number: str,
                              source: str, actor: str = "system", session: Session | None = None) -> None:
    """Bind the legal representative that ``source`` proves (``"licence:<identifier>"`` of a valid electronic
    business licence), replacing any earlier binding; creates the organisation if missing. Audited. With
    ``session``, inside the caller's transaction (the licence change and the binding commit together)."""
    bind_legal_representatives(idn, [RepresentativeBinding(uscc, org_name, representative_id_number, source)],
                               actor=actor, session=session)


def bind_legal_representatives(idn: Identity, bindings: Sequence[RepresentativeBinding], *, actor: str = "system",
                               session: Session | None = None) -> None:
    """``bind_legal_representative`` for several licences at once, in order (a later binding of the same
    organisation replaces an earlier one; each is audited). A batch of licences costs one read of the
    organisations and one of the people, one bulk INSERT and one bulk UPDATE, whatever its size, instead of
    an ORM load, flush and query per licence (most of a JWS batch's time, profiled)."""
    now = datetime.now(UTC)
    wanted = [(normalise_uscc(b.uscc), clean_name(b.org_name),
               idn.person_index(normalise_citizen_id(b.representative_id_number)), b.source) for b in bindings]
    if not wanted:
        return
    with idn.transaction(session) as s:
        codes = {code for code, *_ in wanted}
        # as stored (under whichever data key made each: the bulk UPDATE below finds rows by that form)
        known = {c: c for c in s.scalars(select(Organisation.uscc).where(
            business_codes.matching(s, Organisation.uscc, codes)))}
        people = {index: pid for index, pid in s.execute(
            select(Person.id_index, Person.id).where(Person.id_index.in_({index for _, _, index, _ in wanted})))}
        final: dict[str, dict[str, object]] = {}  # each organisation's state after the last of its bindings
        created: set[str] = set()
        events = []
        for code, name, index, source in wanted:
            is_new = code not in known and code not in created
            if is_new:
                if not name:
                    raise InvalidArgument("NAME_REQUIRED", "the organisation's name is required")
                created.add(code)
            row = final.setdefault(code, {"uscc": code})
            if name:
                row["name"] = name
            row.update(representative_index=index, binding_source=source, binding_state=BOUND,
                       binding_changed_at=now)
            person = people.get(index)
            events.append(audit.Event(actor=actor, action="identity.org.bind", target=f"org:{code}",
                                      details={"source": source, "organisation_created": is_new,
                                               "representative": f"person:{person}" if person
                                               else "not registered yet"}))
        inserts = [{**row, "registered_at": now} for code, row in final.items() if code in created]
        updates = [{**row, "uscc": known[code]} for code, row in final.items() if code not in created]
        if inserts:
            s.execute(insert(Organisation), inserts)
        for keys in {tuple(sorted(row)) for row in updates}:  # an executemany needs the same columns in each row
            s.execute(update(Organisation), [row for row in updates if tuple(sorted(row)) == keys])
        audit.append_many(s, events)


def end_binding(idn: Identity, *, uscc: str, source: str, suspend: bool = False, actor: str = "system",
                session: Session | None = None) -> bool:
    """End (``suspend``: suspend) the legal representative's binding made by ``source``; a binding made since
    by another source is left alone. Effective at the representative's next token use. Audited; returns
    whether anything changed."""
    code, state = normalise_uscc(uscc), SUSPENDED if suspend else ENDED
    with idn.transaction(session) as s:
        org = business_codes.get(s, Organisation, code)
        if org is None or org.binding_source != source or org.binding_state in (state, ENDED):
            return False
        org.binding_state, org.binding_changed_at = state, datetime.now(UTC)
        audit.append(s, actor=actor, action=f"identity.org.binding-{state}", target=f"org:{code}",
                     details={"source": source})
    return True


def _matters(spec: GrantSpec) -> str:
    if spec.role == ADMINISTRATOR:
        return ""
    if spec.role != STAFF:
        raise InvalidArgument("GRANT_ROLE_REQUIRED", "a grant's role is administrator or staff")
    names = [m.strip() for m in spec.matters if m.strip()]
    if spec.all_matters == bool(names) or any("\n" in m or m == ALL_MATTERS for m in names):
        raise InvalidArgument("MATTERS_REQUIRED", "a staff grant covers all matters or a list of named matters")
    return ALL_MATTERS if spec.all_matters else "\n".join(dict.fromkeys(names))


def _period(idn: Identity, spec: GrantSpec) -> tuple[float, float | None]:
    start = spec.valid_from if spec.valid_from is not None else idn.now()
    if spec.valid_until is not None and (spec.valid_until <= start or spec.valid_until <= idn.now()):
        raise InvalidArgument("GRANT_PERIOD_INVALID", "a grant must end after it starts and in the future")
    return start, spec.valid_until


def create_grant(idn: Identity, actor_id: str, spec: GrantSpec) -> GrantView:
    matters = _matters(spec)
    start, until = _period(idn, spec)
    number = normalise_citizen_id(spec.id_number)
    with idn.node.db.session() as s:
        org = _org(s, spec.uscc)
        _require(roles_in_force(s, org.uscc, actor_id, idn.now()),
                 LEGAL_REPRESENTATIVE if spec.role == ADMINISTRATOR else ADMINISTRATOR)
        grantee = find_person(idn, s, number)
        if grantee is None:
            raise NotFound("PERSON_NOT_FOUND", "the person receiving the grant is not registered")
        g = OrgGrant(id=new_id("g"), org_uscc=org.uscc, person_id=grantee.id, role=spec.role, matters=matters,
                     valid_from=start, valid_until=until, granted_by=actor_id, created_at=idn.now())
        s.add(g)
        audit.append(s, actor=f"person:{actor_id}@{org.uscc}", action="identity.grant.create", target=f"grant:{g.id}",
                     details={"grantee": f"person:{grantee.id}", "role": spec.role, "matters": matters,
                              "valid_from": start, "valid_until": until})
        return _view(idn, s, g)


def revoke_grant(idn: Identity, actor_id: str, *, uscc: str, grant_id: str) -> GrantView:
    with idn.node.db.session() as s:
        org = _org(s, uscc)
        g = s.get(OrgGrant, grant_id)
        if g is None or g.org_uscc != org.uscc:
            raise NotFound("GRANT_NOT_FOUND", "no such grant in this organisation")
        _require(roles_in_force(s, org.uscc, actor_id, idn.now()),
                 LEGAL_REPRESENTATIVE if g.role == ADMINISTRATOR else ADMINISTRATOR)
        if g.revoked_at is None:
            g.revoked_at = idn.now()
            audit.append(s, actor=f"person:{actor_id}@{org.uscc}", action="identity.grant.revoke",
                         target=f"grant:{g.id}", details={"grantee": f"person:{g.person_id}", "role": g.role})
        return _view(idn, s, g)


def list_grants(idn: Identity, actor_id: str, *, uscc: str, offset: int, limit: int) -> tuple[list[GrantView], bool]:
    """A page of the organisation's grants, newest first; the flag says whether more follow."""
    with idn.node.db.session() as s:
        org = _org(s, uscc)
        _require(roles_in_force(s, org.uscc, actor_id, idn.now()), ADMINISTRATOR)
        rows = list(s.scalars(select(OrgGrant).where(business_codes.matching(s, OrgGrant.org_uscc, org.uscc))
                              .order_by(OrgGrant.created_at.desc(), OrgGrant.id).offset(offset).limit(limit + 1)))
        return [_view(idn, s, g) for g in rows[:limit]], len(rows) > limit


def my_organisations(idn: Identity, person_id: str) -> list[OrgView]:
    now = idn.now()
    with idn.node.db.session() as s:
        granted = select(OrgGrant.org_uscc).where(OrgGrant.person_id == person_id)
        orgs = s.scalars(select(Organisation).where(
            or_(Organisation.representative_index == _person_index(s, person_id), Organisation.uscc.in_(granted))))
        views = [OrgView(o.uscc, o.name, roles_in_force(s, o.uscc, person_id, now)) for o in orgs]
    return [v for v in views if v.roles]


def _view(idn: Identity, s: Session, g: OrgGrant) -> GrantView:
    who = summary(idn, get_person(s, g.person_id))
    matters = () if g.role == ADMINISTRATOR or g.matters == ALL_MATTERS else tuple(g.matters.split("\n"))
    return GrantView(g.id, g.org_uscc, who.masked_id, who.name, g.role, g.matters == ALL_MATTERS, matters,
                     g.valid_from, g.valid_until, g.revoked_at, _in_force(g, idn.now()))
