"""create_app(settings) -> FastAPI: the five vendor routers and the admin API on one port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import __version__
from .admin import router as admin_router
from .apis import ALL_APIS
from .core.journal import JournalMiddleware
from .core.runtime import Emulator
from .settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build a ready app. Raises FixtureError for bad fixtures (before anything serves)."""
    settings = settings or Settings()
    emulator = Emulator(settings, ALL_APIS)
    emulator.start()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        emulator.close()

    app = FastAPI(
        title="storage-emulator",
        version=__version__,
        docs_url="/_emulator/docs",
        redoc_url=None,
        openapi_url="/_emulator/openapi.json",
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    for spec in ALL_APIS:
        app.include_router(spec.router)
        if spec.admin_router is not None:
            app.include_router(spec.admin_router, prefix=f"/_emulator/{spec.name}")
    app.include_router(admin_router, prefix="/_emulator")
    app.add_middleware(JournalMiddleware)
    return app
