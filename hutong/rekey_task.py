"""The node re-encrypts (data key) and re-indexes (blind-index key) by itself once a successor is active.

Each server process runs this thread; every ``check_seconds`` it asks whether a retired data key awaits
re-encryption (``rekey.status``: in memory from the key registry's snapshot, no query while nothing waits) and,
if so, runs ``rekey.reencrypt`` -- the officer's ``hutong hsm rotate --label node.data-key --step reencrypt``
does the same. Then the same for the blind index: if index columns are left to walk for the active blind-index
key (``reindex.walk_pending``), it runs ``reindex.reindex``, as the officer's ``hutong hsm rotate --label
node.blind-index --step reindex`` does. One runner at a time on the node, for both jobs: each takes the lock file
in the data directory (the other processes find it taken, ``REKEY_RUNNING``, and look again later), so a worker
killed mid-way releases it and the next look of another one resumes after the last committed batch. ``[rekey]
automatic = false`` leaves both steps to the officer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hutong import reindex, rekey
from hutong.config import settings_of
from hutong.errors import ConfigError, FailedPrecondition

if TYPE_CHECKING:
    from hutong.node import Node

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RekeySettings:
    """``[rekey]`` in hutong.toml."""

    automatic: bool = True  # the server re-encrypts (re-indexes) by itself after a data (blind-index) key activation
    batch: int = rekey.BATCH  # records per transaction
    pause: float = 0.05  # seconds between batches: the HSM and the database serve calls meanwhile
    check_seconds: float = 5.0  # how often each server process looks for work

    def __post_init__(self) -> None:
        if not 1 <= self.batch <= rekey.MAX_BATCH or not 0 <= self.pause <= rekey.MAX_PAUSE \
                or not 0.1 <= self.check_seconds <= 3600:
            raise ConfigError("CONFIG_INVALID", f"[rekey] batch is 1 to {rekey.MAX_BATCH}, pause 0 to "
                              f"{rekey.MAX_PAUSE:g} and check_seconds 0.1 to 3600 seconds")


def settings(node: Node) -> RekeySettings:
    return settings_of(node.config, RekeySettings, "rekey")


def run_once(node: Node, s: RekeySettings) -> bool:
    """Re-encrypt, then re-index, whatever awaits it while no one else is at it; whether this run finished one."""
    finished = False
    if rekey.status(node) is not None and _unless_busy(
            lambda: rekey.reencrypt(node, actor="node", batch=s.batch, pause=s.pause)):
        log.info("data-key re-encryption finished")
        finished = True
    if reindex.walk_pending(node) and _unless_busy(
            lambda: reindex.reindex(node, actor="node", batch=s.batch, pause=s.pause)):
        log.info("blind-index re-indexing: every index column walked")
        finished = True
    return finished


def _unless_busy(job: Callable[[], object]) -> bool:
    """Run ``job``; False if another process runs one (``REKEY_RUNNING``) or it just ended (nothing to do)."""
    try:
        job()
    except FailedPrecondition as err:
        if err.reason in (rekey.REKEY_RUNNING, "REKEY_NOT_NEEDED", "REINDEX_NOT_NEEDED"):
            return False
        raise
    return True


def start(node: Node) -> threading.Event | None:
    """Look for work in a daemon thread until the returned event is set (None: ``automatic`` is off)."""
    s = settings(node)
    if not s.automatic:
        return None
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(s.check_seconds):
            try:
                run_once(node, s)
            except Exception:  # the database or HSM is away: the cursor is committed, the next look resumes
                log.exception("re-encryption or re-indexing failed; will retry")

    threading.Thread(target=run, name="rekey", daemon=True).start()
    return stop
