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
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import random
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    select,
    union,
)
from sqlalchemy.exc import DatabaseError, IntegrityError

from .. import __version__
from .blobs import Blob, BlobChunk
from .db import PAGE_SIZE, Base
from .ownership import (
    CONTENT_TABLES,
    Scope,
    ScopeError,
    blob_columns,
    delete_owned,
    owned_clause,
    owner_api,
    parse_scope,
    recount_blobs,
    scope_pairs,
    scope_json,
    scope_records,
    tenant_rows_clause,
)
from .tenants import TenantRow

if TYPE_CHECKING:
    from .runtime import Emulator

FORMAT = "storage-emulator-snapshot"
VERSION = 1
META = "_snapshot_meta"
SNAP = "snap"  # schema name of an attached snapshot
SUFFIX = ".snapshot"
NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
READ_CHUNK = 1 << 20


class SnapshotError(ValueError):
    """A refused snapshot request; ``status`` is the admin API's HTTP status."""

    status = 400


class SnapshotNotFound(SnapshotError):
    status = 404


class SnapshotConflict(SnapshotError):
    status = 409


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise SnapshotError("name must be 1 to 64 characters of A-Z a-z 0-9 . _ -")
    return name


@dataclass(frozen=True)
class Meta:
    created_at: float
    scope: Scope | None
    rows: int
    bytes: int
    clock: dict[str, Any] | None = None
    ids: Any = None
    services: dict[str, Any] | None = None

    def describe(self, name: str) -> dict[str, Any]:
        return {"name": name, "created_at": self.created_at, "scope": scope_json(self.scope), "rows": self.rows,
                "bytes": self.bytes}

    def records(self) -> dict[str, str]:
        return {
            "format": json.dumps(FORMAT),
            "version": json.dumps(VERSION),
            "emulator_version": json.dumps(__version__),
            "created_at": json.dumps(self.created_at),
            "scope": json.dumps(scope_json(self.scope)),
            "rows": json.dumps(self.rows),
            "bytes": json.dumps(self.bytes),
            "clock": json.dumps(self.clock),
            "ids": json.dumps(self.ids),
            "services": json.dumps(self.services),
        }


_SCHEMAS: dict[tuple[str, int], tuple[MetaData, dict[str, Table], list[str]]] = {}


def _schema_tables(schema: str) -> tuple[MetaData, dict[str, Table]]:
    """Copies of every table qualified with ``schema`` (the attached snapshot's), in
    dependency order (cached: building them costs more than a small restore). Unqualified
    tables name the live database (SQLite looks in ``main`` first)."""
    md, tables, _ = _schema(schema)
    return md, tables


def _schema(schema: str) -> tuple[MetaData, dict[str, Table], list[str]]:
    key = (schema, len(Base.metadata.tables))
    cached = _SCHEMAS.get(key)
    if cached is None:
        from sqlalchemy.dialects import sqlite
        from sqlalchemy.schema import CreateIndex, CreateTable

        md = MetaData()
        tables = {t.name: t.to_metadata(md, schema=schema) for t in Base.metadata.sorted_tables}
        dialect = sqlite.dialect()
        ddl = [str(CreateTable(t).compile(dialect=dialect)) for t in tables.values()]
        ddl += [str(CreateIndex(i).compile(dialect=dialect)) for t in tables.values() for i in t.indexes]
        cached = _SCHEMAS[key] = (md, tables, ddl)
    return cached


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _copy_sql(table: Table, source: str, target: str, where: str = "") -> str:
    """``INSERT INTO target.t (cols) SELECT cols FROM source.t [where]`` as text (the
    whole-state paths run these many times; text skips building and compiling)."""
    cols = ", ".join(_q(c.name) for c in table.columns)
    return f"INSERT INTO {target}.{_q(table.name)} ({cols}) SELECT {cols} FROM {source}.{_q(table.name)}{where}"


FROM_SNAP = {"schema_translate_map": {None: SNAP}}  # run an unqualified statement on the snapshot


def _surrogates(table: Table) -> list[str]:
    """Integer columns that identify a row alone (a one-column integer primary key, or a
    unique integer column): renumbered when a scoped restore would collide."""
    out = []
    pk = list(table.primary_key.columns)
    for column in table.columns:
        if not isinstance(column.type, Integer):
            continue
        if (len(pk) == 1 and pk[0] is column) or column.unique:
            out.append(column.name)
    return out


class Snapshots:
    """The named snapshots of one emulator (see the module docstring)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator
        self._memory: dict[str, tuple[bytes, Meta]] = {}  # in-memory emulator: name -> (image, meta)
        self._lock = threading.RLock()
        # In-memory snapshots that came from an import: restored row by row into the live
        # schema, never swapped in as the database image (their schema is the file's).
        self._imported: set[str] = set()
        # Snapshot files checked in full (validate_file), by path: (inode, size, mtime).
        # A file this emulator wrote is known good; one put in the folder by hand is
        # checked on its first restore.
        self._checked: dict[str, tuple[int, int, int]] = {}

    # -- where snapshots live -------------------------------------------------------------
    @property
    def in_memory(self) -> bool:
        return self.emu.db.memory

    @property
    def directory(self) -> Path:
        return Path(self.emu.settings.data_dir) / "snapshots"

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}{SUFFIX}"

    def _require_sqlite(self) -> None:
        if self.emu.db.engine.dialect.name != "sqlite":
            raise SnapshotError("snapshots need the SQLite database (the default, or a sqlite:// --database-url)")

    # -- listing --------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            if self.in_memory:
                return [meta.describe(name) for name, (_, meta) in sorted(self._memory.items())]
            if not self.directory.is_dir():
                return []
            out = []
            for path in sorted(self.directory.glob(f"*{SUFFIX}")):
                name = path.name[: -len(SUFFIX)]
                if not NAME.match(name):
                    continue
                try:
                    out.append(_read_meta_file(path).describe(name))
                except SnapshotError:
                    continue  # not a snapshot (a file someone put there): not listed
            return out

    def get(self, name: str) -> dict[str, Any]:
        check_name(name)
        with self._lock:
            if self.in_memory:
                return self._image(name)[1].describe(name)
            return _read_meta_file(self._file(name)).describe(name)

    def _image(self, name: str) -> tuple[bytes, Meta]:
        try:
            return self._memory[name]
        except KeyError:
            raise SnapshotNotFound(f"no snapshot named {name!r}") from None

    def _file(self, name: str) -> Path:
        path = self._path(name)
        if not path.is_file():
            raise SnapshotNotFound(f"no snapshot named {name!r}")
        return path

    def delete(self, name: str) -> None:
        check_name(name)
        with self._lock:
            if self.in_memory:
                self._image(name)
                del self._memory[name]
                self._imported.discard(name)
                return
            try:
                self._path(name).unlink()
            except FileNotFoundError:
                raise SnapshotNotFound(f"no snapshot named {name!r}") from None

    # -- saving ---------------------------------------------------------------------------
    def save(self, name: str, tenants: Any = None) -> dict[str, Any]:
        """Save the whole state (``tenants`` None) or the rows of ``tenants``
        (``{api: [identity, ...]}``) under ``name``, replacing an older one."""
        check_name(name)
        self._require_sqlite()
        scope = None if tenants is None else _scope(tenants, self.emu)
        with self._lock:
            if self.in_memory:
                with self._attach(":memory:", create=True) as conn:
                    with _transaction(conn):
                        meta = self._fill(conn, scope)
                    data = conn.connection.driver_connection.serialize(name=SNAP)
                self._memory[name] = (data, meta)
                self._imported.discard(name)
                return meta.describe(name)
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / f".{name}.{secrets.token_hex(6)}.tmp"
            try:
                with self._attach(str(tmp), create=True) as conn, _transaction(conn):
                    meta = self._fill(conn, scope)
                _publish(tmp, self._path(name))
                self._known_good(self._path(name))
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            return meta.describe(name)

    def _whole_meta(self) -> dict[str, Any]:
        services = {}
        for api, service in self.emu.services.items():
            state = service.save_state()
            if state is not None:
                services[api] = state
        return {"clock": self.emu.clock.save(), "ids": self.emu.ids.save(), "services": services}

    def _fill(self, conn: Connection, scope: Scope | None) -> Meta:
        _, snap, ddl = _schema(SNAP)
        for statement in ddl:
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(f"CREATE TABLE {SNAP}.{META} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        blobs, chunks = Blob.__table__, BlobChunk.__table__
        if scope is None:
            for table in Base.metadata.sorted_tables:
                if table.name not in CONTENT_TABLES:
                    conn.exec_driver_sql(_copy_sql(table, "main", SNAP))
            conn.exec_driver_sql(_copy_sql(blobs, "main", SNAP, " WHERE state = 'ready'"))
        else:
            records = scope_records(scope, self.emu.tenants)
            for table in Base.metadata.sorted_tables:
                if table.name in CONTENT_TABLES:
                    continue
                where = self._save_clause(table, scope, records)
                if where is None:
                    continue
                names = [c.name for c in table.columns]
                conn.execute(insert(snap[table.name]).from_select(names, select(*table.columns).where(where)))
            # The bytes those rows reference.
            refs = [select(snap[c.table.name].c[c.name]) for c in blob_columns()]
            wanted = and_(blobs.c.state == "ready", blobs.c.id.in_(union(*refs))) if refs else false()
            conn.execute(insert(snap["blobs"]).from_select([c.name for c in blobs.columns],
                                                           select(*blobs.columns).where(wanted)))
        conn.exec_driver_sql(_copy_sql(chunks, "main", SNAP, f" WHERE blob_id IN (SELECT id FROM {SNAP}.blobs)"))
        counts = " + ".join(
            f"(SELECT count(*) FROM {SNAP}.{_q(name)})" for name in snap if name not in CONTENT_TABLES
        )
        rows, size = conn.exec_driver_sql(
            f"SELECT {counts}, (SELECT coalesce(sum(size), 0) FROM {SNAP}.blobs)"
        ).one()
        extra = self._whole_meta() if scope is None else {}
        meta = Meta(created_at=round(time.time(), 6), scope=scope, rows=int(rows), bytes=int(size), **extra)
        conn.exec_driver_sql(
            f"INSERT INTO {SNAP}.{META} (key, value) VALUES (?, ?)", list(meta.records().items())
        )
        return meta

    @staticmethod
    def _save_clause(table: Table, scope: Scope, records: dict[str, list[Any]]) -> Any:
        """Which of ``table``'s rows a scoped snapshot holds (None: none)."""
        if table.name == TenantRow.__tablename__:
            return tenant_rows_clause(scope)
        api = owner_api(table)
        if api is None or api not in scope:
            return None  # global rows and other APIs' rows are not part of a scoped snapshot
        return owned_clause(table, records[api])

    # -- restoring --------------------------------------------------------------------------
    def restore(self, name: str) -> dict[str, Any]:
        """Bring a snapshot back: a whole one replaces the whole state (and the clock,
        id generator and service settings); a scoped one replaces only its tenants' rows."""
        check_name(name)
        self._require_sqlite()
        with self._lock:
            if self.in_memory:
                data, meta = self._image(name)
                self._restore(meta, ":memory:", image=data, swap=name not in self._imported)
            else:
                path = self._file(name)
                if self._checked.get(str(path)) == _stamp(path):
                    meta = _read_meta_file(path)
                else:
                    meta = validate_file(path, self.emu)
                    self._known_good(path)
                self._restore(meta, str(path))
        return meta.describe(name)

    def _known_good(self, path: Path) -> None:
        self._checked[str(path)] = _stamp(path)

    def restore_file(self, path: Path) -> dict[str, Any]:
        """Restore an exported snapshot file as it is (``--import``), after validating it."""
        self._require_sqlite()
        path = Path(path)
        if not path.is_file():
            raise SnapshotError(f"no such file: {path}")
        meta = validate_file(path, self.emu)
        with self._lock:
            self._restore(meta, str(path.resolve()))
        return meta.describe(path.name)

    def _restore(self, meta: Meta, target: str, *, image: bytes | None = None, swap: bool = True) -> None:
        """``swap``: a whole in-memory snapshot may become the database image at once
        (only for images this emulator saved itself)."""
        check_states(meta, self.emu)  # before any row changes
        try:
            if image is None or meta.scope is not None or not swap or not self._replace_image(image):
                with self._attach(target, image=image) as conn, _transaction(conn):
                    if meta.scope is None:
                        self._restore_whole(conn)
                    else:
                        self._restore_scope(conn, meta.scope)
        except IntegrityError as exc:
            first = str(exc.orig).splitlines()[0]
            if meta.scope is None:
                raise SnapshotError(f"the snapshot file is damaged (its rows break a constraint: {first})") from None
            raise SnapshotConflict(f"the snapshot's rows collide with other tenants' rows: {first}") from None
        except DatabaseError as exc:
            raise SnapshotError(f"cannot restore the snapshot: {str(exc.orig).splitlines()[0]}") from None
        self.emu.tenants.reload()
        if meta.scope is None:
            self.emu.clock.load(meta.clock or {})
            self.emu.ids.load(meta.ids)
            for api, state in (meta.services or {}).items():
                service = self.emu.services.get(api)
                if service is not None:
                    service.load_state(state)
            self.emu.limiter.reset()
        else:
            self.emu.limiter.reset(meta.scope)
        self.emu.state_changed()

    def _replace_image(self, image: bytes) -> bool:
        """The in-memory database becomes the whole snapshot's image at once (sqlite3
        ``deserialize``), unless an upload is streaming into it right now (then False:
        rows are copied so its pending bytes survive)."""
        db = self.emu.db
        with db._lock, db.engine.connect() as conn:
            if conn.exec_driver_sql("SELECT 1 FROM main.blobs WHERE state = 'pending' LIMIT 1").first():
                conn.rollback()
                return False
            conn.rollback()
            raw = conn.connection.driver_connection
            raw.deserialize(image)
            db._sqlite_pragmas(raw, None)  # per-database settings start over with a new image
            conn.exec_driver_sql(f"DROP TABLE main.{META}")
            conn.commit()
        return True

    def _restore_whole(self, conn: Connection) -> None:
        blobs, chunks = Blob.__table__, BlobChunk.__table__
        # Uploads streaming right now keep their pending bytes; a saved blob whose id one of
        # them holds is renumbered so that the two never meet.
        pending = set(conn.exec_driver_sql("SELECT id FROM main.blobs WHERE state = 'pending'").scalars())
        for table in reversed(Base.metadata.sorted_tables):
            if table is blobs:
                conn.exec_driver_sql("DELETE FROM main.blobs WHERE state != 'pending'")
            elif table is chunks:
                conn.exec_driver_sql(
                    "DELETE FROM main.blob_chunks WHERE blob_id NOT IN (SELECT id FROM main.blobs WHERE state = 'pending')"
                )
            else:
                conn.exec_driver_sql(f"DELETE FROM main.{_q(table.name)}")
        mapping: dict[int, int] = {}
        if pending:
            saved = set(conn.exec_driver_sql(f"SELECT id FROM {SNAP}.blobs").scalars())
            top = max(saved | pending)
            mapping = {old: top + n for n, old in enumerate(sorted(saved & pending), 1)}
        if not mapping:
            for table in Base.metadata.sorted_tables:
                where = " WHERE state = 'ready'" if table is blobs else ""
                conn.exec_driver_sql(_copy_sql(table, SNAP, "main", where))
            return
        _, snap = _schema_tables(SNAP)
        blob_refs = {(c.table.name, c.name) for c in blob_columns()} | {("blob_chunks", "blob_id"), ("blobs", "id")}
        for table in Base.metadata.sorted_tables:
            source = snap[table.name]
            cols = [
                case(mapping, value=c, else_=c).label(c.name) if (table.name, c.name) in blob_refs else c
                for c in source.columns
            ]
            query = select(*cols)
            if table is blobs:
                query = query.where(source.c.state == "ready")
            conn.execute(insert(table).from_select([c.name for c in source.columns], query))

    def _restore_scope(self, conn: Connection, scope: Scope) -> None:
        _, snap = _schema_tables(SNAP)
        specs = self.emu.tenants.specs
        tenants = TenantRow.__table__
        # The snapshot's own tenant records (their credentials may differ from the live ones).
        saved_tenants = conn.execute(
            select(tenants).where(tenant_rows_clause(scope)).order_by(tenants.c.position),
            execution_options=FROM_SNAP,
        ).mappings().all()
        saved_records: dict[str, list[Any]] = {api: [] for api in scope}
        for row in saved_tenants:
            if row["api"] in specs:
                saved_records[row["api"]].append(specs[row["api"]].tenant_model.model_validate(row["data"]))
        live_records = scope_records(scope, self.emu.tenants)
        both = {api: [*live_records.get(api, []), *saved_records.get(api, [])] for api in scope}

        # 1. this scope's live rows go (other tenants' rows stay); its tenants take the
        #    saved records, keeping their place in listings.
        delete_owned(conn, both)
        positions = {
            (r.api, r.key): r.position
            for r in conn.execute(select(tenants.c.api, tenants.c.key, tenants.c.position)
                                  .where(tenant_rows_clause(scope))).all()
        }
        conn.execute(delete(tenants).where(tenant_rows_clause(scope)))
        top = conn.execute(select(func.coalesce(func.max(tenants.c.position), -1))).scalar_one()
        for row in saved_tenants:
            position = positions.get((row["api"], row["key"]))
            if position is None:
                top += 1
                position = top
            conn.execute(insert(tenants).values(api=row["api"], key=row["key"], position=position, data=row["data"]))

        # 2. the saved bytes: identical live blobs are shared, the others copied in.
        blob_map = self._merge_blobs(conn, snap)

        # 3. the saved rows, parents first; surrogate ids renumbered (in their order) where
        #    they would collide with other tenants' rows.
        remaps: dict[tuple[str, str], dict[Any, Any]] = {}
        for table in Base.metadata.sorted_tables:
            api = owner_api(table)
            if api is None or api not in scope:
                continue
            rows = [dict(r) for r in conn.execute(
                select(table).where(owned_clause(table, saved_records[api])), execution_options=FROM_SNAP
            ).mappings().all()]
            if not rows:
                continue
            for name in _surrogates(table):
                values = sorted(r[name] for r in rows if r[name] is not None)
                column = table.c[name]
                clash = bool(values) and conn.execute(
                    select(func.count()).select_from(table).where(column.in_(values))
                ).scalar_one() > 0
                if clash:
                    start = conn.execute(select(func.coalesce(func.max(column), 0))).scalar_one()
                    remaps[(table.name, name)] = {old: start + n for n, old in enumerate(values, 1)}
            for r in rows:
                for column in table.columns:
                    value = r[column.name]
                    if value is None:
                        continue
                    if (table.name, column.name) in remaps:
                        r[column.name] = remaps[(table.name, column.name)][value]
                        continue
                    for fk in column.foreign_keys:
                        ref = (fk.column.table.name, fk.column.name)
                        if ref == ("blobs", "id"):
                            r[column.name] = blob_map[value]
                        elif ref in remaps:
                            r[column.name] = remaps[ref].get(value, value)
            conn.execute(insert(table), rows)

        # 4. exact reference counts; bytes nobody references any more are reclaimed.
        recount_blobs(conn)

    @staticmethod
    def _merge_blobs(conn: Connection, snap: dict[str, Table]) -> dict[int, int]:
        mb, sb = Blob.__table__, snap["blobs"]
        chunks, saved_chunks = BlobChunk.__table__, snap["blob_chunks"]
        saved = conn.execute(select(sb.c.id, sb.c.size, sb.c.md5, sb.c.sha1, sb.c.created_at)
                             .where(sb.c.state == "ready").order_by(sb.c.id)).all()
        mapping: dict[int, int] = {}
        if not saved:
            return mapping
        next_id = max(conn.execute(select(func.coalesce(func.max(mb.c.id), 0))).scalar_one(), saved[-1].id)
        for blob in saved:
            same = conn.execute(
                select(mb.c.id).where(mb.c.state == "ready", mb.c.sha1 == blob.sha1, mb.c.md5 == blob.md5,
                                      mb.c.size == blob.size).limit(1)
            ).scalar_one_or_none()
            if same is not None:
                mapping[blob.id] = same
                continue
            if conn.execute(select(mb.c.id).where(mb.c.id == blob.id)).scalar_one_or_none() is None:
                new_id = blob.id
            else:
                next_id += 1
                new_id = next_id
            conn.execute(insert(mb).values(id=new_id, state="ready", size=blob.size, md5=blob.md5, sha1=blob.sha1,
                                           refcount=0, created_at=blob.created_at))
            conn.execute(insert(chunks).from_select(
                ["blob_id", "seq", "data"],
                select(literal(new_id, Integer), saved_chunks.c.seq, saved_chunks.c.data)
                .where(saved_chunks.c.blob_id == blob.id),
            ))
            mapping[blob.id] = new_id
        return mapping

    # -- export / import ----------------------------------------------------------------------
    def export(self, name: str) -> tuple[int, Iterator[bytes]]:
        """The snapshot file as (size, chunks); the chunks are read as they are sent."""
        check_name(name)
        with self._lock:
            if self.in_memory:
                data = self._image(name)[0]
                return len(data), (data[i : i + READ_CHUNK] for i in range(0, len(data), READ_CHUNK))
            try:
                handle = open(self._path(name), "rb")  # noqa: SIM115 - closed by the generator
            except FileNotFoundError:
                raise SnapshotNotFound(f"no snapshot named {name!r}") from None
        size = os.fstat(handle.fileno()).st_size

        def chunks() -> Iterator[bytes]:
            with handle:
                while piece := handle.read(READ_CHUNK):
                    yield piece

        return size, chunks()

    async def import_(self, name: str, body: AsyncIterator[bytes]) -> dict[str, Any]:
        """Store an exported snapshot file (streamed) under ``name`` after validating it;
        a file that is not a snapshot of this format stores nothing."""
        check_name(name)
        self._require_sqlite()
        if self.in_memory:
            buf = bytearray()
            async for piece in body:
                buf += piece
            data = bytes(buf)
            meta = await asyncio.to_thread(validate_image, data, self.emu)
            with self._lock:
                self._memory[name] = (data, meta)
                self._imported.add(name)
            return meta.describe(name)
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        tmp = self.directory / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            handle = await asyncio.to_thread(open, tmp, "wb")
            try:
                async for piece in body:
                    await asyncio.to_thread(handle.write, piece)
            finally:
                await asyncio.to_thread(handle.close)
            meta = await asyncio.to_thread(validate_file, tmp, self.emu)
            await asyncio.to_thread(self._publish, tmp, name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return meta.describe(name)

    def _publish(self, tmp: Path, name: str) -> None:
        with self._lock:
            _publish(tmp, self._path(name))
            self._known_good(self._path(name))

    # -- the attached snapshot ----------------------------------------------------------------
    @contextmanager
    def _attach(self, target: str, *, create: bool = False, image: bytes | None = None) -> Iterator[Connection]:
        """A live connection, holding the database lock, with ``target`` (a file, or
        ``:memory:`` filled from ``image``) attached as ``snap``."""
        db = self.emu.db
        with db._lock, db.engine.connect() as conn:
            conn.exec_driver_sql(f"ATTACH DATABASE ? AS {SNAP}", (target,))
            try:
                if image is not None:
                    conn.connection.driver_connection.deserialize(image, name=SNAP)
                if create:
                    conn.exec_driver_sql(f"PRAGMA {SNAP}.page_size={PAGE_SIZE}")
                    if target != ":memory:":
                        conn.exec_driver_sql(f"PRAGMA {SNAP}.journal_mode=DELETE")  # one file, no -wal
                yield conn
            finally:
                _rollback(conn)
                conn.exec_driver_sql(f"DETACH DATABASE {SNAP}")
                conn.commit()


def _rollback(conn: Connection) -> None:
    """Roll back whatever is open on the driver connection. SQLAlchemy's own rollback
    does nothing after a failed COMMIT (a deferred foreign key refused it), yet SQLite
    keeps that transaction open: the connection would go back to the pool still holding
    the write lock and the attached snapshot."""
    conn.rollback()
    raw = conn.connection.driver_connection
    if raw is not None and raw.in_transaction:
        raw.rollback()


@contextmanager
def _transaction(conn: Connection) -> Iterator[None]:
    """One write transaction over the live and the attached database; foreign keys are
    checked at its end (rows are copied in whatever order suits)."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")
    conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
    try:
        yield
        conn.commit()
    except BaseException:
        _rollback(conn)
        raise


def _scope(tenants: Any, emu: Emulator) -> Scope:
    try:
        return parse_scope(tenants, emu.tenants)
    except ScopeError as exc:
        raise SnapshotError(str(exc)) from None


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def _publish(tmp: Path, final: Path) -> None:
    """Make ``tmp`` durable and atomically the file at ``final``."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    try:
        dfd = os.open(final.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# -- reading and validating snapshot files -------------------------------------------------------
def _meta_from(conn: sqlite3.Connection) -> Meta:
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"not a storage-emulator snapshot ({exc})") from None
    if META not in tables:
        raise SnapshotError("not a storage-emulator snapshot (no snapshot meta table)")
    try:
        raw = {k: json.loads(v) for k, v in conn.execute(f"SELECT key, value FROM {META}")}
    except (sqlite3.DatabaseError, ValueError, TypeError, RecursionError) as exc:
        raise SnapshotError(f"not a storage-emulator snapshot (unreadable meta: {exc})") from None
    if raw.get("format") != FORMAT:
        raise SnapshotError("not a storage-emulator snapshot (wrong format marker)")
    if raw.get("version") != VERSION:
        raise SnapshotError(f"snapshot format version {raw.get('version')!r} is not supported (this emulator reads {VERSION})")
    scope = raw.get("scope")
    if scope is not None and not (
        isinstance(scope, dict)
        and all(isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in scope.values())
    ):
        raise SnapshotError("snapshot meta has a malformed scope")
    created_at = raw.get("created_at")
    if not _finite(created_at):
        raise SnapshotError("snapshot meta is incomplete (created_at must be a unix time)")
    counts = {key: raw.get(key) or 0 for key in ("rows", "bytes")}
    for key, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SnapshotError(f"snapshot meta is incomplete ({key} must be a count)")
    return Meta(
        created_at=float(created_at),
        scope=None if scope is None else {api: tuple(ids) for api, ids in scope.items()},
        rows=counts["rows"],
        bytes=counts["bytes"],
        clock=raw.get("clock"),
        ids=raw.get("ids"),
        services=raw.get("services"),
    )


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_states(meta: Meta, emu: Emulator) -> None:
    """A whole snapshot's clock, id generator position and service settings must be
    ones this emulator can load: they are applied after the rows, so a bad one found
    then would leave the state half restored."""
    if meta.scope is not None:
        return  # a scoped restore leaves the clock, ids and settings alone
    clock = meta.clock
    if clock is not None:
        if not isinstance(clock, dict) or set(clock) - {"offset", "frozen_at"}:
            raise SnapshotError('snapshot meta: clock must be {"offset": s, "frozen_at": t or null}')
        offset, frozen_at = clock.get("offset", 0.0), clock.get("frozen_at")
        if not _finite(offset) or not (frozen_at is None or (_finite(frozen_at) and frozen_at >= 0)):
            raise SnapshotError("snapshot meta: the clock's offset and frozen_at must be finite numbers")
    if meta.ids is not None:
        try:
            version, internal, gauss = meta.ids
            random.Random().setstate((version, tuple(internal), gauss))
        except (TypeError, ValueError, OverflowError):
            raise SnapshotError("snapshot meta: ids is not a position of the id generator") from None
    services = meta.services
    if services is None:
        return
    if not isinstance(services, dict):
        raise SnapshotError("snapshot meta: services must map API names to their settings")
    for api, state in services.items():
        service = emu.services.get(api)
        if service is not None:
            try:
                service.check_state(state)
            except (TypeError, ValueError) as exc:
                raise SnapshotError(f"snapshot meta: the {api} settings are not valid ({exc})") from None


def _check_schema(conn: sqlite3.Connection) -> None:
    """The file's tables and columns must be exactly this emulator's (and it holds no
    triggers or views: a snapshot never has any)."""
    other = conn.execute("SELECT type, name FROM sqlite_master WHERE type NOT IN ('table', 'index')").fetchone()
    if other is not None:
        raise SnapshotError(f"not a storage-emulator snapshot (it holds a {other[0]} {other[1]!r})")
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} - {META}
    have = {t for t in have if not t.startswith("sqlite_")}
    want = {t.name: t for t in Base.metadata.sorted_tables}
    missing, extra = sorted(set(want) - have), sorted(have - set(want))
    if missing or extra:
        detail = "; ".join(x for x in (
            f"missing table(s) {', '.join(missing)}" if missing else "",
            f"unknown table(s) {', '.join(extra)}" if extra else "",
        ) if x)
        raise SnapshotError(f"the snapshot's schema differs from this emulator's ({detail})")
    for name, table in want.items():
        cols = {r[1] for r in conn.execute(f'PRAGMA table_info("{name}")')}
        if cols != {c.name for c in table.columns}:
            raise SnapshotError(f"the snapshot's schema differs from this emulator's (columns of {name})")


def _check_scope(meta: Meta, emu: Emulator) -> None:
    for api in meta.scope or {}:
        if api not in emu.tenants.specs:
            raise SnapshotError(f"the snapshot's scope names unknown API {api!r}")


def _read_meta_file(path: Path) -> Meta:
    conn = _open_ro(path)
    try:
        return _meta_from(conn)
    finally:
        conn.close()


def _open_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)


def _validate(conn: sqlite3.Connection, emu: Emulator) -> Meta:
    meta = _meta_from(conn)
    _check_schema(conn)
    _check_scope(meta, emu)
    check_states(meta, emu)
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"the snapshot file is damaged ({exc})") from None
    if verdict != "ok":
        raise SnapshotError(f"the snapshot file is damaged ({verdict})")
    _check_rows(conn, meta, emu)
    return meta


# What each column type may hold (SQLite's storage classes): a file from elsewhere is
# checked against the live schema's types before a row of it is restored.
_STORAGE = (
    (Boolean, ("integer",)),
    (Integer, ("integer",)),
    (Float, ("real", "integer")),
    (JSON, ("text",)),
    (String, ("text",)),
    (LargeBinary, ("blob",)),
)


def _check_rows(conn: sqlite3.Connection, meta: Meta, emu: Emulator) -> None:
    """The rows must be rows this emulator could have written: values of the columns'
    types (JSON that parses), references that resolve, tenant records that load, and
    object bytes that match their size, hashes and chunking (and, in a whole snapshot,
    their reference counts). A damaged or hand-made file is refused here, before it can
    replace anything."""
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            allowed = next((kinds for kind, kinds in _STORAGE if isinstance(column.type, kind)), None)
            if allowed is None:
                continue
            kinds = (*allowed, "null") if column.nullable and not column.primary_key else allowed
            bad = f"typeof({_q(column.name)}) NOT IN ({', '.join(repr(k) for k in kinds)})"
            if conn.execute(f"SELECT 1 FROM {_q(table.name)} WHERE {bad} LIMIT 1").fetchone() or (
                isinstance(column.type, JSON) and not _all_json(conn, table.name, column.name)
            ):
                raise SnapshotError(f"the snapshot file is damaged (bad values in {table.name}.{column.name})")
        for column in table.columns:
            for fk in column.foreign_keys:
                target = fk.column
                dangling = conn.execute(
                    f"SELECT 1 FROM {_q(table.name)} WHERE {_q(column.name)} IS NOT NULL AND {_q(column.name)} NOT IN "
                    f"(SELECT {_q(target.name)} FROM {_q(target.table.name)}) LIMIT 1"
                ).fetchone()
                if dangling:
                    raise SnapshotError(
                        f"the snapshot file is damaged ({table.name}.{column.name} refers to rows it does not hold)"
                    )
    _check_tenant_rows(conn, emu)
    for api, ident in scope_pairs(meta.scope or {}):
        held = conn.execute(f"SELECT 1 FROM {_q(TenantRow.__tablename__)} WHERE api = ? AND key = ?", (api, ident))
        if held.fetchone() is None:  # restoring it would delete the live tenant and bring nothing back
            raise SnapshotError(f"the snapshot's scope names {api} tenant {ident!r}, whose record it does not hold")
    _check_blob_rows(conn, emu.blobs.chunk_size, whole=meta.scope is None)


def _all_json(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Every value of a JSON column parses (in Python: not every SQLite has json_valid)."""
    try:
        for (value,) in conn.execute(f"SELECT {_q(column)} FROM {_q(table)} WHERE {_q(column)} IS NOT NULL"):
            json.loads(value)
    except (ValueError, RecursionError):
        return False
    return True


def _check_tenant_rows(conn: sqlite3.Connection, emu: Emulator) -> None:
    specs = emu.tenants.specs
    for api, key, data in conn.execute(f"SELECT api, key, data FROM {_q(TenantRow.__tablename__)}"):
        if api not in specs:
            raise SnapshotError(f"the snapshot holds a tenant of unknown API {api!r}")
        try:
            record = specs[api].tenant_model.model_validate(json.loads(data))
        except (ValueError, TypeError, RecursionError):  # pydantic's ValidationError is a ValueError
            raise SnapshotError(f"the snapshot's {api} tenant {key!r} is not a valid tenant record") from None
        if record.identity() != key:
            raise SnapshotError(f"the snapshot's {api} tenant {key!r} holds the record of {record.identity()!r}")


def _check_blob_rows(conn: sqlite3.Connection, chunk_size: int, *, whole: bool) -> None:
    """Every blob ready, its chunks numbered 0..n-1, all but the last ``chunk_size``
    bytes, adding up to its size, and hashing to its MD5 and SHA-1 (streamed: one chunk
    in memory at a time); in a whole snapshot its reference count is its references."""
    blobs = Blob.__tablename__
    if conn.execute(f"SELECT 1 FROM {blobs} WHERE state != 'ready' LIMIT 1").fetchone():
        raise SnapshotError("the snapshot file is damaged (it holds unfinished blobs)")
    if whole:
        refs = " UNION ALL ".join(
            f"SELECT {_q(c.name)} AS blob_id FROM {_q(c.table.name)} WHERE {_q(c.name)} IS NOT NULL"
            for c in blob_columns()
        )
        wrong = conn.execute(
            f"SELECT b.id FROM {blobs} b LEFT JOIN (SELECT blob_id, count(*) AS n FROM ({refs}) GROUP BY blob_id) r "
            f"ON r.blob_id = b.id WHERE b.refcount != coalesce(r.n, 0) LIMIT 1"
        ).fetchone()
        if wrong:
            raise SnapshotError(f"the snapshot file is damaged (blob {wrong[0]}'s reference count)")
    chunks = conn.execute(
        f"SELECT blob_id, seq, data FROM {BlobChunk.__tablename__} ORDER BY blob_id, seq"
    )
    pending = next(chunks, None)
    for blob_id, size, md5, sha1 in conn.execute(f"SELECT id, size, md5, sha1 FROM {blobs} ORDER BY id"):
        h_md5, h_sha1, total, expect = hashlib.md5(), hashlib.sha1(), 0, 0
        short = False
        while pending is not None and pending[0] == blob_id:
            _, seq, data = pending
            if seq != expect or short:
                raise SnapshotError(f"the snapshot file is damaged (blob {blob_id}'s chunks)")
            short = len(data) != chunk_size
            h_md5.update(data)
            h_sha1.update(data)
            total += len(data)
            expect += 1
            pending = next(chunks, None)
        if (total, h_md5.hexdigest(), h_sha1.hexdigest()) != (size, md5, sha1):
            raise SnapshotError(f"the snapshot file is damaged (blob {blob_id}'s bytes do not match its size or hashes)")


def validate_file(path: Path, emu: Emulator) -> Meta:
    """Check that ``path`` is a snapshot this emulator can restore; SnapshotError if not."""
    try:
        conn = _open_ro(path)
    except sqlite3.Error as exc:
        raise SnapshotError(f"cannot open {path}: {exc}") from None
    try:
        return _validate(conn, emu)
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"not a storage-emulator snapshot ({exc})") from None
    finally:
        conn.close()


def validate_image(data: bytes, emu: Emulator) -> Meta:
    if not data:
        raise SnapshotError("not a storage-emulator snapshot (the file is empty)")
    conn = sqlite3.connect(":memory:")
    try:
        try:
            conn.deserialize(data)
        except sqlite3.DatabaseError as exc:
            raise SnapshotError(f"not a storage-emulator snapshot ({exc})") from None
        return _validate(conn, emu)
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"not a storage-emulator snapshot ({exc})") from None
    finally:
        conn.close()

