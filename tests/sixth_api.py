"""A sixth API that exists only for tests/testing/test_sixth_api.py: everything an API is made
of (tenant model, service with state hooks, router, admin router, object listing, per-worker
tenants) in one module plus its registration, and nothing else of the emulator edited for it.
(A real API would split these into its folder's tenant.py, service.py, routes.py, admin.py.)"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from emulator.admin.bodies import admin_tenant, read_json
from emulator.admin.errors import AdminError
from emulator.core.contract import ApiSpec, ObjectListing, ServiceBase
from emulator.core.routing import vendor_router
from emulator.core.runtime import Emulator, emulator_of
from emulator.core.tenants import TenantModel

DEFAULT = "hello"


class Tenant(TenantModel):
    key: str = Field(min_length=1)
    name: str = "someone"

    def identity(self) -> str:
        return self.key


class SixthService(ServiceBase):
    """A greeting (saved in snapshots through the state hooks) and a count of the
    ``state_changed`` calls the core made."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.greeting = DEFAULT
        self.changes = 0

    def save_state(self) -> dict[str, Any] | None:
        return {"greeting": self.greeting}

    def check_state(self, state: Any) -> object:
        if state is not None and not (isinstance(state, dict) and isinstance(state.get("greeting"), str)):
            raise ValueError("greeting must be a string")
        return state

    def load_state(self, state: dict[str, Any] | None) -> None:
        self.greeting = DEFAULT if state is None else state["greeting"]

    def state_changed(self) -> None:
        self.changes += 1


router = vendor_router("sixth")
admin_router = APIRouter()


def service_of(request: Request) -> SixthService:
    return emulator_of(request).service_as("sixth", SixthService)


@router.get("/sixth/hello")
async def hello(request: Request) -> JSONResponse:
    tenant = emulator_of(request).tenants.get("sixth", request.headers.get("x-sixth-key", ""))
    if not isinstance(tenant, Tenant):
        return JSONResponse({"error": "who are you?"}, status_code=401)
    return JSONResponse({"greeting": f"{service_of(request).greeting}, {tenant.name}", "key": tenant.key})


@admin_router.post("/greeting")
async def set_greeting(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("greeting"), str):
        raise AdminError(400, 'body must be {"greeting": "..."}')
    service_of(request).greeting = body["greeting"]
    return {"greeting": body["greeting"]}


@admin_router.post("/whoami")
async def whoami(request: Request) -> dict[str, Any]:
    tenant = await admin_tenant(request, "sixth", "key", Tenant)
    return {"key": tenant.key, "changes": service_of(request).changes}


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
