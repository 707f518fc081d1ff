"""The contract between the core and an API, in one leaf module (it imports no other module
of the emulator but two leaves: the error tables and the tenant record base): what an API
registers (:class:`ApiSpec`), the error families it answers in (:class:`ErrorFamily`), and
the hooks its service offers (:class:`Service`; :class:`ServiceBase` gives every hook its
do-nothing default).

The core, the admin API and the pytest plugin iterate over the registered specs
(``emulator.apis.ALL_APIS``) and call these hooks directly; nothing is looked up by name.
How an API's routes get their vendor envelope and journal entry is core/routing.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from fastapi import APIRouter, Request, Response

from .errors import ErrorTable, VendorError
from .tenant_model import TenantModel

Renderer = Callable[[VendorError], Response]


@dataclass(frozen=True)
class ErrorFamily:
    """One of an API's error tables and the envelope it is answered in (an API may have
    several: its JSON API and a storage host). ``prepare`` is what that API's routes do first
    for every request to set up ids the envelope carries (123pan's x-traceID, Qiniu's
    X-Reqid); a fault answering before the route runs calls it."""

    table: type[ErrorTable]
    render: Renderer
    prepare: Callable[[Request], Any] | None = None


@runtime_checkable
class Service(Protocol):
    """What the core asks of an API's service. Every hook is always there (inherit
    :class:`ServiceBase` for the defaults); the core calls them directly."""

    async def preload(self, tenant_id: str, path: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """Store one preloaded object through the API's own commit code (core/preload.py):
        ``tenant_id`` is the tenant's identity, ``path`` the object's path under it. Returns
        a JSON-able description of what was made. Raises VendorError for a refused path."""
        ...

    def save_state(self) -> dict[str, Any] | None:
        """The service's own state a snapshot carries besides its tables (None: none)."""
        ...

    def check_state(self, state: Any) -> object:
        """Validate a snapshot's saved state (untrusted input) before anything is written;
        raises ValueError with a one-line reason. Returns the parsed state."""
        ...

    def load_state(self, state: dict[str, Any] | None) -> None:
        """Adopt a checked saved state (None: back to the defaults)."""
        ...

    def state_changed(self) -> None:
        """Rows changed under the service (reset, restore): drop what it derived from them."""
        ...


class ServiceBase:
    """Do-nothing defaults for the :class:`Service` hooks an API does not need."""

    async def preload(self, tenant_id: str, path: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} takes no preloaded objects")

    def save_state(self) -> dict[str, Any] | None:
        return None

    def check_state(self, state: Any) -> object:
        return None  # a service that keeps no state ignores what a snapshot carries for it

    def load_state(self, state: dict[str, Any] | None) -> None:
        return None

    def state_changed(self) -> None:
        return None


def takes_preload(service: Service) -> bool:
    """Whether a service stores preloaded objects (it overrides :meth:`ServiceBase.preload`)."""
    return type(service).preload is not ServiceBase.preload


ServiceFactory = Callable[[Any], Service]
"""Makes an API's service from the runtime (``emulator.core.runtime.Emulator``, typed
loosely here so this module stays a leaf: the service classes annotate it exactly)."""


@dataclass(frozen=True)
class ObjectListing:
    """What an API stores, for the dashboard's object browser (``GET /_emulator/objects``,
    admin/objects.py): ``views`` (the first is the default) and ``items(emulator, tenant
    identity or None, view)``, uniform item dicts (fields listed in admin/objects.py)."""

    views: tuple[str, ...]
    items: Callable[[Any, str | None, str], list[dict[str, Any]]]


WorkerTenant = Callable[[dict[str, Any], str], dict[str, Any]]
"""A fixture record of the API's tenant -> a copy with an identity (and secrets) of its own,
``tag`` a short unique word: what a test worker sharing a live emulator adds for itself
(emulator/testing/server.py)."""


@dataclass
class ApiSpec:
    """One API as registered in ``emulator.apis.ALL_APIS``: all the core knows of it.

    Adding an API: its package under ``emulator/apis/`` exports one ``API = ApiSpec(...)``,
    and ``emulator/apis/__init__.py`` lists it; nothing else names it."""

    name: str  # fixture key and journal ``api`` value
    title: str
    router: APIRouter
    tenant_model: type[TenantModel]
    service_factory: ServiceFactory  # the runtime -> the API's Service
    worker_tenant: WorkerTenant  # a fresh per-worker tenant for a shared emulator
    admin_router: APIRouter | None = None  # mounted under /_emulator/<name>
    endpoints: Callable[[str], Mapping[str, str]] | None = None  # base URL -> URLs for /health
    errors: tuple[ErrorFamily, ...] = ()  # its error tables, for injected business errors
    objects: ObjectListing | None = None  # what it stores, for GET /_emulator/objects
