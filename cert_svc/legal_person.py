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

from typing import TYPE_CHECKING

from cert_svc import catalogue
from hutong import peers

if TYPE_CHECKING:
    from cert_svc.lifecycle import StatusChange

LICENCE_TYPE = catalogue.BUSINESS_LICENCE
REPRESENTATIVE_ID_FIELD = "legal_representative_id"  # the licence field naming the representative's citizen ID


def source_of(identifier: str) -> str:
    return f"licence:{identifier}"


def on_status_change(change: StatusChange) -> None:
    if change.type_code != LICENCE_TYPE:
        return
    identity = peers.identity(change.node)
    if identity is None:
        return  # a node without identity has no representatives to bind
    uscc, source = change.holder.id, source_of(change.identifier)
    if change.new == "valid":
        number = change.fields.get(REPRESENTATIVE_ID_FIELD, "")
        if number:  # an operator may have redefined the type without it: then nothing proves a representative
            identity.bind_legal_representative(uscc=uscc, org_name=change.fields.get("name") or change.holder.name,
                                               representative_id_number=number, source=source, actor=change.actor,
                                               session=change.session)
        return
    identity.end_binding(uscc=uscc, source=source, suspend=change.new == "suspended", actor=change.actor,
                         session=change.session)
