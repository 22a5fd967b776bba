"""OpenID Connect Back-Channel Logout 1.0: tell platforms that sessions of theirs have ended.

Whenever sessions end -- RP-initiated logout at the provider, logout-everywhere, revocation, refresh-token
reuse -- every platform registered with a back-channel logout URI receives, per ended session, a logout
token (a JWT ``typ: logout+jwt`` signed in the HSM with the node's token key, verifiable with the same
JWKS) POSTed as ``logout_token=...``. Delivery is best effort, after the revocation has committed, on a
background thread with a short timeout: revocation itself never waits for or depends on a platform.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from hutong.errors import HutongError
from identity_svc.core import Identity, new_id
from identity_svc.platforms import PlatformInfo, get_platform

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPE = "logout+jwt"
LOGOUT_TOKEN_SECONDS = 120
POST_TIMEOUT_SECONDS = 5.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndedSession:
    sid: str
    client_id: str
    subject: str  # ``sub`` as that platform knows the person


def logout_token(idn: Identity, platform: PlatformInfo, ended: EndedSession) -> str:
    now = int(idn.now())
    claims = {"iss": idn.settings.issuer, "aud": platform.client_id, "iat": now, "exp": now + LOGOUT_TOKEN_SECONDS,
              "jti": new_id("lt"), "sub": ended.subject, "sid": ended.sid, "events": {LOGOUT_EVENT: {}}}
    return idn.signer.sign(claims, typ=LOGOUT_TOKEN_TYPE)


def _post(uri: str, token: str, client_id: str) -> None:
    body = urllib.parse.urlencode({"logout_token": token}).encode()
    request = urllib.request.Request(uri, data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:  # noqa: S310 (https/loopback)
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        log.warning("back-channel logout to platform %s failed: %s", client_id, type(exc).__name__)


def notify(idn: Identity, ended: list[EndedSession]) -> list[threading.Thread]:
    """Send logout tokens for ``ended`` sessions to the platforms that asked for them (returns the senders)."""
    senders = []
    for e in ended:
        try:
            platform = get_platform(idn, e.client_id)
        except HutongError:
            continue  # the platform was removed
        if not platform.backchannel_logout_uri:
            continue
        token = logout_token(idn, platform, e)
        t = threading.Thread(target=_post, args=(platform.backchannel_logout_uri, token, e.client_id),
                             name="backchannel-logout", daemon=True)
        t.start()
        senders.append(t)
    return senders
