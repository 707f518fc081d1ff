"""The 123pan open platform's behaviour on the core: tokens, QPS, the image-hosting tree,
the six-step slice upload (shared by the cloud-disk flow), 秒传, downloads. No HTTP types.

A file's bytes are its ordered slice blobs (``Pan123FilePart``): slices are never joined.
The whole-file MD5 of a multi-slice upload is computed by streaming the slices in order
through one MD5 on a worker thread after ``upload_complete``; the verified MD5 and size
stay on the file row, which is what 秒传 looks up (besides single blobs in the store).
"""

from __future__ import annotations

import logging

import asyncio
import base64
import hashlib
import hmac
import math
import mimetypes
import re
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ...core.blobs import Blob, BlobTooLarge, StagedBlob
from ...core.clock import BEIJING
from ...core.contract import ServiceBase
from ...core.errors import VendorError
from ...core.preload import PreloadError, refusal, segments, where
from ...core.ratelimit import Limit
from . import auth, limits
from .errors import Pan123Error, S3Error
from .models import (
    Pan123File,
    Pan123FileMeta,
    Pan123FilePart,
    Pan123Token,
    Pan123Upload,
    Pan123UploadPart,
)
from .tenant import Tenant

log = logging.getLogger("emulator")

if TYPE_CHECKING:
    from ...core.runtime import Emulator

OSS, DISK = "oss", "disk"
ROOT_NAME = "img_oss"  # the image-hosting root's name, as the document's list example shows
DISK_ROOT = "0"
DISK_PRELOAD = "@disk"  # a preload path's first folder naming the cloud disk instead of image hosting
FORBIDDEN = set('"/:*?|><')
MAX_NAME = 255  # "文件名要小于255个字符"
MAX_DELETE = 100
MAX_LIMIT = 100
ETAG = re.compile(r"^[0-9a-fA-F]{32}$")
S3_PREFIX = "/_pan123/s3"
DOWNLOAD_PREFIX = "/_pan123/vip"
SELF_PREFIX = "/_pan123/self"
STORAGE_NODE = "m1"
FILE_STATUS = 2  # the document's example of an accepted (审核通过) image
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


CONFIG_MAX_SLICE = 1 << 40  # 1 TiB
CONFIG_MAX_SECONDS = 100 * 365 * 86400  # a century
CONFIG_MAX_QPS = 1_000_000


@dataclass
class Config:
    """Runtime tunables (``/_emulator/pan123/config``); defaults are the documented values."""

    slice_size: int = 104857600  # the document's sliceSize
    token_lifetime: float = 30 * 86400.0
    presign_expires: int = 3600
    async_seconds: float = 1.0  # the check of a multi-slice upload ends this long after upload_complete
    v2_slice_size: int = 16777216  # upload v2 create's sliceSize (the document's example)
    answer_20103: bool = False  # upload v2 upload_complete answers code 20103 (not completed: false) meanwhile
    qps: dict[str, int] = field(default_factory=dict)  # overrides of limits.QPS; 0 = unlimited

    def qps_table(self) -> dict[str, int]:
        return {**limits.QPS, **self.qps}


def format_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext if dot and stem else ""


def _encode(n: int, alphabet: str, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


@dataclass(frozen=True)
class Download:
    file_id: str
    name: str
    size: int
    etag: str
    parts: list[tuple[int, int]]  # (blob_id, size) in order
    client_id: str = ""  # whose file it is


class Pan123Service(ServiceBase):
    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator
        self.config = Config()
        self._verifications: dict[str, asyncio.Task[str]] = {}
        from .disk import Disk  # the cloud disk's file management (disk.py builds on this module)

        self.disk = Disk(self)
        from .upload_v2 import UploadV2

        self.upload_v2 = UploadV2(self)

    # -- snapshot hooks (core/snapshots.py, core/runtime.py) ----------------------------
    def save_state(self) -> dict[str, Any]:
        """What lives in memory only: the runtime config (part of a whole snapshot)."""
        return {"config": asdict(self.config)}

    def load_state(self, state: dict[str, Any] | None) -> None:
        self.config = self.check_state(state)

    def check_state(self, state: Any) -> Config:
        """The config a saved state holds, checked as ``POST /_emulator/pan123/config``
        checks it (ValueError for anything else: a snapshot file may come from anywhere)."""
        if state is None:
            return Config()
        if not isinstance(state, dict) or set(state) - {"config"}:
            raise ValueError('pan123 state must be {"config": {...}}')
        config = state.get("config")
        if config is None:
            return Config()
        if not isinstance(config, dict) or "reset" in config:
            raise ValueError("pan123 config must be a JSON object of its settings")
        config = {k: v for k, v in config.items() if k != "async_polls"}  # retired setting of older snapshots
        return self.parse_config(config, Config())

    def state_changed(self) -> None:
        """Rows were reset or restored: MD5s computed for upload sessions may be stale
        (an upload id can come back with other slices); they are computed again."""
        self._verifications.clear()

    # -- config ----------------------------------------------------------------------
    def config_doc(self) -> dict[str, Any]:
        return {**asdict(self.config), "qps": self.config.qps_table(), "rate_limits": self.emu.limiter.enabled}

    def update_config(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate everything first, then apply: a bad field changes nothing."""
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        self.config = self.parse_config(body, self.config)
        return self.config_doc()

    @staticmethod
    def parse_config(body: dict[str, Any], base: Config) -> Config:
        """``base`` with the fields of ``body`` applied, every one checked first."""
        unknown = set(body) - {"slice_size", "token_lifetime", "presign_expires", "async_seconds", "v2_slice_size",
                               "answer_20103",
                               "qps", "reset"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        new = Config() if body.get("reset") is True else Config(**asdict(base))

        def number(name: str, minimum: float, integer: bool, maximum: float) -> None:
            if name not in body:
                return
            v = body[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
                raise ValueError(f"{name} must be {'an integer' if integer else 'a number'}")
            if not math.isfinite(v) or not minimum <= v <= maximum:
                raise ValueError(f"{name} must be between {minimum} and {maximum:.0f}")
            setattr(new, name, v)

        # Upper bounds keep every later call working (sizes SQLite and the wire hold, deadlines
        # the dates of the answers can express; issue 14).
        number("slice_size", 1, True, CONFIG_MAX_SLICE)
        number("v2_slice_size", 1, True, CONFIG_MAX_SLICE)
        number("token_lifetime", 1, False, CONFIG_MAX_SECONDS)
        number("presign_expires", 1, True, CONFIG_MAX_SECONDS)
        number("async_seconds", 0, False, CONFIG_MAX_SECONDS)
        if "answer_20103" in body:
            if not isinstance(body["answer_20103"], bool):
                raise ValueError("answer_20103 must be true or false")
            new.answer_20103 = body["answer_20103"]
        if "qps" in body:
            qps = body["qps"]
            if not isinstance(qps, dict) or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= CONFIG_MAX_QPS for v in qps.values()
            ):
                raise ValueError(f"qps must map endpoint paths to integers from 0 to {CONFIG_MAX_QPS} (0 = unlimited)")
            new.qps = {**new.qps, **{limits.key_of(k): v for k, v in qps.items()}}
        return new

    # -- access ----------------------------------------------------------------------
    def hit_limit(self, client_id: str, path: str) -> None:
        key = limits.key_of(path)
        qps = self.config.qps_table().get(key)
        if not qps:
            return
        decision = self.emu.limiter.hit("pan123", client_id, key, Limit(qps, limits.WINDOW))
        if not decision.allowed:
            raise Pan123Error.TOO_FREQUENT(reason=f"more than {qps} call(s) a second to {key} by {client_id}")

    def issue_token(self, client_id: str, client_secret: str) -> dict[str, str]:
        tenant: Tenant | None = self.emu.tenants.get("pan123", client_id)
        if tenant is None:
            raise Pan123Error.FAILED("clientID或clientSecret错误", reason=f"unknown clientID {client_id!r}")
        if not hmac.compare_digest(client_secret.encode(), tenant.client_secret.encode()):
            raise Pan123Error.FAILED("clientID或clientSecret错误", reason=f"wrong clientSecret for {client_id}")
        now = self.emu.clock.now()
        expires = int(now + self.config.token_lifetime)
        token = auth.mint_token(tenant, expires, self.emu.ids.hex(16))
        with self.emu.db.session() as s:
            s.add(Pan123Token(token=token, client_id=tenant.client_id, issued_at=now, expires_at=expires))
        return {"accessToken": token, "expiredAt": auth.iso_beijing(expires)}

    def authenticate(self, authorization: str | None) -> Tenant:
        token = auth.bearer(authorization)
        with self.emu.db.session() as s:
            row = s.get(Pan123Token, token)
            client_id, expires_at = (row.client_id, row.expires_at) if row else (None, 0.0)
        if client_id is None:
            raise Pan123Error.INVALID_TOKEN(reason="unknown access token")
        if self.emu.clock.now() >= expires_at:
            raise Pan123Error.INVALID_TOKEN(reason=f"access token expired at {auth.iso_beijing(expires_at)}")
        tenant = self.emu.tenants.get("pan123", client_id)
        if tenant is None:
            raise Pan123Error.INVALID_TOKEN(reason=f"tenant {client_id} no longer exists")
        return tenant

    # -- ids -------------------------------------------------------------------------
    @staticmethod
    def _suffix(tenant: Tenant) -> str:
        digest = int.from_bytes(hashlib.sha256(f"pan123-user:{tenant.uid}".encode()).digest(), "big")
        return _encode(digest, _B62, 20)

    def _new_id(self, s: Session, tenant: Tenant, space: str) -> str:
        while True:
            if space == OSS:
                fid = _encode(int.from_bytes(self.emu.ids.bytes(21), "big"), _B36, 32) + self._suffix(tenant)
            else:
                fid = str(10_000_000 + int.from_bytes(self.emu.ids.bytes(6), "big") % 90_000_000)
            if s.get(Pan123File, fid) is None:
                return fid

    @staticmethod
    def _next_seq(s: Session) -> int:
        return (s.execute(select(func.max(Pan123File.seq))).scalar() or 0) + 1

    @staticmethod
    def wire_id(space: str, fid: str | None) -> str | int:
        if space == DISK:
            return int(fid) if fid else 0
        return fid or ""

    # -- tree ------------------------------------------------------------------------
    def _root(self, s: Session, tenant: Tenant) -> Pan123File:
        row = s.execute(
            select(Pan123File).where(
                Pan123File.client_id == tenant.client_id, Pan123File.space == OSS, Pan123File.is_root.is_(True)
            )
        ).scalar_one_or_none()
        if row is None:
            now = self.emu.clock.now()
            row = Pan123File(
                id=self._new_id(s, tenant, OSS), seq=self._next_seq(s), client_id=tenant.client_id, space=OSS,
                parent_id="", name=ROOT_NAME, is_dir=True, is_root=True, created_at=now, updated_at=now,
            )
            s.add(row)
            s.flush()
        return row

    def _folder(self, s: Session, tenant: Tenant, space: str, parent: str, what: str) -> str:
        """The id of the folder ``parent`` names ("" = image-hosting root, "0" = disk root)."""
        if space == OSS and parent == "":
            return self._root(s, tenant).id
        if space == DISK and parent == DISK_ROOT:
            return DISK_ROOT
        row = s.get(Pan123File, parent)
        if row is None or row.client_id != tenant.client_id or row.space != space:
            raise Pan123Error.FAILED(f"{what}不存在", reason=f"no folder {parent!r}")
        if not row.is_dir:
            raise Pan123Error.FAILED(f"{what}不是目录", reason=f"{parent!r} is a file")
        if space == DISK:
            meta = s.get(Pan123FileMeta, row.id)
            if meta is not None and meta.trashed_at is not None:
                raise Pan123Error.FAILED(f"{what}已在回收站", reason=f"folder {parent!r} is in the recycle bin")
        return row.id

    @staticmethod
    def check_name(name: str, what: str = "文件名") -> str:
        if not name.strip():
            raise Pan123Error.FAILED(f"{what}不能为空", reason="empty name")
        if len(name) >= MAX_NAME:
            raise Pan123Error.FAILED(f"{what}要小于{MAX_NAME}个字符", reason=f"name has {len(name)} characters")
        bad = sorted(set(name) & FORBIDDEN)
        if bad:
            raise Pan123Error.FAILED(
                f'{what}不能包含以下任何字符："/:*?|><', reason=f"name contains {''.join(bad)!r}"
            )
        return name

    @staticmethod
    def _named(s: Session, tenant: Tenant, space: str, parent_id: str, name: str) -> Pan123File | None:
        """The item of that name in a folder; items in the cloud disk's recycle bin free their name."""
        in_bin = select(Pan123FileMeta.file_id).where(Pan123FileMeta.trashed_at.is_not(None))
        return s.execute(
            select(Pan123File).where(
                Pan123File.client_id == tenant.client_id, Pan123File.space == space,
                Pan123File.parent_id == parent_id, Pan123File.name == name, Pan123File.is_root.is_(False),
                Pan123File.id.not_in(in_bin),
            ).limit(1)
        ).scalar_one_or_none()

    def _place(self, s: Session, tenant: Tenant, space: str, parent_id: str, name: str, duplicate: int) -> str:
        """The name a new file takes in ``parent_id``: refuse a taken name, or (cloud disk's
        ``duplicate``) keep both under a new name (1) or drop the old file (2)."""
        existing = self._named(s, tenant, space, parent_id, name)
        if existing is None:
            return name
        if duplicate == 1:
            stem, dot, ext = name.rpartition(".")
            stem, dot = (stem, dot) if dot and stem else (name, "")
            for n in range(1, 10_000):
                candidate = f"{stem}({n}){dot}{ext if dot else ''}"
                if self._named(s, tenant, space, parent_id, candidate) is None:
                    return candidate
        if duplicate == 2 and not existing.is_dir:
            self._remove(s, existing)
            return name
        raise Pan123Error.FAILED("该目录下已经有同名文件,无法进行创建", reason=f"{name!r} exists in {parent_id!r}")

    def _remove(self, s: Session, row: Pan123File) -> None:
        """Delete a file or a folder with everything under it; release the bytes."""
        if row.is_dir:
            for child in s.execute(
                select(Pan123File).where(Pan123File.client_id == row.client_id, Pan123File.space == row.space,
                                         Pan123File.parent_id == row.id)
            ).scalars().all():
                self._remove(s, child)
        blob_ids = list(s.execute(select(Pan123FilePart.blob_id).where(Pan123FilePart.file_id == row.id)).scalars())
        s.execute(delete(Pan123FilePart).where(Pan123FilePart.file_id == row.id))
        s.delete(row)
        s.flush()
        for blob_id in blob_ids:
            self.emu.blobs.release(s, blob_id)

    # -- image hosting: folders ------------------------------------------------------
    def mkdir(self, tenant: Tenant, names: list[str], parent: str, type_: int) -> dict[str, Any]:
        self._check_type(type_)
        if not names:
            raise Pan123Error.FAILED("name不能为空", reason="empty name list")
        for name in names:
            self.check_name(name, "目录名")
        if len(set(names)) != len(names):
            raise Pan123Error.FAILED("目录名不能重名", reason="the name list repeats a name")
        now = self.emu.clock.now()
        out = []
        with self.emu.db.session() as s:
            parent_id = self._folder(s, tenant, OSS, parent, "父目录")
            for name in names:
                if self._named(s, tenant, OSS, parent_id, name) is not None:
                    raise Pan123Error.FAILED("该目录下已经有同名文件夹,无法进行创建", reason=f"{name!r} exists")
            for name in names:
                row = self._new_folder(s, tenant, parent_id, name, now)
                out.append({"filename": name, "dirID": row.id})
        return {"list": out}

    def _new_folder(self, s: Session, tenant: Tenant, parent_id: str, name: str, now: float) -> Pan123File:
        """An image-hosting folder, as mkdir makes it (shared with :meth:`preload`)."""
        row = Pan123File(
            id=self._new_id(s, tenant, OSS), seq=self._next_seq(s), client_id=tenant.client_id, space=OSS,
            parent_id=parent_id, name=name, is_dir=True, created_at=now, updated_at=now,
        )
        s.add(row)
        s.flush()
        return row

    @staticmethod
    def _check_type(type_: int | None) -> None:
        if type_ != 1:
            raise Pan123Error.FAILED("type固定为1", reason=f"type is {type_!r}")

    # -- upload: create ----------------------------------------------------------------
    def create(
        self, tenant: Tenant, space: str, parent: str, filename: str, etag: str, size: int, duplicate: int = 0,
        type_: int | None = None,
    ) -> dict[str, Any]:
        if space == OSS:
            self._check_type(type_)
        self.check_name(filename)
        if not ETAG.match(etag):
            raise Pan123Error.FAILED("etag必须是32位十六进制的文件md5", reason=f"etag {etag!r}")
        etag = etag.lower()
        self.check_size(size)
        if duplicate not in (0, 1, 2):
            raise Pan123Error.FAILED("duplicate只能是1或2", reason=f"duplicate {duplicate}")
        known = self.emu.blobs.find(md5=etag, size=size)
        now = self.emu.clock.now()
        slice_size = self.config.slice_size
        with self.emu.db.session() as s:
            parent_id = self._folder(s, tenant, space, parent, "父目录")
            if not duplicate and self._named(s, tenant, space, parent_id, filename) is not None:
                raise Pan123Error.FAILED("该目录下已经有同名文件,无法进行创建", reason=f"{filename!r} exists")
            parts = self._reusable(s, etag, size, known.id if known else None)
            if parts is not None:
                for blob_id, _ in parts:
                    self.emu.blobs.retain(s, blob_id)
                row = self._commit_file(s, tenant, space, parent_id, filename, etag, size, parts, duplicate, now)
                return {"fileID": self.wire_id(space, row.id), "reuse": True, "sliceSize": slice_size}
            upload = Pan123Upload(
                id=self.emu.ids.hex(16), preupload_id=self._preupload_id(), client_id=tenant.client_id, space=space,
                parent_id=parent_id, filename=filename, etag=etag, size=size, slice_size=slice_size,
                duplicate=duplicate, state="open", created_at=now,
            )
            s.add(upload)
        return {"fileID": self.wire_id(space, None), "reuse": False, "preuploadID": upload.preupload_id,
                "sliceSize": slice_size}

    def _preupload_id(self) -> str:
        return base64.b64encode(self.emu.ids.bytes(96)).decode()

    @staticmethod
    def _reusable(s: Session, etag: str, size: int, blob_id: int | None) -> list[tuple[int, int]] | None:
        """Bytes already stored with this MD5 and size: a verified file of any tenant (its
        slices), else a single blob anywhere in the store."""
        row = s.execute(
            select(Pan123File.id).where(Pan123File.etag == etag, Pan123File.size == size,
                                        Pan123File.is_dir.is_(False)).limit(1)
        ).scalar_one_or_none()
        if row is not None:
            parts = s.execute(
                select(Pan123FilePart.blob_id, Pan123FilePart.size).where(Pan123FilePart.file_id == row)
                .order_by(Pan123FilePart.seq)
            ).all()
            if parts and sum(p.size for p in parts) == size:
                return [(p.blob_id, p.size) for p in parts]
        if blob_id is not None:
            blob = s.get(Blob, blob_id)
            if blob is not None and blob.state == "ready" and blob.refcount > 0:
                return [(blob_id, size)]
        return None

    @staticmethod
    def check_size(size: int) -> None:
        if size <= 0:
            raise Pan123Error.FAILED("size必须大于0", reason=f"size {size}")

    def _commit_file(self, s: Session, tenant: Tenant, space: str, parent_id: str, filename: str, etag: str,
                     size: int, parts: list[tuple[int, int]], duplicate: int, now: float) -> Pan123File:
        """A completed upload becomes a file: its name placed (``duplicate`` rules), a new
        id, and its slice blobs in order — each ``(blob_id, size)`` holding one reference
        that passes to the file. Shared by 秒传, upload completion and :meth:`preload`."""
        name = self._place(s, tenant, space, parent_id, filename, duplicate)
        row = self._new_file(s, tenant, space, parent_id, name, etag, size, now)
        for seq, (blob_id, part_size) in enumerate(parts, 1):
            s.add(Pan123FilePart(file_id=row.id, seq=seq, blob_id=blob_id, size=part_size))
        return row

    def _new_file(self, s: Session, tenant: Tenant, space: str, parent_id: str, name: str, etag: str, size: int,
                  now: float) -> Pan123File:
        row = Pan123File(
            id=self._new_id(s, tenant, space), seq=self._next_seq(s), client_id=tenant.client_id, space=space,
            parent_id=parent_id, name=name, is_dir=False, size=size, etag=etag, created_at=now, updated_at=now,
        )
        s.add(row)
        s.flush()
        return row

    # -- upload: slices ------------------------------------------------------------------
    @staticmethod
    def slice_count(up: Pan123Upload) -> int:
        return max(1, -(-up.size // up.slice_size))

    def _upload(self, s: Session, tenant: Tenant, space: str, preupload_id: str) -> Pan123Upload:
        up = s.execute(select(Pan123Upload).where(Pan123Upload.preupload_id == preupload_id)).scalar_one_or_none()
        if up is None or up.client_id != tenant.client_id or up.space != space:
            raise Pan123Error.FAILED("preuploadID不存在", reason="unknown preuploadID")
        return up

    def upload_url(self, tenant: Tenant, space: str, preupload_id: str, slice_no: int, base: str) -> dict[str, Any]:
        with self.emu.db.session() as s:
            up = self._upload(s, tenant, space, preupload_id)
            if up.state in ("verifying", "done"):
                raise Pan123Error.FAILED("该预上传已提交上传完毕,不能再上传分片", reason=f"upload is {up.state}")
            count = self.slice_count(up)
            upload_id, etag = up.id, up.etag
        if not 1 <= slice_no <= count:
            raise Pan123Error.FAILED(f"sliceNo超出范围,应为1~{count}", reason=f"sliceNo {slice_no} of {count}")
        path = f"{S3_PREFIX}/123-{tenant.uid % 1000}/{etag[:8]}/{tenant.uid}-0/{etag}"
        url = auth.presign(
            tenant, base, path, urlsplit(base).netloc, {"partNumber": str(slice_no), "uploadId": upload_id},
            self.emu.clock.now(), self.config.presign_expires,
        )
        return {"presignedURL": url, "isMultipart": count > 1}

    def slice_tenant(self, upload_id: str) -> Tenant:
        """Whose upload a presigned URL names (403 if none)."""
        with self.emu.db.session() as s:
            up = s.get(Pan123Upload, upload_id) if upload_id else None
            client_id = up.client_id if up else None
        tenant = self.emu.tenants.get("pan123", client_id) if client_id else None
        if tenant is None:
            raise S3Error.ACCESS_DENIED(reason=f"no upload {upload_id!r}: the URL was not issued here")
        return tenant

    def slice_target(self, upload_id: str, method: str, path: str, raw_query: str, host: str) -> tuple[int, int]:
        """Check a PUT to a presigned URL: (part number, most bytes it may carry)."""
        with self.emu.db.session() as s:
            up = s.get(Pan123Upload, upload_id) if upload_id else None
            info = (up.client_id, up.state, self.slice_count(up), up.slice_size) if up else None
        if info is None:
            raise S3Error.ACCESS_DENIED(reason=f"no upload {upload_id!r}: the URL was not issued here")
        client_id, state, count, slice_size = info
        tenant = self.emu.tenants.get("pan123", client_id)
        if tenant is None:
            raise S3Error.ACCESS_DENIED(reason=f"tenant {client_id} no longer exists")
        auth.verify(tenant, method, path, raw_query, host, self.emu.clock.now())
        if state not in ("open", "failed"):
            raise S3Error.NO_SUCH_UPLOAD(reason=f"upload is {state}")
        part = dict(auth.parse_query(raw_query)).get("partNumber", "")
        if not part.isdigit() or not 1 <= int(part) <= count:
            raise S3Error.ACCESS_DENIED(reason=f"partNumber {part!r} outside 1..{count}")
        return int(part), slice_size

    async def receive_slice(self, upload_id: str, part_no: int, limit: int, chunks: AsyncIterator[bytes]) -> str:
        """Stream one slice into the store (its MD5 computed on the way) and make it the
        upload's part ``part_no``, replacing an earlier PUT of the same slice."""
        try:
            staged = await self.emu.blobs.stage(chunks, max_size=limit)
        except BlobTooLarge:
            raise S3Error.TOO_LARGE(f"a slice carries at most {limit} bytes (sliceSize)",
                                    reason="slice larger than sliceSize") from None
        try:
            with self.emu.db.session() as s:
                up = s.get(Pan123Upload, upload_id)
                if up is None or up.state not in ("open", "failed"):
                    raise S3Error.NO_SUCH_UPLOAD(reason="upload completed while the slice was streaming")
                blob_id = self.emu.blobs.commit(s, staged)
                old = s.get(Pan123UploadPart, (upload_id, part_no))
                if old is not None:
                    old_blob = old.blob_id
                    old.blob_id, old.size, old.md5 = blob_id, staged.size, staged.md5
                    old.updated_at = self.emu.clock.now()
                    s.flush()
                    self.emu.blobs.release(s, old_blob)
                else:
                    s.add(Pan123UploadPart(upload_id=upload_id, part_no=part_no, blob_id=blob_id, size=staged.size,
                                           md5=staged.md5, updated_at=self.emu.clock.now()))
        except BaseException:
            self.emu.blobs.discard(staged)
            raise
        return staged.md5

    def list_parts(self, tenant: Tenant, space: str, preupload_id: str) -> dict[str, Any]:
        with self.emu.db.session() as s:
            up = self._upload(s, tenant, space, preupload_id)
            if up.state == "done":
                raise Pan123Error.FAILED("该预上传已完成", reason="upload is done")
            if self.slice_count(up) == 1:
                return {"parts": []}  # "如果您的文件小于sliceSize，该操作将会返回空值"
            parts = s.execute(
                select(Pan123UploadPart).where(Pan123UploadPart.upload_id == up.id).order_by(Pan123UploadPart.part_no)
            ).scalars().all()
            return {"parts": [{"partNumber": p.part_no, "size": p.size, "etag": p.md5} for p in parts]}

    # -- upload: complete ------------------------------------------------------------------
    def _parts_in_order(self, s: Session, up: Pan123Upload) -> list[Pan123UploadPart]:
        parts = s.execute(
            select(Pan123UploadPart).where(Pan123UploadPart.upload_id == up.id).order_by(Pan123UploadPart.part_no)
        ).scalars().all()
        count = self.slice_count(up)
        have = {p.part_no for p in parts}
        missing = [n for n in range(1, count + 1) if n not in have]
        if missing:
            shown = ",".join(map(str, missing[:20])) + ("..." if len(missing) > 20 else "")
            raise Pan123Error.FAILED(f"分片未全部上传,缺少分片:{shown}", reason=f"missing slices {shown}")
        for p in parts:
            want = up.slice_size if p.part_no < count else up.size - (count - 1) * up.slice_size
            if p.size != want:
                raise Pan123Error.FAILED(
                    f"分片{p.part_no}大小为{p.size},应为{want}", reason=f"slice {p.part_no} has {p.size} bytes, not {want}"
                )
        return list(parts)

    def complete(self, tenant: Tenant, space: str, preupload_id: str) -> dict[str, Any]:
        with self.emu.db.session() as s:
            up = self._upload(s, tenant, space, preupload_id)
            multi = self.slice_count(up) > 1
            if up.state == "done":
                return {"async": multi, "completed": True, "fileID": self.wire_id(space, up.file_id)}
            if up.state == "verifying":
                return {"async": True, "completed": False, "fileID": self.wire_id(space, None)}
            parts = self._parts_in_order(s, up)
            if not multi:
                if parts[0].md5 != up.etag:
                    raise Pan123Error.FAILED(
                        "文件MD5校验失败,上传的内容与etag不一致", reason=f"slice MD5 {parts[0].md5} != etag {up.etag}"
                    )
                row = self._finish(s, tenant, up, parts)
                return {"async": False, "completed": True, "fileID": self.wire_id(space, row.id)}
            up.state, up.completed_at, up.polls, up.error, up.verified_md5 = (
                "verifying", self.emu.clock.now(), 0, None, None)
            upload_id, blob_ids = up.id, [p.blob_id for p in parts]
        self._verify_later(upload_id, blob_ids)
        return {"async": True, "completed": False, "fileID": self.wire_id(space, None)}

    def _finish(self, s: Session, tenant: Tenant, up: Pan123Upload, parts: list[Pan123UploadPart]) -> Pan123File:
        """The upload becomes a file: its slice blobs move from the session to the file."""
        now = self.emu.clock.now()
        parent = up.parent_id
        if parent not in ("", DISK_ROOT):
            folder = s.get(Pan123File, parent)
            if folder is None or not folder.is_dir:
                raise Pan123Error.FAILED("父目录不存在", reason=f"folder {parent} was deleted during the upload")
        row = self._commit_file(s, tenant, up.space, parent, up.filename, up.etag, up.size,
                                [(p.blob_id, p.size) for p in parts], up.duplicate, now)
        for p in parts:
            s.delete(p)
        up.state, up.file_id, up.error = "done", row.id, None
        return row

    # The whole-file MD5 of a multi-slice upload: slices streamed in order through one MD5
    # on a worker thread, the next chunk read while the previous one hashes.
    # The SHA-1 is computed in the same pass on a second thread (for upload v2's sha1_reuse).
    async def _md5_of(self, blob_ids: list[int], sha1: bool = False) -> str:
        """``md5:sha1`` (``md5:`` unless ``sha1``: only cloud-disk files need it)."""
        h, h1 = hashlib.md5(), hashlib.sha1()
        hashes = (h, h1) if sha1 else (h,)
        pending: list[asyncio.Future[None]] = []
        for blob_id in blob_ids:
            async for piece in self.emu.blobs.read(blob_id):
                for f in pending:
                    await f
                pending = [asyncio.ensure_future(asyncio.to_thread(x.update, piece)) for x in hashes]
        for f in pending:
            await f
        return f"{h.hexdigest()}:{h1.hexdigest() if sha1 else ''}"

    def _verify_later(self, upload_id: str, blob_ids: list[int]) -> asyncio.Task[str]:
        with self.emu.db.session() as s:
            up = s.get(Pan123Upload, upload_id)
            sha1 = up is not None and up.space == DISK  # for the cloud disk's sha1_reuse
        task = asyncio.get_running_loop().create_task(self._md5_of(blob_ids, sha1))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved at poll time
        self._verifications[upload_id] = task
        return task

    async def _verified_md5(self, upload_id: str, blob_ids: list[int]) -> str:
        task = self._verifications.get(upload_id)
        if task is None:  # e.g. the emulator restarted since upload_complete
            task = self._verify_later(upload_id, blob_ids)
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._verifications.pop(upload_id, None)

    def _due(self, up: Pan123Upload) -> bool:
        """The asynchronous check of a multi-slice upload ends ``async_seconds`` after
        ``upload_complete`` on the emulator clock, whether anyone polls or not."""
        return self.emu.clock.now() - (up.completed_at or 0) >= self.config.async_seconds

    async def settle(self, client_id: str | None = None) -> None:
        """Finish every upload (of one client, or all) whose check is due: the file comes
        into being, or the upload fails. Called before any state is read or changed, so a
        listing after ``async_seconds`` shows the file though nobody polled."""
        with self.emu.db.session() as s:
            q = select(Pan123Upload).where(Pan123Upload.state == "verifying")
            if client_id is not None:
                q = q.where(Pan123Upload.client_id == client_id)
            due = [up.id for up in s.execute(q.order_by(Pan123Upload.completed_at)).scalars() if self._due(up)]
        for upload_id in due:
            await self._settle_upload(upload_id)

    async def _settle_upload(self, upload_id: str) -> None:
        """The end of the check: the whole-file MD5 (awaited if still computing) against the
        etag, then the file (``_finish``), or the upload marked failed with the reason."""
        with self.emu.db.session() as s:
            up = s.get(Pan123Upload, upload_id)
            if up is None or up.state != "verifying":
                return
            blob_ids = list(s.execute(
                select(Pan123UploadPart.blob_id).where(Pan123UploadPart.upload_id == up.id)
                .order_by(Pan123UploadPart.part_no)
            ).scalars())
        md5, _, sha1 = (await self._verified_md5(upload_id, blob_ids)).partition(":")
        with self.emu.db.session() as s:
            up = s.get(Pan123Upload, upload_id)
            if up is None or up.state != "verifying":
                return  # settled by a concurrent request, or reset meanwhile
            tenant = self.emu.tenants.get("pan123", up.client_id)
            if md5 != up.etag:
                up.state, up.error, up.verified_md5 = "failed", "文件MD5校验失败,上传的内容与etag不一致", md5
            elif tenant is None:
                up.state, up.error, up.verified_md5 = "failed", "用户不存在", md5
            else:
                try:  # _finish and _parts_in_order refuse before they change anything
                    row = self._finish(s, tenant, up, self._parts_in_order(s, up))
                    if row.space == DISK:
                        s.add(Pan123FileMeta(file_id=row.id, sha1=sha1 or None))
                except VendorError as exc:
                    up.state, up.error, up.verified_md5 = "failed", exc.message, md5

    async def async_result(self, tenant: Tenant, space: str, preupload_id: str) -> dict[str, Any]:
        """Reports the check: ``completed: false`` before ``async_seconds`` have passed
        since ``upload_complete``, then the file's id (or the failure, code 1)."""
        with self.emu.db.session() as s:
            up = self._upload(s, tenant, space, preupload_id)
            if up.state == "open":
                raise Pan123Error.FAILED("请先调用上传完毕接口", reason="upload_complete was not called")
            if up.state == "verifying":
                up.polls += 1
            upload_id = up.id
        if self._is_due(upload_id):
            await self._settle_upload(upload_id)
        return self._outcome(tenant, space, upload_id)

    def _is_due(self, upload_id: str) -> bool:
        with self.emu.db.session() as s:
            up = s.get(Pan123Upload, upload_id)
            return up is not None and up.state == "verifying" and self._due(up)

    def _outcome(self, tenant: Tenant, space: str, upload_id: str) -> dict[str, Any]:
        with self.emu.db.session() as s:
            up = s.get(Pan123Upload, upload_id)
            if up is None:
                raise Pan123Error.FAILED("preuploadID不存在", reason="upload vanished (reset)")
            if up.state == "done":
                return {"completed": True, "fileID": self.wire_id(space, up.file_id)}
            if up.state == "failed":
                raise Pan123Error.FAILED(up.error or "文件MD5校验失败",
                                         reason=f"the asynchronous check failed: {up.error}")
            return {"completed": False, "fileID": self.wire_id(space, None)}

    # -- preloading ---------------------------------------------------------------------------
    async def preload(self, tenant_id: str, path: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """``<folder>/.../<file>`` into client ``tenant_id``'s image hosting (``@disk/<folder>/.../<file>``:
        its cloud disk, numeric ids): folders made as
        mkdir makes them, the file as a completed upload leaves it (slices of the current
        ``sliceSize``, etag = MD5, a new id, newest in its folder). A file of that name with
        the same MD5 and size stays; other bytes replace it as the cloud disk's
        ``duplicate: 2`` overwrite does (the old file goes, the new one gets a new id)."""
        file = where("pan123", tenant_id, path)
        tenant: Tenant | None = self.emu.tenants.get("pan123", tenant_id)
        if tenant is None:
            raise PreloadError(f"no pan123 tenant with client_id {tenant_id!r}", file=file)
        *folders, filename = segments("pan123", tenant_id, path)
        space = OSS
        if folders and folders[0] == DISK_PRELOAD:  # "@disk/<folder>/.../<file>": the cloud disk
            space, folders = DISK, folders[1:]
        try:
            for folder in folders:
                self.check_name(folder, "目录名")
            self.check_name(filename)
        except VendorError as err:
            raise refusal(err, file) from None
        staged, etag = await self._stage_slices(chunks)
        size = sum(b.size for b in staged)
        unchanged: Pan123File | None = None
        try:
            self.check_size(size)
            now = self.emu.clock.now()
            with self.emu.db.session() as s:
                parent_id = self._folder(s, tenant, OSS, "", "父目录") if space == OSS else DISK_ROOT
                for folder in folders:
                    existing = self._named(s, tenant, space, parent_id, folder)
                    if existing is None and space == DISK:
                        parent_id = self.disk.new_folder(s, tenant, parent_id, folder, now).id
                    elif existing is None:
                        parent_id = self._new_folder(s, tenant, parent_id, folder, now).id
                    elif not existing.is_dir:
                        raise Pan123Error.FAILED("该目录下已经有同名文件夹,无法进行创建",
                                                 reason=f"{folder!r} exists there as a file")
                    else:
                        parent_id = existing.id
                old = self._named(s, tenant, space, parent_id, filename)
                if old is not None and not old.is_dir and (old.etag, old.size) == (etag, size):
                    unchanged = old
                else:
                    parts = [(self.emu.blobs.commit(s, b), b.size) for b in staged]
                    row = self._commit_file(s, tenant, space, parent_id, filename, etag, size, parts, 2, now)
                    file_id = row.id
        except BaseException as exc:
            for b in staged:
                self.emu.blobs.discard(b)
            if isinstance(exc, VendorError):
                raise refusal(exc, file) from None
            raise
        if unchanged is not None:
            for b in staged:
                self.emu.blobs.discard(b)
            file_id, result = unchanged.id, "unchanged"
        else:
            result = "replaced" if old is not None else "created"
        return {"api": "pan123", "tenant": tenant.client_id, "path": path, "id": self.wire_id(space, file_id), "size": size,
                "result": result}

    async def _stage_slices(self, chunks: AsyncIterator[bytes]) -> tuple[list[StagedBlob], str]:
        """A whole file as slices of ``sliceSize`` (as the presigned PUTs would bring them),
        each staged as its own blob, and the whole-file MD5 computed on the way."""
        whole = hashlib.md5()
        source = chunks.__aiter__()
        pending = b""
        exhausted = False

        async def fill() -> bool:
            nonlocal pending, exhausted
            while not pending and not exhausted:
                try:
                    pending = await source.__anext__()
                except StopAsyncIteration:
                    exhausted = True
            return bool(pending)

        async def take(limit: int) -> AsyncIterator[bytes]:
            nonlocal pending
            remaining = limit
            while remaining > 0 and await fill():
                if len(pending) <= remaining:
                    piece, pending = pending, b""
                else:
                    piece, pending = pending[:remaining], pending[remaining:]
                remaining -= len(piece)
                await asyncio.to_thread(whole.update, piece)
                yield piece

        staged: list[StagedBlob] = []
        try:
            while await fill():
                staged.append(await self.emu.blobs.stage(take(self.config.slice_size)))
        except BaseException:
            for b in staged:
                self.emu.blobs.discard(b)
            raise
        return staged, whole.hexdigest()

    # -- image hosting: delete, detail, list --------------------------------------------
    def delete(self, tenant: Tenant, ids: list[str]) -> None:
        if not ids:
            raise Pan123Error.FAILED("fileIDs不能为空", reason="empty fileIDs")
        if len(ids) > MAX_DELETE:
            raise Pan123Error.FAILED(f"fileIDs长度最大不超过{MAX_DELETE}", reason=f"{len(ids)} ids")
        with self.emu.db.session() as s:
            for fid in dict.fromkeys(ids):
                row = s.get(Pan123File, fid)
                if row is None or row.client_id != tenant.client_id or row.space != OSS:
                    continue  # unknown ids are ignored, as a repeated delete must be
                if row.is_root:
                    raise Pan123Error.FAILED("根目录不能删除", reason="fileIDs names the image-hosting root")
                self._remove(s, row)

    def _describe(self, row: Pan123File, parent_name: str, tenant: Tenant, base: str) -> dict[str, Any]:
        ext = "" if row.is_dir else extension(row.name)
        url = "" if row.is_dir else self.download_url(base, DOWNLOAD_PREFIX, tenant, row)
        return {
            "fileId": row.id,
            "filename": row.name,
            "parentFileId": row.parent_id,
            "type": 1 if row.is_dir else 0,
            "etag": "" if row.is_dir else row.etag,
            "size": 0 if row.is_dir else row.size,
            "status": 0 if row.is_dir else FILE_STATUS,
            "s3KeyFlag": "" if row.is_dir else f"{tenant.uid}-0",
            "storageNode": "" if row.is_dir else STORAGE_NODE,
            "createAt": format_time(row.created_at),
            "updateAt": format_time(row.updated_at),
            "downloadURL": url,
            "ossIndex": 0,
            "totalTraffic": row.traffic,
            "parentFilename": parent_name,
            "extension": ext,
            "userSelfURL": "" if row.is_dir else self.download_url(base, SELF_PREFIX, tenant, row),
        }

    @staticmethod
    def download_url(base: str, prefix: str, tenant: Tenant, row: Pan123File) -> str:
        ext = extension(row.name)
        return f"{base}{prefix}/{tenant.uid}/{row.id}" + (f".{ext}" if ext else "")

    def detail(self, tenant: Tenant, file_id: str, base: str) -> dict[str, Any]:
        with self.emu.db.session() as s:
            row = s.get(Pan123File, file_id) if file_id else None
            if row is None or row.client_id != tenant.client_id or row.space != OSS or row.is_root:
                raise Pan123Error.NOT_FOUND(reason=f"no image-hosting file {file_id!r}")
            parent = s.get(Pan123File, row.parent_id)
            return self._describe(row, parent.name if parent else "", tenant, base)

    def list(self, tenant: Tenant, parent: str, limit: int, start: int | None, end: int | None, last: str,
             type_: int, base: str) -> dict[str, Any]:
        self._check_type(type_)
        if not 1 <= limit <= MAX_LIMIT:
            raise Pan123Error.FAILED(f"limit最大不超过{MAX_LIMIT}", reason=f"limit {limit}")
        with self.emu.db.session() as s:
            parent_id = self._folder(s, tenant, OSS, parent, "父级目录")
            folder = s.get(Pan123File, parent_id)
            if last == "-1":
                return {"lastFileId": "-1", "fileList": []}
            q = select(Pan123File).where(
                Pan123File.client_id == tenant.client_id, Pan123File.space == OSS, Pan123File.parent_id == parent_id
            )
            if last:
                after = s.get(Pan123File, last)
                if after is None or after.parent_id != parent_id or after.client_id != tenant.client_id:
                    raise Pan123Error.FAILED("lastFileId无效", reason=f"{last!r} is not in this folder")
                q = q.where(Pan123File.seq < after.seq)
            if start is not None:
                q = q.where(Pan123File.created_at >= start)
            if end is not None:
                q = q.where(Pan123File.created_at <= end)
            rows = s.execute(q.order_by(Pan123File.seq.desc()).limit(limit + 1)).scalars().all()
            page = rows[:limit]
            more = len(rows) > limit
            return {
                "lastFileId": page[-1].id if more else "-1",
                "fileList": [self._describe(r, folder.name if folder else "", tenant, base) for r in page],
            }

    # -- downloads --------------------------------------------------------------------------
    def download(self, uid: str, name: str) -> Download:
        file_id = name.split(".", 1)[0]
        with self.emu.db.session() as s:
            row = s.get(Pan123File, file_id)
            tenant = self.emu.tenants.get("pan123", row.client_id) if row is not None else None
            if row is None or row.is_dir or tenant is None or str(tenant.uid) != uid:
                raise S3Error.NO_SUCH_KEY(reason=f"no file {file_id!r} of user {uid}")
            parts = s.execute(
                select(Pan123FilePart.blob_id, Pan123FilePart.size).where(Pan123FilePart.file_id == row.id)
                .order_by(Pan123FilePart.seq)
            ).all()
            return Download(row.id, row.name, row.size, row.etag, [(p.blob_id, p.size) for p in parts],
                            row.client_id)

    @staticmethod
    def content_type(name: str) -> str:
        return mimetypes.guess_type(name)[0] or "application/octet-stream"

    async def stream(self, dl: Download, start: int = 0, end: int | None = None,
                     count_traffic: bool = True) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` of a file, slice after slice, never joined in memory."""
        end = dl.size if end is None else end
        offset = 0
        sent = 0
        try:
            for blob_id, size in dl.parts:
                lo, hi = max(start - offset, 0), min(end - offset, size)
                if lo < hi:
                    async for piece in self.emu.blobs.read(blob_id, lo, hi):
                        sent += len(piece)
                        yield piece
                offset += size
                if offset >= end:
                    break
        finally:
            if count_traffic and sent:
                self._count_traffic(dl.file_id, sent)

    def _count_traffic(self, file_id: str, sent: int) -> None:
        """Bookkeeping after the body: a failure here (a full disk) never cuts the response."""
        try:
            with self.emu.db.session() as s:
                row = s.get(Pan123File, file_id)
                if row is not None:
                    row.traffic += sent
        except Exception as exc:  # noqa: BLE001 - the bytes are sent; the counter is not worth a broken answer
            log.warning("123pan download counter of file %s not updated: %s", file_id, str(exc).splitlines()[0])

    # -- evidence for tests ------------------------------------------------------------------
    def all_files(self, client_id: str | None = None) -> list[dict[str, Any]]:
        with self.emu.db.session() as s:
            q = select(Pan123File).order_by(Pan123File.seq)
            if client_id:
                q = q.where(Pan123File.client_id == client_id)
            binned = set(s.execute(select(Pan123FileMeta.file_id).where(Pan123FileMeta.trashed_at.is_not(None)))
                         .scalars())
            out = []
            for row in s.execute(q).scalars().all():
                parts = s.execute(
                    select(Pan123FilePart.blob_id, Pan123FilePart.size).where(Pan123FilePart.file_id == row.id)
                    .order_by(Pan123FilePart.seq)
                ).all()
                out.append({
                    "id": row.id, "client_id": row.client_id, "space": row.space, "parent_id": row.parent_id,
                    "name": row.name, "is_dir": row.is_dir, "is_root": row.is_root, "size": row.size,
                    "etag": row.etag, "created_at": row.created_at, "slices": [p.size for p in parts],
                    "blob_ids": [p.blob_id for p in parts], "trashed": row.id in binned,
                })
            return out

    def all_uploads(self) -> list[dict[str, Any]]:
        with self.emu.db.session() as s:
            out = []
            for up in s.execute(select(Pan123Upload).order_by(Pan123Upload.created_at)).scalars().all():
                parts = s.execute(
                    select(Pan123UploadPart).where(Pan123UploadPart.upload_id == up.id)
                    .order_by(Pan123UploadPart.part_no)
                ).scalars().all()
                out.append({
                    "upload_id": up.id, "preuploadID": up.preupload_id, "client_id": up.client_id, "space": up.space,
                    "filename": up.filename, "size": up.size, "etag": up.etag, "slice_size": up.slice_size,
                    "state": up.state, "polls": up.polls, "error": up.error, "file_id": up.file_id,
                    "parts": [{"partNumber": p.part_no, "size": p.size, "md5": p.md5} for p in parts],
                })
            return out

    def download_of(self, file_id: str) -> Download:
        with self.emu.db.session() as s:
            row = s.get(Pan123File, file_id)
            if row is None or row.is_dir:
                raise KeyError(file_id)
            parts = s.execute(
                select(Pan123FilePart.blob_id, Pan123FilePart.size).where(Pan123FilePart.file_id == row.id)
                .order_by(Pan123FilePart.seq)
            ).all()
            return Download(row.id, row.name, row.size, row.etag, [(p.blob_id, p.size) for p in parts])
