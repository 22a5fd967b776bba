"""OIDC test world: a node whose issuer is the URL of its real HTTP edge on 127.0.0.1 (the provider mounted in it),
persons in its register, platforms registered with redirect and back-channel logout URIs, a back-channel
receiver (a real HTTP server on loopback), and a scripted browser (httpx with cookies, no redirects followed)."""

from __future__ import annotations

import base64
import hashlib
import os
import queue
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pytest

from hutong.demo.cluster import free_port
from hutong.node import Node
from identity_svc import persons, platforms, registers, totp
from identity_svc.core import Identity
from tests.identity_fixtures import IDENTITY_CONFIG, PASSWORD, citizen_id

RP_DIR = os.path.join(os.path.dirname(__file__), "rp")
RP_READY = os.path.isdir(os.path.join(RP_DIR, "node_modules", "openid-client"))  # scripts/setup runs npm ci


class BackChannel:
    """A relying platform's back-channel logout endpoint: records every logout token POSTed to it."""

    def __init__(self) -> None:
        self.tokens: queue.Queue[str] = queue.Queue()
        received = self.tokens

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                received.put(parse_qs(body).get("logout_token", [""])[0])
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.httpd.server_address[1]}/backchannel-logout"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def next(self, timeout: float = 20.0) -> str:
        return self.tokens.get(timeout=timeout)

    def drain(self) -> list[str]:
        out = []
        while not self.tokens.empty():
            out.append(self.tokens.get_nowait())
        return out


@dataclass
class Person:
    id_number: str
    account_id: str
    name: str
    password: str = PASSWORD
    totp_secret: str = ""


@dataclass
class World:
    node: Node
    idn: Identity
    issuer: str
    backchannel: BackChannel
    clients: dict[str, platforms.NewPlatform] = field(default_factory=dict)
    _n: int = 0

    def redirect_uri(self, client_id: str) -> str:
        return f"http://127.0.0.1:9/{client_id}/callback"  # never contacted: the browser stops at the redirect

    def platform(self, client_id: str, *, scopes: tuple[str, ...] = ("profile",), required_acr: str = "substantial",
                 backchannel: bool = True, pairwise: bool = True) -> platforms.NewPlatform:
        if client_id not in self.clients:
            self.clients[client_id] = platforms.add_platform(
                self.idn, client_id=client_id, name=f"平台 {client_id}", scopes=("openid", *scopes),
                required_acr=required_acr, pairwise=pairwise, redirect_uris=[self.redirect_uri(client_id)],
                backchannel_logout_uri=self.backchannel.uri if backchannel else "")
        return self.clients[client_id]

    def person(self, *, with_totp: bool = False) -> Person:
        self._n += 1
        number = citizen_id(500 + self._n)
        portal = self.platform("enrol")
        with self.node.db.session() as s:
            registers.TableRegister(self.idn).add_person(s, number, f"测试{self._n}")
        account = persons.register_person(self.idn, portal.info, id_number=number, name=f"测试{self._n}",
                                          password=PASSWORD)
        p = Person(number, account, f"测试{self._n}")
        if with_totp:
            enrolment = persons.begin_totp(self.idn, account)
            persons.confirm_totp(self.idn, account, totp.code_at(enrolment.secret_base32, time.time()))
            p.totp_secret = enrolment.secret_base32
        return p

    def next_totp(self, p: Person) -> str:
        """A code of the next time step (the current one was spent at enrolment; the window accepts it)."""
        return totp.code_at(p.totp_secret, time.time() + 30)


@pytest.fixture(scope="module")
def world(node_factory: Any) -> Iterator[World]:
    from hutong.edge.serve import start_edge

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    # A long throttling delay, so that "the next attempt is throttled" never depends on how fast the machine is.
    config = IDENTITY_CONFIG + f'issuer = "{issuer}"\nbase_delay_seconds = 600\n[edge]\nlisten = "127.0.0.1:{port}"\n'
    node: Node = node_factory(config=config)  # type: ignore[assignment]
    edge = start_edge(node)
    assert edge is not None and edge.base_url == issuer
    w = World(node, Identity.of(node), issuer, BackChannel())
    yield w
    edge.stop()
    w.backchannel.httpd.shutdown()


# -- a scripted browser ---------------------------------------------------------------------------------

def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    return unescape(m.group(1)) if m else ""


@dataclass
class Browser:
    """A browser's cookie jar and form posts, stopping at every redirect."""

    world: World
    http: httpx.Client = field(default_factory=lambda: httpx.Client(follow_redirects=False, timeout=30))

    def authorize_url(self, client_id: str, *, challenge: str | None, state: str = "st", nonce: str = "n-1",
                      scope: str = "openid profile", redirect_uri: str | None = None, **extra: str) -> str:
        params = {"response_type": "code", "client_id": client_id, "scope": scope, "state": state, "nonce": nonce,
                  "redirect_uri": redirect_uri or self.world.redirect_uri(client_id), **extra}
        if challenge is not None:
            params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
        return f"{self.world.issuer}/oidc/authorize?{urlencode(params)}"

    def get(self, url: str) -> httpx.Response:
        return self.http.get(url)

    def post(self, page: httpx.Response, path: str, **fields: str) -> httpx.Response:
        """Submit the page's form at ``path`` (its tx and CSRF token) with ``fields``."""
        form = {"tx": hidden(page.text, "tx"), "csrf": hidden(page.text, "csrf"), **fields}
        return self.http.post(urljoin(str(page.url), path), data=form)

    def login(self, url: str, person: Person, *, totp_code: str = "", org: str | None = None) -> httpx.Response:
        """Open the authorization URL and log in; the response is the redirect back (or the page shown)."""
        page = self.get(url)
        if page.status_code == 302:
            return page
        fields = {"action": "login", "id_number": person.id_number, "password": person.password}
        if totp_code:
            fields["totp_code"] = totp_code
        page = self.post(page, "login", **fields)
        if page.status_code == 200 and 'action="organisation"' in page.text and org is not None:
            page = self.post(page, "organisation", org=org)
        return page


def callback_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text[:500]
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


@pytest.fixture
def browser(world: World) -> Iterator[Browser]:
    b = Browser(world)
    yield b
    b.http.close()
