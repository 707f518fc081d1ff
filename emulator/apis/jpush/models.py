"""JPush tables."""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ...core.db import Base


class JPushFile(Base):
    __tablename__ = "jpush_files"
    __tenant_api__ = "jpush"  # whose rows (core/ownership.py)
    __tenant_column__ = "app_key"
    __table_args__ = (Index("ix_jpush_files_app", "app_key", "expire_at"),)

    file_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    app_key: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(String(1024))
    ttl_given: Mapped[bool]
    created_at: Mapped[float] = mapped_column(Float)
    expire_at: Mapped[float] = mapped_column(Float)
    line_count: Mapped[int] = mapped_column(Integer)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"))
