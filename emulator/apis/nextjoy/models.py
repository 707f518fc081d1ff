"""NextJoy tables: the objects of each Qiniu bucket, and the CDN refreshes asked for."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Float, ForeignKey, Integer, String, Text, and_, false, or_
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column

from ...core.db import Base


def _in_buckets(
    access_key: InstrumentedAttribute[str], bucket: InstrumentedAttribute[str], tenants: list[Any]
) -> ColumnElement[bool]:
    """The rows of each tenant's (Qiniu access key, bucket): tenants sharing both share the
    objects, so a scope naming one of them covers the bucket."""
    pairs = sorted({(t.qiniu_access_key, t.bucket) for t in tenants})
    return or_(false(), *(and_(access_key == ak, bucket == b) for ak, b in pairs))


class QiniuObject(Base):
    """One object of a bucket. A bucket belongs to a Qiniu account (access key): tenants
    that share both see the same objects, as they would on Qiniu."""

    __tablename__ = "nextjoy_objects"
    __tenant_api__ = "nextjoy"  # whose rows (core/ownership.py)

    @classmethod
    def owned_by(cls, tenants: list[Any]) -> ColumnElement[bool]:
        return _in_buckets(cls.access_key, cls.bucket, tenants)

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


class QiniuUpload(Base):
    """A resumable upload under way on the Qiniu host: a v1 block being built by
    ``mkblk``/``bput`` (``kind`` "v1", its chunks are the parts), or a v2 multipart upload
    (``kind`` "v2"). Gone at ``mkfile``/complete, abort, reset, or once ``expires_at`` has
    passed on the emulator clock (its parts' bytes released)."""

    __tablename__ = "nextjoy_uploads"
    __tenant_api__ = "nextjoy"  # whose rows (core/ownership.py): the bucket's, as for objects

    @classmethod
    def owned_by(cls, tenants: list[Any]) -> ColumnElement[bool]:
        return _in_buckets(cls.access_key, cls.bucket, tenants)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # v2 uploadId; v1 internal block id
    kind: Mapped[str] = mapped_column(String(2))  # v1 | v2
    access_key: Mapped[str] = mapped_column(String(128))
    bucket: Mapped[str] = mapped_column(String(128))
    key: Mapped[str | None] = mapped_column(String(1024))  # v2: the object segment's key (None for "~")
    ctx: Mapped[str | None] = mapped_column(String(128), unique=True)  # v1: the ctx the next call must carry
    size: Mapped[int] = mapped_column(BigInteger, default=0)  # v1: the declared block size
    filled: Mapped[int] = mapped_column(BigInteger, default=0)  # v1: bytes received so far
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class QiniuPart(Base):
    """A received piece of a :class:`QiniuUpload`: a v2 part (``number`` = partNumber) or
    a v1 chunk (``number`` = its order in the block). Holds one reference to its blob."""

    __tablename__ = "nextjoy_upload_parts"
    __tenant_api__ = "nextjoy"

    @classmethod
    def owned_by(cls, tenants: list[Any]) -> ColumnElement[bool]:
        return _in_buckets(cls.access_key, cls.bucket, tenants)

    upload_id: Mapped[str] = mapped_column(ForeignKey("nextjoy_uploads.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    access_key: Mapped[str] = mapped_column(String(128))
    bucket: Mapped[str] = mapped_column(String(128))
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"))
    size: Mapped[int] = mapped_column(BigInteger)
    md5: Mapped[str] = mapped_column(String(32))
    etag: Mapped[str] = mapped_column(String(64))  # the piece's own Qiniu etag
    put_time: Mapped[float] = mapped_column(Float)
