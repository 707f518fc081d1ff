"""123pan's download links (``/_pan123/vip`` and ``/_pan123/self``) and the admin API's
content endpoint: which file a link names, and its bytes streamed slice after slice, never
joined in memory; the bytes a link sends count as the file's traffic. No HTTP types."""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select

from ...core.reads import Read
from ...core.state import execute
from .errors import S3Error
from .models import Pan123File
from .tenant import Tenant
from .tree import Parts, file_parts, read_file_parts

if TYPE_CHECKING:
    from ...core.runtime import Emulator

log = logging.getLogger("emulator")
# What a download link needs, read without a session: the file (then its parts, tree.py).
_FILE = Read(select(Pan123File.id, Pan123File.name, Pan123File.client_id, Pan123File.size, Pan123File.etag,
                    Pan123File.is_dir).where(Pan123File.id == bindparam("file_id")))
_COUNT_TRAFFIC = "UPDATE pan123_files SET traffic = traffic + ? WHERE id = ?"


@dataclass(frozen=True)
class Download:
    file_id: str
    name: str
    size: int
    etag: str
    parts: Parts  # (blob_id, size) in order
    client_id: str = ""  # whose file it is


def content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class Downloads:
    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    def download(self, uid: str, name: str) -> Download:
        """The file a download link names (``<file id>[.<extension>]`` of user ``uid``)."""
        file_id = name.split(".", 1)[0]
        row = _FILE.first(self.emu.db, file_id=file_id)
        tenant: Tenant | None = self.emu.tenants.get("pan123", row[2]) if row is not None else None
        if row is None or row[5] or tenant is None or str(tenant.uid) != uid:
            raise S3Error.NO_SUCH_KEY(reason=f"no file {file_id!r} of user {uid}")
        fid, fname, client_id, size, etag, _ = row
        return Download(fid, fname, size, etag, read_file_parts(self.emu.db, fid), client_id)

    def download_of(self, file_id: str) -> Download:
        """Any file by id, whoever's it is (the admin API); KeyError if none."""
        with self.emu.db.session() as s:
            row = s.get(Pan123File, file_id)
            if row is None or row.is_dir:
                raise KeyError(file_id)
            return Download(row.id, row.name, row.size, row.etag, file_parts(s, row.id))

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
        """Bookkeeping after the body: a failure here (a full disk) never cuts the response.
        One statement, ``traffic = traffic + n``: every process's downloads count."""
        try:
            execute(self.emu.db, _COUNT_TRAFFIC, (sent, file_id))
        except Exception as exc:  # noqa: BLE001 - the bytes are sent; the counter is not worth a broken answer
            log.warning("123pan download counter of file %s not updated: %s", file_id, str(exc).splitlines()[0])
