"""The refresh tokens this process issued at its latest rotations, and the session each belongs to.

Why: a client refreshes over its one connection, which stays with one worker process, so the refresh token it
presents is most often the one this very process issued at the session's previous rotation. Remembering which
session that token belongs to (the session's row as read then) spares the refresh its first statement -- the
read of the token and its session, a pooled connection and a read transaction on SQLite, a round trip on
PostgreSQL -- out of the three statements a refresh ran (``sessions._fast_refresh``).

Nothing is trusted from here that can change: a session's identity columns (platform, subject, level,
methods, scopes, organisation) never change once it is made, and the write that spends the token
(``sessions.store_rotation``) still checks, in its transaction, that the token is unspent and its session
neither revoked nor expired; if it is not, nothing is written and the full check decides (reuse detection
included). An entry is taken out when it is used, so a token presented twice meets the full check the second
time. A token issued by another worker, or forgotten here, is read as before.
"""

from __future__ import annotations

import threading
from typing import Any

# Sessions refreshing through one worker at a time (the oldest are forgotten first): a few MB at most.
REMEMBERED = 4096


class RecentRotations:
    """SHA-256 of a refresh token -> the row of the session it was issued in (read-only); thread-safe."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._size = size
        self._rows: dict[str, Any] = {}
        self._lock = threading.Lock()

    def take(self, token_hash: str) -> Any | None:
        """The session ``token_hash`` was issued in by this process, forgotten as it is answered."""
        with self._lock:
            return self._rows.pop(token_hash, None)

    def remember(self, token_hash: str, session_row: Any) -> None:
        with self._lock:
            self._rows[token_hash] = session_row
            if len(self._rows) > self._size:
                del self._rows[next(iter(self._rows))]  # the oldest (dicts keep insertion order)

    def __len__(self) -> int:
        return len(self._rows)
