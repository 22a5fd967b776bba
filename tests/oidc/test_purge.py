"""Pending logins and browser sessions are forgotten an hour after they expire (no table grows forever)."""

from __future__ import annotations

import time
from dataclasses import replace

from hutong.oidc import flow
from hutong.oidc.models import OidcBrowserSession, OidcRequest
from identity_svc.login import Verified
from tests.oidc.conftest import World


def test_expired_rows_are_purged(world: World) -> None:
    person = world.person()
    old_tx = flow.start_request(world.idn, "rp-x", "a=b", "substantial", "csrf-1")
    _, session = flow.open_browser_session(world.idn, Verified(person.account_id, "substantial", ("pwd",)))
    later = replace(world.idn, clock=lambda: time.time() + flow.BROWSER_SESSION_SECONDS + flow.PURGE_AFTER_SECONDS + 1)
    new_tx = flow.start_request(later, "rp-x", "a=b", "substantial", "csrf-2")
    with world.node.db.session(readonly=True) as s:
        assert s.get(OidcRequest, old_tx) is None and s.get(OidcRequest, new_tx) is not None
        assert s.get(OidcBrowserSession, session.id_hash) is None
