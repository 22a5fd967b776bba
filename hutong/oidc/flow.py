"""The provider's state between the browser's steps: pending logins, browser sessions, codes, logout.

No HTTP here (``hutong.oidc.app`` is the web layer, ``hutong.oidc.provider`` the authlib glue): plain values
in, ``hutong.errors`` out. Tokens are the identity service's own (``identity_svc.sessions.start_session``):
the same accounts, pairwise subjects, levels, HSM signer, session families and refresh rotation as gRPC.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hutong import audit, business_codes
from hutong.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from hutong.verify.jose import decode_payload
from identity_svc import backchannel, orgs
from identity_svc.core import LEVELS, Identity, level_rank, new_id
from identity_svc.login import Verified, granted_scopes
from identity_svc.models import Organisation
from identity_svc.persons import get_person
from identity_svc.platforms import PlatformInfo, get_platform
from identity_svc.sessions import Authentication, FederatedOrg, end_sessions, start_session

from .models import OidcBrowserSession, OidcCode, OidcRequest, OidcSessionLink

CSRF_COOKIE = "hutong_oidc_csrf"
SESSION_COOKIE = "hutong_oidc_session"
REQUEST_SECONDS = 900  # a pending login
CODE_SECONDS = 60  # an authorization code (RFC 6749 §4.1.2: short; at most 10 minutes)
BROWSER_SESSION_SECONDS = 8 * 3600
PURGE_AFTER_SECONDS = 3600  # expired rows are kept this long (a replayed code still ends its session meanwhile)


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# -- levels requested by the platform -----------------------------------------------------------------

def required_level(platform: PlatformInfo, acr_values: str, claims: str) -> str:
    """The level this login must reach: the platform's own minimum, raised by ``acr_values`` (the first level
    named that this provider knows) and by an ``acr`` claim request (OIDC Core §5.5.1.1; the lowest of the
    values asked for satisfies it). Raises UNMET_AUTHENTICATION_REQUIREMENTS for an essential ``acr`` whose
    values name no level known here, and CLAIMS_INVALID for a ``claims`` parameter that is not JSON."""
    wanted = [platform.required_acr]
    known = [v for v in acr_values.split() if v in LEVELS]
    if known:
        wanted.append(known[0])
    if claims:
        try:
            acr = json.loads(claims).get("id_token", {}).get("acr") or {}
            values = acr.get("values") or ([acr["value"]] if "value" in acr else [])
            essential = bool(acr.get("essential"))
        except (ValueError, AttributeError, TypeError):
            raise InvalidArgument("CLAIMS_INVALID",
                                  "the claims parameter is not the JSON object of OIDC Core §5.5") from None
        levels = sorted((v for v in values if v in LEVELS), key=level_rank)
        if levels:
            wanted.append(levels[0])
        elif essential and values:
            raise FailedPrecondition("UNMET_AUTHENTICATION_REQUIREMENTS",
                                     "none of the essential acr values is a level this provider offers")
    return max(wanted, key=level_rank)


# -- pending logins ---------------------------------------------------------------------------------

def start_request(idn: Identity, client_id: str, params: str, required_acr: str, csrf: str) -> str:
    """Remember a validated authorization request while the person logs in; the id goes into the forms."""
    tx = new_id("tx")
    with idn.node.db.session() as s:
        _purge(s, idn.now() - PURGE_AFTER_SECONDS)
        s.add(OidcRequest(id=tx, client_id=client_id, params=params, required_acr=required_acr,
                          csrf_hash=sha256(csrf), expires_at=idn.now() + REQUEST_SECONDS))
    return tx


def _purge(s: Session, before: float) -> None:
    """Forget pending logins, codes and browser sessions that expired long enough ago (no table grows forever)."""
    s.execute(delete(OidcRequest).where(OidcRequest.expires_at < before))
    s.execute(delete(OidcCode).where(OidcCode.expires_at < before))
    old = select(OidcBrowserSession.id_hash).where(OidcBrowserSession.expires_at < before)
    s.execute(delete(OidcSessionLink).where(OidcSessionLink.browser_session.in_(old)))
    s.execute(delete(OidcBrowserSession).where(OidcBrowserSession.expires_at < before))


@dataclass(frozen=True)
class Pending:
    id: str
    client_id: str
    params: str
    required_acr: str
    verified: Verified | None
    auth_time: float | None
    browser_session: str | None


def pending(idn: Identity, tx: str, csrf: str | None) -> Pending:
    """The pending login of a form post, if the form's CSRF token is the browser's (cookie) and the login's.
    ``csrf=None`` only for the return from the person's home node: a cross-site POST that carries no cookie,
    bound to ``tx`` by the home node's signed assertion instead."""
    with idn.node.db.session(readonly=True) as s:
        row = s.get(OidcRequest, tx)
    if row is None or row.done_at is not None or row.expires_at <= idn.now():
        raise FailedPrecondition("LOGIN_REQUEST_EXPIRED", "this login has expired or is finished: start again")
    if csrf is not None and (not csrf or not hmac.compare_digest(row.csrf_hash, sha256(csrf))):
        raise PermissionDenied("CSRF_TOKEN_INVALID", "the form does not come from this browser's login page")
    verified = Verified(row.person_id, row.acr or "", tuple((row.amr or "").split())) if row.person_id else None
    return Pending(row.id, row.client_id, row.params, row.required_acr, verified, row.auth_time, row.browser_session)


def record_verified(idn: Identity, tx: str, verified: Verified, auth_time: float, browser_session: str) -> None:
    with idn.node.db.session() as s:
        row = s.get(OidcRequest, tx)
        assert row is not None
        row.person_id, row.acr, row.amr = verified.person_id, verified.acr, " ".join(verified.amr)
        row.auth_time, row.browser_session = auth_time, browser_session


def finish_request(idn: Identity, tx: str) -> None:
    with idn.node.db.session() as s:
        row = s.get(OidcRequest, tx)
        if row is not None:
            row.done_at = idn.now()


# -- browser sessions (single sign-on) ----------------------------------------------------------------

@dataclass(frozen=True)
class BrowserSession:
    id_hash: str
    verified: Verified
    auth_time: float


def open_browser_session(idn: Identity, verified: Verified) -> tuple[str, BrowserSession]:
    """A new browser session (its cookie value, shown once) after a successful login."""
    cookie = secrets.token_urlsafe(32)
    now = idn.now()
    with idn.node.db.session() as s:
        s.add(OidcBrowserSession(id_hash=sha256(cookie), person_id=verified.person_id, acr=verified.acr,
                                 amr=" ".join(verified.amr), auth_time=now, expires_at=now + BROWSER_SESSION_SECONDS))
    return cookie, BrowserSession(sha256(cookie), verified, now)


def browser_session(idn: Identity, cookie: str) -> BrowserSession | None:
    if not cookie:
        return None
    with idn.node.db.session(readonly=True) as s:
        row = s.get(OidcBrowserSession, sha256(cookie))
    if row is None or row.ended_at is not None or row.expires_at <= idn.now():
        return None
    return BrowserSession(row.id_hash, Verified(row.person_id, row.acr, tuple(row.amr.split())), row.auth_time)


def organisations(idn: Identity, person_id: str) -> list[orgs.OrgView]:
    """The organisations the person may act for now (the choice offered after login)."""
    return orgs.my_organisations(idn, person_id)


def check_organisation(idn: Identity, person_id: str, uscc: str) -> str:
    return str(organisation_claim(idn, person_id, uscc)["uscc"])


def organisation_claim(idn: Identity, person_id: str, uscc: str) -> dict[str, Any]:
    """The organisation the person chose, with the roles in force now (what a home node asserts for it)."""
    with idn.node.db.session(readonly=True) as s:
        roles = orgs.roles_in_force(s, uscc, person_id, idn.now())
        if not roles:
            raise orgs.binding_lapsed(s, uscc, person_id) or PermissionDenied(
                "NOT_A_MEMBER", "the person holds no role in force in this organisation")
        org = business_codes.get(s, Organisation, uscc)
        return {"uscc": uscc, "name": org.name if org else "", "roles": list(roles)}


# -- codes and their exchange ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Approval:
    """What the login established, handed to authlib as the ``grant_user`` of the authorization response."""

    verified: Verified
    auth_time: float
    org_uscc: str | None
    browser_session: str | None
    federated_org: FederatedOrg | None = None  # an organisation context asserted by the person's home node


@dataclass(frozen=True)
class CodeRecord:
    """A spent authorization code as the token endpoint sees it (authlib's ``AuthorizationCodeMixin``)."""

    code_hash: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    person_id: str
    acr: str
    amr: tuple[str, ...]
    auth_time: float
    org_uscc: str | None
    browser_session: str | None
    federated_org: FederatedOrg | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time)


def save_code(idn: Identity, code: str, *, client_id: str, redirect_uri: str, scope: str, nonce: str,
              code_challenge: str, approval: Approval) -> None:
    v = approval.verified
    with idn.node.db.session() as s:
        s.add(OidcCode(code_hash=sha256(code), client_id=client_id, redirect_uri=redirect_uri, scopes=scope,
                       nonce=nonce, code_challenge=code_challenge, person_id=v.person_id, acr=v.acr,
                       amr=" ".join(v.amr), auth_time=approval.auth_time, org_uscc=approval.org_uscc,
                       browser_session=approval.browser_session, expires_at=idn.now() + CODE_SECONDS,
                       federated_org=json.dumps(asdict(approval.federated_org)) if approval.federated_org else None))


def consume_code(idn: Identity, code: str, client_id: str) -> CodeRecord | None:
    """The code, spent now (whatever happens next); None if unknown, expired, another client's or spent before.
    A code presented a second time also ends the session issued for it (RFC 6749 §4.1.2)."""
    ended: list[backchannel.EndedSession] = []
    with idn.node.db.session() as s:
        row = s.get(OidcCode, sha256(code), with_for_update=True)
        if row is None or row.client_id != client_id:
            return None
        if row.used_at is not None:
            ended = end_sessions(idn, s, [row.sid] if row.sid else [], "code-replayed")
            audit.append(s, actor=f"platform:{client_id}", action="oidc.code.replay", target=f"person:{row.person_id}",
                         outcome="CODE_REPLAYED")
            record = None
        elif row.expires_at <= idn.now():
            record = None
        else:
            row.used_at = idn.now()
            record = CodeRecord(row.code_hash, row.client_id, row.redirect_uri, row.scopes, row.nonce,
                                row.code_challenge, "S256", row.person_id, row.acr, tuple(row.amr.split()),
                                row.auth_time, row.org_uscc, row.browser_session, _federated(row.federated_org))
    backchannel.notify(idn, ended)
    return record


def _federated(raw: str | None) -> FederatedOrg | None:
    if not raw:
        return None
    d = json.loads(raw)
    return FederatedOrg(home_node=d["home_node"], uscc=d["uscc"], name=d["name"], roles=tuple(d["roles"]))


def exchange(idn: Identity, code: CodeRecord) -> dict[str, Any]:
    """The identity service's tokens for a spent code: a session like any gRPC login's."""
    platform = get_platform(idn, code.client_id)
    if level_rank(code.acr) < level_rank(platform.required_acr):
        raise PermissionDenied("STEP_UP_REQUIRED", f"this platform requires level {platform.required_acr}")
    scopes = granted_scopes(platform, tuple(code.scope.split()))
    with idn.node.db.session() as s:
        if code.org_uscc is not None and not orgs.roles_in_force(s, code.org_uscc, code.person_id, idn.now()):
            raise PermissionDenied("GRANT_REVOKED", "the person no longer holds a role in this organisation")
        tokens = start_session(idn, s, get_person(s, code.person_id), platform,
                               Authentication(code.acr, code.amr, scopes, code.nonce), org_uscc=code.org_uscc,
                               auth_time=code.auth_time, federated_org=code.federated_org)
        sid = _sid_of(tokens.access_token)
        row = s.get(OidcCode, code.code_hash)
        assert row is not None
        row.sid = sid
        if code.browser_session:
            s.add(OidcSessionLink(sid=sid, browser_session=code.browser_session))
        audit.append(s, actor=f"platform:{platform.client_id}", action="oidc.token", target=f"person:{code.person_id}",
                     details={"acr": code.acr, "amr": list(code.amr), "sid": sid})
    return {"access_token": tokens.access_token, "token_type": "Bearer", "expires_in": tokens.expires_in,
            "refresh_token": tokens.refresh_token, "id_token": tokens.id_token, "scope": " ".join(tokens.scopes)}


def _sid_of(access_token: str) -> str:
    return str(json.loads(decode_payload(access_token))["sid"])


def opened_by(idn: Identity, session: BrowserSession, sid: str) -> bool:
    """Whether the platform session ``sid`` was opened from this browser session."""
    with idn.node.db.session(readonly=True) as s:
        link = s.get(OidcSessionLink, sid)
        return link is not None and link.browser_session == session.id_hash


# -- logout -----------------------------------------------------------------------------------------------

def logout(idn: Identity, session: BrowserSession) -> int:
    """RP-initiated logout: the browser session ends, and with it every platform session it opened; each of
    those platforms is told through its back-channel logout URI."""
    with idn.node.db.session() as s:
        row = s.get(OidcBrowserSession, session.id_hash)
        if row is not None and row.ended_at is None:
            row.ended_at = idn.now()
        sids = list(s.scalars(select(OidcSessionLink.sid).where(OidcSessionLink.browser_session == session.id_hash)))
        ended = end_sessions(idn, s, sids, "logout")
        audit.append(s, actor=f"person:{session.verified.person_id}", action="oidc.logout",
                     target=f"person:{session.verified.person_id}", details={"sessions_ended": len(ended)})
    backchannel.notify(idn, ended)
    return len(ended)
