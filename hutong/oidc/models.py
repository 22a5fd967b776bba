"""Tables of the OpenID Connect provider (``hutong.oidc``).

Nothing here holds an ID number or a token in clear: authorization codes and browser-session cookies are
stored as SHA-256 hashes; the person is referenced by local account id. Rows are short-lived (a pending
login lives ``REQUEST_SECONDS``, a code ``CODE_SECONDS``).
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hutong.db import Base

HASH = String(64)  # hex SHA-256


class OidcRequest(Base):
    """A pending authorization request while the person logs in (the ``tx`` of the login forms)."""

    __tablename__ = "oidc_requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(80))
    params: Mapped[str] = mapped_column(Text)  # the authorization request's query string, as received
    required_acr: Mapped[str] = mapped_column(String(20))
    csrf_hash: Mapped[str] = mapped_column(HASH)  # the form token; its clear value is also in a cookie
    expires_at: Mapped[float] = mapped_column(Float)
    # set once the person's factors checked out (the organisation is chosen next)
    person_id: Mapped[str | None] = mapped_column(ForeignKey("identity_persons.id"), nullable=True)
    acr: Mapped[str | None] = mapped_column(String(20), nullable=True)
    amr: Mapped[str | None] = mapped_column(String(60), nullable=True)
    auth_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    browser_session: Mapped[str | None] = mapped_column(HASH, nullable=True)
    done_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class OidcCode(Base):
    """An authorization code: bound to the client, the redirect URI and the PKCE challenge; used once."""

    __tablename__ = "oidc_codes"

    code_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(80))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str] = mapped_column(String(300))
    code_challenge: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_persons.id"))
    acr: Mapped[str] = mapped_column(String(20))
    amr: Mapped[str] = mapped_column(String(60))
    auth_time: Mapped[float] = mapped_column(Float)
    org_uscc: Mapped[str | None] = mapped_column(String(18), nullable=True)
    browser_session: Mapped[str | None] = mapped_column(HASH, nullable=True)
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    sid: Mapped[str | None] = mapped_column(String(40), nullable=True)  # the session the code was exchanged for
    # JSON of an organisation context the person's home node asserted (``FederatedOrg``): log in at the home node
    federated_org: Mapped[str | None] = mapped_column(Text, nullable=True)


class OidcBrowserSession(Base):
    """The person's login at this provider in one browser (single sign-on, RP-initiated logout)."""

    __tablename__ = "oidc_browser_sessions"

    id_hash: Mapped[str] = mapped_column(HASH, primary_key=True)  # SHA-256 of the cookie value
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_persons.id"), index=True)
    acr: Mapped[str] = mapped_column(String(20))
    amr: Mapped[str] = mapped_column(String(60))
    auth_time: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class OidcSessionLink(Base):
    """Which platform sessions (``sid``) a browser session opened: all of them end at its logout."""

    __tablename__ = "oidc_session_links"

    sid: Mapped[str] = mapped_column(ForeignKey("identity_sessions.id"), primary_key=True)
    browser_session: Mapped[str] = mapped_column(HASH, index=True)
