"""Validation of snapshot files, which are untrusted input (a file imported from another
machine, or put in the snapshots folder by hand): before a row of one is restored, its
format, schema, values, references, tenant records, object bytes and saved service
states must all be ones this emulator could have written. The overview: core/snapshots.py."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, LargeBinary, String
from sqlalchemy.types import TypeEngine

from .blobs import Blob, BlobChunk, BlobStore
from .contract import Service
from .db import Base
from .ownership import blob_columns, scope_pairs
from .snapshot_format import META, Meta, SnapshotError, finite, meta_from, open_ro, quote
from .tenants import TenantRow, Tenants

# What each column type may hold (SQLite's storage classes): a file from elsewhere is
# checked against the live schema's types before a row of it is restored.
_STORAGE: tuple[tuple[type[TypeEngine[Any]], tuple[str, ...]], ...] = (
    (Boolean, ("integer",)),
    (Integer, ("integer",)),
    (Float, ("real", "integer")),
    (JSON, ("text",)),
    (String, ("text",)),
    (LargeBinary, ("blob",)),
)


class SnapshotChecker:
    """Checks snapshot files against this emulator: its schema (``Base.metadata``), its
    APIs' tenant models (``tenants.specs``), its services' saved-state checks and its
    content store's chunk size."""

    def __init__(self, tenants: Tenants, services: Mapping[str, Service], blobs: BlobStore) -> None:
        self.tenants = tenants
        self.services = services  # filled when the emulator starts
        self.blobs = blobs

    def validate_file(self, path: Path) -> Meta:
        """Check that ``path`` is a snapshot this emulator can restore; SnapshotError if not."""
        try:
            conn = open_ro(path)
        except sqlite3.Error as exc:
            raise SnapshotError(f"cannot open {path}: {exc}") from None
        return self._validated(conn)

    def validate_image(self, data: bytes) -> Meta:
        """As :meth:`validate_file`, for a snapshot file's bytes held in memory."""
        if not data:
            raise SnapshotError("not a storage-emulator snapshot (the file is empty)")
        conn = sqlite3.connect(":memory:")
        try:
            conn.deserialize(data)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise SnapshotError(f"not a storage-emulator snapshot ({exc})") from None
        return self._validated(conn)

    def _validated(self, conn: sqlite3.Connection) -> Meta:
        """:meth:`_validate` on ``conn``, which it closes; a database error is "not a snapshot"."""
        try:
            return self._validate(conn)
        except sqlite3.DatabaseError as exc:
            raise SnapshotError(f"not a storage-emulator snapshot ({exc})") from None
        finally:
            conn.close()

    def check_states(self, meta: Meta) -> None:
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
            if not finite(offset) or not (frozen_at is None or (finite(frozen_at) and frozen_at >= 0)):
                raise SnapshotError("snapshot meta: the clock's offset and frozen_at must be finite numbers")
        ids = meta.ids
        if isinstance(ids, int) and not isinstance(ids, bool):
            if ids < 0:
                raise SnapshotError("snapshot meta: ids is not a position of the id generator")
        elif ids is not None:
            # a snapshot written before 0.2: a random generator's state (not carried over)
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
            service = self.services.get(api)
            if service is None:
                continue
            try:
                service.check_state(state)
            except (TypeError, ValueError) as exc:
                raise SnapshotError(f"snapshot meta: the {api} settings are not valid ({exc})") from None

    def _validate(self, conn: sqlite3.Connection) -> Meta:
        meta = meta_from(conn)
        _check_schema(conn)
        self._check_scope(meta)
        self.check_states(meta)
        try:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise SnapshotError(f"the snapshot file is damaged ({exc})") from None
        if verdict != "ok":
            raise SnapshotError(f"the snapshot file is damaged ({verdict})")
        self._check_rows(conn, meta)
        return meta

    def _check_scope(self, meta: Meta) -> None:
        for api in meta.scope or {}:
            if api not in self.tenants.specs:
                raise SnapshotError(f"the snapshot's scope names unknown API {api!r}")

    def _check_rows(self, conn: sqlite3.Connection, meta: Meta) -> None:
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
                bad = f"typeof({quote(column.name)}) NOT IN ({', '.join(repr(k) for k in kinds)})"
                if conn.execute(f"SELECT 1 FROM {quote(table.name)} WHERE {bad} LIMIT 1").fetchone() or (
                    isinstance(column.type, JSON) and not _all_json(conn, table.name, column.name)
                ):
                    raise SnapshotError(f"the snapshot file is damaged (bad values in {table.name}.{column.name})")
            for column in table.columns:
                for fk in column.foreign_keys:
                    target = fk.column
                    dangling = conn.execute(
                        f"SELECT 1 FROM {quote(table.name)} WHERE {quote(column.name)} IS NOT NULL AND "
                        f"{quote(column.name)} NOT IN (SELECT {quote(target.name)} FROM {quote(target.table.name)}) "
                        f"LIMIT 1"
                    ).fetchone()
                    if dangling:
                        raise SnapshotError(
                            f"the snapshot file is damaged ({table.name}.{column.name} refers to rows it does not hold)"
                        )
        self._check_tenant_rows(conn)
        for api, ident in scope_pairs(meta.scope or {}):
            held = conn.execute(
                f"SELECT 1 FROM {quote(TenantRow.__tablename__)} WHERE api = ? AND key = ?", (api, ident)
            )
            if held.fetchone() is None:  # restoring it would delete the live tenant and bring nothing back
                raise SnapshotError(f"the snapshot's scope names {api} tenant {ident!r}, whose record it does not hold")
        _check_blob_rows(conn, self.blobs.chunk_size, whole=meta.scope is None)

    def _check_tenant_rows(self, conn: sqlite3.Connection) -> None:
        specs = self.tenants.specs
        for api, key, data in conn.execute(f"SELECT api, key, data FROM {quote(TenantRow.__tablename__)}"):
            if api not in specs:
                raise SnapshotError(f"the snapshot holds a tenant of unknown API {api!r}")
            try:
                record = specs[api].tenant_model.model_validate(json.loads(data))
            except (ValueError, TypeError, RecursionError):  # pydantic's ValidationError is a ValueError
                raise SnapshotError(f"the snapshot's {api} tenant {key!r} is not a valid tenant record") from None
            if record.identity() != key:
                raise SnapshotError(f"the snapshot's {api} tenant {key!r} holds the record of {record.identity()!r}")


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


def _all_json(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Every value of a JSON column parses (in Python: not every SQLite has json_valid)."""
    try:
        for (value,) in conn.execute(f"SELECT {quote(column)} FROM {quote(table)} WHERE {quote(column)} IS NOT NULL"):
            json.loads(value)
    except (ValueError, RecursionError):
        return False
    return True


def _check_blob_rows(conn: sqlite3.Connection, chunk_size: int, *, whole: bool) -> None:
    """Every blob ready, its chunks numbered 0..n-1, all but the last ``chunk_size``
    bytes, adding up to its size, and hashing to its MD5 and SHA-1 (streamed: one chunk
    in memory at a time); in a whole snapshot its reference count is its references."""
    blobs = Blob.__tablename__
    if conn.execute(f"SELECT 1 FROM {blobs} WHERE state != 'ready' LIMIT 1").fetchone():
        raise SnapshotError("the snapshot file is damaged (it holds unfinished blobs)")
    if whole:
        refs = " UNION ALL ".join(
            f"SELECT {quote(c.name)} AS blob_id FROM {quote(c.table.name)} WHERE {quote(c.name)} IS NOT NULL"
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
            raise SnapshotError(
                f"the snapshot file is damaged (blob {blob_id}'s bytes do not match its size or hashes)"
            )
