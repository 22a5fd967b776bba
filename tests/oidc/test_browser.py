"""A real browser (Debian's Chromium through Playwright) logs in: the login page's CSP, its stylesheet, cookies
and the redirect after the form post back to a platform on another origin all work as a person would see them."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from identity_svc import platforms
from tests.oidc.conftest import World, pkce_pair

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")


@pytest.fixture
def callback_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """The platform's redirect URI: a page on another origin that records what arrives."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if urlsplit(self.path).path == "/cb":  # not the browser's favicon request
                seen.append({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
            body = b"<!doctype html><title>platform</title><p>back at the platform</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/cb", seen
    httpd.shutdown()


def test_chromium_logs_in_and_lands_at_the_platform(world: World,
                                                    callback_server: tuple[str, list[dict[str, str]]]) -> None:
    from playwright.sync_api import sync_playwright

    redirect_uri, seen = callback_server
    rp = platforms.add_platform(world.idn, client_id="rp-browser", name="浏览器平台", scopes=["openid", "profile"],
                                redirect_uris=[redirect_uri])
    person = world.person()
    verifier, challenge = pkce_pair()
    url = f"{world.issuer}/oidc/authorize?" + str(httpx.QueryParams({
        "response_type": "code", "client_id": "rp-browser", "scope": "openid profile", "state": "s1", "nonce": "n1",
        "redirect_uri": redirect_uri, "code_challenge": challenge, "code_challenge_method": "S256"}))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 740})  # a phone
            violations: list[str] = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(url)
            assert page.title() == "登录 Sign in"
            # The same-origin stylesheet applied: the page is styled, one column within the phone's width.
            assert page.evaluate("getComputedStyle(document.querySelector('button')).width") != "auto"
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            page.fill("#id_number", person.id_number)
            page.fill("#password", person.password)
            with page.expect_navigation(url=lambda u: u.startswith(redirect_uri)):
                page.click("button[value=login]")
            assert violations == []
        finally:
            browser.close()
    assert seen and seen[-1]["state"] == "s1" and seen[-1]["iss"] == world.issuer
    token = httpx.post(f"{world.issuer}/oidc/token", data={
        "grant_type": "authorization_code", "code": seen[-1]["code"], "redirect_uri": redirect_uri,
        "code_verifier": verifier}, auth=("rp-browser", rp.client_secret))
    assert token.status_code == 200 and token.json()["id_token"]
