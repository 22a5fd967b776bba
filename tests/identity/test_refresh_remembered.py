"""A refresh token this process issued is refreshed without reading it first (``identity_svc.rotations``), and
still meets every check: reuse, revocation, expiry, another platform, another worker having spent it.

Each ``Identity`` here stands for one worker process (each remembers what it issued); the database is shared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from hutong import prepared
from hutong.errors import Unauthenticated
from hutong.verify.tokens import verify_token
from identity_svc import sessions
from identity_svc.core import Identity
from identity_svc.models import RefreshToken
from identity_svc.platforms import get_platform
from identity_svc.rotations import RecentRotations

from .conftest import PASSWORD, ZHANG, World


@pytest.fixture
def zhang(world: World) -> World:
    world.register(ZHANG)
    return world


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a refresh read its token (the real read runs: this only counts)."""
    real, seen = prepared.read_one, list[int]()

    def counting(db: Any, stmt: Any, params: Any) -> Any:
        if stmt is sessions._READ:
            seen.append(1)
        return real(db, stmt, params)

    monkeypatch.setattr(prepared, "read_one", counting)
    return seen


def _stored(world: World) -> int:
    with world.node.db.session(readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(RefreshToken)) or 0)


def _sid(world: World, access_token: str) -> str:
    return str(verify_token(access_token, world.idn.signer.jwks(), issuer=world.idn.settings.issuer,
                            audience="portal")["sid"])


def test_a_chain_of_refreshes_reads_only_the_token_it_did_not_issue(zhang: World, reads: list[int]) -> None:
    idn, portal = zhang.idn, get_platform(zhang.idn, "portal")
    first = zhang.portal.login(ZHANG, PASSWORD)  # issued by the server's process, not by ``idn``
    tokens = [sessions.refresh(idn, portal, first.refresh_token)]
    for _ in range(3):
        tokens.append(sessions.refresh(idn, portal, tokens[-1].refresh_token))
    assert len(reads) == 1  # only the login's token was read
    assert {_sid(zhang, t.access_token) for t in tokens} == {_sid(zhang, first.access_token)}
    assert len(idn.rotations) == 1  # a used entry is forgotten: only the newest token is remembered


def test_a_remembered_token_spent_by_another_worker_is_reuse(zhang: World, expect: Callable[..., Any],
                                                             reads: list[int]) -> None:
    """Worker A issued the token; worker B spent it; the same token at A again (a stolen copy) is reuse."""
    worker_a, worker_b = zhang.idn, Identity.of(zhang.node)
    portal = get_platform(worker_a, "portal")
    first = zhang.portal.login(ZHANG, PASSWORD)
    second = sessions.refresh(worker_a, portal, first.refresh_token)  # A remembers ``second``
    third = sessions.refresh(worker_b, portal, second.refresh_token)  # B reads it and spends it
    stored = _stored(zhang)
    expect(Unauthenticated, "REFRESH_TOKEN_REUSED", sessions.refresh, worker_a, portal, second.refresh_token)
    expect(Unauthenticated, "TOKEN_REVOKED", sessions.refresh, worker_b, portal, third.refresh_token)
    assert _stored(zhang) == stored  # nothing issued after the reuse


def test_a_remembered_token_of_a_revoked_session_is_refused(zhang: World, expect: Callable[..., Any]) -> None:
    idn, portal = zhang.idn, get_platform(zhang.idn, "portal")
    first = zhang.portal.login(ZHANG, PASSWORD)
    second = sessions.refresh(idn, portal, first.refresh_token)
    zhang.portal.revoke(second.access_token)  # through the server: ``idn`` still remembers the token
    stored = _stored(zhang)
    expect(Unauthenticated, "TOKEN_REVOKED", sessions.refresh, idn, portal, second.refresh_token)
    assert _stored(zhang) == stored


def test_a_remembered_token_of_an_expired_session_is_refused(zhang: World, expect: Callable[..., Any]) -> None:
    idn, portal = zhang.idn, get_platform(zhang.idn, "portal")
    second = sessions.refresh(idn, portal, zhang.portal.login(ZHANG, PASSWORD).refresh_token)
    later = idn.now() + idn.settings.refresh_token_seconds + 1
    idn.clock = lambda: later
    expect(Unauthenticated, "TOKEN_EXPIRED", sessions.refresh, idn, portal, second.refresh_token)


def test_a_remembered_token_presented_by_another_platform_is_refused_and_left_unspent(
        zhang: World, expect: Callable[..., Any]) -> None:
    idn, portal, other = zhang.idn, get_platform(zhang.idn, "portal"), get_platform(zhang.idn, "idapp")
    second = sessions.refresh(idn, portal, zhang.portal.login(ZHANG, PASSWORD).refresh_token)
    expect(Unauthenticated, "TOKEN_WRONG_AUDIENCE", sessions.refresh, idn, other, second.refresh_token)
    third = sessions.refresh(idn, portal, second.refresh_token)  # the rightful platform still can
    assert third.refresh_token and _sid(zhang, third.access_token) == _sid(zhang, second.access_token)


def test_the_oldest_remembered_tokens_are_forgotten_first() -> None:
    recent = RecentRotations(size=2)
    for name in ("a", "b", "c"):
        recent.remember(name, {"id": name})
    assert len(recent) == 2 and recent.take("a") is None
    assert recent.take("b") == {"id": "b"} and recent.take("b") is None  # taken: forgotten
    assert recent.take("c") == {"id": "c"}
