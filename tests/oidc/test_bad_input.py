"""Bad input at the authorization and token endpoints: each the OAuth error the specifications name, and
nothing issued (no code, no session). Driven with plain HTTP (httpx), independently of authlib's client."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select

from identity_svc.models import TokenFamily
from tests.oidc.conftest import Browser, World, callback_params, pkce_pair


def sessions_of(world: World, client_id: str) -> int:
    with world.node.db.session(readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(TokenFamily).where(TokenFamily.client_id == client_id))
                   or 0)


def exchange(world: World, client_id: str, code: str, verifier: str | None, *, secret: str | None = None,
             redirect_uri: str | None = None) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": redirect_uri or world.redirect_uri(client_id)}
    if verifier is not None:
        data["code_verifier"] = verifier
    secret = world.platform(client_id).client_secret if secret is None else secret
    return httpx.post(f"{world.issuer}/oidc/token", data=data, auth=(client_id, secret))


@pytest.fixture
def bad(world: World) -> str:
    world.platform("rp-bad")
    return "rp-bad"


def test_unknown_client_is_told_on_a_page_not_redirected(world: World, browser: Browser, bad: str) -> None:
    _, challenge = pkce_pair()
    r = browser.get(browser.authorize_url("no-such-client", challenge=challenge,
                                          redirect_uri=world.redirect_uri(bad)))
    assert r.status_code == 400 and "invalid_client" in r.text and "location" not in r.headers


def test_wrong_redirect_uri_is_never_redirected_to(world: World, browser: Browser, bad: str) -> None:
    _, challenge = pkce_pair()
    for uri in (world.redirect_uri(bad) + "/more", world.redirect_uri(bad) + "?x=1", "https://evil.example/cb"):
        r = browser.get(browser.authorize_url(bad, challenge=challenge, redirect_uri=uri))
        assert r.status_code == 400 and "invalid_request" in r.text and "location" not in r.headers


@pytest.mark.parametrize("extra", [{}, {"code_challenge": "x" * 43, "code_challenge_method": "plain"}],
                         ids=["no-pkce", "plain-pkce"])
def test_pkce_s256_is_required(world: World, browser: Browser, bad: str, extra: dict[str, str]) -> None:
    r = browser.get(browser.authorize_url(bad, challenge=None, **extra))
    params = callback_params(r)
    assert params["error"] == "invalid_request" and params["state"] == "st" and params["iss"] == world.issuer
    assert "code" not in params


def test_missing_openid_scope_and_unregistered_scope(world: World, browser: Browser, bad: str) -> None:
    _, challenge = pkce_pair()
    assert callback_params(browser.get(browser.authorize_url(bad, challenge=challenge, scope="profile")))["error"] \
        == "invalid_scope"
    assert callback_params(browser.get(browser.authorize_url(bad, challenge=challenge,
                                                             scope="openid id_number")))["error"] == "invalid_scope"


def test_wrong_or_missing_verifier_replayed_code_and_wrong_client(world: World, browser: Browser, bad: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hutong")
    person = world.person()
    verifier, challenge = pkce_pair()
    before = sessions_of(world, bad)
    code = callback_params(browser.login(browser.authorize_url(bad, challenge=challenge), person))["code"]

    missing = exchange(world, bad, code, None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    # The code was spent by that attempt: a later right verifier gets nothing either.
    assert exchange(world, bad, code, verifier).json()["error"] == "invalid_grant"
    assert sessions_of(world, bad) == before

    code = callback_params(browser.login(browser.authorize_url(bad, challenge=challenge), person))["code"]
    wrong = exchange(world, bad, code, pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert sessions_of(world, bad) == before

    # Another client's credentials, a wrong secret, a wrong redirect URI: refused.
    code = callback_params(browser.login(browser.authorize_url(bad, challenge=challenge), person))["code"]
    other = world.platform("rp-other")
    r = httpx.post(f"{world.issuer}/oidc/token", data={"grant_type": "authorization_code", "code": code,
                   "redirect_uri": world.redirect_uri(bad), "code_verifier": verifier},
                   auth=("rp-other", other.client_secret))
    assert r.json()["error"] == "invalid_grant"
    code = callback_params(browser.login(browser.authorize_url(bad, challenge=challenge), person))["code"]
    r = exchange(world, bad, code, verifier, secret="wrong")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # The edge's access line for it: a refused token call, with its request id; a security event too.
    # The edge writes the access line once the answer is sent: the client may read the answer first.
    def refused() -> list[Any]:
        return [rec for rec in caplog.records if rec.name == "hutong.access"
                and getattr(rec, "fields", {}).get("method") == "POST /oidc/token"
                and rec.fields.get("status") == "UNAUTHENTICATED"]  # type: ignore[attr-defined]
    def security_event() -> bool:  # logged right after the access line
        return any(rec.name == "hutong.security" and rec.fields.get("method") == "POST /oidc/token"  # type: ignore[attr-defined]
                   for rec in caplog.records)
    until = time.monotonic() + 30
    while not (refused() and security_event()) and time.monotonic() < until:
        time.sleep(0.05)
    assert refused() and refused()[-1].fields["http_status"] == 401
    assert security_event()
    r = exchange(world, bad, code, verifier, redirect_uri=world.redirect_uri("rp-other"))
    assert r.json()["error"] == "invalid_grant"
    assert sessions_of(world, bad) == before

    # Replay: the second exchange of a good code fails and ends the session the first one opened.
    code = callback_params(browser.login(browser.authorize_url(bad, challenge=challenge), person))["code"]
    first = exchange(world, bad, code, verifier)
    assert first.status_code == 200 and sessions_of(world, bad) == before + 1
    def granted() -> list[Any]:  # the access line comes once the answer is sent, as above
        return [rec.fields for rec in caplog.records if rec.name == "hutong.access"  # type: ignore[attr-defined]
                and getattr(rec, "fields", {}).get("method") == "POST /oidc/token" and rec.fields["status"] == "OK"]
    until = time.monotonic() + 30
    while not granted() and time.monotonic() < until:
        time.sleep(0.05)
    assert [line["platform"] for line in granted()] == [bad]  # the one grant, to the client it authenticated
    assert first.headers["x-request-id"]
    replay = exchange(world, bad, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    info = httpx.get(f"{world.issuer}/oidc/userinfo",
                     headers={"Authorization": f"Bearer {first.json()['access_token']}"})
    assert info.status_code == 401 and "TOKEN_REVOKED" in info.headers["www-authenticate"]
    assert sessions_of(world, bad) == before + 1


def test_unknown_grant_type_and_unknown_client_at_token(world: World, bad: str) -> None:
    r = httpx.post(f"{world.issuer}/oidc/token", data={"grant_type": "password"},
                   auth=(bad, world.platform(bad).client_secret))
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = httpx.post(f"{world.issuer}/oidc/token", data={"grant_type": "authorization_code", "code": "x"},
                   auth=("no-such-client", "x"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = httpx.post(f"{world.issuer}/oidc/token", data={"grant_type": "refresh_token", "refresh_token": "rt_x"},
                   auth=(bad, world.platform(bad).client_secret))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_login_form_without_the_csrf_token_or_cookie_is_refused(world: World, browser: Browser, bad: str) -> None:
    person = world.person()
    _, challenge = pkce_pair()
    page = browser.get(browser.authorize_url(bad, challenge=challenge))
    assert page.status_code == 200
    form = {"action": "login", "id_number": person.id_number, "password": person.password}
    forged = browser.post(page, "login", **form, csrf="forged")
    assert forged.status_code == 400 and "location" not in forged.headers
    stranger = httpx.post(f"{world.issuer}/oidc/login", data={**form, "tx": "tx_x", "csrf": "forged"})
    assert stranger.status_code == 400
    # The genuine form still works afterwards.
    assert "code" in callback_params(browser.post(page, "login", **form))


def test_wrong_password_shows_the_page_again_and_counts(world: World, browser: Browser, bad: str) -> None:
    person = world.person()
    _, challenge = pkce_pair()
    page = browser.get(browser.authorize_url(bad, challenge=challenge))
    r = browser.post(page, "login", action="login", id_number=person.id_number, password="wrong password 1")
    assert r.status_code == 400 and "证件号码或密码错误" in r.text and person.id_number not in str(r.url)
    assert 'lang="zh-CN"' in r.text and "src=" not in r.text and "://" not in r.text  # nothing external
    assert r.headers["content-security-policy"].startswith("default-src 'none'")


def test_prompt_none_without_session_is_login_required(world: World, browser: Browser, bad: str) -> None:
    _, challenge = pkce_pair()
    params = callback_params(browser.get(browser.authorize_url(bad, challenge=challenge, prompt="none")))
    assert params["error"] == "login_required" and params["state"] == "st"


def test_malformed_claims_parameter(world: World, browser: Browser, bad: str) -> None:
    _, challenge = pkce_pair()
    params = callback_params(browser.get(browser.authorize_url(bad, challenge=challenge, claims="{not json")))
    assert params["error"] == "invalid_request"


def test_userinfo_without_or_with_a_bad_token(world: World) -> None:
    assert httpx.get(f"{world.issuer}/oidc/userinfo").status_code == 401
    r = httpx.get(f"{world.issuer}/oidc/userinfo", headers={"Authorization": "Bearer not.a.token"})
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]


def test_no_id_number_in_any_url(world: World, browser: Browser, bad: str) -> None:
    person = world.person()
    _, challenge = pkce_pair()
    r = browser.login(browser.authorize_url(bad, challenge=challenge), person)
    assert person.id_number not in r.headers["location"] and person.id_number not in urlencode(dict(r.headers))


def test_failed_logins_are_throttled_as_over_grpc(world: World, browser: Browser, bad: str) -> None:
    person = world.person()
    _, challenge = pkce_pair()
    page = browser.get(browser.authorize_url(bad, challenge=challenge))
    for _ in range(3):  # the free failures of [identity] free_failures
        r = browser.post(page, "login", action="login", id_number=person.id_number, password="wrong password 1")
        assert r.status_code == 400
    # Then even the right password waits (the delay grows; lockout follows): the same rule as gRPC Login.
    r = browser.post(page, "login", action="login", id_number=person.id_number, password=person.password)
    assert r.status_code == 429 and "尝试次数过多" in r.text and "location" not in r.headers


def test_unknown_scopes_are_ignored(world: World, browser: Browser, bad: str) -> None:
    person = world.person()
    verifier, challenge = pkce_pair()
    back = browser.login(browser.authorize_url(bad, challenge=challenge, scope="openid profile email offline_access"),
                         person)
    token = exchange(world, bad, callback_params(back)["code"], verifier).json()
    assert token["scope"] == "openid profile"


def test_request_objects_are_not_supported(world: World, browser: Browser, bad: str) -> None:
    _, challenge = pkce_pair()
    params = callback_params(browser.get(browser.authorize_url(bad, challenge=challenge, request="eyJ.x.y")))
    assert params["error"] == "request_not_supported" and "code" not in params
    params = callback_params(browser.get(browser.authorize_url(bad, challenge=challenge,
                                                               request_uri="https://x.example/r")))
    assert params["error"] == "request_uri_not_supported"


def test_prompt_none_with_a_login_answers_without_a_page(world: World, browser: Browser, bad: str) -> None:
    person = world.person()
    _, challenge = pkce_pair()
    assert "code" in callback_params(browser.login(browser.authorize_url(bad, challenge=challenge), person))
    params = callback_params(browser.get(browser.authorize_url(bad, challenge=challenge, prompt="none")))
    assert "code" in params and params["state"] == "st"
