"""The versioned schema (Alembic, shipped in the package, run without an alembic.ini).

One version location per owner: ``emulator/migrations/versions`` for the core tables
(branch ``core``) and ``emulator/apis/<api>/migrations/versions`` for an API's (branch
``<api>``); ``upgrade heads`` runs them all. Each branch starts with a baseline, the tables
of release 0.1.0. :func:`upgrade` runs at start for a database on disk or on a server, under
a database-wide lock (PostgreSQL advisory lock, SQLite exclusive transaction), so replicas or
workers starting at once on one database are safe: the first upgrades, the others then find
it done. A 0.1.0 database (its tables, no ``alembic_version``) is stamped at the baselines
first. The in-memory database is made by ``create_all`` (nothing in it outlives the process).

New tables or columns: ``python -m emulator.migrations revision -m "..." --location core|<api>``
(see ``__main__.py``) autogenerates the next revision of that location.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Table, inspect, text
from sqlalchemy.schema import SchemaItem

from ..core.contract import ApiSpec
from ..core.db import Base, Database

log = logging.getLogger("emulator.migrations")

HERE = Path(__file__).resolve().parent
CORE = "core"
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock key: "StorEmu" in ASCII. Every process starting on one database
# takes it before looking at the schema.
PG_LOCK_KEY = 0x53746F72456D75


def _package(spec: ApiSpec) -> tuple[str, Path]:
    """The API's package name and folder (where its tenant model is defined)."""
    module = sys.modules[spec.tenant_model.__module__]
    package = spec.tenant_model.__module__.rpartition(".")[0]
    return package, Path(str(module.__file__)).resolve().parent


def locations(apis: Iterable[ApiSpec]) -> dict[str, Path]:
    """Version folder per location: ``core`` and each registered API that has one."""
    out = {CORE: HERE / "versions"}
    for spec in apis:
        folder = _package(spec)[1] / "migrations" / "versions"
        if folder.is_dir():
            out[spec.name] = folder
    return out


def location_of(table: Table, apis: Iterable[ApiSpec]) -> str:
    """The location owning a table: the API whose package defines its model, else ``core``."""
    packages = {_package(spec)[0]: spec.name for spec in apis}
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            module = mapper.class_.__module__
            for package, name in packages.items():
                if module == package or module.startswith(package + "."):
                    return name
    return CORE


def config(connection: Connection | None, apis: Sequence[ApiSpec], *, location: str | None = None) -> Config:
    """An Alembic config without a file: the script folder, every version location, and
    (in ``attributes``) the connection to work on, the APIs and, for autogenerate, the one
    location whose tables are compared."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations(apis).values()))
    cfg.attributes["connection"] = connection
    cfg.attributes["apis"] = tuple(apis)
    cfg.attributes["location"] = location
    return cfg


def _include(apis: Sequence[ApiSpec], location: str | None) -> Any:
    """Autogenerate's filter: never the version table; with a location, only its tables."""
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    api_names = {spec.name for spec in apis}

    def owner(name: str) -> str:
        if name in tables:
            return location_of(tables[name], apis)
        prefix = name.partition("_")[0]  # a table of the database no model knows
        return prefix if prefix in api_names else CORE

    def include(obj: SchemaItem, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ != "table":
            return True
        if name == VERSION_TABLE:
            return False
        return location is None or owner(str(name)) == location

    return include


def run_environment() -> None:
    """The body of env.py: configure Alembic on the connection handed in and run."""
    from alembic import context

    cfg = context.config
    connection: Connection | None = cfg.attributes.get("connection")
    if connection is None:
        raise RuntimeError("emulator migrations run on a connection handed in Config.attributes['connection']")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=_include(cfg.attributes.get("apis", ()), cfg.attributes.get("location")),
        # SQLite alters a table by copying it: later revisions get batch operations.
        render_as_batch=True,
        compare_type=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


@contextmanager
def locked(db: Database) -> Iterator[Connection]:
    """A connection inside a transaction holding the database-wide schema lock; committed
    when the block ends (rolled back on error). SQLite: foreign keys off meanwhile (a batch
    operation copies tables), checked before the commit."""
    with db.engine.connect() as conn:
        if db.sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # only outside a transaction
            conn.commit()
            try:
                with conn.execution_options(sqlite_begin="EXCLUSIVE").begin():
                    yield conn
                    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if bad:
                        raise RuntimeError(f"the schema upgrade broke foreign keys: {bad[:5]}")
            finally:
                conn.execution_options(sqlite_begin=None)
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
        else:
            with conn.begin():
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
                yield conn


def _baselines(script: ScriptDirectory) -> dict[str, tuple[str, ...]]:
    """Each location's baseline revision -> the 0.1.0 tables it creates (BASELINE_TABLES)."""
    out: dict[str, tuple[str, ...]] = {}
    for rev in script.get_bases():
        script_rev = script.get_revision(rev)
        tables = getattr(script_rev.module, "BASELINE_TABLES", None) if script_rev is not None else None
        if tables is not None:
            out[rev] = tuple(tables)
    return out


def _differences(conn: Connection, apis: Sequence[ApiSpec]) -> list[Any]:
    """Autogenerate's view of what the database lacks or has beyond the models."""
    from alembic.autogenerate import compare_metadata

    ctx = MigrationContext.configure(conn, opts={"include_object": _include(apis, None), "compare_type": True})
    return list(compare_metadata(ctx, Base.metadata))


def _dependencies(script: ScriptDirectory, rev: str) -> tuple[str, ...]:
    script_rev = script.get_revision(rev)
    deps = script_rev.dependencies if script_rev is not None else None
    if deps is None:
        return ()
    return (deps,) if isinstance(deps, str) else tuple(deps)


def stamp_release_010(conn: Connection, cfg: Config) -> list[str]:
    """A database made by 0.1.0 (its tables, no version table) is stamped at the baselines
    whose tables it has. Answers the revisions stamped (none for a versioned or empty one)."""
    existing = set(inspect(conn).get_table_names())
    if VERSION_TABLE in existing or not existing:
        return []
    if not _differences(conn, cfg.attributes.get("apis", ())):
        # Made by create_all of today's models (Database.create_schema, as some tests do):
        # it is at the newest revisions already.
        command.stamp(cfg, "heads")
        return ["heads"]
    stamp: list[str] = []
    for rev, tables in _baselines(ScriptDirectory.from_config(cfg)).items():
        present = [t for t in tables if t in existing]
        if len(present) == len(tables):
            stamp.append(rev)
        elif present:
            missing = sorted(set(tables) - set(present))
            raise RuntimeError(f"the database has some tables of baseline {rev} but not {missing}: not a 0.1.0 schema")
    # Alembic keeps a revision others depend on implied by theirs: name only the dependents.
    script = ScriptDirectory.from_config(cfg)
    implied = {dep for rev in stamp for dep in _dependencies(script, rev)}
    stamp = [rev for rev in stamp if rev not in implied]
    if stamp:
        log.info("a 0.1.0 database: stamped at %s before upgrading", ", ".join(stamp))
        command.stamp(cfg, stamp)
    return stamp


def _unversioned(conn: Connection, apis: Sequence[ApiSpec]) -> None:
    """Tables of the models the migrations did not make: created as they are (an API with no
    migrations folder of its own, such as a test-only one) and, for a location that has
    migrations, named in a warning (a revision is missing: see __main__.py)."""
    existing = set(inspect(conn).get_table_names())
    missing = [t for t in Base.metadata.sorted_tables if t.name not in existing]
    if not missing:
        return
    versioned = locations(apis)
    forgotten = [t.name for t in missing if location_of(t, apis) in versioned]
    if forgotten:
        log.warning("tables with no migration yet, created as the models say: %s "
                    "(python -m emulator.migrations revision -m ... --location ...)", ", ".join(forgotten))
    Base.metadata.create_all(conn, tables=missing)


def upgrade(db: Database, apis: Sequence[ApiSpec]) -> None:
    """Bring a database on disk or on a server to the newest schema, under the lock."""
    quiet = logging.getLogger("alembic")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # not "Context impl SQLiteImpl." on every start
    try:
        with locked(db) as conn:
            before = current(conn)
            cfg = config(conn, apis)
            if before != heads(cfg):  # a start on an up-to-date database runs no Alembic command
                stamp_release_010(conn, cfg)
                command.upgrade(cfg, "heads")
            after = current(conn)
            if after != before:
                log.info("database schema upgraded: %s -> %s", ", ".join(sorted(before)) or "empty",
                         ", ".join(sorted(after)))
            _unversioned(conn, apis)
    finally:
        quiet.setLevel(level)


_HEADS: dict[str, frozenset[str]] = {}


def heads(cfg: Config) -> frozenset[str]:
    """The newest revision of every location (read once per process and set of locations)."""
    key = str(cfg.get_main_option("version_locations"))
    if key not in _HEADS:
        _HEADS[key] = frozenset(ScriptDirectory.from_config(cfg).get_heads())
    return _HEADS[key]


def current(conn: Connection) -> set[str]:
    """The revisions a database is at (empty: unversioned)."""
    return set(MigrationContext.configure(conn).get_current_heads())
