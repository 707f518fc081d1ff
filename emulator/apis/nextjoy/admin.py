"""Evidence for tests, under /_emulator/nextjoy: the objects of each bucket (with their
bytes) and the CDN refreshes clients asked for."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from ...admin.errors import AdminError
from .routes import _service

router = APIRouter(tags=["admin: nextjoy"])


@router.get("/objects")
async def objects(request: Request, bucket: str | None = None) -> list[dict[str, Any]]:
    """Every stored object (of one bucket if given), in Qiniu's listing shape plus its bucket."""
    return _service(request).objects(bucket)


@router.get("/objects/{bucket}/{key:path}")
async def object_bytes(bucket: str, key: str, request: Request) -> Response:
    """An object's bytes, streamed, with its mimeType as Content-Type."""
    service = _service(request)
    row = service.find_object(bucket, key)
    if row is None:
        raise AdminError(404, f"no object {key!r} in bucket {bucket!r}")
    return StreamingResponse(
        service.emu.blobs.read(row.blob_id),
        media_type=row.mime_type,
        headers={"Content-Length": str(row.fsize), "ETag": f'"{row.hash}"'},
    )


@router.get("/refreshes")
async def refreshes(request: Request, tenant: str | None = None) -> list[dict[str, Any]]:
    """Successful batch_refresh_file / batch_refresh_dir calls, oldest first; ``tenant`` is
    "appid:child_id"."""
    return _service(request).refreshes(tenant)


@router.get("/uploads")
async def uploads(request: Request) -> list[dict[str, Any]]:
    """Resumable uploads under way (v1 blocks, v2 multipart uploads), expired ones dropped
    first: id, kind, bucket, key, expires_at, parts, bytes."""
    from .resumable import Resumable

    return Resumable(_service(request)).pending()
