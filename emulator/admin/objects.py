"""``GET /_emulator/objects``: one paged, uniform listing of what each API stores, built on
the per-API evidence listings (``/_emulator/<api>/...``), for the dashboard's object browser.

Every item has the same fields whatever the API: ``id``, ``kind`` (``file``, ``folder``,
``event``), ``tenant`` (the tenant's identity), ``group`` (env, bucket, space or channel),
``name``, ``size``, ``md5``, ``hash`` (the API's own content hash where it has one),
``created`` and ``expires`` (unix seconds on the emulator clock, ``null`` when none),
``download`` (an admin URL answering the bytes, ``null`` for folders and events),
``details`` (an admin URL with more, or ``null``) and ``meta`` (the API's own record).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..core.runtime import Emulator
from .errors import AdminError

router = APIRouter(tags=["admin: objects"])

MAX_LIMIT = 500
A = "/_emulator"


def _trashed(row: dict[str, Any]) -> bool:
    """A cloud-disk entry in the trash (whichever flag the listing carries)."""
    return bool(row.get("trashed") or row.get("trash") or row.get("in_trash"))


def _pan123(emu: Emulator, tenant: str | None, view: str) -> list[dict[str, Any]]:
    rows = emu.service("pan123").all_files(tenant)
    by_id = {r["id"]: r for r in rows}

    def path_of(row: dict[str, Any]) -> str:
        names: list[str] = []
        seen: set[Any] = set()
        while row is not None and not row.get("is_root") and row["id"] not in seen:
            seen.add(row["id"])
            names.append(row["name"])
            row = by_id.get(row.get("parent_id"))  # type: ignore[assignment]
        return "/" + "/".join(reversed(names))

    items = []
    for r in rows:
        if r.get("is_root"):
            continue
        folder = bool(r.get("is_dir"))
        items.append({
            "id": str(r["id"]), "kind": "folder" if folder else "file", "tenant": r["client_id"],
            "group": " · ".join(g for g in (r.get("space"), "trash" if _trashed(r) else None) if g),
            "name": path_of(r), "size": None if folder else r.get("size"),
            "md5": None if folder else r.get("etag"), "hash": None, "created": r.get("created_at"),
            "expires": None,
            "download": None if folder else f"{A}/pan123/files/{quote(str(r['id']), safe='')}/content",
            "details": None, "meta": {k: v for k, v in r.items() if k != "blob_ids"},
        })
    return items


def _wechat(emu: Emulator, tenant: str | None, view: str) -> list[dict[str, Any]]:
    return [{
        "id": r["file_id"], "kind": "file", "tenant": r["appid"], "group": r["env"], "name": r["key"],
        "size": r["size"], "md5": r["md5"], "hash": None, "created": r.get("created_at"), "expires": None,
        "download": f"{A}/wechat/content?file_id={quote(r['file_id'], safe='')}", "details": None, "meta": r,
    } for r in emu.service("wechat").files(tenant)]


def _nextjoy(emu: Emulator, tenant: str | None, view: str) -> list[dict[str, Any]]:
    owners = {(t.qiniu_access_key, t.bucket): t.identity() for t in emu.tenants.all("nextjoy")}
    items = []
    for r in emu.service("nextjoy").objects():
        owner = owners.get((r["access_key"], r["bucket"]))
        if tenant is not None and owner != tenant:
            continue
        items.append({
            "id": f"{r['bucket']}/{r['key']}", "kind": "file", "tenant": owner, "group": r["bucket"],
            "name": r["key"], "size": r["fsize"], "md5": r.get("md5"), "hash": r["hash"],
            "created": r["putTime"] / 1e7, "expires": None,
            "download": f"{A}/nextjoy/objects/{quote(r['bucket'], safe='')}/{quote(r['key'], safe='/')}",
            "details": None, "meta": r,
        })
    return items


def _antelope(emu: Emulator, tenant: str | None, view: str) -> list[dict[str, Any]]:
    service = emu.service("antelope")
    if view == "events":
        items = []
        for e in service.all_events(tenant):
            text = json.dumps(e["event"], ensure_ascii=False, separators=(",", ":"))
            items.append({
                "id": f"{e['app_id']}/{e['channel_id']}/{e['offset']}", "kind": "event", "tenant": e["app_id"],
                "group": f"channel {e['channel_id']}",
                "name": f"offset {e['offset']}: {text if len(text) <= 120 else text[:119] + '…'}",
                "size": len(text.encode()), "md5": None, "hash": None, "created": None, "expires": None,
                "download": None, "details": None, "meta": e,
            })
        return items
    items = []
    for r in service.all_objects(tenant):
        blob = emu.blobs.info(service.blob_of(r["obj_id"]))
        items.append({
            "id": r["obj_id"], "kind": "file", "tenant": r["app_id"], "group": f"cid {r['c_id']}",
            "name": r.get("key") or r.get("name") or r["obj_id"], "size": r["file_size"],
            "md5": blob.md5 if blob else None, "hash": blob.sha1 if blob else None,
            "created": r.get("timestamp"), "expires": r.get("expire_at"),
            "download": f"{A}/antelope/objects/{quote(r['obj_id'], safe='')}/content", "details": None, "meta": r,
        })
    return items


def _jpush(emu: Emulator, tenant: str | None, view: str) -> list[dict[str, Any]]:
    service = emu.service("jpush")
    items = []
    for row in service.all_files(tenant):
        blob = emu.blobs.info(row.blob_id)
        items.append({
            "id": row.file_id, "kind": "file", "tenant": row.app_key, "group": row.type, "name": row.file_name,
            "size": blob.size if blob else None, "md5": blob.md5 if blob else None, "hash": None,
            "created": row.created_at, "expires": row.expire_at,
            "download": f"{A}/jpush/files/{quote(row.file_id, safe='')}/content",
            "details": f"{A}/jpush/files/{quote(row.file_id, safe='')}",
            "meta": {**service.describe(row), "app_key": row.app_key, "line_count": row.line_count},
        })
    return items


LISTINGS: dict[str, tuple[Callable[[Emulator, str | None, str], list[dict[str, Any]]], tuple[str, ...]]] = {
    "pan123": (_pan123, ("files",)),
    "antelope": (_antelope, ("objects", "events")),
    "nextjoy": (_nextjoy, ("objects",)),
    "jpush": (_jpush, ("files",)),
    "wechat": (_wechat, ("files",)),
}


@router.get("/objects")
async def objects(request: Request, api: str, tenant: str | None = None, view: str | None = None,
                  q: str | None = None, offset: int = 0, limit: int = 50) -> Response:
    """``api`` (required), ``tenant`` (identity), ``view`` (``events`` for Antelope's channel
    events), ``q`` (substring of the name), ``offset``/``limit`` (at most 500): ``{api, view,
    views, tenants, total, offset, limit, items}``."""
    emu: Emulator = request.app.state.emulator
    if api not in LISTINGS or api not in emu.apis:
        raise AdminError(400, f"api must be one of {', '.join(a for a in LISTINGS if a in emu.apis)}")
    listing, views = LISTINGS[api]
    view = view or views[0]
    if view not in views:
        raise AdminError(400, f"view must be one of {', '.join(views)}")
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise AdminError(400, f"offset must be >= 0 and limit 1..{MAX_LIMIT}")
    items = await asyncio.to_thread(listing, emu, tenant or None, view)
    if q:
        needle = q.lower()
        items = [i for i in items if needle in str(i["name"]).lower() or needle in str(i["id"]).lower()]
    return JSONResponse({
        "api": api, "view": view, "views": list(views),
        "tenants": [t.identity() for t in emu.tenants.all(api)],
        "total": len(items), "offset": offset, "limit": limit, "items": items[offset:offset + limit],
    })
