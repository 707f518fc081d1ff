"""Upload v2 of the 123pan cloud disk ("推荐"): the upload domain, ``create`` (秒传, folders
from a path, ``duplicate``), slices as multipart POSTs to one of ``servers`` (each slice's
MD5 checked), ``upload_complete`` answering ``completed: false`` while the check runs,
the one-request ``single/create`` and ``sha1_reuse``.

Sessions are the same ``Pan123Upload`` rows as the v1 flows (space ``disk``), slices the
same ``Pan123UploadPart`` rows, and the check the same asynchronous whole-file MD5 that
settles on the emulator clock (checks.py). Every byte streams into the content store.
The routes are disk_routes.py's."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ...core.blobs import Blob, BlobTooLarge, StagedBlob
from ...core.multipart import MultipartError, MultipartReader
from .checks import Checks
from .config import Config
from .disk import Disk, num
from .errors import Pan123Error
from .models import Pan123File, Pan123FileMeta
from .rules import DISK, DISK_ROOT, ETAG, check_duplicate, check_etag, check_name, check_size
from .sessions import Sessions, find_upload, locked_upload, parts_in_order, slice_count, taking_slices
from .tenant import Tenant
from .tree import Parts, Tree, file_parts
from .wire import Params

if TYPE_CHECKING:
    from ...core.runtime import Emulator

MAX_CREATE = 10 * 1024**3  # "单文件最大10GB" (create)
MAX_SINGLE = 1024**3  # "单步上传…文件大小限制1GB"
SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
FILE_PARTS = {"slice", "file"}


def origin(base: str) -> str:
    """``scheme://host[:port]``: x123pan joins ``/upload/v2/file/slice`` onto a server with
    ``urljoin``, which drops any path."""
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}"


class UploadV2:
    def __init__(self, emulator: Emulator, config: Callable[[], Config], tree: Tree, disk: Disk,
                 sessions: Sessions, checks: Checks) -> None:
        self.emu = emulator
        self.config = config
        self.tree = tree
        self.disk = disk
        self.sessions = sessions
        self.checks = checks

    # -- create ----------------------------------------------------------------------------
    def _target(self, s: Session, tenant: Tenant, parent: str, filename: str, contain_dir: bool) -> tuple[str, str]:
        """(folder id, file name): with ``containDir`` the name is a path whose folders are
        made under ``parent`` where missing."""
        parent_id = self.tree.folder(s, tenant, DISK, parent or DISK_ROOT, "父目录")
        if not contain_dir:
            return parent_id, check_name(filename)
        *folders, name = [p for p in filename.split("/") if p] or [""]
        check_name(name)
        return self.disk.folder_path(s, tenant, parent_id, folders, self.emu.clock.now()), name

    @staticmethod
    def _check(etag: str, size: int, duplicate: int, cap: int) -> str:
        etag = check_etag(etag)
        check_size(size)
        if size > cap:
            raise Pan123Error.FAILED(f"文件大小超过{cap // 1024**3}GB上限", reason=f"size {size} > {cap}")
        check_duplicate(duplicate)
        return etag

    def create(self, tenant: Tenant, parent: str, filename: str, etag: str, size: int, duplicate: int,
               contain_dir: bool, base: str) -> dict[str, Any]:
        etag = self._check(etag, size, duplicate, MAX_CREATE)
        if not contain_dir:
            check_name(filename)
        known = self.emu.blobs.find(md5=etag, size=size)
        now = self.emu.clock.now()
        slice_size = self.config().v2_slice_size
        servers = [origin(base)]
        with self.emu.db.session() as s:
            parent_id, name = self._target(s, tenant, parent, filename, contain_dir)
            self.tree.refuse_taken(s, tenant, DISK, parent_id, name, duplicate)
            parts = self.tree.reuse(s, etag, size, known.id if known else None)
            if parts is not None:  # 秒传
                row = self.tree.commit_file(s, tenant, DISK, parent_id, name, etag, size, parts, duplicate, now)
                return {"fileID": num(row.id), "reuse": True, "sliceSize": slice_size, "servers": servers}
            upload = self.sessions.open(s, tenant, DISK, parent_id, name, etag, size, slice_size, duplicate, now)
        return {"fileID": 0, "reuse": False, "preuploadID": upload.preupload_id, "sliceSize": slice_size,
                "servers": servers}

    # -- slices ----------------------------------------------------------------------------
    def _open_upload(self, tenant: Tenant, preupload_id: str) -> tuple[str, int, int]:
        """(upload id, slice size, slice count) of an upload that takes slices."""
        with self.emu.db.session() as s:
            up = taking_slices(s, tenant, DISK, preupload_id)
            return up.id, up.slice_size, slice_count(up)

    async def slice(self, tenant: Tenant, request: Request) -> None:
        fields, staged = await read_form(request, self.emu, lambda f: self._slice_limit(tenant, f))
        try:
            p = Params(fields, form=True)
            upload_id, slice_size, count = self._open_upload(tenant, p.string("preuploadID"))
            slice_no = p.integer("sliceNo")
            want = p.string("sliceMD5")
            if staged is None:
                raise Pan123Error.FAILED("slice不能为空", reason="no slice part")
            if not 1 <= slice_no <= count:
                raise Pan123Error.FAILED(f"sliceNo超出范围,应为1~{count}", reason=f"sliceNo {slice_no} of {count}")
            if not ETAG.match(want):
                raise Pan123Error.FAILED("sliceMD5必须是32位十六进制的md5", reason=f"sliceMD5 {want!r}")
            if staged.md5 != want.lower():
                raise Pan123Error.FAILED("分片MD5校验失败", reason=f"slice MD5 {staged.md5} != sliceMD5 {want}")
            if staged.size > slice_size:
                raise Pan123Error.FAILED(f"分片大小超过sliceSize({slice_size})", reason=f"slice of {staged.size} bytes")
            with self.emu.db.session() as s:
                up = locked_upload(s, upload_id)
                if up is None or up.state not in ("open", "failed"):
                    raise Pan123Error.FAILED("该预上传已提交上传完毕,不能再上传分片", reason="completed meanwhile")
                up.state, up.error = "open", None  # a failed check is answered; new slices start over
                self.sessions.put_part(s, upload_id, slice_no, staged)
        except BaseException:
            if staged is not None:
                self.emu.blobs.discard(staged)
            raise

    def _slice_limit(self, tenant: Tenant, fields: dict[str, Any]) -> int:
        """The most bytes a slice part may carry: its upload's sliceSize when the
        ``preuploadID`` field came first (as every SDK sends it), else the create cap."""
        pre = fields.get("preuploadID")
        if isinstance(pre, str):
            return self._open_upload(tenant, pre)[1]  # an unknown or finished upload: refused now
        return MAX_CREATE

    # -- complete ---------------------------------------------------------------------------
    async def complete(self, tenant: Tenant, preupload_id: str) -> dict[str, Any]:
        """``completed: false`` (or code 20103 when configured) until the check ends
        ``async_seconds`` after the first call, then the file; a failed check is code 1."""
        with self.emu.db.session() as s:
            up = find_upload(s, tenant, DISK, preupload_id, lock=True)
            upload_id = up.id
            if up.state == "failed":
                raise Pan123Error.FAILED(up.error or "文件MD5校验失败", reason=f"the check failed: {up.error}")
            started = up.state == "open"
            if started:
                parts = parts_in_order(s, up)
                if len(parts) == 1 and parts[0].md5 != up.etag:
                    raise Pan123Error.FAILED("文件MD5校验失败,上传的内容与etag不一致",
                                             reason=f"slice MD5 {parts[0].md5} != etag {up.etag}")
                blob_ids = self.checks.start(up, parts)
            elif up.state == "verifying":
                up.polls += 1
        if started:
            self.checks.verify_later(upload_id, blob_ids)
        await self.checks.settle_if_due(upload_id)
        outcome = self.checks.outcome(tenant, DISK, upload_id)
        if not outcome["completed"] and self.config().answer_20103:
            raise Pan123Error.VERIFYING(reason="the check of the upload has not ended (answer_20103 is set)")
        return outcome

    # -- one request -----------------------------------------------------------------------
    async def single(self, tenant: Tenant, request: Request) -> dict[str, Any]:
        fields, staged = await read_form(request, self.emu, lambda f: MAX_SINGLE)
        try:
            p = Params(fields, form=True)
            parent = p.ident("parentFileID")
            filename = p.string("filename")
            size = p.integer("size")
            duplicate = p.integer("duplicate", required=False, default=0) or 0
            etag = self._check(p.string("etag"), size, duplicate, MAX_SINGLE)
            contain_dir = bool(p.boolean("containDir", default=False))
            if staged is None:
                raise Pan123Error.FAILED("file不能为空", reason="no file part")
            if staged.size != size:
                raise Pan123Error.FAILED("文件大小与size不一致", reason=f"{staged.size} bytes, size {size}")
            if staged.md5 != etag:
                raise Pan123Error.FAILED("文件MD5校验失败,上传的内容与etag不一致", reason=f"MD5 {staged.md5} != {etag}")
            now = self.emu.clock.now()
            with self.emu.db.session() as s:
                parent_id, name = self._target(s, tenant, parent, filename, contain_dir)
                self.tree.refuse_taken(s, tenant, DISK, parent_id, name, duplicate)
                blob_id = self.emu.blobs.commit(s, staged)
                row = self.tree.commit_file(s, tenant, DISK, parent_id, name, etag, size, [(blob_id, size)],
                                            duplicate, now)
                return {"fileID": num(row.id), "completed": True}
        except BaseException:
            if staged is not None:
                self.emu.blobs.discard(staged)
            raise

    # -- 秒传 by SHA-1 ------------------------------------------------------------------------
    def sha1_reuse(self, tenant: Tenant, parent: str, filename: str, sha1: str, size: int,
                   duplicate: int) -> dict[str, Any]:
        """Bytes with this SHA-1 and size already stored (a file of one blob, anywhere in the
        store, or a multi-slice cloud-disk file whose check computed it) make the file at once."""
        if not SHA1.match(sha1):
            raise Pan123Error.FAILED("sha1必须是40位十六进制", reason=f"sha1 {sha1!r}")
        sha1 = sha1.lower()
        self._check("0" * 32, size, duplicate, MAX_CREATE)
        check_name(filename)
        now = self.emu.clock.now()
        with self.emu.db.session() as s:
            parent_id = self.tree.folder(s, tenant, DISK, parent or DISK_ROOT, "父目录")
            self.tree.refuse_taken(s, tenant, DISK, parent_id, filename, duplicate)
            found = self._by_sha1(s, sha1, size)
            if found is None:
                return {"fileID": 0, "reuse": False}
            etag, found_parts = found
            parts = self.tree.retain_all(s, found_parts)
            if parts is None:  # released by another transaction since it was found
                return {"fileID": 0, "reuse": False}
            row = self.tree.commit_file(s, tenant, DISK, parent_id, filename, etag, size, parts, duplicate, now)
            s.add(Pan123FileMeta(file_id=row.id, sha1=sha1))
            return {"fileID": num(row.id), "reuse": True}

    @staticmethod
    def _by_sha1(s: Session, sha1: str, size: int) -> tuple[str, Parts] | None:
        blob = s.execute(select(Blob).where(Blob.state == "ready", Blob.sha1 == sha1, Blob.size == size,
                                            Blob.refcount > 0).limit(1)).scalar_one_or_none()
        if blob is not None:
            return blob.md5 or "", [(blob.id, size)]
        row = s.execute(
            select(Pan123File).join(Pan123FileMeta, Pan123FileMeta.file_id == Pan123File.id)
            .where(Pan123FileMeta.sha1 == sha1, Pan123File.size == size, Pan123File.is_dir.is_(False)).limit(1)
        ).scalar_one_or_none()
        if row is None:
            return None
        return row.etag, file_parts(s, row.id)


async def read_form(request: Request, emu: Emulator, limit_of: Callable[[dict[str, Any]], int],
                    ) -> tuple[dict[str, Any], StagedBlob | None]:
    """A multipart body: its text fields (a repeated name is a list) and its one file part
    (``slice`` or ``file``, whatever its filename) streamed into a staged blob of at most
    ``limit_of(fields so far)`` bytes. Anything malformed is code 1 and keeps nothing."""
    fields: dict[str, Any] = {}
    staged: StagedBlob | None = None
    try:
        reader = MultipartReader(request.stream(), request.headers.get("content-type"))
    except MultipartError as exc:
        raise Pan123Error.FAILED("请求体必须是multipart/form-data", reason=str(exc)) from None
    try:
        async for part in reader.parts():
            name = part.name or ""
            if name in FILE_PARTS and (part.is_file or name == "slice"):
                if staged is not None:
                    raise Pan123Error.FAILED(f"{name}只能有一个", reason="two file parts")
                staged = await emu.blobs.stage(part.stream(), max_size=limit_of(fields))
            else:
                value = await part.text()
                old = fields.get(name)
                fields[name] = value if old is None else ([*old, value] if isinstance(old, list) else [old, value])
    except BaseException as exc:
        if staged is not None:
            emu.blobs.discard(staged)
        await reader.drain()
        if isinstance(exc, BlobTooLarge):
            raise Pan123Error.FAILED(f"文件超过{exc.limit}字节", reason=f"file part larger than {exc.limit}") from None
        if isinstance(exc, MultipartError):
            raise Pan123Error.FAILED("multipart请求体格式错误", reason=str(exc)) from None
        raise
    return fields, staged
