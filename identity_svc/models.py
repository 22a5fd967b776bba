"""identity_svc tables.

No citizen ID number is stored in clear: each is protected with the node's data key (AES-GCM in the HSM,
``*_protected`` attributes, the row's kind bound as associated data; their columns keep their first names,
``*_sealed``) and found through its HMAC blind index (``*_index`` columns, HMAC key in the HSM). Names of
natural persons are protected too. ("Seal" means an organisation's e-seal only: docs/ENGINEERING.md.)
USCCs and organisation names are public (printed on business licences) and stored in clear.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hutong.business_codes import BusinessCode, ReferencedBusinessCode
from hutong.db import Base
from hutong.rekey import PROTECTED

INDEX = String(64)  # hex HMAC-SHA256


class RegisterPerson(Base):
    """Embedded population register: which (ID number, name) pairs exist."""

    __tablename__ = "identity_register_people"

    id_index: Mapped[str] = mapped_column(INDEX, primary_key=True)
    match_index: Mapped[str] = mapped_column(INDEX)  # blind index of "ID number | name"
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RegisterOrganisation(Base):
    """Embedded legal-entity register."""

    __tablename__ = "identity_register_orgs"

    uscc: Mapped[str] = mapped_column(BusinessCode, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    representative_index: Mapped[str] = mapped_column(INDEX)  # blind index of the representative's ID
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Person(Base):
    __tablename__ = "identity_persons"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # local account id, never an ID number
    id_index: Mapped[str] = mapped_column(INDEX, unique=True)
    id_protected: Mapped[bytes] = mapped_column("id_sealed", LargeBinary,
                                                info={PROTECTED: "citizen-id|{id}"})  # column names predate "protect"
    name_protected: Mapped[bytes] = mapped_column("name_sealed", LargeBinary,
                                                  info={PROTECTED: "name|{id}"})
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_secret_protected: Mapped[bytes | None] = mapped_column(
        "totp_secret_sealed", LargeBinary, nullable=True, info={PROTECTED: "totp|{id}"})
    totp_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)  # a code is accepted once only
    public_key_der: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Platform(Base):
    """A relying platform (OAuth client) registered by the operator."""

    __tablename__ = "identity_platforms"

    client_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of a 256-bit random secret
    # SHA-256 (hex) of the platform's mTLS client certificate, when it authenticates that way
    cert_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    scopes: Mapped[str] = mapped_column(Text)  # space-separated allowed scopes
    required_acr: Mapped[str] = mapped_column(String(20))
    pairwise: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # OpenID Connect (hutong.oidc): exact redirect URIs (newline-separated) and the Back-Channel Logout URI.
    redirect_uris: Mapped[str | None] = mapped_column(Text, nullable=True)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500), nullable=True)


class LoginChallenge(Base):
    __tablename__ = "identity_login_challenges"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    id_index: Mapped[str] = mapped_column(INDEX)
    client_id: Mapped[str] = mapped_column(String(80))
    to_sign: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[float] = mapped_column(Float)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class TokenFamily(Base):
    """One login session at one platform: the chain of rotating refresh tokens and its access tokens."""

    __tablename__ = "identity_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # `sid` claim
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_persons.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(80))
    acr: Mapped[str] = mapped_column(String(20))
    amr: Mapped[str] = mapped_column(String(60))  # space-separated
    scopes: Mapped[str] = mapped_column(Text)
    org_uscc: Mapped[str | None] = mapped_column(BusinessCode, nullable=True)
    auth_time: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # ``sub`` as the platform sees the person, fixed at login so a refresh needs no HSM HMAC (None: older rows).
    subject: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Organisation context vouched for by the person's home node (federation): the roles and organisation name
    # as asserted there. Such sessions are short (FEDERATED_ORG_SESSION_SECONDS): a grant revoked at home stops
    # working here when they end. None: a local session, whose roles come from this node's grants.
    home_node: Mapped[str | None] = mapped_column(String(100), nullable=True)
    federated_roles: Mapped[str | None] = mapped_column(Text, nullable=True)
    federated_org_name: Mapped[str | None] = mapped_column(String(300), nullable=True)


class RefreshToken(Base):
    __tablename__ = "identity_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the token
    family_id: Mapped[str] = mapped_column(ForeignKey("identity_sessions.id"), index=True)
    issued_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Throttle(Base):
    """Failed-login counters per identity (blind index) and per client."""

    __tablename__ = "identity_throttle"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[float] = mapped_column(Float, default=0.0)
    locked_until: Mapped[float] = mapped_column(Float, default=0.0)


class Organisation(Base):
    """A legal person and the binding of its legal representative (see ``identity_svc.orgs``).

    The representative is bound by the blind index of their citizen ID, so a business licence can bind
    someone who has not registered on this node yet."""

    __tablename__ = "identity_orgs"

    uscc: Mapped[str] = mapped_column(ReferencedBusinessCode, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    representative_index: Mapped[str] = mapped_column(INDEX, index=True)  # blind index of the representative's ID
    binding_source: Mapped[str] = mapped_column(String(120))  # "register" or "licence:<e-certificate identifier>"
    binding_state: Mapped[str] = mapped_column(String(20))  # bound | suspended | ended
    binding_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OrgGrant(Base):
    """A role a person holds in an organisation (the legal representative's role is implicit)."""

    __tablename__ = "identity_org_grants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_uscc: Mapped[str] = mapped_column(BusinessCode, ForeignKey("identity_orgs.uscc"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_persons.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))  # administrator | staff
    matters: Mapped[str] = mapped_column(Text)  # "*" (all) or newline-separated matter names
    valid_from: Mapped[float] = mapped_column(Float)
    valid_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    granted_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class HomeNode(Base):
    """The member node that speaks for a person or organisation first seen here through federation.

    The home-node rule: only a subject's home node may assert facts about them to this node. A person
    registered here, or an organisation registered here, has this node as home (no row); a person first
    seen in another node's assertion is linked to that node, and assertions from any other member are
    refused from then on."""

    __tablename__ = "identity_home_nodes"

    kind: Mapped[str] = mapped_column(String(12), primary_key=True)  # person | org
    subject_index: Mapped[str] = mapped_column(INDEX, primary_key=True)  # blind index of the ID number / USCC
    home_node: Mapped[str] = mapped_column(String(100))
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
