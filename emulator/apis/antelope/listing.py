"""What the antelope API stores, as the uniform items of ``GET /_emulator/objects`` (admin/objects.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ...core.contract import ObjectListing
from .service import AntelopeService

if TYPE_CHECKING:
    from ...core.runtime import Emulator

A = "/_emulator"


def objects(emu: Emulator, tenant: str | None, view: str) -> list[dict[str, Any]]:
    service = emu.service_as("antelope", AntelopeService)
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


LISTING = ObjectListing(views=("objects", "events"), items=objects)
