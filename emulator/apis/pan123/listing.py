"""What the pan123 API stores, as the uniform items of ``GET /_emulator/objects`` (admin/objects.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ...core.contract import ObjectListing
from .service import Pan123Service

if TYPE_CHECKING:
    from ...core.runtime import Emulator

A = "/_emulator"


def _trashed(row: dict[str, Any]) -> bool:
    """A cloud-disk entry in the trash (whichever flag the listing carries)."""
    return bool(row.get("trashed") or row.get("trash") or row.get("in_trash"))


def objects(emu: Emulator, tenant: str | None, view: str) -> list[dict[str, Any]]:
    rows = emu.service_as("pan123", Pan123Service).all_files(tenant)
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


LISTING = ObjectListing(views=("files",), items=objects)
