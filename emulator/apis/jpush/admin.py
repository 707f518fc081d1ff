"""Evidence for tests, under /_emulator/jpush: what clients uploaded, line by line."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from ...admin.errors import AdminError
from .routes import _service

router = APIRouter(tags=["admin: jpush"])


@router.get("/files")
async def files(request: Request, app_key: str | None = None) -> list[dict[str, Any]]:
    """Every unexpired file (of one app key if given), with the lines it carries."""
    service = _service(request)
    out = []
    for row in service.all_files(app_key):
        out.append({**service.describe(row), "app_key": row.app_key, "lines": await service.lines(row)})
    return out


@router.get("/files/{file_id}")
async def file_lines(file_id: str, request: Request) -> JSONResponse:
    service = _service(request)
    row = service.find(None, file_id)
    if row is None:
        raise AdminError(404, f"no unexpired file {file_id!r}")
    return JSONResponse({**service.describe(row), "app_key": row.app_key, "lines": await service.lines(row)})


@router.get("/files/{file_id}/content")
async def file_content(file_id: str, request: Request) -> Response:
    """The stored bytes of an unexpired file, as uploaded."""
    service = _service(request)
    row = service.find(None, file_id)
    blob = None if row is None else service.emu.blobs.info(row.blob_id)
    if row is None or blob is None:
        raise AdminError(404, f"no unexpired file {file_id!r}")
    return StreamingResponse(service.emu.blobs.read(row.blob_id), media_type="application/octet-stream",
                             headers={"Content-Length": str(blob.size)})
