"""NextJoy tables: the objects of each Qiniu bucket, and the CDN refreshes asked for."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ...core.db import Base


class QiniuObject(Base):
    """One object of a bucket. A bucket belongs to a Qiniu account (access key): tenants
    that share both see the same objects, as they would on Qiniu."""

    __tablename__ = "nextjoy_objects"

    access_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))  # Qiniu etag
    md5: Mapped[str] = mapped_column(String(32))
    fsize: Mapped[int] = mapped_column(BigInteger)
    mime_type: Mapped[str] = mapped_column(String(255))
    put_time: Mapped[int] = mapped_column(BigInteger)  # 100-ns units since the epoch
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"))


class NextJoyRefresh(Base):
    """A batch_refresh_file / batch_refresh_dir call that succeeded (test evidence)."""

    __tablename__ = "nextjoy_refreshes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # file | dir
    entries: Mapped[str] = mapped_column(Text)  # JSON list, in the order given
    at: Mapped[float] = mapped_column(Float)
