"""create_app(settings) -> FastAPI: each registered API's router (``emulator.apis.ALL_APIS``)
and the admin API on one port."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from . import __version__
from .admin import router as admin_router
from .admin.guard import AdminGuardMiddleware, install_admin_handlers
from .apis import ALL_APIS
from .core.bodies import BodyMiddleware
from .core.contract import ApiSpec
from .core.faults import FaultMiddleware
from .core.journal import JournalMiddleware
from .core.preload import preload_at_start
from .core.route_index import flatten, install
from .core.runtime import Emulator
from .settings import Settings


class _App(FastAPI):
    """FastAPI with a route index in front of its router (core/route_index.py)."""

    def build_middleware_stack(self) -> ASGIApp:
        return install(super().build_middleware_stack(), self.router)


def create_app(settings: Settings | None = None, *, emulator: Emulator | None = None,
               apis: Sequence[ApiSpec] = ALL_APIS) -> FastAPI:
    """Build a ready app. Raises FixtureError for bad fixtures (before anything serves).

    ``emulator``: an already started one to serve (default: a new one from ``settings``
    serving ``apis``; the app serves the APIs its emulator registers).
    Routes and middleware find the emulator at ``app.state.emulator`` on every request,
    so it can be swapped for a fresh one without rebuilding the app."""
    if emulator is None:
        emulator = Emulator(settings or Settings(), apis)
        emulator.start()
        try:
            preload_at_start(emulator)  # --preload DIR: after the fixtures, before serving
        except BaseException:
            emulator.close()
            raise

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.emulator.close()

    app = _App(
        title="storage-emulator",
        version=__version__,
        docs_url="/_emulator/docs",
        redoc_url=None,
        openapi_url="/_emulator/openapi.json",
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    # The admin routers first: FastAPI's own scan (what the route index hands over, and /_emulator
    # calls) meets them before ~200 vendor routes. No vendor path starts with /_emulator.
    for spec in emulator.apis.values():
        if spec.admin_router is not None:
            app.include_router(spec.admin_router, prefix=f"/_emulator/{spec.name}")
    app.include_router(admin_router, prefix="/_emulator")
    for spec in emulator.apis.values():
        app.router.routes.extend(flatten(list(spec.router.routes)))  # one by one: see core/route_index.py
    app.add_middleware(FaultMiddleware)  # inside the journal, which stays outermost
    app.add_middleware(BodyMiddleware)  # the body timeout, outside the faults (core/bodies.py)
    app.add_middleware(AdminGuardMiddleware)  # Host, Origin, Content-Type and token checks on /_emulator
    app.add_middleware(JournalMiddleware)
    install_admin_handlers(app)
    return app


# The environment variable through which ``serve --workers N`` hands its settings to each
# worker process (JSON; not an ``EMULATOR_*`` name, so no user setting can collide with it).
WORKER_SETTINGS = "STORAGE_EMULATOR_WORKER_SETTINGS"


def worker_settings(settings: Settings) -> str:
    """``settings`` as one worker receives them: without what the parent process has already
    done once for all (fixtures seeded, ``--import`` restored, ``--preload`` loaded)."""
    return json.dumps(settings.model_dump(mode="json", exclude={"fixtures", "import_file", "preload"}))


def worker_app() -> FastAPI:
    """The app of one ``serve --workers N`` process (uvicorn's factory, in each worker): an
    emulator attached to the database the parent process started, settings from the environment."""
    data = json.loads(os.environ[WORKER_SETTINGS])
    settings = Settings(**data, fixtures=[], import_file=None, preload=None)
    emulator = Emulator(settings, ALL_APIS)
    emulator.attach()
    return create_app(emulator=emulator)
