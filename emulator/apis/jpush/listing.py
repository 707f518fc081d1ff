"""What the jpush API stores, as the uniform items of ``GET /_emulator/objects`` (admin/objects.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ...core.contract import ObjectListing
from .service import JPushService

if TYPE_CHECKING:
    from ...core.runtime import Emulator

A = "/_emulator"


def objects(emu: Emulator, tenant: str | None, view: str) -> list[dict[str, Any]]:
    service = emu.service_as("jpush", JPushService)
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


LISTING = ObjectListing(views=("files",), items=objects)
