"""``GET /_emulator/objects``: one paged, uniform listing of what each API stores, for the
dashboard's object browser. Each API brings its own listing (``ApiSpec.objects``, in
``emulator/apis/<api>/listing.py``), built on its evidence listings (``/_emulator/<api>/...``).

Every item has the same fields whatever the API: ``id``, ``kind`` (``file``, ``folder``,
``event``), ``tenant`` (the tenant's identity), ``group`` (env, bucket, space or channel),
``name``, ``size``, ``md5``, ``hash`` (the API's own content hash where it has one),
``created`` and ``expires`` (unix seconds on the emulator clock, ``null`` when none),
``download`` (an admin URL answering the bytes, ``null`` for folders and events),
``details`` (an admin URL with more, or ``null``) and ``meta`` (the API's own record).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..core.runtime import emulator_of
from .errors import AdminError

router = APIRouter(tags=["admin: objects"])

MAX_LIMIT = 500


@router.get("/objects")
async def objects(request: Request, api: str, tenant: str | None = None, view: str | None = None,
                  q: str | None = None, offset: int = 0, limit: int = 50) -> Response:
    """``api`` (required), ``tenant`` (identity), ``view`` (``events`` for Antelope's channel
    events), ``q`` (substring of the name), ``offset``/``limit`` (at most 500): ``{api, view,
    views, tenants, total, offset, limit, items}``."""
    emu = emulator_of(request)
    listings = {name: spec.objects for name, spec in emu.apis.items() if spec.objects is not None}
    listing = listings.get(api)
    if listing is None:
        raise AdminError(400, f"api must be one of {', '.join(listings)}")
    views = listing.views
    view = view or views[0]
    if view not in views:
        raise AdminError(400, f"view must be one of {', '.join(views)}")
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise AdminError(400, f"offset must be >= 0 and limit 1..{MAX_LIMIT}")
    items = await asyncio.to_thread(listing.items, emu, tenant or None, view)
    if q:
        needle = q.lower()
        items = [i for i in items if needle in str(i["name"]).lower() or needle in str(i["id"]).lower()]
    return JSONResponse({
        "api": api, "view": view, "views": list(views),
        "tenants": [t.identity() for t in emu.tenants.all(api)],
        "total": len(items), "offset": offset, "limit": limit, "items": items[offset:offset + limit],
    })
