"""Test controls and evidence under /_emulator/pan123: the tunables (slice size, token
lifetime, presigned-URL validity, asynchronous completion, QPS table) and what is stored."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ...core import jsonbody
from ...core.apis import AdminRefusal, admin_tenant
from .service import Pan123Service

router = APIRouter(tags=["admin: pan123"])


def _service(request: Request) -> Pan123Service:
    return request.app.state.emulator.service("pan123")


@router.get("/config")
async def get_config(request: Request) -> dict[str, Any]:
    return _service(request).config_doc()


@router.post("/config")
async def set_config(request: Request) -> Response:
    """Partial update, e.g. ``{"slice_size": 65536, "async_seconds": 0, "qps": {"api/v1/access_token": 5}}``;
    ``{"reset": true}`` restores the documented defaults first. A bad field changes nothing."""
    try:
        raw = await request.body()
        body = jsonbody.loads(raw) if raw.strip() else {}
        return JSONResponse(_service(request).update_config(body))
    except json.JSONDecodeError as exc:
        return JSONResponse({"error": f"body is not JSON: {exc.msg}"}, status_code=400)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)


@router.get("/files")
async def files(request: Request, client_id: str | None = None) -> list[dict[str, Any]]:
    """Every file and folder (of one client id if given), with its slice sizes."""
    service = _service(request)
    await service.settle(client_id)
    return service.all_files(client_id)


@router.get("/disk")
async def disk(request: Request, client_id: str | None = None) -> list[dict[str, Any]]:
    """The cloud disk's folders and files (of one client id if given): id, path, size, MD5,
    ``trashed`` (in the recycle bin itself) and ``in_trash`` (inside a folder that is)."""
    service = _service(request)
    await service.settle(client_id)
    return service.disk.tree(client_id)


@router.get("/files/{file_id}/content")
async def file_content(file_id: str, request: Request) -> Response:
    service = _service(request)
    await service.settle()
    try:
        dl = service.download_of(file_id)
    except KeyError:
        return JSONResponse({"error": f"no file {file_id!r}"}, status_code=404)
    return StreamingResponse(service.stream(dl, count_traffic=False), media_type="application/octet-stream",
                             headers={"Content-Length": str(dl.size)})


@router.get("/uploads")
async def uploads(request: Request) -> list[dict[str, Any]]:
    """Every upload session with its state and received slices."""
    service = _service(request)
    await service.settle()
    return service.all_uploads()


@router.post("/tokens")
async def mint_token(request: Request) -> Response:
    """An access token for a client id (default: the first 123pan tenant) without calling
    /api/v1/access_token, so a test's journal and QPS windows stay untouched:
    ``{"client_id"?}`` → ``{"client_id", "accessToken", "expiredAt"}``."""
    try:
        tenant = await admin_tenant(request, "pan123", "client_id")
    except AdminRefusal as exc:
        return exc.response()
    answer = _service(request).issue_token(tenant.client_id, tenant.client_secret)
    return JSONResponse({"client_id": tenant.client_id, **answer})
