"""Evidence for tests, under /_emulator/wechat: what is stored in each app's environments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import or_, select

from ...admin.bodies import admin_tenant
from ...admin.errors import AdminError
from . import auth
from .models import WeChatFile
from .naming import bucket_of, parse_file_id
from .routes import _service
from .tenant import Tenant

router = APIRouter(tags=["admin: wechat"])


@router.get("/files")
async def files(request: Request, appid: str | None = None, env: str | None = None) -> list[dict[str, Any]]:
    """Stored objects (of one app and/or environment if given) with size and MD5."""
    return _service(request).files(appid, env)


@router.get("/buckets")
async def buckets(request: Request) -> list[dict[str, str]]:
    """Each app environment's bucket id (the middle of its file ids)."""
    tenants = request.app.state.emulator.tenants.all("wechat")
    return [{"appid": t.appid, "env": env, "bucket": bucket_of(t.appid, env)} for t in tenants for env in t.envs]


@router.get("/content")
async def content(request: Request, file_id: str) -> Response:
    """The stored bytes of a file, by its cloud:// file id."""
    emu = request.app.state.emulator
    ref = parse_file_id(file_id)
    row = None
    if ref is not None:
        with emu.db.session() as s:
            row = s.execute(
                select(WeChatFile)
                .where(WeChatFile.key == ref.key, WeChatFile.env == ref.env)
                .where(or_(WeChatFile.bucket == ref.bucket, WeChatFile.bucket.startswith(ref.bucket + "-")))
                .order_by(WeChatFile.id)
            ).scalars().first()
    if row is None:
        raise AdminError(404, f"no file {file_id!r}")
    return StreamingResponse(emu.blobs.read(row.blob_id), media_type="application/octet-stream",
                             headers={"Content-Length": str(row.size)})


@router.post("/tokens")
async def mint_token(request: Request) -> Response:
    """An access_token for an appid (default: the first WeChat tenant) without calling
    /cgi-bin/token: ``{"appid"?}`` → ``{"appid", "access_token", "expires_in"}``. As with
    /cgi-bin/token, the app's earlier tokens then expire after the overlap window."""
    tenant = await admin_tenant(request, "wechat", "appid", Tenant)
    emu = request.app.state.emulator
    return JSONResponse({"appid": tenant.appid, "access_token": auth.issue_token(emu, tenant.appid),
                         "expires_in": auth.TOKEN_TTL})
