"""What the wechat API stores, as the uniform items of ``GET /_emulator/objects`` (admin/objects.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ...core.contract import ObjectListing
from .service import WeChatService

if TYPE_CHECKING:
    from ...core.runtime import Emulator

A = "/_emulator"


def objects(emu: Emulator, tenant: str | None, view: str) -> list[dict[str, Any]]:
    return [{
        "id": r["file_id"], "kind": "file", "tenant": r["appid"], "group": r["env"], "name": r["key"],
        "size": r["size"], "md5": r["md5"], "hash": None, "created": r.get("created_at"), "expires": None,
        "download": f"{A}/wechat/content?file_id={quote(r['file_id'], safe='')}", "details": None, "meta": r,
    } for r in emu.service_as("wechat", WeChatService).files(tenant)]


LISTING = ObjectListing(views=("files",), items=objects)
