"""Lifecycle: the states used between provinces and which changes are allowed.

valid (有效) may become suspended (暂扣), cancelled (撤销), deregistered (注销), invalid (失效),
transferred out (转出) or revoked (吊销); a suspension may be lifted (back to valid) or end in any of
the final states. Every other state is final. Updates are new versions (see ``issuance``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from cert_svc import issuers, legal_person, reasons, records, statuslist
from cert_svc.records import CertView, Holder
from hutong import audit
from hutong.auth import Principal
from hutong.errors import FailedPrecondition, InvalidArgument
from hutong.node import Node

STATES = ("valid", "suspended", "cancelled", "deregistered", "invalid", "transferred_out", "revoked")
_FINAL = frozenset({"cancelled", "deregistered", "invalid", "transferred_out", "revoked"})
TRANSITIONS: dict[str, frozenset[str]] = {
    "valid": frozenset({"suspended"}) | _FINAL,
    "suspended": frozenset({"valid"}) | _FINAL,
    **{state: frozenset() for state in _FINAL},
}


@dataclass(frozen=True)
class StatusChange:
    """A certificate entering a status (issuing included: ``old`` is empty), seen inside its transaction."""

    node: Node
    session: Session  # the change's open transaction
    actor: str
    identifier: str
    type_code: str
    holder: Holder
    fields: Mapping[str, str]
    old: str
    new: str


# Called inside the transaction of every status change and issue, with the changes of one act in order (a
# batch's issued rows together: a listener does one set of statements for them): a listener that raises undoes
# the act (in a batch, the rows are then retried one by one, so only the failing row is refused). The
# legal-person binding of business licences hooks in here.
StatusListener = Callable[[Sequence[StatusChange]], None]
listeners: list[StatusListener] = [legal_person.on_status_changes]


def notify(*changes: StatusChange) -> None:
    for listener in listeners:
        listener(changes)


def check_transition(old: str, new: str) -> None:
    if new not in STATES:
        raise InvalidArgument(reasons.INVALID_TRANSITION, "unknown certificate status")
    if new not in TRANSITIONS[old]:
        raise FailedPrecondition(reasons.INVALID_TRANSITION, f"a {old} certificate cannot become {new}",
                                 metadata={"from": old, "to": new})


def change_status(node: Node, principal: Principal, identifier: str, status: str, reason: str = "") -> CertView:
    with node.db.session() as s:
        row = records.find(s, identifier)
        issuer = issuers.acting_issuer(s, principal)
        issuers.require_issuer_of(issuer, row.issuer_uscc, row.type_code)
        old = row.status
        check_transition(old, status)
        row.status, row.status_reason, row.status_changed_at = status, reason[:500], datetime.now(UTC)
        statuslist.touch(s, [row.status_list_id])
        audit.append(s, actor=principal.actor, action="cert.status", target=row.identifier,
                     details={"from": old, "to": status, "reason": reason[:200]})
        s.flush()
        result = records.view(node, row)
        notify(StatusChange(node, s, principal.actor, row.identifier, row.type_code, result.holder,
                            {**result.fields, **result.private_fields}, old, status))
    return result
