"""123pan image hosting (图床) as its file calls see it: folders (mkdir), delete, detail and
the list, over the shared tree (``space = "oss"``). Uploads are uploads.py's. No HTTP types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from ...core.db import table_of
from ...core.reads import Read
from .errors import Pan123Error
from .models import Pan123File
from .rules import (
    DOWNLOAD_PREFIX,
    FILE_STATUS,
    OSS,
    SELF_PREFIX,
    STORAGE_NODE,
    check_name,
    check_type,
    download_url,
    extension,
    format_time,
)
from .tenant import Tenant
from .tree import Tree

if TYPE_CHECKING:
    from ...core.runtime import Emulator

_PARENT = aliased(Pan123File)
# A file's row and its folder's name, in one read (the detail call).
_DETAIL = Read(
    select(*table_of(Pan123File).columns, select(_PARENT.name).where(_PARENT.id == Pan123File.parent_id)
           .scalar_subquery())
    .where(Pan123File.id == bindparam("file_id"))
)

MAX_DELETE = 100
MAX_LIMIT = 100


class ImageHosting:
    def __init__(self, emulator: Emulator, tree: Tree) -> None:
        self.emu = emulator
        self.tree = tree

    # -- folders ---------------------------------------------------------------------------
    def mkdir(self, tenant: Tenant, names: list[str], parent: str, type_: int | None) -> dict[str, Any]:
        check_type(type_)
        if not names:
            raise Pan123Error.FAILED("name不能为空", reason="empty name list")
        for name in names:
            check_name(name, "目录名")
        if len(set(names)) != len(names):
            raise Pan123Error.FAILED("目录名不能重名", reason="the name list repeats a name")
        now = self.emu.clock.now()
        out = []
        with self.emu.db.session() as s:
            parent_id = self.tree.folder(s, tenant, OSS, parent, "父目录")
            for name in names:
                if self.tree.named(s, tenant, OSS, parent_id, name) is not None:
                    raise Pan123Error.FAILED("该目录下已经有同名文件夹,无法进行创建", reason=f"{name!r} exists")
            for name in names:
                row = self.tree.new_folder(s, tenant, OSS, parent_id, name, now)
                out.append({"filename": name, "dirID": row.id})
        return {"list": out}

    # -- delete ----------------------------------------------------------------------------
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
                self.tree.remove(s, row)

    # -- detail, list ----------------------------------------------------------------------
    @staticmethod
    def _describe(row: Pan123File, parent_name: str, tenant: Tenant, base: str) -> dict[str, Any]:
        ext = "" if row.is_dir else extension(row.name)
        url = "" if row.is_dir else download_url(base, DOWNLOAD_PREFIX, tenant, row)
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
            "userSelfURL": "" if row.is_dir else download_url(base, SELF_PREFIX, tenant, row),
        }

    def detail(self, tenant: Tenant, file_id: str, base: str) -> dict[str, Any]:
        found = _DETAIL.first(self.emu.db, file_id=file_id) if file_id else None
        if found is not None:
            *columns, parent_name = found
            row = Pan123File(**dict(zip(_DETAIL.keys, columns, strict=False)))
            if row.client_id == tenant.client_id and row.space == OSS and not row.is_root:
                return self._describe(row, parent_name or "", tenant, base)
        raise Pan123Error.NOT_FOUND(reason=f"no image-hosting file {file_id!r}")

    def list_files(self, tenant: Tenant, parent: str, limit: int, start: int | None, end: int | None,
                   last: str, type_: int | None, base: str) -> dict[str, Any]:
        """``/api/v1/oss/file/list``: a folder's items, newest first, ``limit`` a page
        after ``lastFileId`` ("-1": the end), optionally within creation times."""
        check_type(type_)
        if not 1 <= limit <= MAX_LIMIT:
            raise Pan123Error.FAILED(f"limit最大不超过{MAX_LIMIT}", reason=f"limit {limit}")
        with self.emu.db.session() as s:
            parent_id = self.tree.folder(s, tenant, OSS, parent, "父级目录")
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
