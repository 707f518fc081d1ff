"""Upload sessions (``Pan123Upload``) and their slices (``Pan123UploadPart``), shared by the
six-step v1 upload of image hosting and the cloud disk (uploads.py) and upload v2
(upload_v2.py): opening a session, finding it again, storing a slice, checking that every
slice is there, and the session becoming a file. No HTTP types."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from ...core.blobs import StagedBlob
from ...core.db import Raw
from ...core.reads import Sql
from .errors import Pan123Error
from .models import Pan123File, Pan123Upload, Pan123UploadPart
from .rules import DISK_ROOT
from .tenant import Tenant
from .tree import Tree

if TYPE_CHECKING:
    from ...core.runtime import Emulator

_PART = (Pan123UploadPart.upload_id == bindparam("upload_id")) & (Pan123UploadPart.part_no == bindparam("part_no"))
_PART_BLOB = Sql(select(Pan123UploadPart.blob_id).where(_PART))
_PART_VALUES: dict[str, Any] = {"blob_id": bindparam("blob_id"), "size": bindparam("size"), "md5": bindparam("md5"),
                "updated_at": bindparam("at")}
_REPLACE_PART = Sql(update(Pan123UploadPart).where(_PART).values(**_PART_VALUES))
_ADD_PART = Sql(insert(Pan123UploadPart).values(upload_id=bindparam("upload_id"), part_no=bindparam("part_no"),
                                                **_PART_VALUES))
# An upload's state, its row locked until the transaction ends (PostgreSQL; SQLite's
# transactions hold the write lock already).
_LOCKED_STATE = Sql(select(Pan123Upload.state).where(Pan123Upload.id == bindparam("upload_id")).with_for_update())


def slice_count(up: Pan123Upload) -> int:
    return slices_of(up.size, up.slice_size)


def slices_of(size: int, slice_size: int) -> int:
    """How many slices a file of ``size`` bytes takes (at least one)."""
    return max(1, -(-size // slice_size))


def upload_parts(s: Session, upload_id: str) -> list[Pan123UploadPart]:
    """The slices an upload has received, by part number."""
    return list(s.execute(
        select(Pan123UploadPart).where(Pan123UploadPart.upload_id == upload_id).order_by(Pan123UploadPart.part_no)
    ).scalars())


def parts_in_order(s: Session, up: Pan123Upload) -> list[Pan123UploadPart]:
    """Every slice of the upload, each of its expected size (else code 1, nothing changed)."""
    parts = upload_parts(s, up.id)
    count = slice_count(up)
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
    return parts


def find_upload(s: Session, tenant: Tenant, space: str, preupload_id: str, *, lock: bool = False) -> Pan123Upload:
    """``lock``: the row stays locked until the transaction ends (``SELECT ... FOR UPDATE``)
    for a call that changes the upload: two processes never both act on one state."""
    q = select(Pan123Upload).where(Pan123Upload.preupload_id == preupload_id)
    up = s.execute(q.with_for_update() if lock else q).scalar_one_or_none()
    if up is None or up.client_id != tenant.client_id or up.space != space:
        raise Pan123Error.FAILED("preuploadID不存在", reason="unknown preuploadID")
    return up


def locked_upload(s: Session, upload_id: str) -> Pan123Upload | None:
    """The upload row, locked until the transaction ends (see :func:`find_upload`)."""
    return s.get(Pan123Upload, upload_id, with_for_update=True)


def locked_state(run: Raw, upload_id: str) -> str | None:
    """:func:`locked_upload`'s state alone, in a ``Database.raw`` transaction."""
    rows = run.run(_LOCKED_STATE, upload_id=upload_id)
    return str(rows[0][0]) if rows else None


def taking_slices(s: Session, tenant: Tenant, space: str, preupload_id: str) -> Pan123Upload:
    """The upload, if it still takes slices (not submitted with upload_complete)."""
    up = find_upload(s, tenant, space, preupload_id)
    if up.state in ("verifying", "done"):
        raise Pan123Error.FAILED("该预上传已提交上传完毕,不能再上传分片", reason=f"upload is {up.state}")
    return up


class Sessions:
    def __init__(self, emulator: Emulator, tree: Tree) -> None:
        self.emu = emulator
        self.tree = tree

    def open(self, s: Session, tenant: Tenant, space: str, parent_id: str, filename: str, etag: str, size: int,
             slice_size: int, duplicate: int, now: float) -> Pan123Upload:
        """A new session awaiting its slices (``create`` without 秒传)."""
        upload = Pan123Upload(
            id=self.emu.ids.hex(16), preupload_id=base64.b64encode(self.emu.ids.bytes(96)).decode(),
            client_id=tenant.client_id, space=space, parent_id=parent_id, filename=filename, etag=etag, size=size,
            slice_size=slice_size, duplicate=duplicate, state="open", created_at=now,
        )
        s.add(upload)
        return upload

    def put_part(self, s: Session | Raw, upload_id: str, part_no: int, staged: StagedBlob) -> None:
        """A received slice becomes the upload's part ``part_no``, replacing an earlier one
        (in a session, or a ``Database.raw`` transaction: the presigned PUT's hot path)."""
        run = Raw.of(s)
        blob_id = self.emu.blobs.commit(run, staged)
        key = {"upload_id": upload_id, "part_no": part_no}
        values = {"blob_id": blob_id, "size": staged.size, "md5": staged.md5, "at": self.emu.clock.now()}
        old = run.run(_PART_BLOB, **key)
        if old:
            run.run(_REPLACE_PART, **key, **values)
            self.emu.blobs.release(run, old[0][0])
        else:
            run.run(_ADD_PART, **key, **values)

    def finish(self, s: Session, tenant: Tenant, up: Pan123Upload, parts: list[Pan123UploadPart]) -> Pan123File:
        """The upload becomes a file: its slice blobs move from the session to the file."""
        now = self.emu.clock.now()
        parent = up.parent_id
        if parent not in ("", DISK_ROOT):
            folder = s.get(Pan123File, parent)
            if folder is None or not folder.is_dir:
                raise Pan123Error.FAILED("父目录不存在", reason=f"folder {parent} was deleted during the upload")
        row = self.tree.commit_file(s, tenant, up.space, parent, up.filename, up.etag, up.size,
                                    [(p.blob_id, p.size) for p in parts], up.duplicate, now)
        for p in parts:
            s.delete(p)
        up.state, up.file_id, up.error = "done", row.id, None
        return row
