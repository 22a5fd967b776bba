"""The node's audit log as one handle: record an event in a transaction of its own, verify the whole log.

Events are written by ``hutong.audit.append`` inside the act's own transaction; this handle is for the
events that have no other transaction (start-up, the command line) and for checking the log, which is
``hutong.tlog.verify``'s work. It lives above both, so neither imports the other behind a function.
"""

from __future__ import annotations

from collections.abc import Mapping

from hutong.audit import append
from hutong.db import Database
from hutong.tlog.verify import LogReport, verify_log


class AuditLog:
    """The node's log: record events in a transaction of their own, verify."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, *, actor: str, action: str, target: str = "", outcome: str = "ok",
               details: Mapping[str, object] | None = None) -> None:
        with self.db.session() as s:
            append(s, actor=actor, action=action, target=target, outcome=outcome, details=details)

    def verify(self) -> LogReport:
        """Check every leaf, the tree and every checkpoint (no HSM needed)."""
        return verify_log(self.db)
