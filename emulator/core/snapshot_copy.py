"""The row-copy engine of snapshots: rows are copied between the live database and a
snapshot ATTACHed to its connection as ``snap`` (``INSERT ... SELECT``, so bytes never pass
through Python), in one write transaction whose foreign keys are checked at its end.

Saving copies the whole state or some tenants' rows (and the bytes they reference) out;
a whole restore replaces every row (uploads streaming right now keep their pending
bytes); a scoped one replaces only its tenants' rows: object bytes are matched to the live
store by content (sha1, md5, size), integer surrogate ids that would collide with other
tenants' rows are renumbered in their original order, and reference counts are recounted
from the rows. The overview: core/snapshots.py."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    MetaData,
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
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from .blobs import Blob, BlobChunk
from .db import PAGE_SIZE, Base, Database
from .ownership import (
    CONTENT_TABLES,
    Scope,
    blob_columns,
    delete_owned,
    model_of,
    owned_clause,
    owner_api,
    recount_blobs,
    scope_records,
    tenant_rows_clause,
)
from .snapshot_format import META, SNAP, Meta, quote
from .tenants import TenantModel, TenantRow, Tenants

FROM_SNAP = {"schema_translate_map": {None: SNAP}}  # run an unqualified statement on the snapshot

_SCHEMAS: dict[tuple[str, int], tuple[MetaData, dict[str, Table], list[str]]] = {}


def _schema(schema: str) -> tuple[MetaData, dict[str, Table], list[str]]:
    """Copies of every table qualified with ``schema`` (the attached snapshot's), in
    dependency order, and the DDL that creates them (cached: building them costs more than
    a small restore). Unqualified tables name the live database (SQLite looks in ``main``
    first)."""
    key = (schema, len(Base.metadata.tables))
    cached = _SCHEMAS.get(key)
    if cached is None:
        md = MetaData()
        tables = {t.name: t.to_metadata(md, schema=schema) for t in Base.metadata.sorted_tables}
        dialect = sqlite.dialect()
        ddl = [str(CreateTable(t).compile(dialect=dialect)) for t in tables.values()]
        ddl += [str(CreateIndex(i).compile(dialect=dialect)) for t in tables.values() for i in t.indexes]
        cached = _SCHEMAS[key] = (md, tables, ddl)
    return cached


def snapshotted(table: Table) -> bool:
    """Whether snapshots carry ``table``'s rows: not for the running emulator's live state
    (the journal, limit windows, fault rules, cache versions: models setting
    ``__snapshot__ = False``), which a restore leaves as it is. Their tables exist in a
    snapshot all the same, empty, so its schema is the live one."""
    model = model_of(table)
    return model is None or getattr(model, "__snapshot__", True)


def _copy_sql(table: Table, source: str, target: str, where: str = "") -> str:
    """``INSERT INTO target.t (cols) SELECT cols FROM source.t [where]`` as text (the
    whole-state paths run these many times; text skips building and compiling)."""
    cols = ", ".join(quote(c.name) for c in table.columns)
    return f"INSERT INTO {target}.{quote(table.name)} ({cols}) SELECT {cols} FROM {source}.{quote(table.name)}{where}"


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
def transaction(conn: Connection) -> Iterator[None]:
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


class RowCopier:
    """Copies rows between ``db`` (the live database) and an attached snapshot;
    ``tenants`` resolves a scope's identities to tenant records."""

    def __init__(self, db: Database, tenants: Tenants) -> None:
        self.db = db
        self.tenants = tenants

    @contextmanager
    def attach(self, target: str, *, create: bool = False, image: bytes | None = None) -> Iterator[Connection]:
        """A live connection, holding the database lock, with ``target`` (a file, or
        ``:memory:`` filled from ``image``) attached as ``snap``."""
        db = self.db
        with db._lock, db.engine.connect() as conn:
            conn.exec_driver_sql(f"ATTACH DATABASE ? AS {SNAP}", (target,))
            try:
                if image is not None:
                    conn.connection.driver_connection.deserialize(image, name=SNAP)  # type: ignore[union-attr]
                if create:
                    conn.exec_driver_sql(f"PRAGMA {SNAP}.page_size={PAGE_SIZE}")
                    if target != ":memory:":
                        conn.exec_driver_sql(f"PRAGMA {SNAP}.journal_mode=DELETE")  # one file, no -wal
                yield conn
            finally:
                _rollback(conn)
                conn.exec_driver_sql(f"DETACH DATABASE {SNAP}")
                conn.commit()

    # -- saving ---------------------------------------------------------------------------
    def copy_out(self, conn: Connection, scope: Scope | None) -> tuple[int, int]:
        """Create the snapshot's tables (its meta table included) in the attached, empty
        ``snap``, and copy into them the whole state (``scope`` None) or ``scope``'s rows
        and the bytes they reference. Answers (rows, bytes) saved."""
        _, snap, ddl = _schema(SNAP)
        for statement in ddl:
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(f"CREATE TABLE {SNAP}.{META} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        blobs, chunks = Blob.__table__, BlobChunk.__table__
        assert isinstance(blobs, Table) and isinstance(chunks, Table)
        if scope is None:
            for table in Base.metadata.sorted_tables:
                if table.name not in CONTENT_TABLES and snapshotted(table):
                    conn.exec_driver_sql(_copy_sql(table, "main", SNAP))
            conn.exec_driver_sql(_copy_sql(blobs, "main", SNAP, " WHERE state = 'ready'"))
        else:
            records = scope_records(scope, self.tenants)
            for table in Base.metadata.sorted_tables:
                if table.name in CONTENT_TABLES:
                    continue
                where = _save_clause(table, scope, records)
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
            f"(SELECT count(*) FROM {SNAP}.{quote(name)})" for name in snap if name not in CONTENT_TABLES
        )
        rows, size = conn.exec_driver_sql(
            f"SELECT {counts}, (SELECT coalesce(sum(size), 0) FROM {SNAP}.blobs)"
        ).one()
        return int(rows), int(size)

    @staticmethod
    def write_meta(conn: Connection, meta: Meta) -> None:
        """Fill the attached snapshot's meta table."""
        conn.exec_driver_sql(
            f"INSERT INTO {SNAP}.{META} (key, value) VALUES (?, ?)", list(meta.records().items())
        )

    # -- restoring ------------------------------------------------------------------------
    def replace_image(self, image: bytes) -> bool:
        """The in-memory database becomes a whole snapshot's image at once (sqlite3
        ``deserialize``), unless an upload is streaming into it right now (then False:
        rows are copied so its pending bytes survive)."""
        db = self.db
        with db._lock, db.engine.connect() as conn:
            if conn.exec_driver_sql("SELECT 1 FROM main.blobs WHERE state = 'pending' LIMIT 1").first():
                conn.rollback()
                return False
            conn.rollback()
            raw: Any = conn.connection.driver_connection
            raw.deserialize(image)
            db.apply_pragmas(raw)  # per-database settings start over with a new image
            conn.exec_driver_sql(f"DROP TABLE main.{META}")
            conn.commit()
        return True

    def restore_whole(self, conn: Connection) -> None:
        """Every live row replaced by the attached snapshot's."""
        blobs, chunks = Blob.__table__, BlobChunk.__table__
        # Uploads streaming right now keep their pending bytes; a saved blob whose id one of
        # them holds is renumbered so that the two never meet.
        pending = set(conn.exec_driver_sql("SELECT id FROM main.blobs WHERE state = 'pending'").scalars())
        for table in reversed(Base.metadata.sorted_tables):
            if not snapshotted(table):
                continue
            if table is blobs:
                conn.exec_driver_sql("DELETE FROM main.blobs WHERE state != 'pending'")
            elif table is chunks:
                conn.exec_driver_sql(
                    "DELETE FROM main.blob_chunks WHERE blob_id NOT IN "
                    "(SELECT id FROM main.blobs WHERE state = 'pending')"
                )
            else:
                conn.exec_driver_sql(f"DELETE FROM main.{quote(table.name)}")
        mapping: dict[int, int] = {}
        if pending:
            saved = set(conn.exec_driver_sql(f"SELECT id FROM {SNAP}.blobs").scalars())
            top = max(saved | pending)
            mapping = {old: top + n for n, old in enumerate(sorted(saved & pending), 1)}
        if not mapping:
            for table in Base.metadata.sorted_tables:
                if not snapshotted(table):
                    continue
                where = " WHERE state = 'ready'" if table is blobs else ""
                conn.exec_driver_sql(_copy_sql(table, SNAP, "main", where))
            return
        _, snap, _ = _schema(SNAP)
        blob_refs = {(c.table.name, c.name) for c in blob_columns()} | {("blob_chunks", "blob_id"), ("blobs", "id")}
        for table in Base.metadata.sorted_tables:
            if not snapshotted(table):
                continue
            source = snap[table.name]
            cols = [
                case(mapping, value=c, else_=c).label(c.name) if (table.name, c.name) in blob_refs else c
                for c in source.columns
            ]
            query = select(*cols)
            if table is blobs:
                query = query.where(source.c.state == "ready")
            conn.execute(insert(table).from_select([c.name for c in source.columns], query))

    def restore_scope(self, conn: Connection, scope: Scope) -> None:
        """``scope``'s live rows replaced by the attached snapshot's; other tenants' stay."""
        _, snap, _ = _schema(SNAP)
        specs = self.tenants.specs
        tenants = TenantRow.__table__
        assert isinstance(tenants, Table)
        # The snapshot's own tenant records (their credentials may differ from the live ones).
        saved_tenants = conn.execute(
            select(tenants).where(tenant_rows_clause(scope)).order_by(tenants.c.position),
            execution_options=FROM_SNAP,
        ).mappings().all()
        saved_records: dict[str, list[TenantModel]] = {api: [] for api in scope}
        for row in saved_tenants:
            if row["api"] in specs:
                saved_records[row["api"]].append(specs[row["api"]].tenant_model.model_validate(row["data"]))
        live_records = scope_records(scope, self.tenants)
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
        blob_map = _merge_blobs(conn, snap)

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


def _save_clause(table: Table, scope: Scope, records: Mapping[str, list[TenantModel]]) -> ColumnElement[bool] | None:
    """Which of ``table``'s rows a scoped snapshot holds (None: none)."""
    if table.name == TenantRow.__tablename__:
        return tenant_rows_clause(scope)
    api = owner_api(table)
    if api is None or api not in scope:
        return None  # global rows and other APIs' rows are not part of a scoped snapshot
    return owned_clause(table, records[api])


def _merge_blobs(conn: Connection, snap: Mapping[str, Table]) -> dict[int, int]:
    """The attached snapshot's blobs in the live store: a saved blob identical to a live
    one (sha1, md5, size) is that one, the others are copied in (keeping their id where it
    is free). Answers saved blob id -> live blob id."""
    mb, sb = Blob.__table__, snap["blobs"]
    chunks, saved_chunks = BlobChunk.__table__, snap["blob_chunks"]
    assert isinstance(mb, Table) and isinstance(chunks, Table)
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
