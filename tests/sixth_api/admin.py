from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from emulator.admin.bodies import admin_tenant, read_json
from emulator.admin.errors import AdminError

from .routes import service_of
from .tenant import Tenant

admin_router = APIRouter()


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
