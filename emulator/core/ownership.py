"""Which tenant a row belongs to, so reset, snapshots and the journal can be scoped to
some tenants generically (several test workers sharing one emulator).

Every table of every API declares its owner on its model:

- ``__tenant_api__``: the API whose tenants own the rows (``None``: global rows that no
  tenant owns; scoped operations leave them alone, whole ones include them);
- and either ``__tenant_column__``, the column holding the tenant's identity (what
  :meth:`~emulator.core.tenants.TenantModel.identity` returns), or a classmethod
  ``owned_by(cls, tenants)`` answering a WHERE clause for a list of tenant records (for
  rows keyed otherwise, e.g. through a parent row or a Qiniu account and bucket).

The content store (``blobs``, ``blob_chunks``) belongs to nobody: object bytes are shared
by reference and counted (:func:`recount_blobs`). The ``tenants`` table is scoped by
``(api, key)``. ``tests/core/test_ownership.py`` fails when a table declares nothing.

A *scope* is a mapping ``{api: (identity, ...)}``; in query strings it is written as
repeated ``scope=<api>:<identity>`` (split at the first colon).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    CursorResult,
    Table,
    delete,
    false,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm import registry as Registry

from .blobs import Blob, BlobChunk
from .db import Base
from .shared import SharedCounter, SharedValue
from .tenants import TenantModel, TenantRow

if TYPE_CHECKING:
    from .tenants import Tenants

Scope = dict[str, tuple[str, ...]]
CONTENT_TABLES = frozenset({Blob.__tablename__, BlobChunk.__tablename__})
# The shared-state tables (core/shared.py) belong to the whole emulator, no tenant.
SHARED_TABLES = frozenset({SharedValue.__tablename__, SharedCounter.__tablename__})
# The running emulator's live state, shared by its processes (core/state.py, ratelimit.py,
# fault_registry.py, journal_table.py, snapshot_pg.py; named, not imported, to keep this module a leaf of those).
LIVE_TABLES = frozenset({
    "emulator_live", "emulator_rate_windows", "emulator_fault_rules", "emulator_journal",
    "emulator_snapshots", "emulator_snapshot_chunks",  # PostgreSQL's snapshots (core/snapshot_pg.py)
})
CORE_TABLES = CONTENT_TABLES | SHARED_TABLES | LIVE_TABLES | {TenantRow.__tablename__}
_MISSING = object()


class ScopeError(ValueError):
    """A scope that names an unknown API or tenant, or is malformed; one line."""


# -- scopes ------------------------------------------------------------------------------
def parse_scope(value: Any, tenants: Tenants, *, known_tenants: bool = True) -> Scope:
    """``{"jpush": ["k1"], "nextjoy": ["1001:1000"]}`` -> a scope. Every API must exist;
    with ``known_tenants`` every identity must name a loaded tenant."""
    if not isinstance(value, Mapping):
        raise ScopeError('tenants must map API names to lists of tenant identities, e.g. {"jpush": ["app-key"]}')
    scope: Scope = {}
    for api, ids in value.items():
        if api not in tenants.specs:
            raise ScopeError(f"unknown API {api!r} in tenants (known: {', '.join(tenants.specs)})")
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise ScopeError(f"tenants.{api} must be a list of identity strings")
        if known_tenants:
            unknown = [i for i in ids if tenants.get(api, i) is None]
            if unknown:
                raise ScopeError(f"no {api} tenant {unknown[0]!r}")
        scope[api] = tuple(dict.fromkeys(ids))
    if not any(scope.values()):
        raise ScopeError("tenants names no tenant")
    return scope


def parse_scope_params(values: Iterable[str], tenants: Tenants, *, known_tenants: bool = True) -> Scope | None:
    """Repeated ``scope=<api>:<identity>`` query parameters -> a scope (None if none given)."""
    values = list(values)
    if not values:
        return None
    return parse_scope(split_scope_values(values), tenants, known_tenants=known_tenants)


def split_scope_values(values: Iterable[str], rule: str = "scope must be <api>:<identity>") -> dict[str, list[str]]:
    """``<api>:<identity>`` strings (split at the first colon, so ``nextjoy:1001:1000``
    works) -> ``{api: [identity, ...]}``; a malformed one is a :class:`ScopeError` saying ``rule``."""
    doc: dict[str, list[str]] = {}
    for value in values:
        api, sep, ident = value.partition(":")
        if not sep or not api or not ident:
            raise ScopeError(f"{rule}, not {value!r}")
        doc.setdefault(api, []).append(ident)
    return doc


def scope_json(scope: Scope | None) -> dict[str, list[str]] | None:
    return None if scope is None else {api: list(ids) for api, ids in scope.items()}


def scope_records(scope: Scope, tenants: Tenants) -> dict[str, list[TenantModel]]:
    """The loaded tenant records a scope names (identities not loaded are skipped)."""
    out: dict[str, list[TenantModel]] = {}
    for api, ids in scope.items():
        out[api] = [t for t in (tenants.get(api, i) for i in ids) if t is not None]
    return out


def scope_pairs(scope: Scope) -> list[tuple[str, str]]:
    return [(api, ident) for api, ids in scope.items() for ident in ids]


def in_scope(scope: Scope, api: str | None, tenant: str | None) -> bool:
    return api is not None and tenant is not None and tenant in scope.get(api, ())


# -- declarations --------------------------------------------------------------------------
def model_of(table: Table, registry: Registry | None = None) -> type[Any] | None:
    for mapper in (registry or Base.registry).mappers:
        if mapper.local_table is table:
            return mapper.class_
    return None


def owner_api(table: Table, registry: Registry | None = None) -> str | None:
    """The API whose tenants own ``table``'s rows; None for global and core tables."""
    if table.name in CORE_TABLES:
        return None
    model = model_of(table, registry)
    return getattr(model, "__tenant_api__", None) if model is not None else None


def undeclared_tables(registry: Registry | None = None) -> list[str]:
    """Tables whose model says nothing about ownership (a bug: scoped operations would
    leave their rows to every tenant)."""
    registry = registry or Base.registry
    out = []
    for mapper in registry.mappers:
        table = mapper.local_table
        if not isinstance(table, Table) or table.name in CORE_TABLES:
            continue
        model = mapper.class_
        api = getattr(model, "__tenant_api__", _MISSING)
        if api is _MISSING or (api is not None and not (
            isinstance(getattr(model, "__tenant_column__", None), str) or callable(getattr(model, "owned_by", None))
        )):
            out.append(table.name)
    return sorted(out)


def owned_clause(table: Table, tenants: Sequence[TenantModel]) -> ColumnElement[bool]:
    """WHERE clause selecting ``table``'s rows that belong to any of ``tenants`` (records of
    the table's API). Subqueries name tables without a schema, so the clause can be run
    against an attached snapshot with a ``schema_translate_map``."""
    if table.name == TenantRow.__tablename__:
        raise ValueError("the tenants table is scoped by (api, key): use tenant_rows_clause")
    model = model_of(table)
    if not tenants or model is None:
        return false()
    owned_by = getattr(model, "owned_by", None)
    if callable(owned_by):
        clause: ColumnElement[bool] = owned_by(list(tenants))
        return clause
    name: str = model.__tenant_column__
    return table.c[name].in_(sorted({t.identity() for t in tenants}))


def tenant_rows_clause(scope: Scope) -> ColumnElement[bool]:
    pairs = scope_pairs(scope)
    if not pairs:
        return false()
    return tuple_(TenantRow.__table__.c.api, TenantRow.__table__.c.key).in_(pairs)


def owned_tables(apis: Iterable[str]) -> list[Table]:
    """Tables owned by these APIs' tenants, parents before children."""
    wanted = set(apis)
    return [t for t in Base.metadata.sorted_tables if owner_api(t) in wanted]


def blob_columns(metadata_tables: Iterable[Table] | None = None) -> list[Column[Any]]:
    """Every column that references ``blobs.id`` (each such row holds one reference)."""
    out = []
    for table in metadata_tables if metadata_tables is not None else Base.metadata.sorted_tables:
        if table.name in CONTENT_TABLES:
            continue
        for column in table.columns:
            if any(fk.column.table.name == Blob.__tablename__ for fk in column.foreign_keys):
                out.append(column)
    return out


# -- operations on the live database -----------------------------------------------------------
def delete_owned(session: Session | Connection, records: Mapping[str, Sequence[TenantModel]], *,
                 reset: bool = False) -> int:
    """Delete every row the given tenants own (children first); tenants stay. With
    ``reset``, tables whose model sets ``__keep_on_reset__`` stay too. Blob references are
    not released here: call :func:`recount_blobs` afterwards."""
    count = 0
    for table in reversed(owned_tables(records)):
        api = owner_api(table)
        assert api is not None
        if reset and getattr(model_of(table), "__keep_on_reset__", False):
            continue
        result = session.execute(delete(table).where(owned_clause(table, records[api])))
        assert isinstance(result, CursorResult)  # a DELETE's result
        count += result.rowcount or 0
    return count


def recount_blobs(session: Session | Connection) -> int:
    """Set every ready blob's reference count to the number of rows that reference it and
    reclaim the ones nobody references. Returns how many blobs were reclaimed."""
    counts: dict[int, int] = {}
    for column in blob_columns():
        rows = session.execute(select(column, func.count(column)).where(column.is_not(None)).group_by(column)).all()
        for blob_id, n in rows:
            counts[blob_id] = counts.get(blob_id, 0) + n
    ready = session.execute(select(Blob.id, Blob.refcount).where(Blob.state == "ready")).all()
    unreferenced = []
    for blob_id, refcount in ready:
        want = counts.get(blob_id, 0)
        if want == 0:
            unreferenced.append(blob_id)
        elif want != refcount:
            blobs = Base.metadata.tables[Blob.__tablename__]
            session.execute(update(blobs).where(Blob.id == blob_id).values(refcount=want))
    for i in range(0, len(unreferenced), 500):
        batch = unreferenced[i : i + 500]
        session.execute(delete(BlobChunk).where(BlobChunk.blob_id.in_(batch)))
        session.execute(delete(Blob).where(Blob.id.in_(batch)))
    return len(unreferenced)
