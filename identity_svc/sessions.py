"""Sessions and tokens: issuing, rotating refresh tokens, checking, revoking.

A session (``TokenFamily``, the ``sid`` claim) is one login of one person at one platform, optionally
in an organisation's context. Each refresh spends its refresh token and issues a new one; presenting
a spent refresh token again is taken as theft and revokes the whole family. Access tokens are
checked against their session at every use, so revocation and logout-everywhere take effect at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from hutong import audit, business_codes, prepared
from hutong.db import Database
from hutong.errors import HutongError, NotFound, PermissionDenied, Unauthenticated
from hutong.identifiers import normalise_uscc
from hutong.verify.tokens import verify_token
from identity_svc import backchannel
from identity_svc.backchannel import EndedSession
from identity_svc.core import Identity, new_id
from identity_svc.credentials import hash_token
from identity_svc.models import Organisation, Person, Platform, RefreshToken, TokenFamily
from identity_svc.orgs import binding_lapsed, roles_in_force, roles_required
from identity_svc.persons import citizen_id_of, get_person, name_of
from identity_svc.platforms import PlatformInfo, get_platform
from identity_svc.signing import ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE

REFRESH_PREFIX = "rt_"


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    id_token: str
    refresh_token: str
    expires_in: int
    acr: str
    amr: tuple[str, ...]
    subject: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Authentication:
    """What a successful login established."""

    acr: str
    amr: tuple[str, ...]
    scopes: frozenset[str]
    nonce: str = ""


@dataclass(frozen=True)
class AccessCheck:
    """A verified access token and the session behind it, as of now."""

    claims: dict[str, Any]
    family: TokenFamily
    roles: tuple[str, ...]  # organisation roles in force now (org-context sessions only)


def subject_for(idn: Identity, person_id: str, platform: PlatformInfo) -> str:
    """``sub`` as ``platform`` sees the person: pairwise (unlinkable across platforms) by default."""
    if not platform.pairwise:
        return person_id
    return idn.pseudonym("pairwise-sub", f"{platform.client_id}|{person_id}")[:40]


# -- issuing ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FederatedOrg:
    """An organisation context asserted by the person's home node."""

    home_node: str
    uscc: str
    name: str
    roles: tuple[str, ...]


FEDERATED_ORG_SESSION_SECONDS = 600


def start_session(idn: Identity, s: Session, person: Person, platform: PlatformInfo, auth: Authentication, *,
                  org_uscc: str | None = None, auth_time: float | None = None,
                  federated_org: FederatedOrg | None = None) -> TokenSet:
    now = idn.now()
    lifetime = idn.settings.refresh_token_seconds
    if federated_org is not None:
        org_uscc, lifetime = federated_org.uscc, min(lifetime, FEDERATED_ORG_SESSION_SECONDS)
    family = TokenFamily(id=new_id("sid"), person_id=person.id, client_id=platform.client_id, acr=auth.acr,
                         amr=" ".join(auth.amr), scopes=" ".join(sorted(auth.scopes)), org_uscc=org_uscc,
                         auth_time=auth_time or now, expires_at=now + lifetime,
                         subject=subject_for(idn, person.id, platform),
                         home_node=federated_org.home_node if federated_org else None,
                         federated_roles=" ".join(federated_org.roles) if federated_org else None,
                         federated_org_name=federated_org.name if federated_org else None)
    s.add(family)
    s.flush()
    return _mint(idn, s, family, platform, person=person, nonce=auth.nonce)


def _subject(idn: Identity, family: TokenFamily, platform: PlatformInfo) -> str:
    """The session's ``sub``: the pairwise value stored at login (no HSM call per refresh)."""
    if platform.pairwise and family.subject:
        return family.subject
    return subject_for(idn, family.person_id, platform)


def session_roles(idn: Identity, s: Session, family: TokenFamily, now: float) -> tuple[str, ...]:
    """Roles of an organisation-context session: this node's grants, or what the home node asserted."""
    if family.org_uscc is None:
        return ()
    if family.federated_roles is not None:
        return tuple(family.federated_roles.split())
    return roles_required(idn, s, family.org_uscc, family.person_id, now)


def _org_claims(idn: Identity, s: Session, family: TokenFamily, subject: str, now: float) -> dict[str, Any]:
    if family.org_uscc is None:
        return {}
    roles = session_roles(idn, s, family, now)
    if family.federated_org_name is not None:
        name = family.federated_org_name
    else:
        org = business_codes.get(s, Organisation, family.org_uscc)
        assert org is not None  # roles imply the organisation
        name = org.name
    claims = {"org_uscc": family.org_uscc, "org_name": name, "roles": list(roles), "act": {"sub": subject}}
    return {**claims, "org_home": family.home_node} if family.home_node else claims


def id_claims(idn: Identity, s: Session, family: TokenFamily, person: Person | None,
               scopes: set[str]) -> dict[str, Any]:
    """Personal claims the scopes ask for; the person's row is read and decrypted only then."""
    claims: dict[str, Any] = {}
    if not scopes & {"profile", "id_number"}:
        return claims
    person = person or get_person(s, family.person_id)
    if "profile" in scopes:
        claims["name"] = name_of(idn, person)
    if "id_number" in scopes:
        claims["id_number"] = citizen_id_of(idn, person)
    return claims


@dataclass(frozen=True)
class _Minted:
    """Signed tokens of a session and the refresh token to store with them."""

    family_id: str
    issued_at: int
    tokens: TokenSet


def _mint(idn: Identity, s: Session, family: TokenFamily, platform: PlatformInfo, *, person: Person | None = None,
          nonce: str = "") -> TokenSet:
    minted = _sign_tokens(idn, s, family, platform, person=person, nonce=nonce)
    _store_refresh(s, minted)
    return minted.tokens


def _store_refresh(s: Session, minted: _Minted) -> None:
    s.add(RefreshToken(token_hash=hash_token(minted.tokens.refresh_token), family_id=minted.family_id,
                       issued_at=minted.issued_at))


def _sign_tokens(idn: Identity, s: Session, family: TokenFamily, platform: PlatformInfo, *,
                 person: Person | None = None, nonce: str = "") -> _Minted:
    scopes = set(family.scopes.split())
    sub = _subject(idn, family, platform)
    return _sign_with(idn, family, platform, sub, org=_org_claims(idn, s, family, sub, idn.now()),
                      personal=id_claims(idn, s, family, person, scopes), nonce=nonce)


def _sign_with(idn: Identity, family: TokenFamily, platform: PlatformInfo, sub: str, *, org: dict[str, Any],
               personal: dict[str, Any] | None, nonce: str = "") -> _Minted:
    """The session's new tokens. ``personal=None``: no ID token (a refresh; OpenID Connect Core 12.2 lets a
    refresh answer without one, and the client keeps the one it got at login), so one HSM signature."""
    now = int(idn.now())
    st = idn.settings
    refresh = REFRESH_PREFIX + secrets.token_urlsafe(32)
    scopes = set(family.scopes.split())
    common = {"iss": st.issuer, "sub": sub, "aud": platform.client_id, "iat": now, "acr": family.acr,
              "amr": family.amr.split(), "sid": family.id, **org}
    access = {**common, "exp": now + st.access_token_seconds, "jti": new_id("at"), "client_id": platform.client_id,
              "scope": " ".join(sorted(scopes))}
    id_token = ""
    if personal is not None:
        id_token = idn.signer.sign({**common, "exp": now + st.id_token_seconds, "jti": new_id("id"),
                                    "auth_time": int(family.auth_time), **({"nonce": nonce} if nonce else {}),
                                    **personal}, typ=ID_TOKEN_TYPE)
    tokens = TokenSet(access_token=idn.signer.sign(access, typ=ACCESS_TOKEN_TYPE), id_token=id_token,
                      refresh_token=refresh, expires_in=st.access_token_seconds, acr=family.acr,
                      amr=tuple(family.amr.split()), subject=sub, scopes=tuple(sorted(scopes)))
    return _Minted(family_id=family.id, issued_at=now, tokens=tokens)


# -- checking ---------------------------------------------------------------------------------------

def _live_family(idn: Identity, s: Session, family_id: str) -> TokenFamily:
    family = s.get(TokenFamily, family_id)
    if family is None or family.revoked_at is not None:
        raise Unauthenticated("TOKEN_REVOKED", "the session has ended (revoked or logged out)")
    if family.expires_at <= idn.now():
        raise Unauthenticated("TOKEN_EXPIRED", "the session has expired: log in again")
    return family


def verify_access_token(idn: Identity, token: str, *, audience: str | None) -> AccessCheck:
    """Signature, issuer, expiry, audience, and the session (and organisation grants) still in force."""
    claims = verify_token(token, idn.signer.jwks(), issuer=idn.settings.issuer, audience=audience, kind="access",
                          leeway=0)
    with idn.node.db.session(readonly=True) as s:
        family = _live_family(idn, s, str(claims.get("sid", "")))
        roles = session_roles(idn, s, family, idn.now())
    return AccessCheck(claims=claims, family=family, roles=roles)


# -- refresh, revoke, logout ------------------------------------------------------------------------

def _ended(family: TokenFamily) -> EndedSession:
    return EndedSession(family.id, family.client_id, family.subject or family.person_id)


def _revoke_family(s: Session, family: TokenFamily, reason: str, now: float) -> None:
    if family.revoked_at is None:
        family.revoked_at, family.revoke_reason = now, reason


_RT, _FAMILY = cast(Table, RefreshToken.__table__), cast(Table, TokenFamily.__table__)
# Built once (building a statement costs more than running it on SQLite): see ``_fast_refresh``.
_READ = (select(_RT.c.used_at, _FAMILY).join(_FAMILY, _FAMILY.c.id == _RT.c.family_id)
         .where(_RT.c.token_hash == bindparam("token_hash")))
_SPEND = (update(_RT)
          .where(_RT.c.token_hash == bindparam("spent_hash"), _RT.c.used_at.is_(None),
                 _RT.c.family_id.in_(select(_FAMILY.c.id).where(
                     _FAMILY.c.id == bindparam("session"), _FAMILY.c.revoked_at.is_(None),
                     _FAMILY.c.expires_at > bindparam("now"))))
          .values(used_at=bindparam("now")))
_STORE = insert(_RT)


def _fast_refresh(idn: Identity, platform: PlatformInfo, token: str) -> TokenSet | None:
    """The common refresh (a local session without organisation context, its token unspent, the session live)
    in three prepared statements (``hutong.prepared``): one read, the access token signed with no lock held, then one
    write transaction that spends the old token only if it is still unspent and its session still live, and
    stores the new one. None: anything else (unknown, spent, revoked, expired, another platform's, an
    organisation session, or a race lost), which ``_rotate`` then decides with every check and reuse detection.
    The ORM is avoided here on purpose: its identity map and unit of work cost more than the statements.

    The read is skipped when this process issued the token at the session's previous rotation
    (``identity_svc.rotations``): the write's own checks are the ones that decide, read or not."""
    token_hash = hash_token(token)
    now = idn.now()
    row = idn.rotations.take(token_hash)
    if row is None:
        row = prepared.read_one(idn.node.db, _READ, {"token_hash": token_hash})
        if row is None or row.used_at is not None or row.revoked_at is not None:
            return None
    if row.client_id != platform.client_id or row.org_uscc is not None or row.expires_at <= now:
        return None
    # The session's columns as read, used read-only (attribute access like the ORM object's, without building one).
    family = cast(TokenFamily, row)
    minted = _sign_with(idn, family, platform, _subject(idn, family, platform), org={}, personal=None)
    new_hash = hash_token(minted.tokens.refresh_token)
    if not store_rotation(idn.node.db, session=family.id, spent_hash=token_hash, new_hash=new_hash,
                          issued_at=minted.issued_at, now=idn.now()):
        return None  # nothing was written: the full check decides
    idn.rotations.remember(new_hash, row)
    return minted.tokens


def store_rotation(db: Database, *, session: str, spent_hash: str, new_hash: str, issued_at: float,
                   now: float) -> bool:
    """A refresh's write: in one transaction the old token is spent if it is still unspent and its session still
    live, and the new one stored; False: the old token could not be spent and nothing was written. On
    PostgreSQL two round trips (the spend, whose outcome is read; then the new token with the ``COMMIT``).

    Not audited, as a refresh was not before (a token rotation, like Keycloak's refreshes, which it does not
    persist by default): the session's login, reuse, revocation and logout are. Recording every refresh cost
    the refresh figure a third of its rate (bench/README.md, Run J -- tlog and the lead's note after it).
    """
    with prepared.write(db) as tx:
        if tx.run(_SPEND, {"spent_hash": spent_hash, "session": session, "now": now}) != 1:
            return False
        tx.add(_STORE, {"token_hash": new_hash, "family_id": session, "issued_at": issued_at, "used_at": None})
    return True


def _rotate(idn: Identity, s: Session, platform: PlatformInfo, token: str) -> TokenSet | HutongError:
    """Every check of a refresh, in the write transaction: the path of whatever ``_fast_refresh`` declined."""
    rt = s.get(RefreshToken, hash_token(token), with_for_update=True)
    if rt is None:
        raise Unauthenticated("REFRESH_TOKEN_INVALID", "unknown refresh token")
    family = s.get(TokenFamily, rt.family_id)
    if family is None or family.client_id != platform.client_id:
        raise Unauthenticated("TOKEN_WRONG_AUDIENCE", "the refresh token was issued to another platform")
    if rt.used_at is not None:
        # Spent before: someone else holds a copy. End the session for both holders (committed).
        _revoke_family(s, family, "refresh-token-reuse", idn.now())
        audit.append(s, actor=f"platform:{platform.client_id}", action="identity.token.reuse",
                     target=f"session:{family.id}", outcome="REFRESH_TOKEN_REUSED")
        return Unauthenticated("REFRESH_TOKEN_REUSED", "the refresh token was already used; the session is revoked")
    family = _live_family(idn, s, family.id)
    rt.used_at = idn.now()
    sub = _subject(idn, family, platform)
    minted = _sign_with(idn, family, platform, sub, org=_org_claims(idn, s, family, sub, idn.now()), personal=None)
    _store_refresh(s, minted)
    return minted.tokens


def refresh(idn: Identity, platform: PlatformInfo, token: str) -> TokenSet:
    """A new access token and refresh token for an unspent refresh token (spent by this); no ID token."""
    tokens = _fast_refresh(idn, platform, token)
    if tokens is not None:
        return tokens
    with idn.node.db.session() as s:
        outcome = _rotate(idn, s, platform, token)
    if isinstance(outcome, HutongError):
        if outcome.reason == "REFRESH_TOKEN_REUSED":
            _notify_reuse(idn, token)
        raise outcome
    return outcome


def _notify_reuse(idn: Identity, token: str) -> None:
    """The session a reused refresh token ended: its platform hears of it (back-channel logout)."""
    with idn.node.db.session(readonly=True) as s:
        rt = s.get(RefreshToken, hash_token(token))
        family = s.get(TokenFamily, rt.family_id) if rt else None
        ended = [_ended(family)] if family is not None and family.revoke_reason == "refresh-token-reuse" else []
    backchannel.notify(idn, ended)


def _family_of(idn: Identity, s: Session, token: str) -> TokenFamily | None:
    if token.startswith(REFRESH_PREFIX):
        rt = s.get(RefreshToken, hash_token(token))
        return s.get(TokenFamily, rt.family_id) if rt else None
    # An expired access token can still name its session: revoking it is harmless and expected.
    claims = verify_token(token, idn.signer.jwks(), issuer=idn.settings.issuer, audience=None,
                          kind="access", leeway=10**9)
    return s.get(TokenFamily, str(claims.get("sid", "")))


def revoke(idn: Identity, platform: PlatformInfo, token: str) -> None:
    """Revoke the session an access or refresh token belongs to (RFC 7009)."""
    with idn.node.db.session() as s:
        family = _family_of(idn, s, token)
        if family is None:
            raise Unauthenticated("TOKEN_INVALID", "unknown token")
        if family.client_id != platform.client_id:
            raise Unauthenticated("TOKEN_WRONG_AUDIENCE", "the token was issued to another platform")
        was_live = family.revoked_at is None
        _revoke_family(s, family, "revoked", idn.now())
        audit.append(s, actor=f"platform:{platform.client_id}", action="identity.token.revoke",
                     target=f"session:{family.id}")
        ended = [_ended(family)] if was_live else []
    backchannel.notify(idn, ended)


def _revoke_where(idn: Identity, s: Session, condition: Any, reason: str) -> list[EndedSession]:
    rows = s.execute(select(TokenFamily.id, TokenFamily.client_id, TokenFamily.subject, TokenFamily.person_id)
                     .where(condition, TokenFamily.revoked_at.is_(None))).all()
    if rows:
        s.execute(update(TokenFamily).where(TokenFamily.id.in_([r.id for r in rows]),
                                            TokenFamily.revoked_at.is_(None))
                  .values(revoked_at=idn.now(), revoke_reason=reason))
    return [EndedSession(r.id, r.client_id, r.subject or r.person_id) for r in rows]


def end_sessions(idn: Identity, s: Session, sids: list[str], reason: str) -> list[EndedSession]:
    """End the given sessions in the caller's transaction; the caller sends ``backchannel.notify`` after commit."""
    return _revoke_where(idn, s, TokenFamily.id.in_(sids), reason) if sids else []


def logout_everywhere(idn: Identity, person_id: str) -> int:
    with idn.node.db.session() as s:
        ended = _revoke_where(idn, s, TokenFamily.person_id == person_id, "logout-everywhere")
        audit.append(s, actor=f"person:{person_id}", action="identity.logout-everywhere",
                     target=f"person:{person_id}", details={"sessions_ended": len(ended)})
    backchannel.notify(idn, ended)
    return len(ended)


def revoke_platform_sessions(idn: Identity, s: Session, client_id: str) -> int:
    return len(_revoke_where(idn, s, TokenFamily.client_id == client_id, "platform-removed"))


def remove_platform(idn: Identity, client_id: str) -> None:
    """Remove a platform; its sessions end with it (their tokens fail at the next use). Here, not in
    ``platforms``: sessions build on platforms, and ending a platform's sessions is this module's work."""
    with idn.node.db.session() as s:
        row = s.get(Platform, client_id)
        if row is None:
            raise NotFound("PLATFORM_NOT_FOUND", f"no platform {client_id}")
        ended = revoke_platform_sessions(idn, s, client_id)
        s.delete(row)
        audit.append(s, actor="operator", action="identity.platform.remove", target=client_id,
                     details={"sessions_ended": ended})


def switch_organisation(idn: Identity, check: AccessCheck, uscc: str) -> TokenSet:
    """A new session at the same platform and level, acting for the organisation."""
    code = normalise_uscc(uscc)
    base = check.family
    platform = get_platform(idn, base.client_id)
    with idn.node.db.session() as s:
        if not roles_in_force(idn, s, code, base.person_id, idn.now()):
            raise binding_lapsed(idn, s, code, base.person_id) or PermissionDenied(
                "NOT_A_MEMBER", "the person holds no role in force in this organisation")
        auth = Authentication(acr=base.acr, amr=tuple(base.amr.split()), scopes=frozenset(base.scopes.split()))
        tokens = start_session(idn, s, get_person(s, base.person_id), platform, auth, org_uscc=code,
                               auth_time=base.auth_time)
        audit.append(s, actor=f"person:{base.person_id} via {platform.client_id}", action="identity.org.switch",
                     target=f"org:{code}")
    return tokens


@dataclass(frozen=True)
class Introspection:
    check: AccessCheck | None
    inactive_reason: str = ""


def introspect(idn: Identity, platform: PlatformInfo, token: str) -> Introspection:
    """RFC 7662: a token that cannot be used is reported inactive (with the reason), not as an error."""
    try:
        return Introspection(verify_access_token(idn, token, audience=platform.client_id))
    except (Unauthenticated, PermissionDenied) as err:
        return Introspection(None, err.reason)
