"""Test controls and evidence under /_emulator/pan123: the tunables (slice size, token
lifetime, presigned-URL validity, asynchronous completion, QPS table) and what is stored."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ...admin.bodies import admin_tenant, read_json
from ...admin.errors import AdminError
from .envelope import service_of as _service
from .tenant import Tenant

router = APIRouter(tags=["admin: pan123"])


@router.get("/config")
async def get_config(request: Request) -> dict[str, Any]:
    return _service(request).config_doc()


@router.post("/config")
async def set_config(request: Request) -> Response:
    """Partial update, e.g. ``{"slice_size": 65536, "async_seconds": 0, "qps": {"api/v1/access_token": 5}}``;
    ``{"reset": true}`` restores the documented defaults first. A bad field changes nothing."""
    body = await read_json(request, empty={})
    try:
        return JSONResponse(_service(request).update_config(body))
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None


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
        raise AdminError(404, f"no file {file_id!r}") from None
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
    tenant = await admin_tenant(request, "pan123", "client_id", Tenant)
    answer = _service(request).issue_token(tenant.client_id, tenant.client_secret)
    return JSONResponse({"client_id": tenant.client_id, **answer})
