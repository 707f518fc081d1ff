"""A sixth API that exists only for tests/testing/test_sixth_api.py: everything an API is made
of (router, tenant model, service with state hooks, admin router, per-worker tenants) in its
own package plus one registration, and nothing else of the emulator edited for it."""

from __future__ import annotations

from typing import Any

from emulator.core.contract import ApiSpec, ObjectListing

from .admin import admin_router
from .routes import router
from .service import SixthService
from .tenant import Tenant


def greetings(emulator: Any, tenant: str | None, view: str) -> list[dict[str, Any]]:
    service = emulator.service_as("sixth", SixthService)
    return [{"id": "greeting", "kind": "file", "tenant": tenant, "group": view, "name": service.greeting,
             "size": len(service.greeting), "md5": None, "hash": None, "created": None, "expires": None,
             "download": None, "details": None, "meta": {}}]


def worker_tenant(record: dict[str, Any], tag: str) -> dict[str, Any]:
    return {**record, "key": f"{record['key']}-{tag}"}


API = ApiSpec(
    name="sixth",
    title="A sixth API (tests only)",
    router=router,
    tenant_model=Tenant,
    service_factory=SixthService,
    worker_tenant=worker_tenant,
    admin_router=admin_router,
    endpoints=lambda base: {"sixth": base + "/sixth"},
    objects=ObjectListing(views=("greetings",), items=greetings),
)
