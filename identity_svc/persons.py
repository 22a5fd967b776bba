"""Natural persons: registration against the population register, TOTP enrolment, holder keys.

A person's ID number and name are protected (``pki.protect``: bound to the account id as associated data, so
a protected value cannot be moved to another row) and found through the blind index of the ID number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hutong import audit
from hutong.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unauthenticated
from hutong.identifiers import mask, normalise_citizen_id
from identity_svc import totp
from identity_svc.core import Identity, new_id
from identity_svc.credentials import check_password_strength, hash_password, key_id, load_holder_key
from identity_svc.models import Person
from identity_svc.platforms import PlatformInfo
from identity_svc.registers import clean_name, register_for


def _aad(kind: str, person_id: str) -> str:
    return f"{kind}|{person_id}"


def citizen_id_of(idn: Identity, person: Person) -> str:
    return idn.unprotect(_aad("citizen-id", person.id), person.id_protected)


def name_of(idn: Identity, person: Person) -> str:
    return idn.unprotect(_aad("name", person.id), person.name_protected)


def indexes_of(idn: Identity, person: Person) -> tuple[str, ...]:
    """The person's blind indexes under every key in use: their row's, and during a blind-index rollover the
    others too (what refers to them -- a binding, a home link -- may be under the other key), from the protected
    number. Outside a rollover no HSM call."""
    if len(idn.node.pki.blind_index_labels()) == 1:
        return (person.id_index,)
    # The row's own index always among them, whatever the recomputation gives: what was bound to the person with it
    # (a binding, a home link) must never stop matching because a worker's view of the keys is a moment behind.
    return tuple(dict.fromkeys((person.id_index, *idn.person_indexes(citizen_id_of(idn, person)))))


def find_person(idn: Identity, s: Session, citizen_id: str) -> Person | None:
    """The person with this (normalised) citizen ID number, if registered (under any blind-index key in use:
    the unique index and this look-up together never let one number register twice across a rollover)."""
    return s.scalars(select(Person).where(Person.id_index.in_(idn.person_indexes(citizen_id)))).first()


def get_person(s: Session, person_id: str) -> Person:
    person = s.get(Person, person_id)
    if person is None:
        raise Unauthenticated("ACCOUNT_NOT_FOUND", "the account no longer exists")
    return person


@dataclass(frozen=True)
class PersonSummary:
    """What may be shown to an organisation's administrators about a person."""

    masked_id: str
    name: str


def summary(idn: Identity, person: Person) -> PersonSummary:
    return PersonSummary(masked_id=mask(citizen_id_of(idn, person)), name=name_of(idn, person))


def new_person(idn: Identity, person_id: str, *, number: str, name: str, password_hash: str) -> Person:
    """A person row: ID number and name protected by the HSM (bound to the row), found by blind index."""
    return Person(id=person_id, id_index=idn.person_index(number),
                  id_protected=idn.protect(_aad("citizen-id", person_id), number),
                  name_protected=idn.protect(_aad("name", person_id), name), password_hash=password_hash,
                  totp_confirmed=False, totp_last_step=0, created_at=datetime.now(UTC))


def register_person(idn: Identity, platform: PlatformInfo, *, id_number: str, name: str, password: str) -> str:
    """Register a natural person; returns the new account id. Nothing is stored unless all checks pass."""
    number = normalise_citizen_id(id_number)
    name = clean_name(name)
    if not name:
        raise InvalidArgument("NAME_REQUIRED", "the person's name is required")
    check_password_strength(password, idn.settings.password_min_length)
    if not register_for(idn).person_matches(number, name):
        raise NotFound("NOT_IN_REGISTER", "this name and ID number are not in the population register")
    password_hash = hash_password(idn.hasher, password)  # slow: outside the write transaction
    person_id = new_id("p")
    with idn.node.db.session() as s:
        if find_person(idn, s, number) is not None:
            raise AlreadyExists("PERSON_ALREADY_REGISTERED", "this person is already registered")
        s.add(new_person(idn, person_id, number=number, name=name, password_hash=password_hash))
        audit.append(s, actor=f"platform:{platform.client_id}", action="identity.person.register",
                     target=f"person:{person_id}")
    return person_id


@dataclass(frozen=True)
class TotpEnrolment:
    secret_base32: str
    otpauth_uri: str
    digits: int
    period_seconds: int


def begin_totp(idn: Identity, person_id: str) -> TotpEnrolment:
    """A new, unconfirmed TOTP secret (replaces an unconfirmed one; a confirmed one stays until confirmed)."""
    secret = totp.new_secret()
    st = idn.settings
    with idn.node.db.session() as s:
        person = get_person(s, person_id)
        if person.totp_confirmed:
            raise FailedPrecondition("TOTP_ALREADY_ENROLLED", "a TOTP authenticator is already enrolled")
        person.totp_secret_protected = idn.protect(_aad("totp", person_id), secret)
        audit.append(s, actor=f"person:{person_id}", action="identity.totp.begin", target=f"person:{person_id}")
    uri = totp.provisioning_uri(secret, account=person_id[-8:], issuer=idn.node.config.node.name,
                                digits=st.totp_digits, period=st.totp_period_seconds)
    return TotpEnrolment(secret, uri, st.totp_digits, st.totp_period_seconds)


def totp_matches(idn: Identity, person: Person, code: str) -> bool:
    """Check a code and consume its time step: each code is accepted once only."""
    if person.totp_secret_protected is None:
        return False
    st = idn.settings
    secret = idn.unprotect(_aad("totp", person.id), person.totp_secret_protected)
    found = totp.matching_step(secret, code.strip(), idn.now(), digits=st.totp_digits,
                               period=st.totp_period_seconds, window=st.totp_window_steps)
    if found is None or found <= person.totp_last_step:
        return False
    person.totp_last_step = found
    return True


def confirm_totp(idn: Identity, person_id: str, code: str) -> None:
    with idn.node.db.session() as s:
        person = get_person(s, person_id)
        if person.totp_secret_protected is None or person.totp_confirmed:
            raise FailedPrecondition("TOTP_NOT_PENDING", "no TOTP enrolment is waiting for confirmation")
        if not totp_matches(idn, person, code):
            raise InvalidArgument("TOTP_CONFIRMATION_FAILED", "the code does not match; check the device's clock")
        person.totp_confirmed = True
        audit.append(s, actor=f"person:{person_id}", action="identity.totp.confirm", target=f"person:{person_id}")


def register_public_key(idn: Identity, person_id: str, *, public_key_pem: str = "", certificate: bytes = b"") -> str:
    """Register (or replace) the key used for key-based login; returns its SHA-256 fingerprint."""
    spki = load_holder_key(public_key_pem, certificate)
    with idn.node.db.session() as s:
        person = get_person(s, person_id)
        person.public_key_der = spki
        audit.append(s, actor=f"person:{person_id}", action="identity.key.register", target=f"person:{person_id}",
                     details={"key_id": key_id(spki)})
    return key_id(spki)
