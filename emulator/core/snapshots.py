"""Snapshots: the emulator's state saved under a name and restored, whole or only some
tenants' rows; exported as one file and imported on another machine.

A snapshot *is* a SQLite database: the live schema, the saved rows (object bytes
included, as the content store's chunk rows) and a ``_snapshot_meta`` table (format,
version, creation time, scope, and for a whole snapshot the clock, the id generator's
position and each service's in-memory settings). The stored file and the exported file
are the same bytes.

- File-backed emulator: ``<data dir>/snapshots/<name>.snapshot``, written at the moment
  of the request to a temporary file in that folder, fsynced, then renamed over the old
  one; they survive a restart. Export and import stream the file.
- In-memory emulator (``sqlite://``): the database image, kept in memory.

Rows are copied with the snapshot ATTACHed to the live connection (``INSERT ... SELECT``,
so bytes never pass through Python). A whole restore replaces every row; a scoped one
(a snapshot saved with ``tenants``) replaces only those tenants' rows: object bytes are
matched to the live store by content (sha1, md5, size), integer surrogate ids that would
collide with other tenants' rows are renumbered in their original order, and reference
counts are recounted from the rows.

:class:`Snapshots` (this module) runs each request over four parts:
- core/snapshot_format.py: names, refusals (:class:`SnapshotError`), the meta table;
- core/snapshot_store.py: where the named snapshots are kept (files or images);
- core/snapshot_copy.py: the row-copy engine (save, whole and scoped restore);
- core/snapshot_check.py: validation of untrusted snapshot files.
It is given its collaborators one by one (the database, tenants, clock, ids, limits,
content store, services and the runtime's ``state_changed``); it never sees the runtime.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DatabaseError, IntegrityError

from .blobs import BlobStore
from .clock import Clock
from .contract import ApiSpec, Service
from .db import Database
from .ids import Ids
from .ownership import Scope, ScopeError, parse_scope
from .ratelimit import RateLimiter
from .snapshot_check import SnapshotChecker
from .snapshot_copy import RowCopier, transaction
from .snapshot_format import (
    SNAP,
    SUFFIX,
    Meta,
    SnapshotConflict,
    SnapshotError,
    SnapshotNotFound,
    check_name,
    read_meta_file,
)
from .snapshot_pg import DatabaseSnapshots
from .snapshot_store import READ_CHUNK, SnapshotStore
from .snapshot_upgrade import current_file, current_image, upgrade_in_place
from .tenants import Tenants

__all__ = ["SUFFIX", "SnapshotConflict", "SnapshotError", "SnapshotNotFound", "Snapshots", "check_name"]


class Snapshots:
    """The named snapshots of one emulator (see the module docstring).

    ``directory``: where a file-backed emulator keeps them (``<data dir>/snapshots``);
    ``services``: each registered API's service, in registration order (the runtime's
    mapping, filled when it starts); ``state_changed``: told after a restore."""

    def __init__(
        self,
        *,
        db: Database,
        tenants: Tenants,
        clock: Clock,
        ids: Ids,
        limiter: RateLimiter,
        blobs: BlobStore,
        directory: Path,
        services: Mapping[str, Service],
        state_changed: Callable[[], None],
    ) -> None:
        self.db = db
        self.tenants = tenants
        self.clock = clock
        self.ids = ids
        self.limiter = limiter
        self.services = services
        self.state_changed = state_changed
        self.store = SnapshotStore(db, directory)
        self.copier = RowCopier(db, tenants)
        self.checker = SnapshotChecker(tenants, services, blobs)
        # PostgreSQL: snapshots kept in the database (core/snapshot_pg.py), seen by every replica.
        self.pg = DatabaseSnapshots(db, tenants) if db.engine.dialect.name == "postgresql" else None

    @property
    def in_memory(self) -> bool:
        return self.store.in_memory

    def _require_sqlite(self) -> None:
        if self.db.engine.dialect.name != "sqlite":
            raise SnapshotError("snapshots need SQLite or PostgreSQL")

    # -- listing --------------------------------------------------------------------------
    def listing(self) -> list[dict[str, Any]]:
        """Every snapshot, described (name, creation time, scope, rows, bytes), by name."""
        if self.pg is not None:
            return self.pg.listing()
        return self.store.listing()

    def get(self, name: str) -> dict[str, Any]:
        check_name(name)
        if self.pg is not None:
            return self.pg.meta(name).describe(name)
        return self.store.describe(name)

    def delete(self, name: str) -> None:
        check_name(name)
        if self.pg is not None:
            self.pg.delete(name)
            return
        self.store.delete(name)

    # -- saving ---------------------------------------------------------------------------
    def save(self, name: str, tenants: Any = None) -> dict[str, Any]:
        """Save the whole state (``tenants`` None) or the rows of ``tenants``
        (``{api: [identity, ...]}``) under ``name``, replacing an older one."""
        check_name(name)
        scope = None if tenants is None else self._scope(tenants)
        if self.pg is not None:
            image, saved = self.pg.build(scope, self._meta(scope, 0, 0))
            self.pg.put(name, image, saved)
            return saved.describe(name)
        self._require_sqlite()
        with self.store.lock:
            if self.in_memory:
                with self.copier.attach(":memory:", create=True) as conn:
                    with transaction(conn):
                        meta = self._fill(conn, scope)
                    driver: Any = conn.connection.driver_connection
                    data: bytes = driver.serialize(name=SNAP)
                self.store.put_image(name, data, meta, imported=False)
                return meta.describe(name)
            tmp = self.store.temporary(name)
            try:
                with self.copier.attach(str(tmp), create=True) as conn, transaction(conn):
                    meta = self._fill(conn, scope)
                self.store.publish(tmp, name)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            return meta.describe(name)

    def _scope(self, tenants: Any) -> Scope:
        try:
            return parse_scope(tenants, self.tenants)
        except ScopeError as exc:
            raise SnapshotError(str(exc)) from None

    def _fill(self, conn: Connection, scope: Scope | None) -> Meta:
        """Copy the rows into the attached snapshot and write its meta."""
        rows, size = self.copier.copy_out(conn, scope)
        meta = self._meta(scope, rows, size)
        self.copier.write_meta(conn, meta)
        return meta

    def _meta(self, scope: Scope | None, rows: int, size: int) -> Meta:
        created_at = round(time.time(), 6)
        if scope is None:
            return Meta(created_at=created_at, scope=None, rows=rows, bytes=size, clock=self.clock.save(),
                        ids=self.ids.save(), services=self._saved_states())
        return Meta(created_at=created_at, scope=scope, rows=rows, bytes=size)

    def _saved_states(self) -> dict[str, Any]:
        """Each service's own state a whole snapshot carries (services with none: left out)."""
        states: dict[str, Any] = {}
        for api, service in self.services.items():
            state = service.save_state()
            if state is not None:
                states[api] = state
        return states

    def _apis(self) -> list[ApiSpec]:
        """The registered APIs (their migrations upgrade an older release's snapshot)."""
        return [spec for spec in self.tenants.specs.values() if isinstance(spec, ApiSpec)]

    # -- restoring --------------------------------------------------------------------------
    def restore(self, name: str) -> dict[str, Any]:
        """Bring a snapshot back: a whole one replaces the whole state (and the clock,
        id generator and service settings); a scoped one replaces only its tenants' rows."""
        check_name(name)
        if self.pg is not None:
            return self._restore_pg(self.pg.image(name)).describe(name)
        self._require_sqlite()
        with self.store.lock:
            if self.in_memory:
                data, meta = self.store.image(name)
                self._restore(meta, ":memory:", image=data, swap=not self.store.is_imported(name))
            else:
                path = self.store.file(name)
                if self.store.is_known_good(path):  # written or checked by this emulator: today's schema
                    meta = read_meta_file(path)
                else:
                    upgrade_in_place(path, self._apis())  # a snapshot saved by an older release
                    meta = self.checker.validate_file(path)
                    self.store.known_good(path)
                self._restore(meta, str(path))
        return meta.describe(name)

    def restore_file(self, path: Path) -> dict[str, Any]:
        """Restore an exported snapshot file as it is (``--import``), after validating it."""
        path = Path(path)
        if not path.is_file():
            raise SnapshotError(f"no such file: {path}")
        if self.pg is not None:
            return self._restore_pg(current_image(path.read_bytes(), self._apis())).describe(path.name)
        self._require_sqlite()
        with current_file(path, self._apis()) as current:
            meta = self.checker.validate_file(current)
            with self.store.lock:
                self._restore(meta, str(current.resolve()))
        return meta.describe(path.name)

    def _restore(self, meta: Meta, target: str, *, image: bytes | None = None, swap: bool = True) -> None:
        """``swap``: a whole in-memory snapshot may become the database image at once
        (only for images this emulator saved itself)."""
        self.checker.check_states(meta)  # before any row changes
        try:
            if image is None or meta.scope is not None or not swap or not self.copier.replace_image(image):
                with self.copier.attach(target, image=image) as conn, transaction(conn):
                    if meta.scope is None:
                        self.copier.restore_whole(conn)
                    else:
                        self.copier.restore_scope(conn, meta.scope)
        except IntegrityError as exc:
            first = str(exc.orig).splitlines()[0]
            if meta.scope is None:
                raise SnapshotError(f"the snapshot file is damaged (its rows break a constraint: {first})") from None
            raise SnapshotConflict(f"the snapshot's rows collide with other tenants' rows: {first}") from None
        except DatabaseError as exc:
            raise SnapshotError(f"cannot restore the snapshot: {str(exc.orig).splitlines()[0]}") from None
        self._restored(meta)

    def _restore_pg(self, data: bytes) -> Meta:
        """A whole snapshot's image restored into PostgreSQL (core/snapshot_pg.py)."""
        assert self.pg is not None
        meta = self.checker.validate_image(data)
        if meta.scope is not None:
            raise SnapshotError("a snapshot of some tenants restores on SQLite only (on PostgreSQL: whole ones)")
        self.checker.check_states(meta)
        try:
            self.pg.restore_whole(data)
        except DatabaseError as exc:
            raise SnapshotError(f"cannot restore the snapshot: {str(exc.orig).splitlines()[0]}") from None
        self._restored(meta)
        return meta

    def _restored(self, meta: Meta) -> None:
        """After the rows: the tenants' index everywhere, and for a whole snapshot the clock,
        ids, service settings; the limit windows of what was restored start over."""
        self.tenants.changed()  # every replica reloads its index
        if meta.scope is None:
            self.clock.load(meta.clock or {})
            self.ids.load(meta.ids)
            for api, state in (meta.services or {}).items():
                service = self.services.get(api)
                if service is not None:
                    service.load_state(state)
            self.limiter.reset()
        else:
            self.limiter.reset(meta.scope)
        self.state_changed()

    # -- export / import ----------------------------------------------------------------------
    def export(self, name: str) -> tuple[int, Iterator[bytes]]:
        """The snapshot file as (size, chunks); the chunks are read as they are sent."""
        check_name(name)
        if self.pg is not None:
            data = self.pg.image(name)
            return len(data), (data[i : i + READ_CHUNK] for i in range(0, len(data), READ_CHUNK))
        return self.store.export(name)

    async def import_(self, name: str, body: AsyncIterator[bytes]) -> dict[str, Any]:
        """Store an exported snapshot file (streamed) under ``name`` after validating it;
        a file that is not a snapshot of this format stores nothing."""
        check_name(name)
        if self.pg is not None or self.in_memory:
            buf = bytearray()
            async for piece in body:
                buf += piece
            data = await asyncio.to_thread(current_image, bytes(buf), self._apis())
            meta = await asyncio.to_thread(self.checker.validate_image, data)
            if self.pg is not None:
                await asyncio.to_thread(self.pg.put, name, data, meta)
            else:
                self.store.put_image(name, data, meta, imported=True)
            return meta.describe(name)
        self._require_sqlite()
        tmp = await asyncio.to_thread(self.store.temporary, name)
        try:
            await self.store.write(tmp, body)
            await asyncio.to_thread(upgrade_in_place, tmp, self._apis())
            meta = await asyncio.to_thread(self.checker.validate_file, tmp)
            await asyncio.to_thread(self.store.publish, tmp, name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return meta.describe(name)
