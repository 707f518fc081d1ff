"""What 123pan stores, as the admin API and tests see it (``/_emulator/pan123/files`` and
``/uploads``): every file and folder with its slices, every upload session with its state
and received slices. The cloud disk's own tree view is disk.py's ``Disk.tree``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from .models import Pan123File, Pan123FileMeta, Pan123Upload
from .sessions import upload_parts
from .tree import file_parts

if TYPE_CHECKING:
    from ...core.runtime import Emulator


def all_files(emu: Emulator, client_id: str | None = None) -> list[dict[str, Any]]:
    with emu.db.session() as s:
        q = select(Pan123File).order_by(Pan123File.seq)
        if client_id:
            q = q.where(Pan123File.client_id == client_id)
        binned = set(s.execute(select(Pan123FileMeta.file_id).where(Pan123FileMeta.trashed_at.is_not(None)))
                     .scalars())
        out = []
        for row in s.execute(q).scalars().all():
            parts = file_parts(s, row.id)
            out.append({
                "id": row.id, "client_id": row.client_id, "space": row.space, "parent_id": row.parent_id,
                "name": row.name, "is_dir": row.is_dir, "is_root": row.is_root, "size": row.size,
                "etag": row.etag, "created_at": row.created_at, "slices": [size for _, size in parts],
                "blob_ids": [blob_id for blob_id, _ in parts], "trashed": row.id in binned,
            })
        return out


def all_uploads(emu: Emulator) -> list[dict[str, Any]]:
    with emu.db.session() as s:
        out = []
        for up in s.execute(select(Pan123Upload).order_by(Pan123Upload.created_at)).scalars().all():
            out.append({
                "upload_id": up.id, "preuploadID": up.preupload_id, "client_id": up.client_id, "space": up.space,
                "filename": up.filename, "size": up.size, "etag": up.etag, "slice_size": up.slice_size,
                "state": up.state, "polls": up.polls, "error": up.error, "file_id": up.file_id,
                "parts": [{"partNumber": p.part_no, "size": p.size, "md5": p.md5} for p in upload_parts(s, up.id)],
            })
        return out
