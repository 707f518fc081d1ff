"""Upload v2 of the 123pan cloud disk ("推荐"): the upload domain, ``create`` (秒传, folders
from a path, ``duplicate``), slices as multipart POSTs to one of ``servers`` (each slice's
MD5 checked), ``upload_complete`` answering ``completed: false`` while the check runs,
the one-request ``single/create`` and ``sha1_reuse``.

Sessions are the same ``Pan123Upload`` rows as the v1 flows (space ``disk``), slices the
same ``Pan123UploadPart`` rows, and the check the same asynchronous whole-file MD5 that
settles on the emulator clock (service.py). Every byte streams into the content store."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from sqlalchemy import select

from ...core.blobs import Blob, BlobTooLarge, StagedBlob
from ...core.multipart import MultipartError, MultipartReader
from ...core.urls import public_base
from .disk import num
from .disk_routes import disk_router
from .errors import Pan123Error
from .models import Pan123File, Pan123FileMeta, Pan123FilePart, Pan123Upload, Pan123UploadPart
from .service import DISK, DISK_ROOT, ETAG, Pan123Service
from .tenant import Tenant
from .wire import Params

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
    def __init__(self, service: Pan123Service) -> None:
        self.svc = service
        self.emu = service.emu

    # -- create ----------------------------------------------------------------------------
    def _target(self, s: Any, tenant: Tenant, parent: str, filename: str, contain_dir: bool) -> tuple[str, str]:
        """(folder id, file name): with ``containDir`` the name is a path whose folders are
        made under ``parent`` where missing."""
        parent_id = self.svc._folder(s, tenant, DISK, parent or DISK_ROOT, "父目录")
        if not contain_dir:
            return parent_id, self.svc.check_name(filename)
        *folders, name = [p for p in filename.split("/") if p] or [""]
        self.svc.check_name(name)
        return self.svc.disk.folder_path(s, tenant, parent_id, folders, self.emu.clock.now()), name

    @staticmethod
    def _check(etag: str, size: int, duplicate: int, cap: int) -> str:
        if not ETAG.match(etag):
            raise Pan123Error.FAILED("etag必须是32位十六进制的文件md5", reason=f"etag {etag!r}")
        if size <= 0:
            raise Pan123Error.FAILED("size必须大于0", reason=f"size {size}")
        if size > cap:
            raise Pan123Error.FAILED(f"文件大小超过{cap // 1024**3}GB上限", reason=f"size {size} > {cap}")
        if duplicate not in (0, 1, 2):
            raise Pan123Error.FAILED("duplicate只能是1或2", reason=f"duplicate {duplicate}")
        return etag.lower()

    def create(self, tenant: Tenant, parent: str, filename: str, etag: str, size: int, duplicate: int,
               contain_dir: bool, base: str) -> dict[str, Any]:
        etag = self._check(etag, size, duplicate, MAX_CREATE)
        if not contain_dir:
            self.svc.check_name(filename)
        known = self.emu.blobs.find(md5=etag, size=size)
        now = self.emu.clock.now()
        slice_size = self.svc.config.v2_slice_size
        servers = [origin(base)]
        with self.emu.db.session() as s:
            parent_id, name = self._target(s, tenant, parent, filename, contain_dir)
            if not duplicate and self.svc._named(s, tenant, DISK, parent_id, name) is not None:
                raise Pan123Error.FAILED("该目录下已经有同名文件,无法进行创建", reason=f"{name!r} exists")
            parts = self.svc._reusable(s, etag, size, known.id if known else None)
            if parts is not None:  # 秒传
                for blob_id, _ in parts:
                    self.emu.blobs.retain(s, blob_id)
                row = self.svc._commit_file(s, tenant, DISK, parent_id, name, etag, size, parts, duplicate, now)
                return {"fileID": num(row.id), "reuse": True, "sliceSize": slice_size, "servers": servers}
            upload = Pan123Upload(
                id=self.emu.ids.hex(16), preupload_id=self.svc._preupload_id(), client_id=tenant.client_id,
                space=DISK, parent_id=parent_id, filename=name, etag=etag, size=size, slice_size=slice_size,
                duplicate=duplicate, state="open", created_at=now,
            )
            s.add(upload)
        return {"fileID": 0, "reuse": False, "preuploadID": upload.preupload_id, "sliceSize": slice_size,
                "servers": servers}

    # -- slices ----------------------------------------------------------------------------
    def _open_upload(self, tenant: Tenant, preupload_id: str) -> tuple[str, int, int]:
        """(upload id, slice size, slice count) of an upload that takes slices."""
        with self.emu.db.session() as s:
            up = self.svc._upload(s, tenant, DISK, preupload_id)
            if up.state in ("verifying", "done"):
                raise Pan123Error.FAILED("该预上传已提交上传完毕,不能再上传分片", reason=f"upload is {up.state}")
            return up.id, up.slice_size, self.svc.slice_count(up)

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
                up = s.get(Pan123Upload, upload_id)
                if up is None or up.state not in ("open", "failed"):
                    raise Pan123Error.FAILED("该预上传已提交上传完毕,不能再上传分片", reason="completed meanwhile")
                up.state, up.error = "open", None  # a failed check is answered; new slices start over
                blob_id = self.emu.blobs.commit(s, staged)
                old = s.get(Pan123UploadPart, (upload_id, slice_no))
                now = self.emu.clock.now()
                if old is not None:
                    old_blob = old.blob_id
                    old.blob_id, old.size, old.md5, old.updated_at = blob_id, staged.size, staged.md5, now
                    s.flush()
                    self.emu.blobs.release(s, old_blob)
                else:
                    s.add(Pan123UploadPart(upload_id=upload_id, part_no=slice_no, blob_id=blob_id, size=staged.size,
                                           md5=staged.md5, updated_at=now))
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
        svc = self.svc
        with self.emu.db.session() as s:
            up = svc._upload(s, tenant, DISK, preupload_id)
            upload_id = up.id
            if up.state == "failed":
                raise Pan123Error.FAILED(up.error or "文件MD5校验失败", reason=f"the check failed: {up.error}")
            started = up.state == "open"
            if started:
                parts = svc._parts_in_order(s, up)
                if len(parts) == 1 and parts[0].md5 != up.etag:
                    raise Pan123Error.FAILED("文件MD5校验失败,上传的内容与etag不一致",
                                             reason=f"slice MD5 {parts[0].md5} != etag {up.etag}")
                up.state, up.completed_at, up.polls, up.error, up.verified_md5 = (
                    "verifying", self.emu.clock.now(), 0, None, None)
                blob_ids = [p.blob_id for p in parts]
            elif up.state == "verifying":
                up.polls += 1
        if started:
            svc._verify_later(upload_id, blob_ids)
        if svc._is_due(upload_id):
            await svc._settle_upload(upload_id)
        outcome = svc._outcome(tenant, DISK, upload_id)
        if not outcome["completed"] and svc.config.answer_20103:
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
                if not duplicate and self.svc._named(s, tenant, DISK, parent_id, name) is not None:
                    raise Pan123Error.FAILED("该目录下已经有同名文件,无法进行创建", reason=f"{name!r} exists")
                blob_id = self.emu.blobs.commit(s, staged)
                row = self.svc._commit_file(s, tenant, DISK, parent_id, name, etag, size, [(blob_id, size)],
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
        self.svc.check_name(filename)
        now = self.emu.clock.now()
        with self.emu.db.session() as s:
            parent_id = self.svc._folder(s, tenant, DISK, parent or DISK_ROOT, "父目录")
            if not duplicate and self.svc._named(s, tenant, DISK, parent_id, filename) is not None:
                raise Pan123Error.FAILED("该目录下已经有同名文件,无法进行创建", reason=f"{filename!r} exists")
            found = self._by_sha1(s, sha1, size)
            if found is None:
                return {"fileID": 0, "reuse": False}
            etag, parts = found
            for blob_id, _ in parts:
                self.emu.blobs.retain(s, blob_id)
            row = self.svc._commit_file(s, tenant, DISK, parent_id, filename, etag, size, parts, duplicate, now)
            s.add(Pan123FileMeta(file_id=row.id, sha1=sha1))
            return {"fileID": num(row.id), "reuse": True}

    @staticmethod
    def _by_sha1(s: Any, sha1: str, size: int) -> tuple[str, list[tuple[int, int]]] | None:
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
        parts = s.execute(select(Pan123FilePart.blob_id, Pan123FilePart.size)
                          .where(Pan123FilePart.file_id == row.id).order_by(Pan123FilePart.seq)).all()
        return row.etag, [(p.blob_id, p.size) for p in parts]


async def read_form(request: Request, emu: Any, limit_of: Any) -> tuple[dict[str, Any], StagedBlob | None]:
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
                fields[name] = value if old is None else (old + [value] if isinstance(old, list) else [old, value])
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


# -- routes (added to the 123pan router by routes.py, through disk_routes.ROUTES) ----------------
def _routes() -> Any:
    from . import routes

    return routes


def _v2(service: Pan123Service) -> UploadV2:
    return service.upload_v2


@disk_router.get("/upload/v2/file/domain")
async def domain(request: Request) -> Response:
    r = _routes()
    await r._authed(request)
    return r.ok([origin(public_base(request))])


@disk_router.post("/upload/v2/file/create")
async def create(request: Request) -> Response:
    r = _routes()
    service, tenant, body = await r._call(request)
    p = body.lenient()
    return r.ok(_v2(service).create(
        tenant, p.ident("parentFileID"), p.string("filename"), p.string("etag"), p.integer("size"),
        p.integer("duplicate", required=False, default=0) or 0, bool(p.boolean("containDir", default=False)),
        public_base(request),
    ))


@disk_router.post("/upload/v2/file/slice")
async def upload_slice(request: Request) -> Response:
    r = _routes()
    service, tenant = await r._authed(request)
    await _v2(service).slice(tenant, request)
    return r.ok(None)


@disk_router.post("/upload/v2/file/upload_complete")
async def complete(request: Request) -> Response:
    r = _routes()
    service, tenant, body = await r._call(request)
    return r.ok(await _v2(service).complete(tenant, body.string("preuploadID")))


@disk_router.post("/upload/v2/file/single/create")
async def single_create(request: Request) -> Response:
    r = _routes()
    service, tenant = await r._authed(request)
    return r.ok(await _v2(service).single(tenant, request))


@disk_router.post("/upload/v2/file/sha1_reuse")
async def sha1_reuse(request: Request) -> Response:
    r = _routes()
    service, tenant, body = await r._call(request)
    p = body.lenient()
    return r.ok(_v2(service).sha1_reuse(
        tenant, p.ident("parentFileID"), p.string("filename"), p.string("sha1"), p.integer("size"),
        p.integer("duplicate", required=False, default=0) or 0,
    ))
