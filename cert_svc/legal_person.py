"""Business licence -> legal person (issue 5 item 7): a valid electronic business licence binds its legal
representative to the organisation in identity (``hutong.peers.IdentityPeer``); when the licence stops
being valid the binding ends.

A ``lifecycle`` listener, so it runs inside the transaction of the certificate change (issuing included):
the licence's status and the binding commit together or not at all.

- issued, or valid again after a suspension: ``IdentityPeer.bind_legal_representative`` (the person
  named by the ``legal_representative_id`` field, found by blind index; the organisation is created if
  identity_svc does not know it yet);
- suspended (暂扣): the binding is suspended with it: the representative's organisation-context tokens are
  refused at their next use (REPRESENTATION_SUSPENDED) until the licence is valid again;
- cancelled, deregistered, invalid (a new version replaces it and binds in turn), transferred out, revoked:
  the binding ends (REPRESENTATION_ENDED at the next token use).

Only the binding made by this very licence is suspended or ended: one made since by a newer licence stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cert_svc import catalogue
from hutong import peers

if TYPE_CHECKING:
    from cert_svc.lifecycle import StatusChange

LICENCE_TYPE = catalogue.BUSINESS_LICENCE
REPRESENTATIVE_ID_FIELD = "legal_representative_id"  # the licence field naming the representative's citizen ID


def source_of(identifier: str) -> str:
    return f"licence:{identifier}"


def on_status_changes(changes: Sequence[StatusChange]) -> None:
    """The bindings of the licences among ``changes``: those becoming valid bound together (a batch of licences
    in one set of statements), the others ended or suspended one by one."""
    licences = [c for c in changes if c.type_code == LICENCE_TYPE]
    if not licences:
        return
    identity = peers.identity(licences[0].node)
    if identity is None:
        return  # a node without identity has no representatives to bind
    bindings = [peers.RepresentativeBinding(uscc=c.holder.id, org_name=c.fields.get("name") or c.holder.name,
                                            representative_id_number=c.fields[REPRESENTATIVE_ID_FIELD],
                                            source=source_of(c.identifier))
                for c in licences if c.new == "valid" and c.fields.get(REPRESENTATIVE_ID_FIELD)]
    # (a valid licence without the field: an operator may have redefined the type; nothing proves a representative)
    if bindings:
        identity.bind_legal_representatives(bindings, actor=licences[0].actor, session=licences[0].session)
    for change in licences:
        if change.new != "valid":
            identity.end_binding(uscc=change.holder.id, source=source_of(change.identifier),
                                 suspend=change.new == "suspended", actor=change.actor, session=change.session)
