"""Snapshots on PostgreSQL: the same snapshot file (a SQLite database), built and read in
memory and kept in the database itself (a row per snapshot with its meta, its bytes as
1 MiB chunk rows), so that every replica on the database sees the same snapshots.

Saving copies the rows (whole state, or some tenants' rows and the bytes they reference)
from PostgreSQL into an in-memory SQLite database of the live schema and stores its image;
a whole restore replaces every saved table's rows by the image's in one transaction and
moves each table's id sequence past the restored ids. A scoped restore (renumbering ids,
matching bytes by content) is the SQLite path's alone. The overview: core/snapshots.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    create_engine,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.pool import StaticPool

from .blobs import Blob, BlobChunk
from .db import Base, Database, table_of
from .ownership import CONTENT_TABLES, Scope, blob_columns, scope_records
from .snapshot_copy import _save_clause, snapshotted
from .snapshot_format import META, Meta, SnapshotError, SnapshotNotFound, meta_from
from .tenants import Tenants

CHUNK = 1 << 20
BATCH = 500  # rows per INSERT batch when copying


class SnapshotRow(Base):
    __tablename__ = "emulator_snapshots"
    __keep_on_reset__ = True
    __snapshot__ = False
    __tenant_api__ = None

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    meta: Mapped[str] = mapped_column(Text)  # the meta table's records (JSON)
    size: Mapped[int] = mapped_column(BigInteger)


class SnapshotChunk(Base):
    __tablename__ = "emulator_snapshot_chunks"
    __keep_on_reset__ = True
    __snapshot__ = False
    __tenant_api__ = None

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


def _meta(records: Mapping[str, str]) -> Meta:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(f"CREATE TABLE {META} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.executemany(f"INSERT INTO {META} VALUES (?, ?)", list(records.items()))
        return meta_from(conn)
    finally:
        conn.close()


def _batches(rows: Iterator[Any]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(dict(row._mapping))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class DatabaseSnapshots:
    """The named snapshots of an emulator on PostgreSQL (see the module docstring)."""

    def __init__(self, db: Database, tenants: Tenants) -> None:
        self.db = db
        self.tenants = tenants

    # -- the store ------------------------------------------------------------------------
    def put(self, name: str, data: bytes, meta: Meta) -> None:
        with self.db.session() as s:
            s.execute(delete(SnapshotChunk).where(SnapshotChunk.name == name))
            s.execute(delete(SnapshotRow).where(SnapshotRow.name == name))
            s.add(SnapshotRow(name=name, meta=json.dumps(meta.records()), size=len(data)))
            s.flush()
            for seq, start in enumerate(range(0, len(data), CHUNK)):
                s.add(SnapshotChunk(name=name, seq=seq, data=data[start : start + CHUNK]))

    def meta(self, name: str) -> Meta:
        with self.db.session() as s:
            raw = s.execute(select(SnapshotRow.meta).where(SnapshotRow.name == name)).scalar_one_or_none()
        if raw is None:
            raise SnapshotNotFound(f"no snapshot named {name!r}")
        return _meta(json.loads(raw))

    def image(self, name: str) -> bytes:
        self.meta(name)
        with self.db.session() as s:
            pieces = s.execute(
                select(SnapshotChunk.data).where(SnapshotChunk.name == name).order_by(SnapshotChunk.seq)
            ).scalars().all()
        return b"".join(bytes(p) for p in pieces)

    def listing(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.execute(select(SnapshotRow.name, SnapshotRow.meta).order_by(SnapshotRow.name)).all()
        return [_meta(json.loads(raw)).describe(name) for name, raw in rows]

    def delete(self, name: str) -> None:
        with self.db.session() as s:
            s.execute(delete(SnapshotChunk).where(SnapshotChunk.name == name))
            if not s.execute(delete(SnapshotRow).where(SnapshotRow.name == name).returning(SnapshotRow.name)).first():
                raise SnapshotNotFound(f"no snapshot named {name!r}")

    # -- building and restoring -------------------------------------------------------------
    def build(self, scope: Scope | None, meta: Meta) -> tuple[bytes, Meta]:
        """The snapshot image of the whole state (``scope`` None) or of ``scope``'s rows and
        the bytes they reference, with ``meta`` (its rows and bytes counted here)."""
        engine = create_engine("sqlite://", poolclass=StaticPool)
        try:
            Base.metadata.create_all(engine)
            rows = size = 0
            records = None if scope is None else scope_records(scope, self.tenants)
            blob_ids: set[int] = set()
            refs = {(c.table.name, c.name) for c in blob_columns()}
            with self.db.session() as s, engine.begin() as out:
                out.exec_driver_sql(f"CREATE TABLE {META} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                for table in Base.metadata.sorted_tables:
                    if table.name in CONTENT_TABLES or not snapshotted(table):
                        continue
                    query = select(table)
                    if records is not None and scope is not None:
                        where = _save_clause(table, scope, records)
                        if where is None:
                            continue
                        query = query.where(where)
                    for batch in _batches(s.execute(query)):
                        out.execute(insert(table), batch)
                        rows += len(batch)
                        for r in batch:
                            blob_ids.update(r[c] for (t, c) in refs if t == table.name and r.get(c) is not None)
                blobs, chunks = table_of(Blob), table_of(BlobChunk)
                query = select(blobs).where(blobs.c.state == "ready")
                if scope is not None:
                    query = query.where(blobs.c.id.in_(blob_ids or {-1}))
                saved: list[int] = []
                for batch in _batches(s.execute(query)):
                    out.execute(insert(blobs), batch)
                    saved += [r["id"] for r in batch]
                    size += sum(int(r["size"] or 0) for r in batch)
                for start in range(0, len(saved), BATCH):
                    ids = saved[start : start + BATCH]
                    for batch in _batches(s.execute(select(chunks).where(chunks.c.blob_id.in_(ids)))):
                        out.execute(insert(chunks), batch)
                done = Meta(created_at=meta.created_at, scope=scope, rows=rows, bytes=size, clock=meta.clock,
                            ids=meta.ids, services=meta.services)
                out.exec_driver_sql(f"INSERT INTO {META} (key, value) VALUES (?, ?)", list(done.records().items()))
            raw: Any = engine.raw_connection().driver_connection
            return bytes(raw.serialize()), done
        finally:
            engine.dispose()

    def restore_whole(self, image: bytes) -> None:
        """Every saved table's rows replaced by the image's, in one transaction; uploads
        streaming right now keep their pending bytes."""
        engine = create_engine("sqlite://", poolclass=StaticPool)
        try:
            raw: Any = engine.raw_connection().driver_connection
            raw.deserialize(image)
            tables = [t for t in Base.metadata.sorted_tables if snapshotted(t)]
            blobs, chunks = table_of(Blob), table_of(BlobChunk)
            with self.db.session() as s, engine.connect() as source:
                live: Connection = s.connection()
                pending = set(live.execute(select(blobs.c.id).where(blobs.c.state == "pending")).scalars())
                if pending and set(source.execute(select(blobs.c.id)).scalars()) & pending:
                    raise SnapshotError("an upload is in progress: restore the snapshot when it is done")
                for table in reversed(tables):
                    if table is blobs:
                        live.execute(delete(blobs).where(blobs.c.state != "pending"))
                    elif table is chunks:
                        live.execute(delete(chunks).where(chunks.c.blob_id.not_in(pending or {-1})))
                    else:
                        live.execute(delete(table))
                for table in tables:
                    query = select(table)
                    if table is blobs:
                        query = query.where(blobs.c.state == "ready")
                    for batch in _batches(source.execute(query)):
                        live.execute(insert(table), batch)
                    _advance_sequence(live, table)
        finally:
            engine.dispose()




def _advance_sequence(conn: Connection, table: Table) -> None:
    """Move the id sequence of ``table`` (if it has one) past its highest id."""
    pk = list(table.primary_key.columns)
    if len(pk) != 1 or not isinstance(pk[0].type, (Integer, BigInteger)):
        return
    column = pk[0].name
    conn.execute(
        text(
            f'SELECT setval(pg_get_serial_sequence(:table, :column), coalesce(max("{column}"), 0) + 1, false) '
            f'FROM "{table.name}"'
        ),
        {"table": table.name, "column": column},
    )
