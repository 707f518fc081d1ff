"""The emulator's state in one object: settings, database, clock, ids, store, limits,
journal and tenants. One per app; tests make as many as they like."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import delete
from starlette.requests import Request

from ..settings import Settings
from .blobs import PENDING_GRACE, Blob, BlobChunk, BlobStore
from .clock import Clock
from .contract import ApiSpec, Service
from .db import Base, Database
from .faults import Faults
from .ids import Ids
from .journal import Journal
from .ownership import Scope, delete_owned, recount_blobs, scope_records
from .ratelimit import RateLimiter
from .snapshots import Snapshots
from .space import SpaceGuard, is_space_error
from .tenants import Tenants

S = TypeVar("S", bound=Service)


class Emulator:
    def __init__(self, settings: Settings, apis: Sequence[ApiSpec], image: bytes | None = None) -> None:
        """``image``: a :meth:`Database.image` of an in-memory emulator already started with
        the same settings; starting from it skips the schema and fixture work (the pytest
        plugin's fresh emulator per test)."""
        self.settings = settings
        self._image = image
        self.apis = {spec.name: spec for spec in apis}
        # Every piece of state below lives in the database when several processes may open
        # it (a file or PostgreSQL), so replicas and workers on one database act as one
        # emulator; with the in-memory database (one process) it stays in these objects.
        self.db = Database(settings.resolved_database_url)
        self.clock = Clock(self.db)
        self.ids = Ids(settings.seed, self.db)
        self.space = SpaceGuard(settings.resolved_database_url, settings.min_free_space)
        self.blobs = BlobStore(self.db, self.clock, space=self.space)
        self.limiter = RateLimiter(self.clock, enabled=settings.rate_limits, db=self.db, space=self.space)
        self.journal = Journal(self.clock, settings.journal_size, db=self.db, space=self.space)
        self.tenants = Tenants(self.db, apis)
        self.faults = Faults(self.apis, db=self.db)
        self._services: dict[str, Service] = {}
        self.snapshots = Snapshots(
            db=self.db, tenants=self.tenants, clock=self.clock, ids=self.ids, limiter=self.limiter, blobs=self.blobs,
            directory=Path(settings.data_dir) / "snapshots", services=self._services,
            state_changed=self.state_changed,
        )
        self.preloaded: Any = None  # core.preload.Summary of --preload, shown in the banner

    def start(self) -> None:
        """Create the schema, reclaim leftovers, seed the fixture files. Raises
        :class:`~emulator.core.tenants.FixtureError` on a bad fixture file.

        On a disk with no byte left, the free-space ballast (core/space.py) is released and
        the start tried once more, so the emulator comes up to serve reads and deletes."""
        try:
            self._start()
        except Exception as exc:
            if not (is_space_error(exc) and self.space.release_ballast()):
                raise
            self.db.dispose()
            self._start()
        self.space.keep_ballast()

    def _start(self) -> None:
        if self._image is not None:
            self.db.load_image(self._image)
            self.tenants.reload()
        else:
            if self.db.memory:
                self.db.create_schema()
            else:  # versioned: upgraded under a database-wide lock (emulator/migrations)
                from ..migrations import upgrade

                upgrade(self.db, list(self.apis.values()))
            self.blobs.sweep(PENDING_GRACE)  # pending blobs of other live processes stay
            self.tenants.reload()
            self.tenants.load_files(self.settings.fixtures)
        for name, spec in self.apis.items():
            self._services[name] = spec.service_factory(self)
        if self._image is None and self.settings.import_file is not None:
            # --import FILE: the exported state, then the fixture files' tenants on top.
            # Raises SnapshotError for a file that is not a snapshot this emulator reads.
            self.snapshots.restore_file(self.settings.import_file)
            self.tenants.load_files(self.settings.fixtures)

    def attach(self) -> None:
        """Join a database another process has started (a worker of ``serve --workers N``: the
        parent created the schema and seeded fixtures, ``--import`` and ``--preload``): read
        the tenants and make the services; no sweep, which would discard the pending uploads
        of the workers already serving."""
        self.tenants.reload()
        for name, spec in self.apis.items():
            self._services[name] = spec.service_factory(self)

    @property
    def services(self) -> Mapping[str, Service]:
        """Each registered API's service, by API name (made at start)."""
        return self._services

    def service(self, api: str) -> Service:
        return self._services[api]

    def service_as(self, api: str, kind: type[S]) -> S:
        """The API's service as its own class (what that API's routes and admin calls use,
        through one typed accessor in the API's folder)."""
        service = self._services[api]
        if not isinstance(service, kind):
            raise TypeError(f"the {api} service is a {type(service).__name__}, not a {kind.__name__}")
        return service

    def reset(self, scope: Scope | None = None) -> None:
        """Drop every object, upload session, event, journal entry, limit counter and
        fault; tenants and the clock stay. With ``scope`` ({api: (identity, ...)}, see
        core/ownership.py) only those tenants' rows, journal entries, limit windows and
        faults go; bytes other tenants still reference stay."""
        if scope is not None:
            with self.db.session() as s:
                delete_owned(s, scope_records(scope, self.tenants), reset=True)
                recount_blobs(s)
            self.limiter.reset(scope)
            self.journal.clear(scope)
            self.faults.clear(scope)
            self.state_changed()
            return
        with self.db.session() as s:
            for table in reversed(Base.metadata.sorted_tables):
                model_keeps = any(
                    getattr(m.class_, "__keep_on_reset__", False)
                    for m in Base.registry.mappers
                    if m.local_table is table
                )
                if model_keeps or table.name in (Blob.__tablename__, BlobChunk.__tablename__):
                    continue
                s.execute(delete(table))
            self.blobs.reset(s)
        self.limiter.reset()
        self.journal.clear()
        self.faults.clear()
        self.ids.reseed()
        self.state_changed()

    def state_changed(self) -> None:
        """Tell each service that rows changed under it (reset, restore): it drops what
        it derived from them in memory (its ``state_changed`` hook)."""
        for service in self._services.values():
            service.state_changed()

    def close(self) -> None:
        self.db.dispose()


def emulator_of(request: Request) -> Emulator:
    """The emulator serving a request (the app keeps it at ``app.state.emulator``, swapped
    for a fresh one per test by the pytest plugin)."""
    emu: Emulator = request.app.state.emulator
    return emu
