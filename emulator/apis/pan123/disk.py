"""The 123pan cloud disk ("全部文件") as the open platform's file-management calls see it:
folders, listings (v2 cursor and v1 pages), details, the recycle bin (trash, recover,
delete from the bin), move, rename, download links and the user's account. No HTTP types.

The disk shares the file table with image hosting (``space = "disk"``, numeric ids, root
``"0"``) and with the v1 upload of the PHP demo and upload v2; the recycle-bin flag and the
whole-file SHA-1 live beside a file in ``pan123_file_meta``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Integer, String, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from ...core.clock import BEIJING
from .errors import Pan123Error
from .models import Pan123File, Pan123FileMeta
from .rules import DISK, DISK_ROOT, DOWNLOAD_PREFIX, FILE_STATUS, STORAGE_NODE, check_name, download_url, extension
from .rules import format_time as _time
from .tenant import Tenant
from .tree import Tree, is_trashed

if TYPE_CHECKING:
    from ...core.runtime import Emulator

MAX_IDS = 100  # trash / recover / delete / move: "单级最多支持100个"
MAX_RENAME = 30
MAX_LIMIT = 100
SPACE_PERMANENT = 2 * 1024**4  # 2 TiB, a free account's permanent space
ORDER_BY = {"file_id": "seq", "file_name": "name", "size": "size"}
CATEGORY = {
    **dict.fromkeys(("mp3", "flac", "wav", "aac", "ogg", "m4a", "wma", "ape", "opus"), 1),
    **dict.fromkeys(("mp4", "mkv", "avi", "mov", "flv", "wmv", "webm", "m4v", "ts", "rmvb", "3gp"), 2),
    **dict.fromkeys(("jpg", "jpeg", "png", "gif", "bmp", "webp", "heic", "tif", "tiff", "svg", "ico"), 3),
}


def category(row: Pan123File) -> int:
    return 0 if row.is_dir else CATEGORY.get(extension(row.name).lower(), 0)


def v1_time(ts: float) -> str:
    """The old list's times: ``2025-02-24 17:57:01 +0800 CST`` (Go's default time format)."""
    return datetime.fromtimestamp(ts, BEIJING).strftime("%Y-%m-%d %H:%M:%S +0800 CST")


class _Position(FunctionElement[int]):
    """Where ``needle`` first occurs in ``haystack`` (1-based; 0: nowhere): ``instr`` on SQLite,
    ``strpos`` on PostgreSQL. Not ``LIKE``: SQLite refuses a pattern over 50,000 bytes, and
    ``%``/``_`` in a search are characters to find, not wildcards."""

    type = Integer()
    inherit_cache = True


@compiles(_Position)
def _instr(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_Position, "postgresql")
def _strpos(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


def name_contains(search: str) -> ColumnElement[bool]:
    """The search of both listings: names holding ``search``, case aside (as ``lower()`` folds)."""
    return _Position(func.lower(Pan123File.name), func.lower(literal(search, String))) > 0


def num(fid: str) -> int:
    return int(fid) if fid else 0


class Disk:
    def __init__(self, emulator: Emulator, tree: Tree) -> None:
        self.emu = emulator
        self.files = tree  # the shared tree (``tree`` is this class's evidence listing)

    # -- rows ------------------------------------------------------------------------------
    @staticmethod
    def trashed_ids(s: Session, client_id: str) -> set[str]:
        return set(s.execute(
            select(Pan123FileMeta.file_id).join(Pan123File, Pan123File.id == Pan123FileMeta.file_id)
            .where(Pan123File.client_id == client_id, Pan123FileMeta.trashed_at.is_not(None))
        ).scalars())

    @staticmethod
    def _set_trashed(s: Session, fid: str, when: float | None) -> None:
        meta = s.get(Pan123FileMeta, fid)
        if meta is None:
            s.add(Pan123FileMeta(file_id=fid, trashed_at=when))
        else:
            meta.trashed_at = when

    def row(self, s: Session, tenant: Tenant, fid: str, lock: bool = False) -> Pan123File:
        """A file or folder of this client's disk, or 5066. ``lock``: locked until the
        transaction ends (``SELECT ... FOR UPDATE``), for a call that changes it."""
        row = s.get(Pan123File, fid, with_for_update=lock or None) if fid and fid != DISK_ROOT else None
        if row is None or row.client_id != tenant.client_id or row.space != DISK:
            raise Pan123Error.NOT_FOUND("文件不存在，检查传入fileId是否正确", reason=f"no cloud-disk file {fid!r}")
        return row

    def rows(self, s: Session, tenant: Tenant, ids: list[str], what: str = "fileIDs") -> list[Pan123File]:
        if not ids:
            raise Pan123Error.FAILED(f"{what}不能为空", reason=f"empty {what}")
        if len(ids) > MAX_IDS:
            raise Pan123Error.FAILED(f"{what}长度最大不超过{MAX_IDS}", reason=f"{len(ids)} ids")
        # locked in id order: the calls that take rows (trash, recover, delete, move) change them
        locked = {fid: self.row(s, tenant, fid, lock=True) for fid in sorted(dict.fromkeys(ids))}
        return [locked[fid] for fid in dict.fromkeys(ids)]

    def live_folder(self, s: Session, tenant: Tenant, parent: str, what: str = "父目录") -> str:
        """A folder new things may go into: the root, or a folder not in the recycle bin."""
        folder = self.files.folder(s, tenant, DISK, parent or DISK_ROOT, what)
        if folder != DISK_ROOT and is_trashed(s, folder):
            raise Pan123Error.FAILED(f"{what}已在回收站", reason=f"folder {folder} is in the recycle bin")
        return folder

    @staticmethod
    def children(s: Session, client_id: str, parent_id: str) -> list[Pan123File]:
        return list(s.execute(
            select(Pan123File).where(Pan123File.client_id == client_id, Pan123File.space == DISK,
                                     Pan123File.parent_id == parent_id).order_by(Pan123File.seq)
        ).scalars())

    def subtree_size(self, s: Session, row: Pan123File) -> int:
        if not row.is_dir:
            return row.size
        return sum(self.subtree_size(s, c) for c in self.children(s, row.client_id, row.id))

    def _ancestors(self, s: Session, fid: str) -> list[str]:
        out = []
        while fid and fid != DISK_ROOT:
            out.append(fid)
            row = s.get(Pan123File, fid)
            fid = row.parent_id if row is not None else ""
        return out

    def _name_free(self, s: Session, tenant: Tenant, parent_id: str, name: str, but: str | None = None) -> bool:
        other = self.files.named(s, tenant, DISK, parent_id, name)
        return other is None or other.id == but

    # -- folders ---------------------------------------------------------------------------
    def mkdir(self, tenant: Tenant, name: str, parent: str) -> dict[str, Any]:
        check_name(name, "目录名")
        now = self.emu.clock.now()
        with self.emu.db.session() as s:
            parent_id = self.live_folder(s, tenant, parent)
            if not self._name_free(s, tenant, parent_id, name):
                raise Pan123Error.FAILED("该目录下已经有同名文件夹,无法进行创建",
                                         reason=f"{name!r} exists in {parent_id}")
            return {"dirID": num(self.files.new_folder(s, tenant, DISK, parent_id, name, now).id)}

    def folder_path(self, s: Session, tenant: Tenant, parent_id: str, names: list[str], now: float) -> str:
        """``containDir``: the folders of a path under ``parent_id``, made where missing."""
        for name in names:
            check_name(name, "目录名")
            existing = self.files.named(s, tenant, DISK, parent_id, name)
            if existing is None:
                parent_id = self.files.new_folder(s, tenant, DISK, parent_id, name, now).id
            elif not existing.is_dir:
                raise Pan123Error.FAILED("该目录下已经有同名文件,无法创建目录", reason=f"{name!r} is a file")
            else:
                parent_id = existing.id
        return parent_id

    def contain_dir(self, tenant: Tenant, parent: str, path: str) -> tuple[str, str]:
        """``containDir`` of the v1 create: (folder id, file name) of a path like
        ``/a/b/c.txt`` under ``parent``, its folders made where missing."""
        *folders, name = [p for p in path.split("/") if p] or [""]
        check_name(name)
        with self.emu.db.session() as s:
            parent_id = self.live_folder(s, tenant, parent)
            return self.folder_path(s, tenant, parent_id, folders, self.emu.clock.now()), name

    # -- descriptions ----------------------------------------------------------------------
    def item_v2(self, row: Pan123File, tenant: Tenant, trashed: set[str]) -> dict[str, Any]:
        """An item of the v2 list and of ``infos``."""
        return {
            "fileId": num(row.id),
            "filename": row.name,
            "parentFileId": num(row.parent_id),
            "type": 1 if row.is_dir else 0,
            "etag": "" if row.is_dir else row.etag,
            "size": 0 if row.is_dir else row.size,
            "category": category(row),
            "status": 0 if row.is_dir else FILE_STATUS,
            "punishFlag": 0,
            "s3KeyFlag": "" if row.is_dir else f"{tenant.uid}-0",
            "storageNode": "" if row.is_dir else STORAGE_NODE,
            "trashed": 1 if row.id in trashed else 0,
            "createAt": _time(row.created_at),
            "updateAt": _time(row.updated_at),
        }

    def item_v1(self, row: Pan123File, tenant: Tenant, parent_name: str) -> dict[str, Any]:
        return {
            "fileID": num(row.id),
            "filename": row.name,
            "parentFileId": num(row.parent_id),
            "parentName": parent_name,
            "type": 1 if row.is_dir else 0,
            "etag": "" if row.is_dir else row.etag,
            "size": 0 if row.is_dir else row.size,
            "contentType": "0",
            "category": category(row),
            "hidden": False,
            "status": 0 if row.is_dir else FILE_STATUS,
            "punishFlag": 0,
            "s3KeyFlag": "" if row.is_dir else f"{tenant.uid}-0",
            "storageNode": "" if row.is_dir else STORAGE_NODE,
            "createAt": v1_time(row.created_at),
            "updateAt": v1_time(row.updated_at),
            "thumbnail": "",
            "downloadUrl": "",
        }

    def detail(self, tenant: Tenant, fid: str) -> dict[str, Any]:
        with self.emu.db.session() as s:
            row = self.row(s, tenant, fid)
            return {
                "fileID": num(row.id),
                "filename": row.name,
                "type": 1 if row.is_dir else 0,
                "size": self.subtree_size(s, row),  # "支持查询单文件夹包含文件大小"
                "etag": "" if row.is_dir else row.etag,
                "status": 0 if row.is_dir else FILE_STATUS,
                "parentFileID": num(row.parent_id),
                "createAt": _time(row.created_at),
                "trashed": 1 if is_trashed(s, row.id) else 0,
            }

    def infos(self, tenant: Tenant, ids: list[str]) -> dict[str, Any]:
        """Known ids in request order; unknown or foreign ids are left out."""
        if not ids:
            raise Pan123Error.FAILED("fileIds不能为空", reason="empty fileIds")
        if len(ids) > MAX_IDS:
            raise Pan123Error.FAILED(f"fileIds长度最大不超过{MAX_IDS}", reason=f"{len(ids)} ids")
        with self.emu.db.session() as s:
            trashed = self.trashed_ids(s, tenant.client_id)
            items = []
            for fid in dict.fromkeys(ids):
                row = s.get(Pan123File, fid)
                if row is not None and row.client_id == tenant.client_id and row.space == DISK:
                    items.append({**self.item_v2(row, tenant, trashed), "updateAt": _time(row.updated_at)})
        return {"list": items, "fileList": items}

    # -- listings --------------------------------------------------------------------------
    def list_v2(self, tenant: Tenant, parent: str, limit: int, search: str, mode: int | None, last: str,
                trashed: bool | None) -> dict[str, Any]:
        if not 1 <= limit <= MAX_LIMIT:
            raise Pan123Error.FAILED(f"limit最大不超过{MAX_LIMIT}", reason=f"limit {limit}")
        if mode not in (None, 0, 1):
            raise Pan123Error.FAILED("searchMode只能是0或1", reason=f"searchMode {mode}")
        with self.emu.db.session() as s:
            q = select(Pan123File).where(Pan123File.client_id == tenant.client_id, Pan123File.space == DISK)
            if search:  # "parentFileId is ignored and the search is global"
                q = q.where(Pan123File.name == search if mode == 1 else name_contains(search))
            else:
                q = q.where(Pan123File.parent_id == self.files.folder(s, tenant, DISK, parent or DISK_ROOT, "父目录"))
            if last and last not in ("0", "-1"):
                after = s.get(Pan123File, last)
                if after is None or after.client_id != tenant.client_id or after.space != DISK:
                    raise Pan123Error.FAILED("lastFileId无效", reason=f"lastFileId {last!r} is not a file of this disk")
                q = q.where(Pan123File.seq > after.seq)
            if last == "-1":
                return {"lastFileId": -1, "fileList": []}
            in_bin = self.trashed_ids(s, tenant.client_id)
            if trashed is True:
                q = q.where(Pan123File.id.in_(in_bin))
            elif trashed is False:
                q = q.where(Pan123File.id.not_in(in_bin))
            rows = list(s.execute(q.order_by(Pan123File.seq).limit(limit + 1)).scalars())
            page = rows[:limit]
            return {
                "lastFileId": num(page[-1].id) if len(rows) > limit else -1,
                "fileList": [self.item_v2(r, tenant, in_bin) for r in page],
            }

    def list_v1(self, tenant: Tenant, parent: str, page: int, limit: int, order_by: str, direction: str,
                trashed: bool, search: str) -> dict[str, Any]:
        if not 1 <= limit <= MAX_LIMIT:
            raise Pan123Error.FAILED(f"limit最大不超过{MAX_LIMIT}", reason=f"limit {limit}")
        if page < 1:
            raise Pan123Error.FAILED("page从1开始", reason=f"page {page}")
        if order_by not in ORDER_BY:
            raise Pan123Error.FAILED("orderBy只能是file_id、size、file_name", reason=f"orderBy {order_by!r}")
        if direction not in ("asc", "desc"):
            raise Pan123Error.FAILED("orderDirection只能是asc或desc", reason=f"orderDirection {direction!r}")
        with self.emu.db.session() as s:
            in_bin = self.trashed_ids(s, tenant.client_id)
            q = select(Pan123File).where(Pan123File.client_id == tenant.client_id, Pan123File.space == DISK)
            if trashed:  # the recycle bin, wherever its items came from
                q = q.where(Pan123File.id.in_(in_bin))
            else:
                folder = self.files.folder(s, tenant, DISK, parent or DISK_ROOT, "父目录")
                q = q.where(Pan123File.parent_id == folder, Pan123File.id.not_in(in_bin))
            if search:
                q = q.where(name_contains(search))
            total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
            column = getattr(Pan123File, ORDER_BY[order_by])
            q = q.order_by(column.asc() if direction == "asc" else column.desc(), Pan123File.seq)
            offset = (page - 1) * limit  # a page past the end is empty: no offset beyond int64 reaches SQL
            rows = list(s.execute(q.offset(offset).limit(limit)).scalars()) if offset < total else []
            names: dict[str, str] = {}
            items = []
            for r in rows:
                if r.parent_id not in names:
                    p = s.get(Pan123File, r.parent_id) if r.parent_id != DISK_ROOT else None
                    names[r.parent_id] = p.name if p is not None else ""
                items.append(self.item_v1(r, tenant, names[r.parent_id]))
        return {"total": total, "fileList": items}

    # -- recycle bin ----------------------------------------------------------------------
    def trash(self, tenant: Tenant, ids: list[str]) -> None:
        now = self.emu.clock.now()
        with self.emu.db.session() as s:
            for row in self.rows(s, tenant, ids):
                if not is_trashed(s, row.id):
                    self._set_trashed(s, row.id, now)
                    row.updated_at = now

    def recover(self, tenant: Tenant, ids: list[str], to_parent: str | None = None) -> dict[str, Any]:
        """Back to where each item was (``to_parent``: into that folder). An item whose folder
        is gone or itself in the bin stays in the bin and is answered in ``abnormalFileIDs``.
        A name taken meanwhile gets a ``(n)`` suffix, as ``duplicate: 1`` does."""
        now = self.emu.clock.now()
        abnormal: list[int] = []
        with self.emu.db.session() as s:
            rows = self.rows(s, tenant, ids)
            target = self.live_folder(s, tenant, to_parent, "目标目录") if to_parent is not None else None
            for row in rows:
                if not is_trashed(s, row.id):
                    raise Pan123Error.FAILED("文件不在回收站", reason=f"{row.id} is not in the recycle bin")
            for row in rows:
                parent = target if target is not None else row.parent_id
                if parent != DISK_ROOT:
                    folder = s.get(Pan123File, parent)
                    if folder is None or any(is_trashed(s, a) for a in self._ancestors(s, parent)):
                        abnormal.append(num(row.id))
                        continue
                row.name = self.files.place(s, tenant, DISK, parent, row.name, 1)
                row.parent_id, row.updated_at = parent, now
                self._set_trashed(s, row.id, None)
        return {"abnormalFileIDs": abnormal}

    def delete(self, tenant: Tenant, ids: list[str]) -> None:
        """Permanently, and only from the recycle bin (as documented)."""
        with self.emu.db.session() as s:
            rows = self.rows(s, tenant, ids)
            for row in rows:
                if not is_trashed(s, row.id):
                    raise Pan123Error.FAILED("文件不在回收站,请先删除至回收站",
                                             reason=f"{row.id} is not in the recycle bin")
            for row in rows:
                if s.get(Pan123File, row.id) is not None:  # not gone with a folder deleted before it
                    self.files.remove(s, row)

    # -- move, rename ---------------------------------------------------------------------
    def move(self, tenant: Tenant, ids: list[str], to_parent: str) -> None:
        now = self.emu.clock.now()
        with self.emu.db.session() as s:
            rows = self.rows(s, tenant, ids)
            target = self.live_folder(s, tenant, to_parent, "目标目录")
            above = set(self._ancestors(s, target))
            names: set[str] = set()
            for row in rows:
                if is_trashed(s, row.id):
                    raise Pan123Error.FAILED("文件已在回收站,不能移动", reason=f"{row.id} is in the recycle bin")
                if row.id in above:
                    raise Pan123Error.FAILED("不能将文件夹移动到自身或其子目录下", reason=f"{row.id} contains {target}")
                if row.name in names or (row.parent_id != target and not self._name_free(s, tenant, target, row.name)):
                    raise Pan123Error.FAILED("目标目录下已经有同名文件", reason=f"{row.name!r} exists in {target}")
                names.add(row.name)
            for row in rows:
                if row.parent_id != target:
                    row.parent_id, row.updated_at = target, now

    def rename(self, tenant: Tenant, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """All or nothing: every name checked against the folder as the batch leaves it."""
        now = self.emu.clock.now()
        out = []
        with self.emu.db.session() as s:
            for fid, name in pairs:
                check_name(name)
                row = self.row(s, tenant, fid, lock=True)
                if row.name == name:
                    continue
                if not self._name_free(s, tenant, row.parent_id, name, but=row.id):
                    raise Pan123Error.FAILED("该目录下已经有同名文件", reason=f"{name!r} exists in {row.parent_id}")
                row.name, row.updated_at = name, now
                s.flush()
                out.append({"fileID": num(row.id), "updateAt": _time(now)})
        return out

    def rename_batch(self, tenant: Tenant, entries: list[str]) -> dict[str, Any]:
        if not entries:
            raise Pan123Error.FAILED("renameList不能为空", reason="empty renameList")
        if len(entries) > MAX_RENAME:
            raise Pan123Error.FAILED(f"renameList长度最大不超过{MAX_RENAME}", reason=f"{len(entries)} entries")
        pairs = []
        for entry in entries:
            fid, bar, name = entry.partition("|")
            if not bar or not fid.strip().isdigit():
                raise Pan123Error.FAILED("renameList的格式应为\"文件ID|新文件名\"", reason=f"entry {entry!r}")
            pairs.append((fid.strip(), name))
        return {"successList": self.rename(tenant, pairs), "failList": []}

    # -- downloads, account ------------------------------------------------------------
    def download_info(self, tenant: Tenant, fid: str, base: str) -> dict[str, Any]:
        with self.emu.db.session() as s:
            row = self.row(s, tenant, fid)
            if row.is_dir:
                raise Pan123Error.FAILED("文件夹不能下载", reason=f"{fid} is a folder")
            return {"downloadUrl": download_url(base, DOWNLOAD_PREFIX, tenant, row)}

    def user_info(self, tenant: Tenant) -> dict[str, Any]:
        with self.emu.db.session() as s:
            used = s.execute(
                select(func.coalesce(func.sum(Pan123File.size), 0)).where(
                    Pan123File.client_id == tenant.client_id, Pan123File.is_dir.is_(False))
            ).scalar_one()
        return {
            "uid": tenant.uid,
            "nickname": f"user{tenant.uid}",
            "headImage": "",
            "passport": "",
            "mail": "",
            "spaceUsed": int(used),
            "spacePermanent": SPACE_PERMANENT,
            "spaceTemp": 0,
            "spaceTempExpr": "0",
            "vip": False,
            "directTraffic": 0,
            "isHideUID": False,
            "httpsCount": 0,
            "vipInfo": None,
            "developerInfo": {"startTime": "", "endTime": ""},
        }

    # -- evidence ---------------------------------------------------------------------------
    def tree(self, client_id: str | None = None) -> list[dict[str, Any]]:
        """Every cloud-disk folder and file (of one client if given) with its path and
        whether it is in the recycle bin."""
        with self.emu.db.session() as s:
            q = select(Pan123File).where(Pan123File.space == DISK).order_by(Pan123File.seq)
            if client_id:
                q = q.where(Pan123File.client_id == client_id)
            rows = list(s.execute(q).scalars())
            by_id = {r.id: r for r in rows}
            binned = {m.file_id for m in s.execute(select(Pan123FileMeta)).scalars() if m.trashed_at is not None}

            def path(r: Pan123File) -> str:
                parts = [r.name]
                while r.parent_id in by_id:
                    r = by_id[r.parent_id]
                    parts.append(r.name)
                return "/" + "/".join(reversed(parts))

            return [{
                "id": num(r.id), "client_id": r.client_id, "parent_id": num(r.parent_id), "path": path(r),
                "name": r.name, "is_dir": r.is_dir, "size": r.size, "etag": r.etag, "trashed": r.id in binned,
                "in_trash": any(a in binned for a in self._ancestors(s, r.id)),
            } for r in rows]

