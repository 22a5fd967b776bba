"""Hub-side federation records: the member descriptors and every trust list published."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hutong.db import Base


class FederationMember(Base):
    __tablename__ = "federation_members"

    node_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    descriptor: Mapped[str] = mapped_column(Text)  # JSON of trustlist.MemberEntry
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TrustListPublication(Base):
    __tablename__ = "trust_list_publications"

    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_update: Mapped[datetime] = mapped_column(DateTime(timezone=True))
