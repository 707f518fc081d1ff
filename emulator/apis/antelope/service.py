"""The Antelope object storage's behaviour on the core: key and metadata rules, object
storage with cyclic expiry, events per app channel, queries. No HTTP types here."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...core import jsonbody
from ...core.blobs import BlobTooLarge, StagedBlob
from ...core.contract import ServiceBase
from ...core.errors import VendorError
from ...core.preload import PreloadError, refusal, segments, where
from . import auth
from .errors import AntelopeError
from .models import AntelopeEvent, AntelopeObject
from .tenant import Tenant

if TYPE_CHECKING:
    from ...core.runtime import Emulator

MAX_UPLOAD2_BYTES = 1 << 30  # "size大于1G"
MAX_ATTACHMENT_BYTES = 50 << 20  # "每个子对象文件的最大大小为50M"
MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 1024
MAX_MESSAGE_BYTES = 4096  # "表单大小小于等于4K"
EXPIRY_DAYS = {0: None, 1: 7, 2: 30, 3: 90}
CHANNELS = range(16)
MAX_EVENTS = 100
MAX_LIST = 200
MAX_OFFSET = (1 << 63) - 1  # Kafka offsets are signed 64-bit
FILENAME_SLOT = "${filename}"
_OBJ_ID = re.compile(r"[0-9a-fA-F]{24}")  # fullmatch: no trailing newline
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

bad = AntelopeError.BAD_REQUEST


# -- plain rules ------------------------------------------------------------------------
def parse_uint(raw: str | None, name: str, *, required: bool = True) -> int | None:
    if raw is None or raw == "":
        if required:
            raise bad(f"{name} is required")
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise bad(f"{name} must be an unsigned integer, not {raw!r}")
    return int(raw)


def parse_int(raw: str | None, name: str) -> int | None:
    """A signed decimal integer (so a negative value gets a range error, not a type error)."""
    if raw is None or raw == "":
        return None
    text = raw[1:] if raw[:1] in "+-" else raw
    if not (text.isascii() and text.isdigit()):
        raise bad(f"{name} must be an integer, not {raw!r}")
    return int(raw)


def parse_expire_type(raw: str | None) -> int:
    if raw is None:
        return 0
    if raw not in ("0", "1", "2", "3"):
        raise bad(f"expiretype must be 0, 1, 2 or 3, not {raw!r}")
    return int(raw)


def check_key(raw: str | None) -> str | None:
    """A client's key as given: an absolute path (or one with a trailing ``/`` or
    ``/${filename}`` that the file name completes). Empty means none."""
    if raw is None or raw == "":
        return None
    if len(raw.encode("utf-8")) > MAX_KEY_BYTES:
        raise bad(f"key is longer than {MAX_KEY_BYTES} bytes")
    if not raw.startswith("/"):
        raise bad(f"key must be an absolute path starting with '/', not {raw!r}")
    if "//" in raw:
        raise bad(f"key has an empty path segment: {raw!r}")
    if any(seg in (".", "..") for seg in raw.split("/")):
        raise bad(f"key has a '.' or '..' path segment: {raw!r}")
    if _CONTROL.search(raw):
        raise bad("key contains control characters")
    return raw


def complete_key(raw: str | None, file_name: str, obj_id: str) -> str:
    """The final key: ``/1/`` and ``/1/${filename}`` take the file name; none gives
    ``<obj_id>_<file name>``; anything else is kept as given."""
    if raw is None:
        return f"{obj_id}_{file_name}"
    if raw.endswith("/"):
        base = raw
    elif raw.rsplit("/", 1)[1] == FILENAME_SLOT:
        base = raw[: -len(FILENAME_SLOT)]
    else:
        return raw
    if not file_name:
        raise bad(f"key {raw!r} is completed with the file name, but the upload has none")
    key = base + file_name
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise bad(f"key {key!r} is longer than {MAX_KEY_BYTES} bytes once completed with the file name")
    if _CONTROL.search(key):
        raise bad("the file name completing the key contains control characters")
    try:  # the completed key obeys the same format ("/1/" + "../x" is no absolute path)
        checked = check_key(key)
    except VendorError as err:
        raise bad(f"key {raw!r} completed with the file name {file_name!r}: {err.detail}") from None
    assert checked is not None
    return checked


def parse_metadata(raw: str | None) -> Any:
    """User metadata: JSON of at most 1024 bytes; absent or blank is ``{}``."""
    if raw is None or raw.strip() == "":
        return {}
    if len(raw.encode("utf-8")) > MAX_METADATA_BYTES:
        raise bad(f"metadata is longer than {MAX_METADATA_BYTES} bytes")
    try:
        return jsonbody.loads(raw)
    except ValueError:
        raise bad("metadata is not valid JSON") from None


def check_obj_id(raw: str) -> str:
    if not _OBJ_ID.fullmatch(raw):
        raise bad(f"obj_id must be 24 hexadecimal digits, not {raw!r}")
    return raw.lower()


def is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# -- value types ------------------------------------------------------------------------
@dataclass(frozen=True)
class Received:
    blob: StagedBlob
    file_name: str


@dataclass(frozen=True)
class Upload2Params:
    size: int
    expire_type: int
    url_key: str | None


@dataclass(frozen=True)
class Attachment:
    form_field: str
    key: str | None
    metadata: Any
    file_name: str
    expire_type: int
    extra: dict[str, Any]  # fields the client sent beyond the documented ones


@dataclass(frozen=True)
class EventMessage:
    channel_id: int
    subject: Any
    body: Any
    attachments: list[Attachment]
    extra: dict[str, Any] = field(default_factory=dict)

    def field_names(self) -> list[str]:
        return [a.form_field for a in self.attachments]


@dataclass(frozen=True)
class Found:
    """A snapshot of a stored object, for answers and downloads."""

    info: dict[str, Any]
    blob_id: int


_ATTACHMENT_FIELDS = ("form_field", "key", "area_id", "metadata", "url", "file_name", "expiretype")
_MESSAGE_FIELDS = ("channel_id", "subject", "body", "attachments")


class AntelopeService(ServiceBase):
    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator
        self._lock = threading.Lock()
        # ObjectId-like ids: 4-byte time, 4-byte instance id, 1-byte area id, 3-byte counter.
        self._instance = emulator.ids.hex(4)
        self._counter = int.from_bytes(emulator.ids.bytes(3), "big") & 0x7FFFFF

    # -- access --------------------------------------------------------------------------
    def authenticate(self, token: str | None) -> auth.Grant:
        return auth.verify_token(self.emu.tenants, token, self.emu.clock.now())

    def authenticate_app(self, app_id: str | None, app_key: str | None) -> Tenant:
        return auth.verify_app(self.emu.tenants, app_id, app_key)

    # -- ids -----------------------------------------------------------------------------
    def new_obj_id(self, area_id: int) -> str:
        seconds = int(self.emu.clock.now()) & 0xFFFFFFFF
        with self._lock:
            self._counter = (self._counter + 1) & 0xFFFFFF
            counter = self._counter
        return f"{seconds:08x}{self._instance}{area_id & 0xFF:02x}{counter:06x}"

    # -- snapshot hooks (core/snapshots.py): the obj_id counter lives in memory ---------
    def save_state(self) -> dict[str, Any]:
        with self._lock:
            return {"instance": self._instance, "counter": self._counter}

    def load_state(self, state: dict[str, Any] | None) -> None:
        if state is None:
            return
        instance, counter = self.check_state(state)
        with self._lock:
            self._instance, self._counter = instance, counter

    @staticmethod
    def check_state(state: Any) -> tuple[str, int]:
        """A saved state's instance id and counter (ValueError unless they could be ours:
        a snapshot file may come from anywhere, and obj_ids must stay 24 hex digits)."""
        if not isinstance(state, dict) or set(state) != {"instance", "counter"}:
            raise ValueError('antelope state must be {"instance": ..., "counter": ...}')
        instance, counter = state["instance"], state["counter"]
        if not isinstance(instance, str) or not re.fullmatch(r"[0-9a-f]{8}", instance):
            raise ValueError("antelope state: instance must be 8 hex digits")
        if isinstance(counter, bool) or not isinstance(counter, int) or not 0 <= counter <= 0xFFFFFF:
            raise ValueError("antelope state: counter must be an integer in [0, 0xFFFFFF]")
        return instance, counter

    # -- receiving bytes -----------------------------------------------------------------
    @staticmethod
    def upload2_params(size: str | None, expiretype: str | None, key: str | None) -> Upload2Params:
        declared = parse_uint(size, "size")
        assert declared is not None
        if declared > MAX_UPLOAD2_BYTES:
            raise bad(f"size {declared} is over the {MAX_UPLOAD2_BYTES}-byte (1G) limit")
        return Upload2Params(declared, parse_expire_type(expiretype), check_key(key))

    async def receive(self, file_name: str, chunks: AsyncIterator[bytes], *, limit: int, what: str,
                      exact: int | None = None) -> Received:
        """Stream a file into the store; nothing is kept when a rule is broken."""
        try:
            blob = await self.emu.blobs.stage(chunks, max_size=limit)
        except BlobTooLarge:
            if exact is not None:
                raise bad(f"{what} is larger than the declared size {exact}") from None
            raise bad(f"{what} is larger than {limit} bytes") from None
        if exact is not None and blob.size != exact:
            self.emu.blobs.discard(blob)
            raise bad(f"{what} has {blob.size} bytes, not the declared size {exact}")
        return Received(blob, file_name)

    def discard(self, received: Received) -> None:
        self.emu.blobs.discard(received.blob)

    # -- storing -------------------------------------------------------------------------
    def _purge_expired(self, s: Session, now: float) -> None:
        rows = s.execute(
            select(AntelopeObject).where(AntelopeObject.expire_at.is_not(None), AntelopeObject.expire_at <= now)
        ).scalars().all()
        for row in rows:
            self._remove(s, row)

    def _remove(self, s: Session, row: AntelopeObject) -> None:
        s.delete(row)
        s.flush()
        self.emu.blobs.release(s, row.blob_id)

    def _put(self, s: Session, grant: auth.Grant, obj_id: str, key: str, received: Received, metadata: Any,
             expire_type: int, now: float) -> AntelopeObject:
        """Store one object; an object already at ``key`` in the app is replaced."""
        app_id = grant.tenant.app_id
        old = s.execute(
            select(AntelopeObject).where(AntelopeObject.app_id == app_id, AntelopeObject.key == key)
        ).scalar_one_or_none()
        if old is not None:
            self._remove(s, old)
        blob_id = self.emu.blobs.commit(s, received.blob)
        days = EXPIRY_DAYS[expire_type]
        row = AntelopeObject(
            obj_id=obj_id,
            app_id=app_id,
            key=key,
            name=received.file_name,
            c_id=grant.cid,
            file_id=received.blob.sha1,
            timestamp=int(now),
            file_size=received.blob.size,
            meta=metadata,
            expire_type=expire_type,
            area_id=grant.tenant.area_id,
            expire_at=None if days is None else int(now) + days * 86400,  # timestamp + cycle
            blob_id=blob_id,
        )
        s.add(row)
        s.flush()
        return row

    def upload2(self, grant: auth.Grant, params: Upload2Params, key: str | None, metadata: Any,
                received: Received) -> dict[str, Any]:
        return self.store_object(grant, key, received, metadata, params.expire_type)[0]

    def store_object(self, grant: auth.Grant, key: str | None, received: Received, metadata: Any,
                     expire_type: int, *, keep_identical: bool = False) -> tuple[dict[str, Any], str]:
        """upload2's commit (shared with :meth:`preload`): a new obj_id, the final key, the
        object stored (replacing one at that key). ``keep_identical``: an object already at
        the key with the same bytes stays as it is. Returns the object and what happened
        (created, replaced, unchanged); the caller discards ``received`` when unchanged."""
        now = self.emu.clock.now()
        obj_id = self.new_obj_id(grant.tenant.area_id)
        final_key = complete_key(key, received.file_name, obj_id)
        with self.emu.db.session() as s:
            self._purge_expired(s, now)
            old = s.execute(
                select(AntelopeObject).where(AntelopeObject.app_id == grant.tenant.app_id,
                                             AntelopeObject.key == final_key)
            ).scalar_one_or_none()
            if keep_identical and old is not None and (old.file_id, old.file_size) == (
                    received.blob.sha1, received.blob.size):
                return describe(old), "unchanged"
            row = self._put(s, grant, obj_id, final_key, received, metadata, expire_type, now)
            return describe(row), "created" if old is None else "replaced"

    # -- preloading ------------------------------------------------------------------------
    async def preload(self, tenant_id: str, path: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """``<cid>/<key path>`` of app ``tenant_id``: stored as an upload2 by that cid with
        key ``/<key path>`` (name = the file name, no metadata, expiretype 0) would store
        it. An object at that key with the same bytes stays; other bytes replace it as
        upload2 to a taken key does (a new obj_id)."""
        file = where("antelope", tenant_id, path)
        tenant: Tenant | None = self.emu.tenants.get("antelope", tenant_id)
        if tenant is None:
            raise PreloadError(f"no antelope tenant with app_id {tenant_id!r}", file=file)
        parts = segments("antelope", tenant_id, path)
        cid_text = parts[0]
        if len(parts) < 2 or not (cid_text.isascii() and cid_text.isdigit()) or int(cid_text) > auth.UINT32_MAX:
            raise PreloadError("Antelope objects go in <cid>/<key path>, cid an unsigned 32-bit decimal", file=file)
        key = "/" + "/".join(parts[1:])
        try:
            check_key(key)
            received = await self.receive(parts[-1], chunks, limit=MAX_UPLOAD2_BYTES, what="file")
        except VendorError as err:
            raise refusal(err, file) from None
        grant = auth.Grant(tenant, int(cid_text), 0, 0, "")  # acting as that cid; no token is handed out
        try:
            obj, result = self.store_object(grant, key, received, {}, 0, keep_identical=True)
        except VendorError as err:
            self.discard(received)
            raise refusal(err, file) from None
        if result == "unchanged":
            self.discard(received)
        return {"api": "antelope", "tenant": tenant.app_id, "path": path, "id": obj["obj_id"],
                "size": obj["file_size"], "result": result}

    # -- events --------------------------------------------------------------------------
    @staticmethod
    def parse_message(raw: bytes) -> EventMessage:
        if len(raw) > MAX_MESSAGE_BYTES:
            raise bad(f"message is larger than {MAX_MESSAGE_BYTES} bytes (4K)")
        try:
            doc = jsonbody.loads(raw)
        except (UnicodeDecodeError, ValueError):
            raise bad("message is not valid JSON") from None
        if not isinstance(doc, dict):
            raise bad("message must be a JSON object")
        if "channel_id" not in doc:
            raise bad("message.channel_id is required")
        channel = doc["channel_id"]
        if not is_uint(channel) or channel not in CHANNELS:
            raise bad(f"message.channel_id must be an integer within 0-15, not {json.dumps(channel)}")
        raw_attachments = doc.get("attachments")
        if raw_attachments is None:
            raw_attachments = []
        if not isinstance(raw_attachments, list):
            raise bad("message.attachments must be an array")
        attachments: list[Attachment] = []
        seen: set[str] = set()
        for i, a in enumerate(raw_attachments):
            where = f"message.attachments[{i}]"
            if not isinstance(a, dict):
                raise bad(f"{where} must be an object")
            form_field = a.get("form_field")
            if not isinstance(form_field, str) or form_field == "":
                raise bad(f"{where}.form_field must name the form field that holds the attachment")
            if form_field == "message" or form_field in seen:
                raise bad(f"{where}.form_field {form_field!r} is used twice")
            seen.add(form_field)
            key = a.get("key")
            if key is not None and not isinstance(key, str):
                raise bad(f"{where}.key must be a string")
            metadata = a.get("metadata", {})
            if metadata is None:
                metadata = {}
            if len(json.dumps(metadata, ensure_ascii=False).encode("utf-8")) > MAX_METADATA_BYTES:
                raise bad(f"{where}.metadata is longer than {MAX_METADATA_BYTES} bytes")
            file_name = a.get("file_name")
            if file_name is None:
                file_name = ""
            if not isinstance(file_name, str):
                raise bad(f"{where}.file_name must be a string")
            expire_type = a.get("expiretype", 0)
            if not is_uint(expire_type) or expire_type not in EXPIRY_DAYS:
                raise bad(f"{where}.expiretype must be 0, 1, 2 or 3, not {json.dumps(expire_type)}")
            try:
                checked = check_key(key)
            except VendorError as err:  # name the attachment in the message
                raise bad(f"{where}: {err.message}") from None
            attachments.append(
                Attachment(form_field, checked, metadata, file_name, expire_type,
                           {k: v for k, v in a.items() if k not in _ATTACHMENT_FIELDS})
            )
        return EventMessage(
            channel_id=channel,
            subject=doc.get("subject", ""),
            body=doc.get("body", {}),
            attachments=attachments,
            extra={k: v for k, v in doc.items() if k not in _MESSAGE_FIELDS},
        )

    def upload3(self, grant: auth.Grant, message: EventMessage, received: dict[str, Received],
                base_url: str) -> dict[str, Any]:
        """Store the attachments and append the rewritten message to the app's channel."""
        missing = [f for f in message.field_names() if f not in received]
        if missing:
            raise bad(f"no form field holds attachment {missing[0]!r}")
        now = self.emu.clock.now()
        area_id = grant.tenant.area_id
        planned: list[tuple[Attachment, str, str, Received]] = []
        keys: set[str] = set()
        for a in message.attachments:
            got = received[a.form_field]
            name = a.file_name or got.file_name
            obj_id = self.new_obj_id(area_id)
            key = complete_key(a.key, name, obj_id)
            if key in keys:
                raise bad(f"two attachments would be stored at key {key!r}")
            keys.add(key)
            planned.append((a, obj_id, key, Received(got.blob, name)))
        rewritten = []
        with self.emu.db.session() as s:
            self._purge_expired(s, now)
            for a, obj_id, key, got in planned:
                self._put(s, grant, obj_id, key, got, a.metadata, a.expire_type, now)
                url = f"{base_url}/files?KeyID={quote(key, safe='/')}&access_token={grant.token}"
                rewritten.append({
                    "form_field": a.form_field,
                    "key": key,
                    "area_id": area_id,
                    "metadata": a.metadata,
                    "url": url,
                    "file_name": got.file_name,
                    "expiretype": a.expire_type,
                    **a.extra,
                })
            event = {
                "channelid": message.channel_id,
                "subject": message.subject,
                "body": message.body,
                "attachments": rewritten,
                **message.extra,
            }
            app_id = grant.tenant.app_id
            last = s.execute(
                select(func.max(AntelopeEvent.offset)).where(
                    AntelopeEvent.app_id == app_id, AntelopeEvent.channel_id == message.channel_id
                )
            ).scalar_one_or_none()
            offset = 0 if last is None else last + 1
            s.add(AntelopeEvent(app_id=app_id, channel_id=message.channel_id, offset=offset, created_at=now,
                                message=event))
        return event

    def events(self, tenant: Tenant, channel_raw: str | None, size_raw: str | None,
               offset_raw: str | None) -> dict[str, Any]:
        channel = parse_int(channel_raw, "channel_id")
        if channel is None:
            raise bad("channel_id is required")
        if channel not in CHANNELS:
            raise bad(f"channel_id must be within 0-15, not {channel}")
        size = parse_int(size_raw, "size")
        if size is None:
            raise bad("size is required")
        if size > MAX_EVENTS:
            raise AntelopeError.SIZE_OVER_LIMIT(f"size {size} is over {MAX_EVENTS}")
        if size < 1:
            raise bad(f"size must be at least 1, not {size}")
        offset = parse_int(offset_raw, "offset")
        if offset is not None and offset < 0:
            raise bad(f"offset must not be negative, not {offset}")
        if offset is not None and offset > MAX_OFFSET:
            raise bad(f"offset must be at most {MAX_OFFSET} (a 64-bit Kafka offset), not {offset}")
        where = (AntelopeEvent.app_id == tenant.app_id, AntelopeEvent.channel_id == channel)
        with self.emu.db.session() as s:
            if offset is None:
                earliest = s.execute(select(func.min(AntelopeEvent.offset)).where(*where)).scalar_one_or_none()
                offset = 0 if earliest is None else earliest
            rows = s.execute(
                select(AntelopeEvent).where(*where, AntelopeEvent.offset >= offset)
                .order_by(AntelopeEvent.offset).limit(size)
            ).scalars().all()
            events = [r.message for r in rows]
            last = rows[-1].offset if rows else offset - 1
        return {"events": events, "offset": last, "request_id": self.emu.ids.hex(16)}

    # -- lookups -------------------------------------------------------------------------
    def _find(self, s: Session, app_id: str, obj_id: str | None, key: str | None) -> AntelopeObject | None:
        """obj_id wins over key; one of them is required."""
        if obj_id:
            return s.execute(
                select(AntelopeObject).where(AntelopeObject.obj_id == check_obj_id(obj_id),
                                             AntelopeObject.app_id == app_id)
            ).scalar_one_or_none()
        if key:
            return s.execute(
                select(AntelopeObject).where(AntelopeObject.app_id == app_id, AntelopeObject.key == key)
            ).scalar_one_or_none()
        raise bad("obj_id or key is required")

    def _require(self, grant: auth.Grant, obj_id: str | None, key: str | None) -> Found:
        with self.emu.db.session() as s:
            self._purge_expired(s, self.emu.clock.now())
            row = self._find(s, grant.tenant.app_id, obj_id, key)
            if row is None:
                raise _not_found(obj_id, key)
            return Found(describe(row), row.blob_id)

    def download(self, grant: auth.Grant, obj_id: str | None, key: str | None) -> Found:
        return self._require(grant, obj_id, key)

    def info(self, grant: auth.Grant, obj_id: str | None, key: str | None) -> dict[str, Any]:
        return self._require(grant, obj_id, key).info

    def read(self, blob_id: int) -> AsyncIterator[bytes]:
        return self.emu.blobs.read(blob_id)

    def delete(self, grant: auth.Grant, obj_id: str | None, key: str | None) -> dict[str, Any]:
        """Permanent objects are deleted; a cyclic one stays (``deleted: false``) until its cycle ends."""
        with self.emu.db.session() as s:
            self._purge_expired(s, self.emu.clock.now())
            row = self._find(s, grant.tenant.app_id, obj_id, key)
            if row is None:
                raise _not_found(obj_id, key)
            deleted = row.expire_type == 0
            answer = {"c_id": row.c_id, "deleted": deleted, "key": row.key, "obj_id": row.obj_id}
            if deleted:
                self._remove(s, row)
            return answer

    def list_after(self, grant: auth.Grant, obj_id: str | None, key: str | None,
                   count_raw: str | None) -> list[dict[str, Any]]:
        count = parse_int(count_raw, "count")
        if count is None:
            raise bad("count is required")
        if not 1 <= count <= MAX_LIST:
            raise bad(f"count must be within 1-{MAX_LIST}, not {count}")
        app_id = grant.tenant.app_id
        with self.emu.db.session() as s:
            self._purge_expired(s, self.emu.clock.now())
            if obj_id:
                anchor = check_obj_id(obj_id)
            elif key:
                row = self._find(s, app_id, None, key)
                if row is None:
                    raise AntelopeError.NOT_FOUND(f"no object key={key}")
                anchor = row.obj_id
            else:
                raise bad("obj_id or key is required")
            rows = s.execute(
                select(AntelopeObject).where(AntelopeObject.app_id == app_id, AntelopeObject.obj_id > anchor)
                .order_by(AntelopeObject.obj_id).limit(count)
            ).scalars().all()
            return [describe(r) for r in rows]

    def cids(self, grant: auth.Grant, obj_type_raw: str | None) -> dict[str, Any]:
        if obj_type_raw not in ("1", "2"):
            raise bad(f"obj_type must be 1 (permanent) or 2 (cyclic), not {obj_type_raw!r}")
        permanent = obj_type_raw == "1"
        with self.emu.db.session() as s:
            self._purge_expired(s, self.emu.clock.now())
            q = select(AntelopeObject.c_id).where(AntelopeObject.app_id == grant.tenant.app_id).distinct()
            q = q.where(AntelopeObject.expire_type == 0) if permanent else q.where(AntelopeObject.expire_type != 0)
            return {"c_ids": sorted(s.execute(q).scalars().all())}

    # -- evidence for tests --------------------------------------------------------------
    def all_objects(self, app_id: str | None = None) -> list[dict[str, Any]]:
        with self.emu.db.session() as s:
            self._purge_expired(s, self.emu.clock.now())
            q = select(AntelopeObject).order_by(AntelopeObject.obj_id)
            if app_id is not None:
                q = q.where(AntelopeObject.app_id == app_id)
            return [{**describe(r), "expire_at": r.expire_at} for r in s.execute(q).scalars().all()]

    def blob_of(self, obj_id: str) -> int:
        with self.emu.db.session() as s:
            return s.execute(select(AntelopeObject.blob_id).where(AntelopeObject.obj_id == obj_id)).scalar_one()

    def all_events(self, app_id: str | None = None, channel_id: int | None = None) -> list[dict[str, Any]]:
        with self.emu.db.session() as s:
            q = select(AntelopeEvent).order_by(AntelopeEvent.app_id, AntelopeEvent.channel_id, AntelopeEvent.offset)
            if app_id is not None:
                q = q.where(AntelopeEvent.app_id == app_id)
            if channel_id is not None:
                q = q.where(AntelopeEvent.channel_id == channel_id)
            return [
                {"app_id": r.app_id, "channel_id": r.channel_id, "offset": r.offset, "event": r.message}
                for r in s.execute(q).scalars().all()
            ]

    def mint(self, app_id: str | None, cid: int, control: int, expire: int | None, ttl: int | None) -> dict[str, Any]:
        tenants: list[Tenant] = self.emu.tenants.all("antelope")
        tenant = tenants[0] if app_id is None and tenants else self.emu.tenants.get("antelope", app_id or "")
        if tenant is None:
            raise LookupError(f"no antelope tenant {app_id!r}")
        if expire is None:
            expire = int(self.emu.clock.now()) + (86400 if ttl is None else ttl)
        token = auth.mint_token(tenant.app_key, cid, control, expire)
        return {"access_token": token, "app_id": tenant.app_id, "cid": cid, "control": control, "expire": expire}


def _not_found(obj_id: str | None, key: str | None) -> Exception:
    return AntelopeError.NOT_FOUND(f"no object {('obj_id=' + obj_id) if obj_id else ('key=' + str(key))}")


def describe(row: AntelopeObject) -> dict[str, Any]:
    """The document's object field set, in its order."""
    return {
        "obj_id": row.obj_id,
        "key": row.key,
        "name": row.name,
        "c_id": row.c_id,
        "app_id": row.app_id,
        "file_id": row.file_id,
        "timestamp": row.timestamp,
        "file_size": row.file_size,
        "metadata": row.meta,
        "expire_type": row.expire_type,
        "area_id": row.area_id,
    }
