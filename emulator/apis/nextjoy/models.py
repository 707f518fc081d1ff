"""NextJoy tables: the objects of each Qiniu bucket, and the CDN refreshes asked for."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Float, ForeignKey, Integer, String, Text, and_, false, or_
from sqlalchemy.orm import Mapped, mapped_column

from ...core.db import Base


class QiniuObject(Base):
    """One object of a bucket. A bucket belongs to a Qiniu account (access key): tenants
    that share both see the same objects, as they would on Qiniu."""

    __tablename__ = "nextjoy_objects"
    __tenant_api__ = "nextjoy"  # whose rows (core/ownership.py)

    @classmethod
    def owned_by(cls, tenants: list[Any]) -> ColumnElement[bool]:
        """The objects of each tenant's (Qiniu access key, bucket): tenants sharing both
        share the objects, so a scope naming one of them covers the bucket."""
        pairs = sorted({(t.qiniu_access_key, t.bucket) for t in tenants})
        return or_(false(), *(and_(cls.access_key == ak, cls.bucket == b) for ak, b in pairs))

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
    __tenant_api__ = "nextjoy"  # whose rows (core/ownership.py)
    __tenant_column__ = "tenant"  # the tenant's identity, appid:child_id

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # file | dir
    entries: Mapped[str] = mapped_column(Text)  # JSON list, in the order given
    at: Mapped[float] = mapped_column(Float)
