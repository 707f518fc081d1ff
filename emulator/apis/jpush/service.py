"""The JPush file API's behaviour on the core: validation, storage, TTL, the 20-file cap,
the shared per-minute limit. No HTTP types here."""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from ...core.blobs import BlobTooLarge, StagedBlob
from ...core.clock import BEIJING
from ...core.contract import ServiceBase
from ...core.errors import VendorError
from ...core.guards import drop, hold
from ...core.numbers import decimal, quoted, shown
from ...core.preload import PreloadError, refusal, segments, where
from ...core.ratelimit import Decision, Limit
from . import auth
from .errors import JPushError
from .models import JPushFile
from .tenant import Tenant

if TYPE_CHECKING:
    from ...core.runtime import Emulator

FILE_TYPES = ("alias", "registration_id")
MAX_FILE_BYTES = 10 * 1024 * 1024  # "文件不超过 10M"
MAX_LINE_BYTES = 40
MAX_ACTIVE_FILES = 20
TTL_MIN, TTL_MAX, TTL_DEFAULT = 1, 720, 720  # hours
RATE_LIMIT = Limit(count=20, period=60.0)  # 20 calls a minute, all file endpoints together
TRIM = b" \t\r\n"  # "忽略每行的前后空格和换行符"
BOM = codecs.BOM_UTF8


def format_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def content_lines(data: bytes) -> list[str]:
    """The ids a file carries: one a line, trimmed, blank lines dropped."""
    if data.startswith(BOM):
        data = data[len(BOM) :]
    return [s.decode("utf-8") for line in data.split(b"\n") if (s := line.strip(TRIM))]


class LineChecker:
    """Checks a file as it streams: UTF-8 throughout, no trimmed line over 40 bytes.
    Memory stays bounded whatever the line lengths."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._carry = b""
        self._first = True
        self.lines = 0
        self.line_no = 0

    def feed(self, data: bytes) -> None:
        try:
            self._decoder.decode(data)
        except UnicodeDecodeError:
            raise JPushError.INVALID_PARAM("file content is not UTF-8 encoded") from None
        pieces = (self._carry + data).split(b"\n")
        carry = pieces.pop()
        for line in pieces:
            self._line(line)
        # Keep only what can still matter of the unfinished line: its content and
        # enough trailing blanks to tell whether more content would overflow.
        if self._first and carry.startswith(BOM):
            carry = carry[len(BOM) :]
        carry = carry.lstrip(TRIM)
        content = carry.rstrip(TRIM)
        if len(content) > MAX_LINE_BYTES:
            self._too_long(self.line_no + 1)
        self._carry = content + b" " * min(len(carry) - len(content), MAX_LINE_BYTES + 1)

    def _line(self, line: bytes) -> None:
        self.line_no += 1
        if self._first:
            self._first = False
            if line.startswith(BOM):
                line = line[len(BOM) :]
        content = line.strip(TRIM)
        if len(content) > MAX_LINE_BYTES:
            self._too_long(self.line_no)
        if content:
            self.lines += 1

    def _too_long(self, line_no: int) -> None:
        raise JPushError.INVALID_PARAM(f"line {line_no} is longer than {MAX_LINE_BYTES} bytes")

    def finish(self) -> int:
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise JPushError.INVALID_PARAM("file content is not UTF-8 encoded") from None
        if self._carry:
            self._line(self._carry)
            self._carry = b""
        return self.lines


@dataclass(frozen=True)
class ReceivedFile:
    blob: StagedBlob
    file_name: str
    lines: int


class JPushService(ServiceBase):
    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    # -- access --------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Tenant:
        return auth.authenticate(self.emu.tenants, authorization)

    def hit_limit(self, app_key: str) -> Decision:
        return self.emu.limiter.hit("jpush", app_key, "files", RATE_LIMIT)

    # -- upload --------------------------------------------------------------------
    @staticmethod
    def check_type(file_type: str) -> None:
        if file_type not in FILE_TYPES:
            raise JPushError.INVALID_PARAM(f"type must be alias or registration_id, not {file_type!r}")

    async def receive_file(self, file_name: str, chunks: AsyncIterator[bytes]) -> ReceivedFile:
        """Stream an uploaded file into the store, validating as it goes; on any rule
        broken, nothing is kept and the rule is named in the 1103 raised."""
        if not file_name.lower().endswith(".txt"):
            raise JPushError.INVALID_PARAM(f"only .txt files are accepted, not {file_name!r}")
        checker = LineChecker()
        try:
            blob = await self.emu.blobs.stage(chunks, max_size=MAX_FILE_BYTES, observe=checker.feed)
        except BlobTooLarge:
            raise JPushError.INVALID_PARAM(f"file is larger than {MAX_FILE_BYTES} bytes (10M)") from None
        try:
            if blob.size == 0:
                raise JPushError.INVALID_PARAM("file is empty")
            if checker.finish() == 0:
                raise JPushError.INVALID_PARAM("file is empty: no line carries a value")
        except BaseException:
            self.emu.blobs.discard(blob)
            raise
        return ReceivedFile(blob, file_name, checker.lines)

    def discard(self, received: ReceivedFile) -> None:
        self.emu.blobs.discard(received.blob)

    @staticmethod
    def parse_ttl(raw: str | None) -> int | None:
        if raw is None:
            return None
        ttl = decimal(raw.strip(), limit=TTL_MAX, signed=True)  # one sign at most: "--1" is no integer
        if ttl is None:
            raise JPushError.INVALID_PARAM(f"ttl must be an integer number of hours, not {quoted(raw)}")
        if not TTL_MIN <= ttl <= TTL_MAX:
            raise JPushError.INVALID_PARAM(
                f"ttl must be within [{TTL_MIN}, {TTL_MAX}] hours, not {shown(ttl, raw.strip(), TTL_MAX)}")
        return ttl

    def create(self, tenant: Tenant, file_type: str, received: ReceivedFile, ttl: int | None,
               replacing: str | None = None) -> dict[str, str]:
        """Keep a received file (the upload's commit, shared with :meth:`preload`);
        ``replacing``: a file of the app deleted in the same transaction first."""
        now = self.emu.clock.now()
        with self.emu.db.session() as s:
            hold(s, "jpush.files", tenant.app_key)  # the 20-file cap counts every process's creates
            if replacing is not None:
                old = s.get(JPushFile, replacing)
                if old is not None and old.app_key == tenant.app_key:
                    self._drop(s, old)
            self._purge_expired(s, tenant.app_key, now)
            active = s.execute(
                select(func.count()).select_from(JPushFile).where(JPushFile.app_key == tenant.app_key)
            ).scalar_one()
            if active >= MAX_ACTIVE_FILES:
                raise JPushError.TOO_MANY_FILES(f"an app key may keep at most {MAX_ACTIVE_FILES} unexpired files")
            file_id = f"{tenant.app_key}-{self.emu.ids.uuid4()}"
            while s.get(JPushFile, file_id) is not None:  # a seeded id source restarted on old data
                file_id = f"{tenant.app_key}-{self.emu.ids.uuid4()}"
            blob_id = self.emu.blobs.commit(s, received.blob)
            s.add(
                JPushFile(
                    file_id=file_id,
                    app_key=tenant.app_key,
                    type=file_type,
                    file_name=received.file_name,
                    ttl_given=ttl is not None,
                    created_at=now,
                    expire_at=now + (ttl if ttl is not None else TTL_DEFAULT) * 3600,
                    line_count=received.lines,
                    blob_id=blob_id,
                )
            )
        return {"file_id": file_id}

    # -- preloading -----------------------------------------------------------------
    async def preload(self, tenant_id: str, path: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """``<alias|registration_id>/<name>.txt`` of app key ``tenant_id``: validated and
        kept as an upload without ``ttl`` would be. An unexpired file of that type and name
        with the same bytes stays; other bytes replace it (deleted, then uploaded anew)."""
        file = where("jpush", tenant_id, path)
        tenant: Tenant | None = self.emu.tenants.get("jpush", tenant_id)
        if tenant is None:
            raise PreloadError(f"no jpush tenant with app_key {tenant_id!r}", file=file)
        parts = segments("jpush", tenant_id, path)
        if len(parts) != 2:
            raise PreloadError("JPush files go in <alias|registration_id>/<name>.txt", file=file)
        file_type, name = parts
        try:
            self.check_type(file_type)
            received = await self.receive_file(name, chunks)
        except VendorError as err:
            raise refusal(err, file) from None
        same = next((r for r in self._active(tenant.app_key) if r.type == file_type and r.file_name == name), None)
        if same is not None:
            info = self.emu.blobs.info(same.blob_id)
            if info is not None and (info.sha1, info.md5, info.size) == (
                    received.blob.sha1, received.blob.md5, received.blob.size):
                self.discard(received)
                return {"api": "jpush", "tenant": tenant.app_key, "path": path, "id": same.file_id,
                        "size": info.size, "result": "unchanged"}
        try:
            replacing = same.file_id if same else None
            file_id = self.create(tenant, file_type, received, None, replacing=replacing)["file_id"]
        except VendorError as err:
            self.discard(received)
            raise refusal(err, file) from None
        return {"api": "jpush", "tenant": tenant.app_key, "path": path, "id": file_id, "size": received.blob.size,
                "result": "replaced" if same is not None else "created"}

    # -- queries -------------------------------------------------------------------
    def _purge_expired(self, session: Any, app_key: str | None, now: float) -> None:
        q = select(JPushFile).where(JPushFile.expire_at <= now)
        if app_key is not None:
            q = q.where(JPushFile.app_key == app_key)
        for row in session.execute(q).scalars().all():
            self._drop(session, row)

    def _drop(self, session: Any, row: JPushFile) -> None:
        """Delete a file; its bytes are released by the transaction that deleted it (two
        processes purging the same expired file release them once)."""
        blob_id = row.blob_id
        if drop(session, row):
            self.emu.blobs.release(session, blob_id)

    def _active(self, app_key: str | None) -> list[JPushFile]:
        now = self.emu.clock.now()
        with self.emu.db.session() as s:
            self._purge_expired(s, app_key, now)
            q = select(JPushFile).order_by(JPushFile.created_at, JPushFile.file_id)
            if app_key is not None:
                q = q.where(JPushFile.app_key == app_key)
            return list(s.execute(q).scalars().all())

    @staticmethod
    def describe(row: JPushFile) -> dict[str, Any]:
        out: dict[str, Any] = {
            "file_id": row.file_id,
            "type": row.type,
            "create_time": format_time(row.created_at),
        }
        if row.ttl_given:
            out["expire_time"] = format_time(row.expire_at)
        out["file_name"] = row.file_name
        return out

    def list_files(self, app_key: str) -> dict[str, Any]:
        files = [self.describe(r) for r in self._active(app_key)]
        return {"total_count": len(files), "files": files}

    def find(self, app_key: str | None, file_id: str) -> JPushFile | None:
        return next((r for r in self._active(app_key) if r.file_id == file_id), None)

    def get_file(self, app_key: str, file_id: str) -> dict[str, Any]:
        row = self.find(app_key, file_id)
        if row is None:
            raise JPushError.FILE_NOT_FOUND(f"no file {file_id!r}")
        return self.describe(row)

    def delete_file(self, app_key: str, file_id: str) -> None:
        """Unknown ids succeed too, as the document says."""
        with self.emu.db.session() as s:
            row = s.get(JPushFile, file_id)
            if row is not None and row.app_key == app_key:
                self._drop(s, row)

    # -- evidence for tests --------------------------------------------------------
    async def lines(self, row: JPushFile) -> list[str]:
        return content_lines(await self.emu.blobs.read_all(row.blob_id, MAX_FILE_BYTES))

    def all_files(self, app_key: str | None = None) -> list[JPushFile]:
        return self._active(app_key)
