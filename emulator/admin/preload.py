"""``PUT /_emulator/preload/{api}/{tenant}/{path}``: one file of the preload layout, its
bytes streamed as the body (what ``storage-emulator preload DIR`` sends for each file)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..core.multipart import drain_body
from ..core.preload import PreloadError, preload_one
from .errors import AdminError

router = APIRouter(tags=["admin"])


@router.put("/preload/{api}/{tenant}/{path:path}", status_code=201)
async def preload(api: str, tenant: str, path: str, request: Request) -> JSONResponse:
    """Store the body as the object ``path`` of ``tenant`` in ``api``, exactly as that API's
    upload would (201 with ``{api, tenant, path, id, size, result}``; ``result`` is
    created, replaced or unchanged). A refusal is 400 ``{"error"}`` and stores nothing."""
    body = request.stream()
    try:
        desc = await preload_one(request.app.state.emulator, api, tenant, path, body)
    except PreloadError as exc:
        await drain_body(body)
        raise AdminError(400, str(exc)) from None
    return JSONResponse(desc, status_code=201)


@router.put("/preload/{rest:path}")
async def preload_malformed(rest: str, request: Request) -> JSONResponse:
    """Anything else under /preload: no API, tenant or path to put it at."""
    await drain_body(request.stream())
    raise AdminError(400, f"PUT /_emulator/preload/{{api}}/{{tenant}}/{{path}}: {rest!r} names no API, tenant and path")
