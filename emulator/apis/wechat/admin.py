"""Evidence for tests, under /_emulator/wechat: what is stored in each app's environments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from .naming import bucket_of
from .service import WeChatService

router = APIRouter(tags=["admin: wechat"])


def _service(request: Request) -> WeChatService:
    return request.app.state.emulator.service("wechat")


@router.get("/files")
async def files(request: Request, appid: str | None = None, env: str | None = None) -> list[dict[str, Any]]:
    """Stored objects (of one app and/or environment if given) with size and MD5."""
    return _service(request).files(appid, env)


@router.get("/buckets")
async def buckets(request: Request) -> list[dict[str, str]]:
    """Each app environment's bucket id (the middle of its file ids)."""
    tenants = request.app.state.emulator.tenants.all("wechat")
    return [{"appid": t.appid, "env": env, "bucket": bucket_of(t.appid, env)} for t in tenants for env in t.envs]
