"""A fresh emulator per test, in process: no socket, in-memory database, a few milliseconds.

Three things make it cheap:
- the FastAPI app is built once and handed a fresh :class:`~emulator.core.runtime.Emulator`
  per test (routes find it at ``app.state.emulator``);
- a fresh emulator starts from an image of an already started in-memory database
  (schema and fixture tenants in place), copied with sqlite3's ``deserialize``;
- requests run on one event loop thread kept for the whole process, so a sync
  ``httpx.Client`` needs no thread or loop of its own per request (the transports, which
  stream both ways and time out as a socket would, are in :mod:`.asgi`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from fastapi import FastAPI

from ..apis import ALL_APIS
from ..app import create_app
from ..core.contract import ApiSpec
from ..core.runtime import Emulator
from ..settings import Settings
from .asgi import AsyncASGITransport, SyncASGITransport
from .handle import EmulatorHandle

BASE_URL = "http://emulator.test"

_images: dict[tuple[str, tuple[str, ...]], bytes] = {}
_idle_apps: dict[tuple[str, ...], list[FastAPI]] = {}  # by the names of the APIs they serve
_pool_lock = threading.Lock()


def started_emulator(settings: Settings, apis: Sequence[ApiSpec] = ALL_APIS) -> Emulator:
    """A started in-memory emulator, made from the image of one already started with the
    same settings (the data folder, which only file-backed snapshots use, aside)."""
    names = tuple(spec.name for spec in apis)
    key = (settings.model_dump_json(exclude={"data_dir"}), names)
    image = _images.get(key)
    if image is None:
        template = Emulator(settings, apis)
        template.start()
        image = _images[key] = template.db.image()
        template.close()
    emulator = Emulator(settings, apis, image=image)
    emulator.start()
    return emulator


def app_for(emulator: Emulator) -> FastAPI:
    """An app serving ``emulator``: an idle one serving the same APIs, else a new one."""
    names = tuple(emulator.apis)
    with _pool_lock:
        idle = _idle_apps.get(names)
        app = idle.pop() if idle else None
    if app is None:
        return create_app(emulator=emulator)
    app.state.emulator = emulator
    return app


def release_app(app: FastAPI) -> None:
    """Give back an app from :func:`app_for` once its emulator is closed."""
    names = tuple(app.state.emulator.apis)
    with _pool_lock:
        _idle_apps.setdefault(names, []).append(app)


class InProcessEmulator(EmulatorHandle):
    """A fresh emulator with an httpx client bound to it (``base_url`` = :attr:`url`).

    ``state`` is the emulator's core object, for tests that want to reach in directly;
    ``apis`` the APIs it serves (default: every registered one)."""

    def __init__(self, settings: Settings | None = None, *, apis: Sequence[ApiSpec] = ALL_APIS,
                 **overrides: Any) -> None:
        settings = _settings(settings, overrides)
        self.state = started_emulator(settings, apis)
        self.app = app = app_for(self.state)
        client = httpx.Client(transport=SyncASGITransport(app), base_url=BASE_URL)
        super().__init__(client, BASE_URL, admin_token=settings.admin_token, apis=apis)
        self._closed = False

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` on this emulator, for async code under test."""
        return httpx.AsyncClient(transport=AsyncASGITransport(self.app), base_url=BASE_URL, **kwargs)

    def transport(self) -> httpx.BaseTransport:
        """A sync transport to mount on a client of your own (``httpx.Client(transport=...)``)."""
        return SyncASGITransport(self.app)

    def _transport(self) -> httpx.BaseTransport:
        return SyncASGITransport(self.app)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.client.close()
        self.state.close()
        release_app(self.app)

    def __enter__(self) -> InProcessEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_default_settings: dict[str, Settings] = {}


def _settings(settings: Settings | None, overrides: Mapping[str, Any]) -> Settings:
    if settings is not None and not overrides:
        return settings
    if settings is None and not overrides:
        cached = _default_settings.get("")
        if cached is None:
            cached = _default_settings[""] = Settings(database_url="sqlite://")
        return cached
    base = settings.model_dump() if settings is not None else {}
    base.update(overrides)
    base["database_url"] = "sqlite://"
    return Settings(**base)
