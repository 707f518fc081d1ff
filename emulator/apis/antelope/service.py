"""The Antelope object storage's state on the core: obj_ids, objects with cyclic expiry,
events per app channel, the queries, and the evidence for tests. What a request may say
(keys, metadata, numbers, upload3's message) is rules.py's and messages.py's. No HTTP types.

Several processes may serve one emulator: the obj_id instance prefix and counter are rows
(``emulator_values`` / ``emulator_counters``) drawn from in the storing transaction, an
app's key and a channel's next offset are taken under a transaction lock on that name
(``core.guards.hold``; the unique constraints stand behind them), and a deleted or expired
object releases its bytes only in the transaction that deleted it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import BigInteger, func, literal, select
from sqlalchemy.orm import Session

from ...core.blobs import BlobTooLarge, StagedBlob
from ...core.contract import ServiceBase
from ...core.errors import VendorError
from ...core.guards import drop, hold, hold_all
from ...core.numbers import decimal
from ...core.preload import PreloadError, refusal, segments, where
from ...core.shared import counter, first_value, next_value, set_counter, write_value
from . import auth
from .errors import AntelopeError
from .messages import Attachment, EventMessage
from .models import AntelopeEvent, AntelopeObject
from .rules import (
    EXPIRY_DAYS,
    MAX_UPLOAD2_BYTES,
    Upload2Params,
    bad,
    check_key,
    check_obj_id,
    complete_key,
    event_query,
    list_count,
    permanent_type,
)
from .tenant import Tenant

if TYPE_CHECKING:
    from ...core.runtime import Emulator

INSTANCE_VALUE = "antelope.obj_id_instance"  # {"instance": 8 hex digits}, made once
COUNTER = "antelope.obj_id_counter"  # the obj_ids' 3-byte counter (kept unmasked)


# -- value types ------------------------------------------------------------------------
@dataclass(frozen=True)
class Received:
    blob: StagedBlob
    file_name: str


@dataclass(frozen=True)
class Found:
    """A snapshot of a stored object, for answers and downloads."""

    info: dict[str, Any]
    blob_id: int


class AntelopeService(ServiceBase):
    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator
        # ObjectId-like ids: 4-byte time, 4-byte instance id, 1-byte area id, 3-byte counter.
        # Drawn here (the order of a seeded id sequence), used unless the database already
        # has an instance and counter (another process, or an earlier run, made them).
        self._proposed_instance = emulator.ids.hex(4)
        self._proposed_counter = int.from_bytes(emulator.ids.bytes(3), "big") & 0x7FFFFF

    # -- access --------------------------------------------------------------------------
    def authenticate(self, token: str | None) -> auth.Grant:
        return auth.verify_token(self.emu.tenants, token, self.emu.clock.now())

    def authenticate_app(self, app_id: str | None, app_key: str | None) -> Tenant:
        return auth.verify_app(self.emu.tenants, app_id, app_key)

    # -- ids -----------------------------------------------------------------------------
    def _instance(self, s: Session) -> str:
        """The instance id every process uses: the first one stored wins (one statement)."""
        stored = first_value(s, INSTANCE_VALUE, {"instance": self._proposed_instance})
        instance = stored.get("instance") if isinstance(stored, dict) else None
        return instance if isinstance(instance, str) else self._proposed_instance

    def new_obj_id(self, s: Session, area_id: int) -> str:
        """A new obj_id, drawn in ``s`` from the shared counter: unique across processes."""
        seconds = int(self.emu.clock.now()) & 0xFFFFFFFF
        count = next_value(s, COUNTER, start=self._proposed_counter) & 0xFFFFFF
        return f"{seconds:08x}{self._instance(s)}{area_id & 0xFF:02x}{count:06x}"

    # -- snapshot hooks (core/snapshots.py): the obj_id instance and counter ---------------
    # They are rows that a whole snapshot copies anyway, so nothing is saved besides them;
    # load_state keeps snapshot files written before (which carry them only in their meta)
    # restoring the same ids.
    def save_state(self) -> dict[str, Any] | None:
        return None

    def obj_id_state(self) -> dict[str, Any]:
        """The instance id and counter every process draws from (what snapshots of before
        saved as this service's state)."""
        with self.emu.db.session() as s:
            value = counter(s, COUNTER)
            return {"instance": self._instance(s),
                    "counter": (self._proposed_counter if value is None else value) & 0xFFFFFF}

    def load_state(self, state: dict[str, Any] | None) -> None:
        if state is None:
            return
        instance, count = self.check_state(state)
        with self.emu.db.session() as s:
            write_value(s, INSTANCE_VALUE, {"instance": instance})
            set_counter(s, COUNTER, count)

    def check_state(self, state: Any) -> tuple[str, int]:
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
        """Delete the object; its bytes are released by whichever transaction deleted it
        (two processes purging the same expired object release them once)."""
        blob_id = row.blob_id
        if drop(s, row):
            self.emu.blobs.release(s, blob_id)

    def _put(self, s: Session, grant: auth.Grant, obj_id: str, key: str, received: Received, metadata: Any,
             expire_type: int, now: float) -> AntelopeObject:
        """Store one object; an object already at ``key`` in the app is replaced."""
        app_id = grant.tenant.app_id
        hold(s, "antelope.key", app_id, key)
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
        with self.emu.db.session() as s:
            obj_id = self.new_obj_id(s, grant.tenant.area_id)
            final_key = complete_key(key, received.file_name, obj_id)
            hold(s, "antelope.key", grant.tenant.app_id, final_key)
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
        cid = decimal(parts[0], limit=auth.UINT32_MAX)
        if len(parts) < 2 or cid is None or cid > auth.UINT32_MAX:
            raise PreloadError("Antelope objects go in <cid>/<key path>, cid an unsigned 32-bit decimal", file=file)
        key = "/" + "/".join(parts[1:])
        try:
            check_key(key)
            received = await self.receive(parts[-1], chunks, limit=MAX_UPLOAD2_BYTES, what="file")
        except VendorError as err:
            raise refusal(err, file) from None
        grant = auth.Grant(tenant, cid, 0, 0, "")  # acting as that cid; no token is handed out
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
    def upload3(self, grant: auth.Grant, message: EventMessage, received: dict[str, Received],
                base_url: str) -> dict[str, Any]:
        """Store the attachments and append the rewritten message to the app's channel."""
        missing = [f for f in message.field_names() if f not in received]
        if missing:
            raise bad(f"no form field holds attachment {missing[0]!r}")
        now = self.emu.clock.now()
        area_id = grant.tenant.area_id
        app_id = grant.tenant.app_id
        rewritten = []
        with self.emu.db.session() as s:
            planned: list[tuple[Attachment, str, str, Received]] = []
            keys: set[str] = set()
            for a in message.attachments:
                got = received[a.form_field]
                name = a.file_name or got.file_name
                obj_id = self.new_obj_id(s, area_id)
                key = complete_key(a.key, name, obj_id)
                if key in keys:
                    raise bad(f"two attachments would be stored at key {key!r}")
                keys.add(key)
                planned.append((a, obj_id, key, Received(got.blob, name)))
            # the keys and the channel, locked in one order (no two writers wait on each other)
            hold_all(s, [("antelope.key", app_id, k) for k in keys]
                     + [("antelope.channel", app_id, message.channel_id)])
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
        query = event_query(channel_raw, size_raw, offset_raw)
        channel, size, offset = query.channel, query.size, query.offset
        where = (AntelopeEvent.app_id == tenant.app_id, AntelopeEvent.channel_id == channel)
        with self.emu.db.session() as s:
            if offset is None:
                earliest = s.execute(select(func.min(AntelopeEvent.offset)).where(*where)).scalar_one_or_none()
                offset = 0 if earliest is None else earliest
            # A 64-bit bound: PostgreSQL refuses one over int4 as the column's own type.
            rows = s.execute(
                select(AntelopeEvent).where(*where, AntelopeEvent.offset >= literal(offset, BigInteger))
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
            hold(s, "antelope.key", row.app_id, row.key)
            deleted = row.expire_type == 0
            answer = {"c_id": row.c_id, "deleted": deleted, "key": row.key, "obj_id": row.obj_id}
            if deleted:
                self._remove(s, row)
            return answer

    def list_after(self, grant: auth.Grant, obj_id: str | None, key: str | None,
                   count_raw: str | None) -> list[dict[str, Any]]:
        count = list_count(count_raw)
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
        permanent = permanent_type(obj_type_raw)
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
