"""cert_svc tables.

Personal data (holder ID numbers, field values) lives only inside the signed JWS, which is stored
encrypted under the node's data key (HSM); holders are found through the HMAC blind index.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hutong import identifiers
from hutong.db import Base
from hutong.reindex import INDEXED, Indexed
from hutong.rekey import PROTECTED
from hutong.verify import jose

if TYPE_CHECKING:
    from hutong.node import Node


def _holder_original(node: Node, row: dict[str, object]) -> str | None:
    """What a certificate's holder index is the HMAC of (the normalised ID number or USCC), from its protected
    forms: the person holder's number is kept out of the JWS, in the forms' private part."""
    blob = bytes(row["sealed_forms"])  # type: ignore[call-overload]  # bytes or memoryview
    stored = json.loads(node.pki.unprotect(blob, aad=b"cert:" + str(row["identifier"]).encode()))
    holder = jose.Compact(stored["jws"]).payload.get("holder", {})
    value = str(holder.get("id") or stored.get("private", {}).get("holder_id", ""))
    if not value:
        return None
    person = (holder.get("kind") or row["holder_kind"]) == "person"
    return identifiers.normalise_citizen_id(value) if person else identifiers.normalise_uscc(value)


class CertTypeRow(Base):
    __tablename__ = "cert_types"

    code: Mapped[str] = mapped_column(String(21), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[str] = mapped_column(Text)  # JSON of catalogue.CertTypeSpec
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IssuerRow(Base):
    __tablename__ = "cert_issuers"

    uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_label: Mapped[str] = mapped_column(String(200))
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    cert_pem: Mapped[str] = mapped_column(Text)
    type_codes: Mapped[str] = mapped_column(Text)  # comma-separated
    platform_client_id: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    seal_id: Mapped[str | None] = mapped_column(String(100), nullable=True)  # seal_svc seal for renditions
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SerialCounter(Base):
    """Next serial number per issuer, type and year (serial = year + 7-digit sequence)."""

    __tablename__ = "cert_serial_counters"

    issuer_uscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    type_code: Mapped[str] = mapped_column(String(21), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_value: Mapped[int] = mapped_column(Integer)


class StatusListRow(Base):
    __tablename__ = "cert_status_lists"

    list_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    issuer_uscc: Mapped[str] = mapped_column(ForeignKey("cert_issuers.uscc"), index=True)
    size: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    token: Mapped[str | None] = mapped_column(Text, nullable=True)  # last signed list
    signed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CertificateRow(Base):
    """One version of one certificate."""

    __tablename__ = "certificates"
    # Hash-partitioned by identifier on PostgreSQL (migration 0015): a partitioned table's unique keys must hold
    # the identifier, so the status slot is a plain index and its uniqueness the list's row lock (statuslist).
    __table_args__ = (
        Index("ix_certificates_series", "series"),
        Index("ix_certificates_status_slot", "status_list_id", "status_index"),
    )

    identifier: Mapped[str] = mapped_column(String(96), primary_key=True)
    series: Mapped[str] = mapped_column(String(96))  # identifier without version and check
    version: Mapped[int] = mapped_column(Integer)
    type_code: Mapped[str] = mapped_column(ForeignKey("cert_types.code"))
    issuer_uscc: Mapped[str] = mapped_column(ForeignKey("cert_issuers.uscc"), index=True)
    holder_kind: Mapped[str] = mapped_column(String(16))
    holder_index: Mapped[str] = mapped_column(String(64), index=True, info={INDEXED: Indexed(
        recover=_holder_original, needs=("holder_kind", "sealed_forms"))})
    # Encrypted JSON {"jws": ..., "qr": ...} (pki.protect); the column keeps its first name: no data migration.
    protected_forms: Mapped[bytes] = mapped_column("sealed_forms", LargeBinary,
                                                   info={PROTECTED: "cert:{identifier}"})
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(24))
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_list_id: Mapped[str] = mapped_column(ForeignKey("cert_status_lists.list_id"))
    status_index: Mapped[int] = mapped_column(Integer)
    supersedes: Mapped[str | None] = mapped_column(String(96), nullable=True)
    superseded_by: Mapped[str | None] = mapped_column(String(96), nullable=True)
    predecessor: Mapped[str | None] = mapped_column(String(96), nullable=True)
    successor: Mapped[str | None] = mapped_column(String(96), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsentRow(Base):
    __tablename__ = "cert_consents"

    consent_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    holder_index: Mapped[str] = mapped_column(String(64), index=True, info={INDEXED: Indexed()})
    platform: Mapped[str] = mapped_column(String(200), index=True)
    series: Mapped[str] = mapped_column(Text)  # comma-separated certificate series
    purpose: Mapped[str] = mapped_column(String(500))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AccessRow(Base):
    """A platform's use of a holder's certificate: who, what, when, why."""

    __tablename__ = "cert_access_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    holder_index: Mapped[str] = mapped_column(String(64), index=True, info={INDEXED: Indexed()})
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    platform: Mapped[str] = mapped_column(String(200))
    identifier: Mapped[str] = mapped_column(String(96))
    purpose: Mapped[str] = mapped_column(String(500))
    consent_id: Mapped[str] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64), default="", server_default="")  # why a "refused" was refused
