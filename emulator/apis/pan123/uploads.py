"""The six-step slice upload of the open platform's v1 flows (image hosting, and the cloud
disk's flow of the document's PHP demo): ``create`` with 秒传, a presigned PUT URL per
slice and the storage host that takes the PUT, ``list_upload_parts``, ``upload_complete``
and ``upload_async_result``. No HTTP types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from sqlalchemy import bindparam, select

from ...core.blobs import BlobTooLarge
from ...core.reads import Read
from . import auth
from .checks import Checks
from .config import Config
from .errors import Pan123Error, S3Error
from .models import Pan123Upload
from .rules import OSS, S3_PREFIX, check_duplicate, check_etag, check_name, check_size, check_type, wire_id
from .sessions import (
    Sessions,
    find_upload,
    locked_state,
    parts_in_order,
    slice_count,
    slices_of,
    taking_slices,
    upload_parts,
)
from .tenant import Tenant
from .tree import Tree

if TYPE_CHECKING:
    from ...core.runtime import Emulator

# What a presigned PUT checks first, read without a session (core/reads.py): the upload's owner and state.
class SliceUpload(NamedTuple):
    client_id: str
    state: str
    size: int
    slice_size: int


_SLICE_TARGET = Read(select(Pan123Upload.client_id, Pan123Upload.state, Pan123Upload.size, Pan123Upload.slice_size)
                     .where(Pan123Upload.id == bindparam("upload_id")))


class Uploads:
    def __init__(self, emulator: Emulator, config: Callable[[], Config], tree: Tree, sessions: Sessions,
                 checks: Checks) -> None:
        self.emu = emulator
        self.config = config
        self.tree = tree
        self.sessions = sessions
        self.checks = checks

    # -- create ----------------------------------------------------------------------------
    def create(
        self, tenant: Tenant, space: str, parent: str, filename: str, etag: str, size: int, duplicate: int = 0,
        type_: int | None = None,
    ) -> dict[str, Any]:
        if space == OSS:
            check_type(type_)
        check_name(filename)
        etag = check_etag(etag)
        check_size(size)
        check_duplicate(duplicate)
        known = self.emu.blobs.find(md5=etag, size=size)
        now = self.emu.clock.now()
        slice_size = self.config().slice_size
        with self.emu.db.session() as s:
            parent_id = self.tree.folder(s, tenant, space, parent, "父目录")
            self.tree.refuse_taken(s, tenant, space, parent_id, filename, duplicate)
            parts = self.tree.reuse(s, etag, size, known.id if known else None)
            if parts is not None:
                row = self.tree.commit_file(s, tenant, space, parent_id, filename, etag, size, parts, duplicate, now)
                return {"fileID": wire_id(space, row.id), "reuse": True, "sliceSize": slice_size}
            upload = self.sessions.open(s, tenant, space, parent_id, filename, etag, size, slice_size, duplicate, now)
        return {"fileID": wire_id(space, None), "reuse": False, "preuploadID": upload.preupload_id,
                "sliceSize": slice_size}

    # -- slices ----------------------------------------------------------------------------
    def upload_url(self, tenant: Tenant, space: str, preupload_id: str, slice_no: int, base: str) -> dict[str, Any]:
        with self.emu.db.session() as s:
            up = taking_slices(s, tenant, space, preupload_id)
            count = slice_count(up)
            upload_id, etag = up.id, up.etag
        if not 1 <= slice_no <= count:
            raise Pan123Error.FAILED(f"sliceNo超出范围,应为1~{count}", reason=f"sliceNo {slice_no} of {count}")
        path = f"{S3_PREFIX}/123-{tenant.uid % 1000}/{etag[:8]}/{tenant.uid}-0/{etag}"
        url = auth.presign(
            tenant, base, path, urlsplit(base).netloc, {"partNumber": str(slice_no), "uploadId": upload_id},
            self.emu.clock.now(), self.config().presign_expires,
        )
        return {"presignedURL": url, "isMultipart": count > 1}

    def slice_upload(self, upload_id: str) -> SliceUpload | None:
        """The upload a presigned URL names, read once for :meth:`slice_tenant` and
        :meth:`slice_target` (None: no such upload)."""
        row = _SLICE_TARGET.first(self.emu.db, upload_id=upload_id) if upload_id else None
        return None if row is None else SliceUpload(*row)

    def slice_tenant(self, up: SliceUpload | None, upload_id: str) -> Tenant:
        """Whose upload a presigned URL names (403 if none)."""
        client_id = up.client_id if up else None
        tenant: Tenant | None = self.emu.tenants.get("pan123", client_id) if client_id else None
        if tenant is None:
            raise S3Error.ACCESS_DENIED(reason=f"no upload {upload_id!r}: the URL was not issued here")
        return tenant

    def slice_target(self, up: SliceUpload | None, upload_id: str, method: str, path: str, raw_query: str,
                     host: str) -> tuple[int, int]:
        """Check a PUT to a presigned URL: (part number, most bytes it may carry)."""
        if up is None:
            raise S3Error.ACCESS_DENIED(reason=f"no upload {upload_id!r}: the URL was not issued here")
        client_id, state, size, slice_size = up
        count = slices_of(size, slice_size)
        tenant: Tenant | None = self.emu.tenants.get("pan123", client_id)
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
            with self.emu.db.raw() as run:
                if locked_state(run, upload_id) not in ("open", "failed"):
                    raise S3Error.NO_SUCH_UPLOAD(reason="upload completed while the slice was streaming")
                self.sessions.put_part(run, upload_id, part_no, staged)
        except BaseException:
            self.emu.blobs.discard(staged)
            raise
        return staged.md5

    def list_parts(self, tenant: Tenant, space: str, preupload_id: str) -> dict[str, Any]:
        with self.emu.db.session() as s:
            up = find_upload(s, tenant, space, preupload_id)
            if up.state == "done":
                raise Pan123Error.FAILED("该预上传已完成", reason="upload is done")
            if slice_count(up) == 1:
                return {"parts": []}  # "如果您的文件小于sliceSize，该操作将会返回空值"
            return {"parts": [{"partNumber": p.part_no, "size": p.size, "etag": p.md5}
                              for p in upload_parts(s, up.id)]}

    # -- complete --------------------------------------------------------------------------
    def complete(self, tenant: Tenant, space: str, preupload_id: str) -> dict[str, Any]:
        with self.emu.db.session() as s:
            up = find_upload(s, tenant, space, preupload_id, lock=True)
            multi = slice_count(up) > 1
            if up.state == "done":
                return {"async": multi, "completed": True, "fileID": wire_id(space, up.file_id)}
            if up.state == "verifying":
                return {"async": True, "completed": False, "fileID": wire_id(space, None)}
            parts = parts_in_order(s, up)
            if not multi:
                if parts[0].md5 != up.etag:
                    raise Pan123Error.FAILED(
                        "文件MD5校验失败,上传的内容与etag不一致", reason=f"slice MD5 {parts[0].md5} != etag {up.etag}"
                    )
                row = self.sessions.finish(s, tenant, up, parts)
                return {"async": False, "completed": True, "fileID": wire_id(space, row.id)}
            upload_id, blob_ids = up.id, self.checks.start(up, parts)
        self.checks.verify_later(upload_id, blob_ids)
        return {"async": True, "completed": False, "fileID": wire_id(space, None)}

    async def async_result(self, tenant: Tenant, space: str, preupload_id: str) -> dict[str, Any]:
        """Reports the check: ``completed: false`` before ``async_seconds`` have passed
        since ``upload_complete``, then the file's id (or the failure, code 1)."""
        with self.emu.db.session() as s:
            up = find_upload(s, tenant, space, preupload_id, lock=True)
            if up.state == "open":
                raise Pan123Error.FAILED("请先调用上传完毕接口", reason="upload_complete was not called")
            if up.state == "verifying":
                up.polls += 1
            upload_id = up.id
        await self.checks.settle_if_due(upload_id)
        return self.checks.outcome(tenant, space, upload_id)
