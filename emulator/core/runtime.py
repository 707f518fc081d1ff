"""The emulator's state in one object: settings, database, clock, ids, store, limits,
journal and tenants. One per app; tests make as many as they like."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete

from ..settings import Settings
from .apis import ApiSpec
from .blobs import Blob, BlobChunk, BlobStore
from .clock import Clock
from .db import Base, Database
from .ids import Ids
from .journal import Journal
from .ratelimit import RateLimiter
from .tenants import Tenants


class Emulator:
    def __init__(self, settings: Settings, apis: Sequence[ApiSpec]) -> None:
        self.settings = settings
        self.apis = {spec.name: spec for spec in apis}
        self.clock = Clock()
        self.ids = Ids(settings.seed)
        self.db = Database(settings.resolved_database_url)
        self.blobs = BlobStore(self.db, self.clock)
        self.limiter = RateLimiter(self.clock, enabled=settings.rate_limits)
        self.journal = Journal(self.clock, settings.journal_size)
        self.tenants = Tenants(self.db, apis)
        self._services: dict[str, Any] = {}

    def start(self) -> None:
        """Create the schema, reclaim leftovers, seed the fixture files. Raises
        :class:`~emulator.core.tenants.FixtureError` on a bad fixture file."""
        self.db.create_schema()
        self.blobs.sweep()
        self.tenants.reload()
        self.tenants.load_files(self.settings.fixtures)
        for name, spec in self.apis.items():
            if spec.service_factory is not None:
                self._services[name] = spec.service_factory(self)

    def service(self, api: str) -> Any:
        return self._services[api]

    def reset(self) -> None:
        """Drop every object, upload session, event, journal entry and limit counter;
        tenants and the clock stay."""
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
        self.ids.reseed()

    def close(self) -> None:
        self.db.dispose()
