"""Platform client credentials remembered after a match (``identity_svc.platforms.authenticate_platform``): only
the very credentials that matched are answered without reading the row, a wrong secret is refused whatever was
remembered, the memory is per database (two nodes with the same client id keep their own secrets apart), and
it lasts VERIFIED_SECONDS: a platform whose stored secret changed is refused once that has passed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import update

from hutong.errors import Unauthenticated
from identity_svc import platforms
from identity_svc.core import Identity
from identity_svc.credentials import hash_client_secret
from identity_svc.models import Platform
from tests.identity_fixtures import IDENTITY_CONFIG


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(platforms, "_clock", fake)
    return fake


def _refused(idn: Identity, client_id: str, secret: str) -> None:
    with pytest.raises(Unauthenticated) as err:
        platforms.authenticate_platform(idn, client_id, secret)
    assert err.value.reason == "CLIENT_AUTHENTICATION_FAILED"


def test_a_wrong_secret_is_refused_after_the_right_one_matched(node_factory: Callable[..., object],
                                                               clock: Clock) -> None:
    idn = Identity.of(node_factory(config=IDENTITY_CONFIG))
    made = platforms.add_platform(idn, client_id="portal-a", name="Portal A", scopes=["openid"])
    assert platforms.authenticate_platform(idn, "portal-a", made.client_secret).client_id == "portal-a"
    assert platforms.authenticate_platform(idn, "portal-a", made.client_secret).client_id == "portal-a"
    _refused(idn, "portal-a", made.client_secret + "x")
    _refused(idn, "portal-b", made.client_secret)  # another client id with this secret


def test_a_changed_secret_stops_matching_once_the_memory_lapses(node_factory: Callable[..., object],
                                                                clock: Clock) -> None:
    node = node_factory(config=IDENTITY_CONFIG)
    idn = Identity.of(node)
    made = platforms.add_platform(idn, client_id="portal-a", name="Portal A", scopes=["openid"])
    platforms.authenticate_platform(idn, "portal-a", made.client_secret)
    with node.db.session() as s:  # type: ignore[attr-defined]
        s.execute(update(Platform).where(Platform.client_id == "portal-a")
                  .values(secret_hash=hash_client_secret("the new secret")))
    clock.now += platforms.VERIFIED_SECONDS / 2
    platforms.authenticate_platform(idn, "portal-a", made.client_secret)  # within the documented bound
    clock.now += platforms.VERIFIED_SECONDS
    _refused(idn, "portal-a", made.client_secret)
    assert platforms.authenticate_platform(idn, "portal-a", "the new secret").client_id == "portal-a"


def test_each_database_keeps_its_own_platforms(node_factory: Callable[..., object], clock: Clock) -> None:
    one, two = (Identity.of(node_factory(config=IDENTITY_CONFIG)) for _ in range(2))
    first = platforms.add_platform(one, client_id="portal-a", name="Portal A", scopes=["openid"])
    second = platforms.add_platform(two, client_id="portal-a", name="Portal A elsewhere", scopes=["openid"])
    assert platforms.authenticate_platform(one, "portal-a", first.client_secret).name == "Portal A"
    assert platforms.authenticate_platform(two, "portal-a", second.client_secret).name == "Portal A elsewhere"
    _refused(two, "portal-a", first.client_secret)
    _refused(one, "portal-a", second.client_secret)
