"""123pan tables: tokens, the file tree (image hosting and cloud disk), each file's ordered
slice blobs, and upload sessions with their slices."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import BigInteger, Boolean, ColumnElement, Float, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from ...core.db import Base


class Pan123Token(Base):
    __tablename__ = "pan123_tokens"
    __tenant_api__ = "pan123"  # whose rows (core/ownership.py)
    __tenant_column__ = "client_id"

    token: Mapped[str] = mapped_column(String(512), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255))
    issued_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)


class Pan123File(Base):
    """A file or folder. ``space`` is ``oss`` (image hosting) or ``disk`` (cloud disk).
    Each tenant's image-hosting root is a folder row with ``is_root`` set."""

    __tablename__ = "pan123_files"
    __tenant_api__ = "pan123"  # whose rows (core/ownership.py)
    __tenant_column__ = "client_id"
    __table_args__ = (
        Index("ix_pan123_files_parent", "client_id", "space", "parent_id", "name"),
        Index("ix_pan123_files_content", "etag", "size"),
    )

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)  # creation order, for stable listings
    client_id: Mapped[str] = mapped_column(String(255))
    space: Mapped[str] = mapped_column(String(8))
    parent_id: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(1024))
    is_dir: Mapped[bool] = mapped_column(Boolean, default=False)
    is_root: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    etag: Mapped[str] = mapped_column(String(32), default="")  # whole-file MD5, verified
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    traffic: Mapped[int] = mapped_column(BigInteger, default=0)


class _OwnedThroughFile:
    """Rows whose tenant is their file's (core/ownership.py): the classes have ``file_id``."""

    @classmethod
    def owned_by(cls, tenants: list[Any]) -> ColumnElement[bool]:
        files = select(Pan123File.id).where(Pan123File.client_id.in_(sorted({t.client_id for t in tenants})))
        return cast("ColumnElement[bool]", cls.file_id.in_(files))  # type: ignore[attr-defined]


class Pan123FilePart(_OwnedThroughFile, Base):
    """A file's bytes: its slice blobs in order (one row for a one-slice file)."""

    __tablename__ = "pan123_file_parts"
    __tenant_api__ = "pan123"  # whose rows: its file's (core/ownership.py)

    file_id: Mapped[str] = mapped_column(ForeignKey("pan123_files.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"))
    size: Mapped[int] = mapped_column(BigInteger)


class Pan123Upload(Base):
    """An upload session from ``create`` to its file. ``state``: open → verifying → done,
    or failed (MD5 mismatch found by the asynchronous check; slices may be sent again)."""

    __tablename__ = "pan123_uploads"
    __tenant_api__ = "pan123"  # whose rows (core/ownership.py)
    __tenant_column__ = "client_id"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uploadId of presigned URLs
    preupload_id: Mapped[str] = mapped_column(String(255), unique=True)
    client_id: Mapped[str] = mapped_column(String(255))
    space: Mapped[str] = mapped_column(String(8))
    parent_id: Mapped[str] = mapped_column(String(80))
    filename: Mapped[str] = mapped_column(String(1024))
    etag: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(BigInteger)
    slice_size: Mapped[int] = mapped_column(BigInteger)
    duplicate: Mapped[int] = mapped_column(Integer, default=0)  # disk: 0 refuse, 1 keep both, 2 overwrite
    state: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[float] = mapped_column(Float)
    completed_at: Mapped[float | None] = mapped_column(Float)
    polls: Mapped[int] = mapped_column(Integer, default=0)
    verified_md5: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[str | None] = mapped_column(String(80))


class Pan123UploadPart(Base):
    __tablename__ = "pan123_upload_parts"
    __tenant_api__ = "pan123"  # whose rows: its upload's (core/ownership.py)

    @classmethod
    def owned_by(cls, tenants: list[Any]) -> ColumnElement[bool]:
        uploads = select(Pan123Upload.id).where(Pan123Upload.client_id.in_(sorted({t.client_id for t in tenants})))
        return cls.upload_id.in_(uploads)

    upload_id: Mapped[str] = mapped_column(ForeignKey("pan123_uploads.id", ondelete="CASCADE"), primary_key=True)
    part_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"))
    size: Mapped[int] = mapped_column(BigInteger)
    md5: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[float] = mapped_column(Float)


class Pan123FileMeta(_OwnedThroughFile, Base):
    """Cloud-disk state beside a file row (a table of its own, so data dirs made before the
    cloud disk keep working): in the recycle bin since ``trashed_at``, and the whole-file
    SHA-1 (``sha1_reuse``) where it was computed."""

    __tablename__ = "pan123_file_meta"
    __tenant_api__ = "pan123"  # whose rows: its file's (core/ownership.py)

    file_id: Mapped[str] = mapped_column(ForeignKey("pan123_files.id", ondelete="CASCADE"), primary_key=True)
    trashed_at: Mapped[float | None] = mapped_column(Float)
    sha1: Mapped[str | None] = mapped_column(String(40))

