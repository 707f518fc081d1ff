"""/_emulator: health, credentials, fixtures, reset, journal, clock, store."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .. import __version__
from ..core.runtime import Emulator
from ..core.tenants import FixtureError
from ..core.urls import public_base

router = APIRouter(tags=["admin"])


def _emu(request: Request) -> Emulator:
    return request.app.state.emulator


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    return json.loads(raw)


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    emu = _emu(request)
    base = public_base(request)
    endpoints: dict[str, str] = {"base": base}
    for spec in emu.apis.values():
        if spec.implemented and spec.endpoints is not None:
            endpoints.update(spec.endpoints(base))
    return {
        "status": "ok",
        "apis": [name for name, spec in emu.apis.items() if spec.implemented],
        "version": __version__,
        "endpoints": endpoints,
    }


@router.get("/credentials")
async def credentials(request: Request) -> dict[str, Any]:
    return _emu(request).tenants.document()


@router.post("/fixtures")
async def add_fixtures(request: Request) -> Response:
    emu = _emu(request)
    try:
        document = await _json_body(request)
        added = emu.tenants.add(emu.tenants.parse(document))
    except json.JSONDecodeError as exc:
        return _bad(f"body is not JSON: {exc.msg}")
    except FixtureError as exc:
        return _bad(str(exc))
    return JSONResponse({"added": added, "tenants": emu.tenants.document()})


@router.post("/reset")
async def reset(request: Request) -> dict[str, str]:
    _emu(request).reset()
    return {"status": "ok"}


@router.get("/requests")
async def requests_(
    request: Request,
    api: str | None = None,
    path: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    tenant: str | None = None,
) -> list[dict[str, Any]]:
    return _emu(request).journal.query(api=api, path=path, status=status, limit=limit, tenant=tenant)


@router.delete("/requests")
async def clear_requests(request: Request) -> dict[str, str]:
    _emu(request).journal.clear()
    return {"status": "ok"}


@router.get("/clock")
async def get_clock(request: Request) -> dict[str, Any]:
    return _emu(request).clock.state()


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number of seconds")
    return float(value)


@router.post("/clock")
async def set_clock(request: Request) -> Response:
    clock = _emu(request).clock
    try:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        unknown = set(body) - {"advance", "set", "freeze"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        set_to = _number(body["set"], "set") if "set" in body else None
        advance = _number(body["advance"], "advance") if "advance" in body else None
        freeze = body.get("freeze")
        if freeze is not None and not isinstance(freeze, bool):
            raise ValueError("freeze must be true or false")
        if set_to is not None and set_to < 0:
            raise ValueError("set must be a unix time in seconds")
    except json.JSONDecodeError as exc:
        return _bad(f"body is not JSON: {exc.msg}")
    except ValueError as exc:
        return _bad(str(exc))
    if freeze is True:
        clock.freeze(True)
    if set_to is not None:
        clock.set(set_to)
    if advance is not None:
        clock.advance(advance)
    if freeze is False:
        clock.freeze(False)
    return JSONResponse(clock.state())


@router.get("/store")
async def store_stats(request: Request) -> dict[str, int]:
    """How many distinct blobs and bytes the content store holds."""
    return _emu(request).blobs.stats()


@router.put("/store/probe")
async def store_probe(request: Request) -> dict[str, Any]:
    """Stream the body through the content store exactly as an upload would (hash, chunk
    writes, commit) and reclaim it; answers the digests. For benchmarks and diagnostics."""
    emu = _emu(request)
    staged = await emu.blobs.stage(request.stream())

    def commit_and_reclaim() -> None:
        with emu.db.session() as s:
            blob_id = emu.blobs.commit(s, staged)
        with emu.db.session() as s:
            emu.blobs.release(s, blob_id)

    await asyncio.to_thread(commit_and_reclaim)
    return {"size": staged.size, "md5": staged.md5, "sha1": staged.sha1}
