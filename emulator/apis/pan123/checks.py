"""The asynchronous check of a multi-slice upload, shared by the v1 flows and upload v2.

After ``upload_complete`` the whole-file MD5 is computed by streaming the slices in order
through one MD5 on a worker thread (the SHA-1 too for the cloud disk's ``sha1_reuse``);
the check ends ``async_seconds`` after ``upload_complete`` on the emulator clock, whether
anyone polls or not: the file comes into being, or the upload fails with the reason.

Several processes may serve one emulator: the digests a check computed are kept in the
database (the named value ``pan123.check.<upload id>``, with the submission and slices they
belong to) for whichever process settles the upload (a process that finds none, e.g. after
a restart, computes them itself), and settling locks the upload row, so one upload becomes
exactly one file."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session, object_session

from ...core.errors import VendorError
from ...core.reads import Read
from ...core.shared import SharedValue, forget, read_value, write_value
from .config import Config
from .errors import Pan123Error
from .models import Pan123FileMeta, Pan123Upload, Pan123UploadPart
from .rules import DISK, wire_id
from .sessions import Sessions, locked_upload, parts_in_order, upload_parts
from .tenant import Tenant

if TYPE_CHECKING:
    from ...core.runtime import Emulator

# The uploads whose check may have ended (every call settles them first: a hot read).
_VERIFYING_Q = (select(Pan123Upload.id, Pan123Upload.completed_at).where(Pan123Upload.state == "verifying")
                .order_by(Pan123Upload.completed_at))
_VERIFYING = Read(_VERIFYING_Q)
_VERIFYING_OF = Read(_VERIFYING_Q.where(Pan123Upload.client_id == bindparam("client_id")))

DIGESTS = "pan123.check."  # + upload id: {"completed_at", "blobs", "md5", "sha1"}
Key = tuple[str, float, tuple[int, ...]]  # (upload id, completed_at, slice blob ids): one submission


def recorded(s: Session, key: Key) -> str | None:
    """``md5:sha1`` recorded for exactly this submission of the upload, if any."""
    value = read_value(s, DIGESTS + key[0])
    if not isinstance(value, dict) or value.get("completed_at") != key[1] or value.get("blobs") != list(key[2]):
        return None
    return f"{value.get('md5', '')}:{value.get('sha1', '')}"


class Checks:
    def __init__(self, emulator: Emulator, config: Callable[[], Config], sessions: Sessions) -> None:
        self.emu = emulator
        self.config = config
        self.sessions = sessions
        # this process's digests under way, by (upload id, completed_at): never mistaken for
        # those of an upload that came back under the same id after a reset
        self._verifications: dict[Key, asyncio.Task[str]] = {}

    def forget(self) -> None:
        """Rows were reset or restored: MD5s this process is computing may be stale (an
        upload id can come back with other slices); they are computed again, and the
        recorded ones go (each names its submission, so a stale one is never used anyway)."""
        self._verifications.clear()
        with self.emu.db.session() as s:
            s.execute(delete(SharedValue).where(SharedValue.name.startswith(DIGESTS, autoescape=True)))

    def start(self, up: Pan123Upload, parts: list[Pan123UploadPart]) -> list[int]:
        """``upload_complete`` begins the check (the caller then calls :meth:`verify_later`
        with the blob ids returned, once the session is committed)."""
        up.state, up.completed_at, up.polls, up.error, up.verified_md5 = (
            "verifying", self.emu.clock.now(), 0, None, None)
        session = object_session(up)
        if session is not None:  # digests of an earlier attempt (a failed check) do not count
            forget(session, DIGESTS + up.id)
        return [p.blob_id for p in parts]

    # The whole-file MD5 of a multi-slice upload: slices streamed in order through one MD5
    # on a worker thread, the next chunk read while the previous one hashes.
    # The SHA-1 is computed in the same pass on a second thread (for upload v2's sha1_reuse).
    async def _md5_of(self, blob_ids: list[int], sha1: bool = False) -> str:
        """``md5:sha1`` (``md5:`` unless ``sha1``: only cloud-disk files need it)."""
        h, h1 = hashlib.md5(), hashlib.sha1()
        hashes = (h, h1) if sha1 else (h,)
        pending: list[asyncio.Future[None]] = []
        for blob_id in blob_ids:
            async for piece in self.emu.blobs.read(blob_id):
                for f in pending:
                    await f
                pending = [asyncio.ensure_future(asyncio.to_thread(x.update, piece)) for x in hashes]
        for f in pending:
            await f
        return f"{h.hexdigest()}:{h1.hexdigest() if sha1 else ''}"

    def verify_later(self, upload_id: str, blob_ids: list[int]) -> asyncio.Task[str] | None:
        """Start computing the digests of an upload just submitted (None: it is not
        verifying any more). They are recorded in the database once computed."""
        with self.emu.db.session() as s:
            up = s.get(Pan123Upload, upload_id)
            if up is None or up.state != "verifying" or up.completed_at is None:
                return None
            sha1 = up.space == DISK  # for the cloud disk's sha1_reuse
            key = (upload_id, up.completed_at, tuple(blob_ids))
        task = self._verifications.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._compute(key, blob_ids, sha1))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved at poll time
            self._verifications[key] = task
        return task

    async def _compute(self, key: Key, blob_ids: list[int], sha1: bool) -> str:
        digest = await self._md5_of(blob_ids, sha1)
        await asyncio.to_thread(self._record, key, digest)
        return digest

    def _record(self, key: Key, digest: str) -> None:
        """Keep computed digests for every process, if the upload is still the one they
        were computed for (same submission, same slices)."""
        upload_id, completed_at, blob_ids = key
        md5, _, sha1 = digest.partition(":")
        with self.emu.db.session() as s:
            up = s.get(Pan123Upload, upload_id)
            if up is None or up.state != "verifying" or up.completed_at != completed_at:
                return
            if tuple(p.blob_id for p in upload_parts(s, upload_id)) != blob_ids:
                return
            write_value(s, DIGESTS + upload_id, {"completed_at": completed_at, "blobs": list(blob_ids),
                                                 "md5": md5, "sha1": sha1})

    async def _verified_md5(self, up: Pan123Upload, blob_ids: list[int]) -> str:
        """``md5:sha1`` of a verifying upload: recorded by any process, else computed here."""
        key = (up.id, up.completed_at or 0.0, tuple(blob_ids))
        with self.emu.db.session() as s:
            known = recorded(s, key)
        if known is not None:
            return known
        task = self._verifications.get(key)
        if task is None:  # e.g. upload_complete reached another process, or this one restarted
            task = self.verify_later(up.id, blob_ids)
        if task is None:
            return ":"  # settled or reset meanwhile: the caller finds it so under the lock
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._verifications.pop(key, None)

    def _due(self, verifying: list[tuple[str, float | None]]) -> list[str]:
        """The uploads whose asynchronous check has ended: ``async_seconds`` after
        ``upload_complete`` on the emulator clock, whether anyone polls or not. (Called
        outside any session: the config is a row read in a session of its own.)"""
        if not verifying:
            return []
        seconds = self.config().async_seconds
        now = self.emu.clock.now()
        return [upload_id for upload_id, completed_at in verifying if now - (completed_at or 0) >= seconds]

    async def settle(self, client_id: str | None = None) -> None:
        """Finish every upload (of one client, or all) whose check is due: the file comes
        into being, or the upload fails. Called before any state is read or changed, so a
        listing after ``async_seconds`` shows the file though nobody polled."""
        if client_id is None:
            verifying = _VERIFYING.all(self.emu.db)
        else:
            verifying = _VERIFYING_OF.all(self.emu.db, client_id=client_id)
        for upload_id in self._due(verifying):
            await self._settle_upload(upload_id)

    async def settle_if_due(self, upload_id: str) -> None:
        """A poll of one upload: its check ends now if it is due."""
        with self.emu.db.session() as s:
            up = s.get(Pan123Upload, upload_id)
            verifying = [(up.id, up.completed_at)] if up is not None and up.state == "verifying" else []
        if self._due(verifying):
            await self._settle_upload(upload_id)

    async def _settle_upload(self, upload_id: str) -> None:
        """The end of the check: the whole-file MD5 (awaited if still computing) against the
        etag, then the file (``Sessions.finish``), or the upload marked failed with the reason.
        The upload row is locked while it settles: a concurrent settle (another request, or
        another process) waits, then finds it settled and leaves it."""
        with self.emu.db.session() as s:
            up = s.get(Pan123Upload, upload_id)
            if up is None or up.state != "verifying":
                return
            blob_ids = [p.blob_id for p in upload_parts(s, up.id)]
            s.expunge(up)
        md5, _, sha1 = (await self._verified_md5(up, blob_ids)).partition(":")
        with self.emu.db.session() as s:
            current = locked_upload(s, upload_id)
            if current is None or current.state != "verifying" or current.completed_at != up.completed_at:
                return  # settled by a concurrent request, or reset meanwhile
            up = current
            forget(s, DIGESTS + up.id)
            tenant = self.emu.tenants.get("pan123", up.client_id)
            if md5 != up.etag:
                up.state, up.error, up.verified_md5 = "failed", "文件MD5校验失败,上传的内容与etag不一致", md5
            elif tenant is None:
                up.state, up.error, up.verified_md5 = "failed", "用户不存在", md5
            else:
                try:  # finish and parts_in_order refuse before they change anything
                    row = self.sessions.finish(s, tenant, up, parts_in_order(s, up))
                    if row.space == DISK:
                        s.add(Pan123FileMeta(file_id=row.id, sha1=sha1 or None))
                except VendorError as exc:
                    up.state, up.error, up.verified_md5 = "failed", exc.message, md5

    def outcome(self, tenant: Tenant, space: str, upload_id: str) -> dict[str, Any]:
        """What a poll answers: the file's id once done, ``completed: false`` meanwhile,
        the failure (code 1) of a failed check."""
        with self.emu.db.session() as s:
            up = s.get(Pan123Upload, upload_id)
            if up is None:
                raise Pan123Error.FAILED("preuploadID不存在", reason="upload vanished (reset)")
            if up.state == "done":
                return {"completed": True, "fileID": wire_id(space, up.file_id)}
            if up.state == "failed":
                raise Pan123Error.FAILED(up.error or "文件MD5校验失败",
                                         reason=f"the asynchronous check failed: {up.error}")
            return {"completed": False, "fileID": wire_id(space, None)}
