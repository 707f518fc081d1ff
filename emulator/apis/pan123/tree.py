"""123pan's file tree on the core, shared by image hosting (``space = "oss"``, string ids,
a root row per tenant) and the cloud disk (``space = "disk"``, numeric ids, root ``"0"``):
new ids, folder lookups, name clashes (``duplicate``), removal, and a file's bytes as its
ordered slice blobs (``Pan123FilePart``: slices are never joined). No HTTP types.

Several processes may share the database: a folder's names are checked and taken under a
transaction lock on that folder (``core.guards.hold``), the creation order ``seq`` comes
from a shared counter, and a removed row releases its bytes only when this transaction
deleted it (``core.guards.drop``)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, case, delete, func, select
from sqlalchemy.orm import Session

from ...core.blobs import Blob
from ...core.db import Database, table_of
from ...core.guards import drop, hold
from ...core.reads import Read
from ...core.shared import SharedCounter, upsert
from .errors import Pan123Error
from .models import Pan123File, Pan123FileMeta, Pan123FilePart
from .rules import DISK, DISK_ROOT, OSS, ROOT_NAME, TAKEN
from .tenant import Tenant

if TYPE_CHECKING:
    from ...core.runtime import Emulator

Parts = list[tuple[int, int]]  # a file's bytes: (blob_id, size) of each slice, in order
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SEQ_COUNTER = "pan123.file_seq"


_PARTS = (select(Pan123FilePart.blob_id, Pan123FilePart.size).where(Pan123FilePart.file_id == bindparam("file_id"))
          .order_by(Pan123FilePart.seq))
_PARTS_READ = Read(_PARTS)


def file_parts(s: Session, file_id: str) -> Parts:
    """The parts of a file: ``(blob_id, size)`` of each slice in order."""
    return [(r.blob_id, r.size) for r in s.execute(_PARTS, {"file_id": file_id})]


def read_file_parts(db: Database, file_id: str) -> Parts:
    """:func:`file_parts` outside a transaction (a download link's hot path, core/reads.py)."""
    return [(blob_id, size) for blob_id, size in _PARTS_READ.all(db, file_id=file_id)]


def is_trashed(s: Session, fid: str) -> bool:
    """In the cloud disk's recycle bin itself (not counting the folders above it)."""
    meta = s.get(Pan123FileMeta, fid)
    return meta is not None and meta.trashed_at is not None


def _encode(n: int, alphabet: str, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, len(alphabet))
        out.append(alphabet[r])
    return "".join(out)


def _suffix(tenant: Tenant) -> str:
    digest = int.from_bytes(hashlib.sha256(f"pan123-user:{tenant.uid}".encode()).digest(), "big")
    return _encode(digest, _B62, 20)


class Tree:
    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    # -- ids -------------------------------------------------------------------------------
    def _new_id(self, s: Session, tenant: Tenant, space: str) -> str:
        while True:
            if space == OSS:
                fid = _encode(int.from_bytes(self.emu.ids.bytes(21), "big"), _B36, 32) + _suffix(tenant)
            else:
                fid = str(10_000_000 + int.from_bytes(self.emu.ids.bytes(6), "big") % 90_000_000)
            if s.get(Pan123File, fid) is None:
                return fid

    @staticmethod
    def _next_seq(s: Session) -> int:
        """The next creation order: a shared counter bumped in one statement (two processes
        never draw the same), never below the rows' own ``max(seq)`` (data dirs and
        snapshots from before the counter, or rows restored without it)."""
        table = table_of(SharedCounter)
        floor = select(func.coalesce(func.max(Pan123File.seq), 0)).scalar_subquery()
        stmt = upsert(s, table, {"name": SEQ_COUNTER, "value": floor + 1}, ["name"],
                      {"value": case((table.c.value < floor, floor), else_=table.c.value) + 1})
        return int(s.execute(stmt.returning(table.c.value)).scalar_one())

    # -- folders ---------------------------------------------------------------------------
    def _root(self, s: Session, tenant: Tenant) -> Pan123File:
        hold(s, "pan123.root", tenant.client_id)  # made once, whichever process asks first
        row = s.execute(
            select(Pan123File).where(
                Pan123File.client_id == tenant.client_id, Pan123File.space == OSS, Pan123File.is_root.is_(True)
            )
        ).scalar_one_or_none()
        if row is None:
            now = self.emu.clock.now()
            row = self._add(s, tenant, OSS, "", ROOT_NAME, now, is_dir=True, is_root=True)
        return row

    def folder(self, s: Session, tenant: Tenant, space: str, parent: str, what: str) -> str:
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
        if space == DISK and is_trashed(s, row.id):
            raise Pan123Error.FAILED(f"{what}已在回收站", reason=f"folder {parent!r} is in the recycle bin")
        return row.id

    def new_folder(self, s: Session, tenant: Tenant, space: str, parent_id: str, name: str,
                   now: float) -> Pan123File:
        """A folder as mkdir makes it (in either space; shared with preloading)."""
        return self._add(s, tenant, space, parent_id, name, now, is_dir=True)

    # -- names -----------------------------------------------------------------------------
    @staticmethod
    def named(s: Session, tenant: Tenant, space: str, parent_id: str, name: str) -> Pan123File | None:
        """The item of that name in a folder; items in the cloud disk's recycle bin free their name.
        The folder's names stay as seen until the transaction ends (a lock on the folder:
        a name checked free cannot be taken meanwhile by another process)."""
        hold(s, "pan123.folder", tenant.client_id, space, parent_id)
        in_bin = select(Pan123FileMeta.file_id).where(Pan123FileMeta.trashed_at.is_not(None))
        return s.execute(
            select(Pan123File).where(
                Pan123File.client_id == tenant.client_id, Pan123File.space == space,
                Pan123File.parent_id == parent_id, Pan123File.name == name, Pan123File.is_root.is_(False),
                Pan123File.id.not_in(in_bin),
            ).limit(1)
        ).scalar_one_or_none()

    def refuse_taken(self, s: Session, tenant: Tenant, space: str, parent_id: str, name: str,
                     duplicate: int) -> None:
        """A create without ``duplicate`` is refused when the name is taken."""
        if not duplicate and self.named(s, tenant, space, parent_id, name) is not None:
            raise Pan123Error.FAILED(TAKEN, reason=f"{name!r} exists")

    def place(self, s: Session, tenant: Tenant, space: str, parent_id: str, name: str, duplicate: int) -> str:
        """The name a new file takes in ``parent_id``: refuse a taken name, or (cloud disk's
        ``duplicate``) keep both under a new name (1) or drop the old file (2)."""
        existing = self.named(s, tenant, space, parent_id, name)
        if existing is None:
            return name
        if duplicate == 1:
            stem, dot, ext = name.rpartition(".")
            stem, dot = (stem, dot) if dot and stem else (name, "")
            for n in range(1, 10_000):
                candidate = f"{stem}({n}){dot}{ext if dot else ''}"
                if self.named(s, tenant, space, parent_id, candidate) is None:
                    return candidate
        if duplicate == 2 and not existing.is_dir:
            self.remove(s, existing)
            return name
        raise Pan123Error.FAILED(TAKEN, reason=f"{name!r} exists in {parent_id!r}")

    # -- files -----------------------------------------------------------------------------
    def remove(self, s: Session, row: Pan123File) -> None:
        """Delete a file or a folder with everything under it; release the bytes."""
        if row.is_dir:
            for child in s.execute(
                select(Pan123File).where(Pan123File.client_id == row.client_id, Pan123File.space == row.space,
                                         Pan123File.parent_id == row.id)
            ).scalars().all():
                self.remove(s, child)
        blob_ids = [blob_id for blob_id, _ in file_parts(s, row.id)]
        s.execute(delete(Pan123FilePart).where(Pan123FilePart.file_id == row.id))
        if not drop(s, row):
            return  # removed by a concurrent transaction, which released the bytes
        for blob_id in blob_ids:
            self.emu.blobs.release(s, blob_id)

    def commit_file(self, s: Session, tenant: Tenant, space: str, parent_id: str, filename: str, etag: str,
                    size: int, parts: Parts, duplicate: int, now: float) -> Pan123File:
        """A completed upload becomes a file: its name placed (``duplicate`` rules), a new
        id, and its slice blobs in order — each ``(blob_id, size)`` holding one reference
        that passes to the file. Shared by 秒传, upload completion and preloading."""
        name = self.place(s, tenant, space, parent_id, filename, duplicate)
        row = self._add(s, tenant, space, parent_id, name, now, size=size, etag=etag)
        for seq, (blob_id, part_size) in enumerate(parts, 1):
            s.add(Pan123FilePart(file_id=row.id, seq=seq, blob_id=blob_id, size=part_size))
        return row

    def _add(self, s: Session, tenant: Tenant, space: str, parent_id: str, name: str, now: float, *,
             is_dir: bool = False, is_root: bool = False, size: int = 0, etag: str = "") -> Pan123File:
        row = Pan123File(
            id=self._new_id(s, tenant, space), seq=self._next_seq(s), client_id=tenant.client_id, space=space,
            parent_id=parent_id, name=name, is_dir=is_dir, is_root=is_root, size=size, etag=etag,
            created_at=now, updated_at=now,
        )
        s.add(row)
        s.flush()
        return row

    def reuse(self, s: Session, etag: str, size: int, blob_id: int | None) -> Parts | None:
        """秒传: bytes already stored with this MD5 and size, each part's blob retained for
        the new file: a verified file of any tenant (its slices), else the single blob
        ``blob_id`` (the store's match, looked up before the session) if still held."""
        return self.retain_all(s, self._reusable(s, etag, size, blob_id))

    def retain_all(self, s: Session, parts: Parts | None) -> Parts | None:
        """A reference on each part's blob, or None (and no reference) when one of them was
        released meanwhile by another transaction: the bytes are no longer there to reuse."""
        taken: list[int] = []
        for part_blob, _ in parts or ():
            if not self.emu.blobs.retain(s, part_blob):
                for got in taken:
                    self.emu.blobs.release(s, got)
                return None
            taken.append(part_blob)
        return parts

    @staticmethod
    def _reusable(s: Session, etag: str, size: int, blob_id: int | None) -> Parts | None:
        row = s.execute(
            select(Pan123File.id).where(Pan123File.etag == etag, Pan123File.size == size,
                                        Pan123File.is_dir.is_(False)).limit(1)
        ).scalar_one_or_none()
        if row is not None:
            parts = file_parts(s, row)
            if parts and sum(n for _, n in parts) == size:
                return parts
        if blob_id is not None:
            blob = s.get(Blob, blob_id)
            if blob is not None and blob.state == "ready" and blob.refcount > 0:
                return [(blob_id, size)]
        return None
