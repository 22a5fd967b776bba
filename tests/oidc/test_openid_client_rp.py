"""An independent relying party -- npm openid-client, ID tokens checked with npm jose -- logs people in.

The RP (tests/oidc/rp/rp.mjs) discovers the provider, sends a code + PKCE S256 request with state and nonce,
posts the login forms like a browser, checks RFC 9207 ``iss``, exchanges the code, verifies the ID token
(openid-client, then jose against the published JWKS), reads userinfo, refreshes, and replays the spent
refresh token. Here we check what it saw against the identity service itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from identity_svc.platforms import get_platform
from identity_svc.sessions import subject_for
from tests.oidc.conftest import RP_DIR, RP_READY, Person, World

pytestmark = pytest.mark.skipif(shutil.which("node") is None or not RP_READY,
                                reason="Node.js or the test RP's packages are not installed: run scripts/setup")


def run_rp(world: World, client_id: str, person: Person, **extra: Any) -> dict[str, Any]:
    platform = world.platform(client_id)
    request = {"issuer": world.issuer, "client_id": client_id, "client_secret": platform.client_secret,
               "redirect_uri": world.redirect_uri(client_id),
               "person": {"id_number": person.id_number, "password": person.password,
                          "totp_code": extra.pop("totp_code", "")}, **extra}
    done = subprocess.run(["node", "rp.mjs"], cwd=RP_DIR, input=json.dumps(request), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_code_flow_with_pkce_verified_by_openid_client_and_jose(world: World) -> None:
    person = world.person()
    world.backchannel.drain()
    out = run_rp(world, "rp-node", person, tamper_state=True)

    assert out["discovered_issuer"] == world.issuer
    assert out["callback_params"]["iss"] == world.issuer  # RFC 9207
    # A callback whose state was tampered with is refused by the RP before anything is exchanged.
    assert out["tampered_state"] == "OAUTH_INVALID_RESPONSE"
    claims = out["jose"]["payload"]
    assert out["jose"]["header"]["alg"] == "ES256"
    # The pairwise subject is exactly the one the gRPC identity service gives this platform.
    platform = get_platform(world.idn, "rp-node")
    assert claims["sub"] == subject_for(world.idn, person.account_id, platform) != person.account_id
    assert claims["iss"] == world.issuer and claims["aud"] == "rp-node"
    assert claims["acr"] == "substantial" and claims["amr"] == ["pwd"]
    assert isinstance(claims["auth_time"], int) and claims["nonce"]
    assert claims["name"] == person.name and "id_number" not in claims  # not registered for it
    assert out["userinfo"] == {"sub": claims["sub"], "name": claims["name"]}
    # Refresh rotates; the spent refresh token replayed is refused and ends the session (shared with gRPC) ...
    assert out["refreshed"] == {"rotated": True, "sub": claims["sub"], "id_token": None}
    assert out["reuse"] == "invalid_grant"
    # ... and the platform hears of it on its back-channel logout URI, in a token our JWKS verifies.
    logout = world.backchannel.next()
    keys = KeySet.import_key_set(world.idn.signer.jwks())  # type: ignore[arg-type]
    token = jwt.decode(logout, keys, algorithms=["ES256"])
    assert token.header["typ"] == "logout+jwt"
    assert token.claims["sid"] == claims["sid"] and token.claims["sub"] == claims["sub"]
    assert token.claims["aud"] == "rp-node" and "http://schemas.openid.net/event/backchannel-logout" in \
        token.claims["events"] and "nonce" not in token.claims


def test_step_up_to_high_with_totp(world: World) -> None:
    person = world.person(with_totp=True)
    # acr_values=high: the password alone is not enough, the login page asks for the one-time code too.
    out = run_rp(world, "rp-node", person, acr_values="high", totp_code=world.next_totp(person))
    assert out["claims"]["acr"] == "high" and out["claims"]["amr"] == ["pwd", "otp"]
    assert out["jose"]["payload"]["acr"] == "high"


def test_essential_acr_claim_without_a_second_factor_is_unmet(world: World) -> None:
    person = world.person()  # no TOTP, no key
    out = run_rp(world, "rp-node", person, claims={"id_token": {"acr": {"essential": True, "values": ["high"]}}})
    assert out["callback_params"]["error"] == "unmet_authentication_requirements"
    assert out["callback_params"]["iss"] == world.issuer and "code" not in out["callback_params"]
