"""The home-node rule: only a person's or an organisation's home node may assert facts about them.

Without it, any member's federation key could sign in as anyone at any node -- and act for any company
(a member asserted a citizen and a company registered only at B, with the legal representative's role,
and created and granted the company's official seal at B).

Where a subject's home is decided, strongest first:

- registered here (a ``Person`` who registered at this node, an ``Organisation`` registered or licensed
  here): this node is home and no other member speaks for them;
- an organisation whose USCC region code (characters 3-8) falls in a range the trust list binds to a member
  (``home_regions`` in the member's descriptor, signed by the hub): that member; likewise a person whose
  citizen ID number's administrative division (its first 6 digits) falls in a member's ``person_regions``;
- otherwise the first member that asserted them here (a person's first login from elsewhere links the
  account to that node; ``HomeNode`` records it); assertions from any other member are refused later.

Every refusal is ``NOT_HOME_NODE`` (PERMISSION_DENIED) and is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hutong import audit, business_codes
from hutong.errors import PermissionDenied
from hutong.federation.trustlist import MemberEntry
from identity_svc.core import Identity
from identity_svc.models import HomeNode, Organisation, Person

PERSON, ORG = "person", "org"
FIRST = ""  # a subject seen here for the first time: the asserting node becomes its home


@dataclass(frozen=True)
class Links:
    """What an accepted assertion links (first seen here): recorded in the caller's transaction."""

    person: bool
    org: bool


def org_index(idn: Identity, uscc: str) -> str:
    return idn.keyed_hash("org-home", uscc)


def region_home(idn: Identity, uscc: str) -> str | None:
    """The member the trust list binds this USCC's region code to (longest matching prefix), if any."""
    return _bound(idn, uscc[2:8], lambda m: m.home_regions)


def person_region_home(idn: Identity, citizen_id: str) -> str | None:
    """The member the trust list binds this citizen ID number's administrative division to, if any."""
    return _bound(idn, citizen_id[:6], lambda m: m.person_regions)


def _bound(idn: Identity, region: str, ranges: Callable[[MemberEntry], list[str]]) -> str | None:
    """The member whose ranges (hub-signed, in the trust list) hold the longest prefix of ``region``."""
    tl = idn.node.trust.trust_list()
    best: tuple[int, str] | None = None
    for m in tl.members if tl else ():
        for prefix in ranges(m):
            if region.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), m.node_id)
    return best[1] if best else None


def _person_home(s: Session, index: str, bound: str | None) -> tuple[str | None, bool]:
    """The person's home here (None: registered here; FIRST: not known yet), and whether a link is recorded."""
    row = s.get(HomeNode, (PERSON, index))
    if row is None and s.scalars(select(Person.id).where(Person.id_index == index)).first() is not None:
        return None, False  # registered here
    if bound is not None:  # the hub's binding beats a link made from elsewhere
        return bound, row is not None and row.home_node == bound
    return (row.home_node, True) if row is not None else (FIRST, False)


def _org_home(idn: Identity, s: Session, uscc: str) -> str | None:
    if business_codes.get(s, Organisation, uscc) is not None:
        return None  # registered (or licensed) here
    if (bound := region_home(idn, uscc)) is not None:
        return bound
    row = s.get(HomeNode, (ORG, org_index(idn, uscc)))
    return row.home_node if row is not None else FIRST


def check(idn: Identity, *, person_index: str, org_uscc: str | None, issuer: str, citizen_id: str = "") -> Links:
    """May ``issuer`` assert about this person (and organisation)? Refusals are audited and raised."""
    bound = person_region_home(idn, citizen_id) if citizen_id else None
    with idn.node.db.session(readonly=True) as s:
        person_home, linked = _person_home(s, person_index, bound)
        homes = [(PERSON, person_home)]
        if org_uscc is not None:
            homes.append((ORG, _org_home(idn, s, org_uscc)))
    for kind, home in homes:
        if home != FIRST and home != issuer:
            with idn.node.db.session() as s:
                audit.append(s, actor=f"node:{issuer}", action="identity.federation.refused",
                             target=f"{kind}:home:{home or 'here'}", details={"reason": "NOT_HOME_NODE"})
            where = "this node" if home is None else f"node {home!r}"
            what = "person" if kind == PERSON else "organisation"
            raise PermissionDenied("NOT_HOME_NODE", f"node {issuer!r} is not the home of this {what}: only "
                                   f"{where} may assert about them")
    # a person accepted from their (first or hub-bound) home is linked to it, so they stay theirs
    return Links(person=person_home is not None and not linked, org=len(homes) > 1 and homes[1][1] == FIRST)


def link(idn: Identity, s: Session, links: Links, *, person_index: str, org_uscc: str | None, issuer: str) -> None:
    """Record ``issuer`` as home of what it asserted first (in the transaction that accepts the assertion)."""
    now = datetime.now(UTC)
    if links.person:
        s.merge(HomeNode(kind=PERSON, subject_index=person_index, home_node=issuer, linked_at=now))
    if links.org and org_uscc is not None:
        s.merge(HomeNode(kind=ORG, subject_index=org_index(idn, org_uscc), home_node=issuer, linked_at=now))


def home_of_person(s: Session, index: str) -> str | None:
    """Another node, when this node's account of the person was linked from there (None: registered here)."""
    row = s.get(HomeNode, (PERSON, index))
    return row.home_node if row else None
