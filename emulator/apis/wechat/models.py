"""WeChat Cloud Base tables: access tokens, issued COS upload credentials, stored files."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ...core.db import Base


class WeChatToken(Base):
    """An access_token from /cgi-bin/token. Kept after it stops working so that a late
    caller learns why (42001 expired, 40001 superseded) rather than 40014."""

    __tablename__ = "wechat_tokens"
    __tenant_api__ = "wechat"  # whose rows (core/ownership.py)
    __tenant_column__ = "appid"
    __table_args__ = (Index("ix_wechat_tokens_app", "appid"),)

    token: Mapped[str] = mapped_column(String(200), primary_key=True)
    appid: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    superseded_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class WeChatUploadGrant(Base):
    """The COS credentials tcb/uploadfile handed out for one key of one bucket."""

    __tablename__ = "wechat_upload_grants"
    __tenant_api__ = "wechat"  # whose rows (core/ownership.py)
    __tenant_column__ = "appid"
    __table_args__ = (Index("ix_wechat_upload_grants_expiry", "expires_at"),)

    token: Mapped[str] = mapped_column(String(400), primary_key=True)  # x-cos-security-token
    appid: Mapped[str] = mapped_column(String(64))
    env: Mapped[str] = mapped_column(String(64))
    bucket: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(1024))
    authorization: Mapped[str] = mapped_column(String(400))  # Signature
    cos_file_id: Mapped[str] = mapped_column(String(400))  # x-cos-meta-fileid
    expires_at: Mapped[float] = mapped_column(Float)


class WeChatFile(Base):
    __tablename__ = "wechat_files"
    __tenant_api__ = "wechat"  # whose rows (core/ownership.py)
    __tenant_column__ = "appid"
    __table_args__ = (
        UniqueConstraint("bucket", "key", name="uq_wechat_files_object"),
        Index("ix_wechat_files_app_env", "appid", "env"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appid: Mapped[str] = mapped_column(String(64))
    env: Mapped[str] = mapped_column(String(64))
    bucket: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(1024))
    cos_file_id: Mapped[str] = mapped_column(String(400))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    md5: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Float)
    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id"))
