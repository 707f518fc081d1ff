from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from emulator.core.routing import vendor_router
from emulator.core.runtime import emulator_of

from .service import SixthService
from .tenant import Tenant

router = vendor_router("sixth")


def service_of(request: Request) -> SixthService:
    return emulator_of(request).service_as("sixth", SixthService)


@router.get("/sixth/hello")
async def hello(request: Request) -> JSONResponse:
    tenant = emulator_of(request).tenants.get("sixth", request.headers.get("x-sixth-key", ""))
    if not isinstance(tenant, Tenant):
        return JSONResponse({"error": "who are you?"}, status_code=401)
    return JSONResponse({"greeting": f"{service_of(request).greeting}, {tenant.name}", "key": tenant.key})
