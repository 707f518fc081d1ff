"""What the nextjoy API stores, as the uniform items of ``GET /_emulator/objects`` (admin/objects.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ...core.contract import ObjectListing
from .service import NextJoyService

if TYPE_CHECKING:
    from ...core.runtime import Emulator

A = "/_emulator"


def objects(emu: Emulator, tenant: str | None, view: str) -> list[dict[str, Any]]:
    owners = {(t.qiniu_access_key, t.bucket): t.identity() for t in emu.tenants.all("nextjoy")}
    items = []
    for r in emu.service_as("nextjoy", NextJoyService).objects():
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


LISTING = ObjectListing(views=("objects",), items=objects)
