"""Preloading objects into 123pan (core/preload.py): ``<folder>/.../<file>`` into a client's
image hosting, ``@disk/<folder>/.../<file>`` into its cloud disk, each file stored as a
completed upload leaves it (slices of the current ``sliceSize``, etag = MD5)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from ...core.blobs import StagedBlob
from ...core.errors import VendorError
from ...core.preload import PreloadError, refusal, segments, where
from .config import Config
from .errors import Pan123Error
from .models import Pan123File
from .rules import DISK, DISK_ROOT, OSS, check_name, check_size, wire_id
from .tenant import Tenant
from .tree import Tree

if TYPE_CHECKING:
    from ...core.runtime import Emulator

DISK_PRELOAD = "@disk"  # a preload path's first folder naming the cloud disk instead of image hosting


class Preloader:
    def __init__(self, emulator: Emulator, config: Callable[[], Config], tree: Tree) -> None:
        self.emu = emulator
        self.config = config
        self.tree = tree

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
                check_name(folder, "目录名")
            check_name(filename)
        except VendorError as err:
            raise refusal(err, file) from None
        staged, etag = await self._stage_slices(chunks)
        size = sum(b.size for b in staged)
        unchanged: Pan123File | None = None
        try:
            check_size(size)
            now = self.emu.clock.now()
            with self.emu.db.session() as s:
                parent_id = self.tree.folder(s, tenant, OSS, "", "父目录") if space == OSS else DISK_ROOT
                for folder in folders:
                    existing = self.tree.named(s, tenant, space, parent_id, folder)
                    if existing is None:
                        parent_id = self.tree.new_folder(s, tenant, space, parent_id, folder, now).id
                    elif not existing.is_dir:
                        raise Pan123Error.FAILED("该目录下已经有同名文件夹,无法进行创建",
                                                 reason=f"{folder!r} exists there as a file")
                    else:
                        parent_id = existing.id
                old = self.tree.named(s, tenant, space, parent_id, filename)
                if old is not None and not old.is_dir and (old.etag, old.size) == (etag, size):
                    unchanged = old
                else:
                    parts = [(self.emu.blobs.commit(s, b), b.size) for b in staged]
                    row = self.tree.commit_file(s, tenant, space, parent_id, filename, etag, size, parts, 2, now)
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
        return {"api": "pan123", "tenant": tenant.client_id, "path": path, "id": wire_id(space, file_id),
                "size": size, "result": result}

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
                staged.append(await self.emu.blobs.stage(take(self.config().slice_size)))
        except BaseException:
            for b in staged:
                self.emu.blobs.discard(b)
            raise
        return staged, whole.hexdigest()
