"""The hub's registry of members: the descriptors it added (``hutong federation add``), read back.

Below both the hub (which publishes them in the trust list) and the ones that ask who the members are
(the relay, the transport's mTLS peer roots, the witness), so none of them imports the hub for it.
Empty on a member node.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from hutong.federation.models import FederationMember
from hutong.federation.trustlist import MemberEntry

if TYPE_CHECKING:
    from hutong.node import Node


def members(node: Node) -> list[MemberEntry]:
    with node.db.session(readonly=True) as s:
        return member_entries(s)


def member_entries(s: Session) -> list[MemberEntry]:
    rows = s.scalars(select(FederationMember).order_by(FederationMember.node_id))
    return [MemberEntry.from_dict(json.loads(r.descriptor)) for r in rows]
