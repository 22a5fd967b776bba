"""Tokens: JWKS, offline verification, expiry, tampering, audience, refresh rotation and reuse, revocation."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from hutong.auth import Principal
from hutong.errors import PermissionDenied, Unauthenticated
from hutong.verify.tokens import verify_token
from hutong_client.identity import IdentityClient
from identity_svc import login, platforms, sessions
from identity_svc.authn import TokenAuthenticator
from identity_svc.core import Identity
from identity_svc.platforms import get_platform

from .conftest import LI, PASSWORD, ZHANG, World


@pytest.fixture
def zhang(world: World) -> World:
    world.register(ZHANG)
    return world


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    i = len(payload) // 2
    return f"{header}.{payload[:i]}{'A' if payload[i] != 'A' else 'B'}{payload[i + 1:]}.{signature}"


def test_access_token_authenticates_the_person(zhang: World) -> None:
    tokens = zhang.portal.login(ZHANG, PASSWORD)
    principal = TokenAuthenticator(zhang.node).authenticate({"authorization": f"Bearer {tokens.access_token}"})
    assert (principal.kind, principal.platform, principal.acr) == ("person", "portal", "substantial")
    assert principal.subject.startswith("p_") and ZHANG not in principal.actor
    claims = zhang.portal.verify(tokens.access_token, kind="access")
    assert claims["client_id"] == "portal" and claims["sid"]


def test_every_id_token_carries_its_own_jti(zhang: World) -> None:
    from joserfc import jwt  # an independent JOSE library reads the claims

    first, second = (jwt.decode(zhang.portal.login(ZHANG, PASSWORD).id_token, _jwk(zhang)).claims
                     for _ in range(2))
    assert first["jti"] and second["jti"] and first["jti"] != second["jti"]


def _jwk(world: World):  # type: ignore[no-untyped-def]
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(world.portal.jwks()[0])


def test_platform_credentials_authenticate_the_platform(zhang: World) -> None:
    secret = zhang.portal._client_secret
    principal = TokenAuthenticator(zhang.node).authenticate(
        {"x-hutong-client-id": "portal", "x-hutong-client-secret": secret})
    assert principal == Principal(kind="platform", subject="portal", platform="portal",
                                  scopes=("openid", "profile"))


def test_missing_tampered_and_wrong_type_tokens(zhang: World, expect) -> None:
    tokens = zhang.portal.login(ZHANG, PASSWORD)
    expect(Unauthenticated, "TOKEN_MISSING", zhang.portal.logout_everywhere)
    expect(Unauthenticated, "TOKEN_INVALID", zhang.portal.as_person(_tamper(tokens.access_token)).logout_everywhere)
    expect(Unauthenticated, "TOKEN_INVALID", zhang.portal.as_person("not-a-jwt").logout_everywhere)
    expect(Unauthenticated, "TOKEN_WRONG_TYPE", zhang.portal.as_person(tokens.id_token).logout_everywhere)
    keys, issuer = zhang.portal.jwks()
    expect(Unauthenticated, "TOKEN_INVALID", verify_token, _tamper(tokens.id_token), keys, issuer=issuer,
           audience="portal")


def test_expired_tokens(zhang: World, expect) -> None:
    past = Identity.of(zhang.node)
    past.clock = lambda: time.time() - 3600  # logged in an hour ago: the tokens expired long since
    tokens = login.login(past, get_platform(past, "portal"), login.LoginRequest(ZHANG, PASSWORD))
    expect(Unauthenticated, "TOKEN_EXPIRED", zhang.portal.as_person(tokens.access_token).logout_everywhere)
    expect(Unauthenticated, "TOKEN_EXPIRED", zhang.portal.verify_id_token, tokens.id_token)
    assert zhang.portal.introspect(tokens.access_token).inactive_reason == "TOKEN_EXPIRED"


def test_wrong_audience(zhang: World, expect) -> None:
    tokens = zhang.portal.login(ZHANG, PASSWORD)
    expect(Unauthenticated, "TOKEN_WRONG_AUDIENCE", zhang.idapp.verify_id_token, tokens.id_token)
    # A platform presenting another platform's token as its own:
    expect(Unauthenticated, "TOKEN_WRONG_AUDIENCE", zhang.idapp.as_person(tokens.access_token).logout_everywhere)
    result = zhang.idapp.introspect(tokens.access_token)
    assert (result.active, result.inactive_reason) == (False, "TOKEN_WRONG_AUDIENCE")
    expect(Unauthenticated, "TOKEN_WRONG_AUDIENCE", zhang.idapp.refresh, tokens.refresh_token)
    keys, _ = zhang.portal.jwks()
    expect(Unauthenticated, "TOKEN_WRONG_ISSUER", verify_token, tokens.id_token, keys, issuer="urn:other",
           audience="portal")


def test_introspection_of_an_active_token(zhang: World) -> None:
    tokens = zhang.portal.login(ZHANG, PASSWORD)
    result = zhang.portal.introspect(tokens.access_token)
    assert result.active and result.subject == tokens.subject and result.client_id == "portal"
    assert list(result.scopes) == ["openid"]


def test_refresh_rotates_and_reuse_revokes_the_family(zhang: World, expect) -> None:
    first = zhang.portal.login(ZHANG, PASSWORD)
    second = zhang.portal.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token and second.subject == first.subject
    zhang.portal.as_person(second.access_token).my_organisations()  # usable
    expect(Unauthenticated, "REFRESH_TOKEN_REUSED", zhang.portal.refresh, first.refresh_token)
    expect(Unauthenticated, "TOKEN_REVOKED", zhang.portal.refresh, second.refresh_token)
    expect(Unauthenticated, "TOKEN_REVOKED", zhang.portal.as_person(second.access_token).my_organisations)
    expect(Unauthenticated, "REFRESH_TOKEN_INVALID", zhang.portal.refresh, "rt_unknown")


def test_revocation_ends_the_session_only(zhang: World, expect) -> None:
    a = zhang.portal.login(ZHANG, PASSWORD)
    b = zhang.portal.login(ZHANG, PASSWORD)
    expect(Unauthenticated, "TOKEN_WRONG_AUDIENCE", zhang.idapp.revoke, a.access_token)
    zhang.portal.revoke(a.access_token)
    expect(Unauthenticated, "TOKEN_REVOKED", zhang.portal.as_person(a.access_token).my_organisations)
    expect(Unauthenticated, "TOKEN_REVOKED", zhang.portal.refresh, a.refresh_token)
    assert zhang.portal.introspect(a.access_token).inactive_reason == "TOKEN_REVOKED"
    zhang.portal.revoke(b.refresh_token)
    expect(Unauthenticated, "TOKEN_REVOKED", zhang.portal.as_person(b.access_token).my_organisations)


def test_logout_everywhere(zhang: World, expect) -> None:
    zhang.register(LI)
    mine = [zhang.portal.login(ZHANG, PASSWORD), zhang.idapp.login(ZHANG, PASSWORD)]
    theirs = zhang.portal.login(LI, PASSWORD)
    assert zhang.portal.as_person(mine[0].access_token).logout_everywhere() == 2
    expect(Unauthenticated, "TOKEN_REVOKED", zhang.idapp.as_person(mine[1].access_token).my_organisations)
    expect(Unauthenticated, "TOKEN_REVOKED", zhang.idapp.refresh, mine[1].refresh_token)
    zhang.portal.as_person(theirs.access_token).my_organisations()


def test_step_up_for_person_calls(zhang: World) -> None:
    tokens = zhang.portal.login(ZHANG, PASSWORD)
    authn = TokenAuthenticator(zhang.node)
    with pytest.raises(PermissionDenied) as info:
        authn.person({"authorization": f"Bearer {tokens.access_token}"}, min_acr="high")
    assert info.value.reason == "STEP_UP_REQUIRED"


def test_jwks_matches_the_hsm_token_key(zhang: World) -> None:
    keys, issuer = IdentityClient(zhang.channel).jwks()
    (key,) = keys["keys"]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in key and issuer == zhang.idn.settings.issuer


def test_removing_a_platform_ends_its_sessions(zhang: World, expect) -> None:
    tokens = zhang.portal.login(ZHANG, PASSWORD)
    sessions.remove_platform(zhang.idn, "portal")
    orphan = IdentityClient(zhang.channel, access_token=tokens.access_token)
    expect(Unauthenticated, "TOKEN_REVOKED", orphan.my_organisations)


def _between_read_and_write(monkeypatch: pytest.MonkeyPatch, act: Callable[[Identity], object]) -> list[int]:
    """Run ``act`` once, while a refresh has read its token and signed, before its write transaction."""
    from identity_svc import sessions

    real, done = sessions._sign_with, list[int]()

    def sign_then_act(idn: Identity, *args: Any, **kwargs: Any) -> Any:
        minted = real(idn, *args, **kwargs)
        if not done:
            done.append(1)
            act(idn)
        return minted

    monkeypatch.setattr(sessions, "_sign_with", sign_then_act)
    return done


def test_refresh_tokens_signed_before_the_write_are_dropped_when_the_session_ends_meanwhile(
        zhang: World, expect, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refresh signs the new access token before its write transaction; a logout in between still wins."""
    from identity_svc import sessions

    first = zhang.portal.login(ZHANG, PASSWORD)
    portal = platforms.get_platform(zhang.idn, "portal")
    done = _between_read_and_write(monkeypatch, lambda idn: sessions.revoke(idn, portal, first.refresh_token))
    expect(Unauthenticated, "TOKEN_REVOKED", zhang.portal.refresh, first.refresh_token)  # ... so none is handed out
    assert done
    monkeypatch.undo()
    second = zhang.portal.login(ZHANG, PASSWORD)
    third = zhang.portal.refresh(second.refresh_token)  # the ordinary path: the tokens signed first are returned
    assert verify_token(third.access_token, zhang.idn.signer.jwks(), issuer=zhang.idn.settings.issuer,
                        audience=None)["sid"] == verify_token(second.access_token, zhang.idn.signer.jwks(),
                                                              issuer=zhang.idn.settings.issuer, audience=None)["sid"]


def test_a_refresh_token_spent_by_another_refresh_meanwhile_is_reuse(zhang: World, expect,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Two refreshes race with one token: the one that loses the write is reuse, and the session ends."""
    from identity_svc import sessions

    first = zhang.portal.login(ZHANG, PASSWORD)
    portal = platforms.get_platform(zhang.idn, "portal")
    winner: list[Any] = []
    done = _between_read_and_write(
        monkeypatch, lambda idn: winner.append(sessions.refresh(idn, portal, first.refresh_token)))
    expect(Unauthenticated, "REFRESH_TOKEN_REUSED", zhang.portal.refresh, first.refresh_token)
    assert done and winner[0].access_token  # the other refresh got tokens ...
    monkeypatch.undo()
    # ... and they stop working too: reuse revoked the whole session.
    expect(Unauthenticated, "TOKEN_REVOKED", zhang.portal.refresh, winner[0].refresh_token)
    expect(Unauthenticated, "TOKEN_REVOKED", IdentityClient(zhang.channel, access_token=winner[0].access_token)
           .my_organisations)


def test_refresh_answers_with_one_signed_token_and_the_sdk_keeps_the_login_id_token(zhang: World) -> None:
    """A refresh signs only the access token (OpenID Connect Core 12.2: no ID token needed); a ``Session``
    keeps the ID token of its login, and it still verifies."""
    first = zhang.portal.login(ZHANG, PASSWORD)
    again = zhang.portal.refresh(first.refresh_token)
    assert again.access_token and again.refresh_token and again.id_token == ""
    session = zhang.portal.session(zhang.portal.login(ZHANG, PASSWORD))
    login_id_token = session.tokens.id_token
    refreshed = session.refresh()
    assert refreshed.id_token == login_id_token == session.tokens.id_token
    assert refreshed.access_token != "" and refreshed.refresh_token != ""
    from joserfc import jwt  # an independent JOSE library reads the kept ID token

    assert jwt.decode(session.tokens.id_token, _jwk(zhang)).claims["aud"] == "portal"


def _refresh_events(world: World) -> list[tuple[str, str, str]]:
    from sqlalchemy import select

    from hutong.audit import AuditRecord

    with world.idn.node.db.session(readonly=True) as s:
        return [(e.actor, e.action, e.target) for e in s.scalars(
            select(AuditRecord).where(AuditRecord.action.like("identity.token.%")).order_by(AuditRecord.seq))]


def test_a_refresh_records_no_event_and_a_refused_one_records_its_reuse(zhang: World, expect) -> None:
    """A refresh (a token rotation) leaves no audit event (``sessions.store_rotation`` says why); a reused
    refresh token, which ends the session, is recorded as reuse."""
    first = zhang.portal.login(ZHANG, PASSWORD)
    sid = verify_token(first.access_token, zhang.idn.signer.jwks(), issuer=zhang.idn.settings.issuer,
                       audience=None)["sid"]
    zhang.portal.refresh(first.refresh_token)
    assert _refresh_events(zhang) == []
    expect(Unauthenticated, "REFRESH_TOKEN_REUSED", zhang.portal.refresh, first.refresh_token)
    expect(Unauthenticated, "REFRESH_TOKEN_INVALID", zhang.portal.refresh, "rt_unknown")
    assert _refresh_events(zhang) == [("platform:portal", "identity.token.reuse", f"session:{sid}")]
    zhang.idn.node.tlog.integrate_all()
    assert zhang.idn.node.audit.verify().ok


def test_store_rotation_writes_nothing_when_the_token_cannot_be_spent(zhang: World) -> None:
    """Nothing is stored when the spend changes nothing (a spent token, an ended session)."""
    from identity_svc.credentials import hash_token

    first = zhang.portal.login(ZHANG, PASSWORD)
    sid = str(verify_token(first.access_token, zhang.idn.signer.jwks(), issuer=zhang.idn.settings.issuer,
                           audience=None)["sid"])
    db, now = zhang.idn.node.db, zhang.idn.now()
    spent = hash_token(first.refresh_token)
    args = {"session": sid, "issued_at": now, "now": now}
    assert sessions.store_rotation(db, spent_hash=spent, new_hash="a" * 64, **args)
    assert not sessions.store_rotation(db, spent_hash=spent, new_hash="b" * 64, **args)  # spent already
    assert not sessions.store_rotation(db, spent_hash="a" * 64, new_hash="c" * 64,
                                       **{**args, "session": "another-session"})
    from identity_svc.models import RefreshToken

    with db.session(readonly=True) as s:
        assert s.get(RefreshToken, "a" * 64) is not None
        assert s.get(RefreshToken, "b" * 64) is None and s.get(RefreshToken, "c" * 64) is None
