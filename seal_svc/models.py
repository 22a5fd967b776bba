"""Tables of the seal service: seals, grants, and the seal CA's published CRLs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from hutong.business_codes import BusinessCode, PersonalCertificate
from hutong.db import Base


class SealRow(Base):
    __tablename__ = "seals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_uscc: Mapped[str] = mapped_column(BusinessCode, index=True)
    org_name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))  # active / suspended / revoked
    key_label: Mapped[str] = mapped_column(String(200))
    cert_pem: Mapped[str] = mapped_column(PersonalCertificate)  # encrypted when it names an individual business
    cert_serial: Mapped[str] = mapped_column(String(64), index=True)  # hex
    image_png: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SealGrantRow(Base):
    __tablename__ = "seal_grants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.id"), index=True)
    grantee_kind: Mapped[str] = mapped_column(String(20))  # person / platform
    grantee: Mapped[str] = mapped_column(String(200), index=True)
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    not_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None = unlimited
    uses: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))


class SealCrlRow(Base):
    """The newest CRL of a CA this service publishes (seal CA, and the root's covering the sub-CAs)."""

    __tablename__ = "seal_crls"

    ca: Mapped[str] = mapped_column(String(40), primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger)
    this_update: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_update: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    stale: Mapped[int] = mapped_column(Integer, default=0)  # 1 = a revocation happened since it was issued
