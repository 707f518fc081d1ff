"""Antelope tables: objects (upload2 and upload3 attachments) and the event channels."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ...core.db import Base


class AntelopeObject(Base):
    __tablename__ = "antelope_objects"
    __tenant_api__ = "antelope"  # whose rows (core/ownership.py)
    __tenant_column__ = "app_id"
    __table_args__ = (
        UniqueConstraint("app_id", "key", name="uq_antelope_objects_app_key"),
        Index("ix_antelope_objects_expire", "expire_at"),
    )

    obj_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(2048))
    name: Mapped[str] = mapped_column(String(2048))
    c_id: Mapped[int] = mapped_column(Integer)
    file_id: Mapped[str] = mapped_column(String(40))
    timestamp: Mapped[int] = mapped_column(BigInteger)  # seconds: past 2038 on a clock set there
    file_size: Mapped[int] = mapped_column(BigInteger)
    meta: Mapped[Any] = mapped_column("metadata", JSON)
    expire_type: Mapped[int] = mapped_column(Integer)
    area_id: Mapped[int] = mapped_column(Integer)
    expire_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"))


class AntelopeEvent(Base):
    __tablename__ = "antelope_events"
    __tenant_api__ = "antelope"  # whose rows (core/ownership.py)
    __tenant_column__ = "app_id"
    __table_args__ = (UniqueConstraint("app_id", "channel_id", "offset", name="uq_antelope_events_offset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app_id: Mapped[str] = mapped_column(String(255))
    channel_id: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)
    message: Mapped[Any] = mapped_column(JSON)
