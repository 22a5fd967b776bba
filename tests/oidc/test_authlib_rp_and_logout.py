"""A second relying party built on authlib's OAuth 2.0 client (ID tokens checked with joserfc); single sign-on
across two platforms; RP-initiated logout and Back-Channel Logout to every platform of the session;
logout-everywhere and revocation through the identity service; discovery; organisation choice; holder key."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oidc.discovery import OpenIDProviderMetadata
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import KeySet

from identity_svc import orgs, persons, registers, sessions
from identity_svc.platforms import get_platform
from tests.oidc.conftest import Browser, Person, World, callback_params, hidden, pkce_pair

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def discovery(world: World) -> dict[str, Any]:
    r = httpx.get(f"{world.issuer}/.well-known/openid-configuration")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


def verify(world: World, token: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(httpx.get(discovery(world)["jwks_uri"]).json())
    return dict(jwt.decode(token, keys, algorithms=["ES256"]).claims)


def authlib_login(world: World, browser: Browser, client_id: str, person: Person | None,
                  **extra: str) -> dict[str, Any]:
    """authlib's client makes the request and exchanges the code; the browser logs in (or is already in)."""
    meta = discovery(world)
    platform = world.platform(client_id)
    client = OAuth2Client(client_id, platform.client_secret, scope="openid profile",
                          redirect_uri=world.redirect_uri(client_id), code_challenge_method="S256")
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce,
                                                 **extra)
    back = browser.login(url, person) if person else browser.get(url)
    location = back.headers["location"]
    assert callback_params(back)["iss"] == meta["issuer"]
    token = dict(client.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier,
                                    state=state))
    claims = verify(world, token["id_token"])
    assert claims["nonce"] == nonce and claims["aud"] == client_id and claims["iss"] == meta["issuer"]
    return {"token": token, "claims": claims}


def check_logout_token(world: World, raw: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(world.idn.signer.jwks())  # type: ignore[arg-type]
    token = jwt.decode(raw, keys, algorithms=["ES256"])
    assert token.header["typ"] == "logout+jwt" and LOGOUT_EVENT in token.claims["events"]
    return dict(token.claims)


def test_discovery_has_the_required_fields(world: World) -> None:
    doc = discovery(world)
    # OpenID Connect Discovery 1.0 §3: REQUIRED members.
    for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported",
                 "subject_types_supported", "id_token_signing_alg_values_supported"):
        assert doc[name], name
    assert doc["issuer"] == world.issuer and "RS256" not in doc["id_token_signing_alg_values_supported"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["backchannel_logout_supported"] is True and doc["end_session_endpoint"]
    assert doc["acr_values_supported"] == ["low", "substantial", "high"]
    # authlib's check of every registered member, but one: Discovery §3 wants RS256 listed, and this provider
    # signs with the node's EC key in the HSM only (ES256, as the trust list publishes). A documented deviation.
    meta = OpenIDProviderMetadata(doc)
    for key in meta.REGISTRY_KEYS:
        if key != "id_token_signing_alg_values_supported":
            getattr(meta, f"validate_{key}")()
    jwks = httpx.get(doc["jwks_uri"]).json()
    assert jwks == world.idn.signer.jwks()  # the same JWKS as gRPC GetJwks and the trust list


def test_authlib_client_sso_and_rp_initiated_logout_with_back_channel(world: World, browser: Browser) -> None:
    person = world.person()
    world.platform("rp-second")
    world.backchannel.drain()
    first = authlib_login(world, browser, "rp-authlib", person)
    # Single sign-on: the second platform is answered without the login page.
    second = authlib_login(world, browser, "rp-second", None)
    assert first["claims"]["sub"] != second["claims"]["sub"]  # pairwise per platform
    assert first["claims"]["auth_time"] == second["claims"]["auth_time"]
    # prompt=login forces the password again.
    _, challenge = pkce_pair()
    page = browser.get(browser.authorize_url("rp-second", challenge=challenge, prompt="login"))
    assert page.status_code == 200 and 'name="password"' in page.text

    # RP-initiated logout with the first platform's ID token: both sessions end, both platforms are told.
    meta = discovery(world)
    r = browser.get(f"{meta['end_session_endpoint']}?" + httpx.QueryParams({
        "id_token_hint": first["token"]["id_token"], "post_logout_redirect_uri": world.redirect_uri("rp-authlib"),
        "state": "bye"}).__str__())
    assert r.status_code == 302 and r.headers["location"] == world.redirect_uri("rp-authlib") + "?state=bye"
    received = {c["sid"]: c for c in (check_logout_token(world, world.backchannel.next()) for _ in range(2))}
    assert set(received) == {first["claims"]["sid"], second["claims"]["sid"]}
    assert received[first["claims"]["sid"]]["sub"] == first["claims"]["sub"]
    assert received[second["claims"]["sid"]]["aud"] == "rp-second"
    for login in (first, second):
        info = httpx.get(meta["userinfo_endpoint"],
                         headers={"Authorization": f"Bearer {login['token']['access_token']}"})
        assert info.status_code == 401
    # The browser session is over: the next request shows the login page again.
    assert browser.get(browser.authorize_url("rp-second", challenge=challenge)).status_code == 200


def test_logout_without_a_hint_asks_first(world: World, browser: Browser) -> None:
    person = world.person()
    first = authlib_login(world, browser, "rp-authlib", person)
    page = browser.get(f"{world.issuer}/oidc/logout")
    assert page.status_code == 200 and 'name="confirm"' in page.text
    forged = browser.http.post(f"{world.issuer}/oidc/logout", data={"confirm": "yes", "csrf": "forged"})
    assert forged.status_code == 200 and 'name="confirm"' in forged.text  # asked again, nothing ended
    token = first["token"]["access_token"]
    assert httpx.get(f"{world.issuer}/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    done = browser.http.post(f"{world.issuer}/oidc/logout", data={"confirm": "yes", "csrf": hidden(page.text, "csrf")})
    assert done.status_code == 200 and "已退出" in done.text
    assert httpx.get(f"{world.issuer}/oidc/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    bad = browser.get(f"{world.issuer}/oidc/logout?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"
                      "&client_id=rp-authlib")
    assert bad.status_code == 400


def test_logout_everywhere_and_revocation_reach_the_back_channel(world: World, browser: Browser) -> None:
    person = world.person()
    login = authlib_login(world, browser, "rp-authlib", person)
    world.backchannel.drain()
    sessions.revoke(world.idn, get_platform(world.idn, "rp-authlib"), login["token"]["refresh_token"])
    assert check_logout_token(world, world.backchannel.next())["sid"] == login["claims"]["sid"]

    login = authlib_login(world, Browser(world), "rp-authlib", person)
    assert sessions.logout_everywhere(world.idn, person.account_id) >= 1
    assert check_logout_token(world, world.backchannel.next())["sid"] == login["claims"]["sid"]


def test_id_number_only_for_platforms_registered_for_it(world: World, browser: Browser) -> None:
    person = world.person()
    world.platform("rp-idnum", scopes=("profile", "id_number"))
    meta = discovery(world)
    platform = world.platform("rp-idnum")
    client = OAuth2Client("rp-idnum", platform.client_secret, scope="openid id_number",
                          redirect_uri=world.redirect_uri("rp-idnum"), code_challenge_method="S256")
    verifier = secrets.token_urlsafe(48)
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce="n")
    back = browser.login(url, person)
    assert person.id_number not in back.headers["location"]
    token = client.fetch_token(meta["token_endpoint"], authorization_response=back.headers["location"],
                               code_verifier=verifier, state=state)
    assert verify(world, token["id_token"])["id_number"] == person.id_number


def test_choosing_the_organisation_to_act_for(world: World, browser: Browser) -> None:
    person = world.person()
    uscc, name = "91350100M000100Y43", "某某科技有限公司"
    with world.node.db.session() as s:
        registers.TableRegister(world.idn).add_organisation(s, uscc, name, person.id_number)
    orgs.register_organisation(world.idn, person.account_id, uscc=uscc, name=name)
    world.platform("rp-org")
    verifier, challenge = pkce_pair()
    page = browser.login(browser.authorize_url("rp-org", challenge=challenge), person)
    assert page.status_code == 200 and name in page.text and uscc in page.text
    back = browser.post(page, "organisation", org=uscc)
    code = callback_params(back)["code"]
    token = httpx.post(f"{world.issuer}/oidc/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": world.redirect_uri("rp-org"),
        "code_verifier": verifier}, auth=("rp-org", world.platform("rp-org").client_secret)).json()
    claims = verify(world, token["id_token"])
    assert claims["org_uscc"] == uscc and claims["org_name"] == name
    assert "legal_representative" in claims["roles"] and claims["act"]["sub"] == claims["sub"]
    # A forged choice (an organisation the person holds no role in) is refused.
    page = browser.get(browser.authorize_url("rp-org", challenge=challenge, prompt="login"))
    page = browser.post(page, "login", action="login", id_number=person.id_number, password=person.password)
    assert browser.post(page, "organisation", org="91110000600037341L").status_code == 400


def test_holder_key_challenge_reaches_high(world: World, browser: Browser) -> None:
    person = world.person()
    world.platform("rp-authlib")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    persons.register_public_key(world.idn, person.account_id, public_key_pem=pem)
    verifier, challenge = pkce_pair()
    page = browser.get(browser.authorize_url("rp-authlib", challenge=challenge, acr_values="high"))
    assert 'name="totp_code"' in page.text  # level high asks for a second factor
    page = browser.post(page, "login", action="challenge", id_number=person.id_number)
    to_sign = base64.b64decode(page.text.split('<pre id="challenge">')[1].split("</pre>")[0])
    signature = base64.b64encode(key.sign(to_sign, ec.ECDSA(hashes.SHA256()))).decode()
    back = browser.post(page, "login", action="login", id_number=person.id_number, password=person.password,
                        challenge_id=hidden(page.text, "challenge_id"), signature=signature)
    code = callback_params(back)["code"]
    token = httpx.post(f"{world.issuer}/oidc/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": world.redirect_uri("rp-authlib"),
        "code_verifier": verifier}, auth=("rp-authlib", world.platform("rp-authlib").client_secret)).json()
    claims = verify(world, token["id_token"])
    assert claims["acr"] == "high" and claims["amr"] == ["pwd", "hwk"]


def test_max_age_and_essential_acr_with_totp(world: World, browser: Browser) -> None:
    person = world.person(with_totp=True)
    world.platform("rp-authlib")
    _, challenge = pkce_pair()
    essential = '{"id_token":{"acr":{"essential":true,"values":["high"]}}}'
    page = browser.get(browser.authorize_url("rp-authlib", challenge=challenge, claims=essential))
    assert 'name="totp_code"' in page.text
    back = browser.post(page, "login", action="login", id_number=person.id_number, password=person.password,
                        totp_code=world.next_totp(person))
    assert "code" in callback_params(back)
    # The browser's login (high) is reused ...
    assert "code" in callback_params(browser.get(browser.authorize_url("rp-authlib", challenge=challenge,
                                                                       acr_values="high")))
    # ... unless it is older than max_age.
    page = browser.get(browser.authorize_url("rp-authlib", challenge=challenge, max_age="0"))
    assert page.status_code == 200 and 'name="password"' in page.text
