"""Logging natural persons in at a platform, and the level of assurance each login reaches.

- password (register-matched person + knowledge factor): ``substantial``, amr ``pwd``;
- password + TOTP (RFC 6238): ``high``, amr ``pwd otp``;
- password + a server challenge signed with the person's registered key: ``high``, amr ``pwd hwk``.

A platform's required level is enforced after the factors check out: a lower login is refused with
``STEP_UP_REQUIRED`` (metadata ``required_acr`` and ``acr``) and the platform asks for a second factor.
Wrong factors count against the identity and the platform (see ``throttle``); every attempt is audited.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session

from hutong import audit, logs, metrics
from hutong.auth import OPERATOR_SCOPE
from hutong.errors import FailedPrecondition, HutongError, PermissionDenied, Unauthenticated
from hutong.identifiers import normalise_citizen_id
from identity_svc import throttle
from identity_svc.core import Identity, level_rank, new_id
from identity_svc.credentials import signature_valid, verify_password
from identity_svc.models import LoginChallenge, Person
from identity_svc.persons import find_person, get_person, totp_matches
from identity_svc.platforms import PlatformInfo, check_scopes
from identity_svc.sessions import Authentication, TokenSet, start_session

T = TypeVar("T")


@dataclass(frozen=True)
class LoginRequest:
    id_number: str
    password: str
    totp_code: str = ""
    challenge_id: str = ""  # key-based login: the challenge ...
    signature: bytes = b""  # ... and the person's signature over its bytes
    scopes: tuple[str, ...] = ()
    nonce: str = ""


@dataclass(frozen=True)
class Challenge:
    challenge_id: str
    to_sign: bytes
    expires_at: float


def create_challenge(idn: Identity, platform: PlatformInfo, id_number: str) -> Challenge:
    """A one-time challenge for key-based login (issued whether or not the person exists)."""
    number = normalise_citizen_id(id_number)
    cid = new_id("ch")
    expires = idn.now() + idn.settings.challenge_seconds
    nonce = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    # Everything the signature must be bound to: node, platform, challenge, expiry.
    to_sign = f"hutong-login-v1\n{idn.node.id}\n{platform.client_id}\n{cid}\n{nonce}\n{int(expires)}".encode()
    with idn.node.db.session() as s:
        s.add(LoginChallenge(id=cid, id_index=idn.person_index(number), client_id=platform.client_id,
                             to_sign=to_sign, expires_at=expires, used=False))
    return Challenge(cid, to_sign, expires)


def _consume_challenge(idn: Identity, s: Session, req: LoginRequest, number: str, client_id: str) -> bytes:
    ch = s.get(LoginChallenge, req.challenge_id, with_for_update=True)
    if ch is None or ch.used or ch.client_id != client_id or ch.expires_at <= idn.now() \
            or ch.id_index not in idn.person_indexes(number):  # made before a blind-index key switch: found too
        raise Unauthenticated("CHALLENGE_INVALID", "the login challenge is unknown, used or expired")
    ch.used = True
    return ch.to_sign


def _consume_challenge_now(idn: Identity, req: LoginRequest, number: str, client_id: str) -> bytes:
    # Spent in its own transaction so that a failed attempt cannot retry the same challenge.
    with idn.node.db.session() as s:
        return _consume_challenge(idn, s, req, number, client_id)


def _second_factor(idn: Identity, person: Person, req: LoginRequest, signed: bytes | None) -> tuple[str, ...]:
    if req.totp_code:
        if not person.totp_confirmed:
            raise FailedPrecondition("TOTP_NOT_ENROLLED", "this person has no TOTP authenticator enrolled")
        if not totp_matches(idn, person, req.totp_code):
            raise Unauthenticated("TOTP_INVALID", "the one-time code is wrong, expired or already used")
        return ("otp",)
    if signed is not None:
        if person.public_key_der is None:
            raise FailedPrecondition("NO_KEY_REGISTERED", "this person has no login key registered")
        if not signature_valid(person.public_key_der, req.signature, signed):
            raise Unauthenticated("KEY_SIGNATURE_INVALID", "the challenge signature does not verify")
        return ("hwk",)
    return ()


def _check_password(idn: Identity, number: str, password: str) -> str:
    """The person's account id if the password is right. Argon2 runs outside any transaction: it is
    deliberately slow and must not hold the database's write lock."""
    with idn.node.db.session() as s:
        person = find_person(idn, s, number)
    stored = person.password_hash if person else idn.dummy_password_hash
    if not verify_password(idn.hasher, stored, password) or person is None:
        raise Unauthenticated("INVALID_CREDENTIALS", "unknown person or wrong password")
    return person.id


def _level(amr: tuple[str, ...]) -> str:
    return "high" if len(amr) > 1 else "substantial"


def enforce_level(platform: PlatformInfo, acr: str) -> None:
    if level_rank(acr) < level_rank(platform.required_acr):
        raise PermissionDenied(
            "STEP_UP_REQUIRED",
            f"this platform requires level {platform.required_acr}; the login reached {acr}: add a second factor",
            metadata={"required_acr": platform.required_acr, "acr": acr},
        )


def granted_scopes(platform: PlatformInfo, requested: tuple[str, ...]) -> frozenset[str]:
    scopes = check_scopes(requested or ("openid",))
    if OPERATOR_SCOPE in scopes:
        raise PermissionDenied("SCOPE_NOT_ALLOWED",
                               f"{OPERATOR_SCOPE} is a platform's own scope, never in a person's token")
    if not scopes <= platform.scopes:
        raise PermissionDenied("SCOPE_NOT_ALLOWED",
                               f"this platform is not registered for scope(s) {sorted(scopes - platform.scopes)}")
    return scopes


def _record_failure(idn: Identity, platform: PlatformInfo, keys: list[tuple[str, throttle.Policy]],
                    err: HutongError) -> None:
    with idn.node.db.session() as s:
        if isinstance(err, Unauthenticated):  # a wrong factor: counts towards throttling
            throttle.record_failure(idn, s, keys)
        audit.append(s, actor=f"platform:{platform.client_id}", action="identity.login",
                     target=f"person-index:{keys[0][0].removeprefix('person:')[:16]}", outcome=err.reason)


@dataclass(frozen=True)
class Verified:
    """A person whose factors checked out, and the level and methods they reached."""

    person_id: str
    acr: str
    amr: tuple[str, ...]


def _guarded(idn: Identity, platform: PlatformInfo, req: LoginRequest,
             act: Callable[[Session, Person, str, tuple[str, ...]], T]) -> T:
    """Throttling, the factors, ``act`` on success (in the transaction that clears the counter and audits the
    login), and the failure counted and audited otherwise: the one path every way of logging in takes."""
    number = normalise_citizen_id(req.id_number)
    id_index = idn.person_index(number)
    ident, client = throttle.policies(idn)
    keys = [(throttle.identity_key(id_index), ident), (throttle.client_key(platform.client_id), client)]
    with idn.node.db.session() as s:
        try:
            throttle.check(idn, s, keys)
        except HutongError as err:
            metrics.login("refused")
            logs.security_event("login_refused", reason=err.reason, platform=platform.client_id)
            raise
    try:
        signed = _consume_challenge_now(idn, req, number, platform.client_id) if req.challenge_id else None
        person_id = _check_password(idn, number, req.password)
        with idn.node.db.session() as s:
            person = get_person(s, person_id)
            amr = ("pwd", *_second_factor(idn, person, req, signed))
            acr = _level(amr)
            result = act(s, person, acr, amr)
            throttle.clear(s, keys[0][0])
            audit.append(s, actor=f"platform:{platform.client_id}", action="identity.login",
                         target=f"person:{person.id}", details={"acr": acr, "amr": list(amr)})
        metrics.login("ok")
        return result
    except HutongError as err:
        _record_failure(idn, platform, keys, err)
        metrics.login("failed")
        logs.security_event("login_failed", reason=err.reason, platform=platform.client_id)
        raise


def login(idn: Identity, platform: PlatformInfo, req: LoginRequest) -> TokenSet:
    scopes = granted_scopes(platform, req.scopes)

    def session(s: Session, person: Person, acr: str, amr: tuple[str, ...]) -> TokenSet:
        enforce_level(platform, acr)
        return start_session(idn, s, person, platform, Authentication(acr, amr, scopes, req.nonce))

    return _guarded(idn, platform, req, session)


def authenticate(idn: Identity, platform: PlatformInfo, req: LoginRequest, *, required_acr: str) -> Verified:
    """Check the factors as ``login`` does, without starting a session (OpenID Connect issues the tokens later,
    at the code exchange); a level below ``required_acr`` is refused with STEP_UP_REQUIRED."""

    def verified(s: Session, person: Person, acr: str, amr: tuple[str, ...]) -> Verified:
        if level_rank(acr) < level_rank(required_acr):
            raise PermissionDenied("STEP_UP_REQUIRED", f"level {required_acr} is required; the login reached {acr}: "
                                   "add a second factor", metadata={"required_acr": required_acr, "acr": acr})
        return Verified(person.id, acr, amr)

    return _guarded(idn, platform, req, verified)
