"""/_emulator: health, credentials, fixtures, reset, journal, clock, store."""

from __future__ import annotations

import asyncio
import math
import os
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from .. import __version__
from ..core.clock import EARLIEST, LATEST
from ..core.ownership import Scope, ScopeError, parse_scope, parse_scope_params
from ..core.runtime import Emulator, emulator_of
from ..core.tenants import FixtureError
from ..core.urls import public_base
from .bodies import read_json
from .errors import AdminError

router = APIRouter(tags=["admin"])


def _emu(request: Request) -> Emulator:
    return emulator_of(request)


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    emu = _emu(request)
    base = public_base(request)
    endpoints: dict[str, str] = {"base": base}
    for spec in emu.apis.values():
        if spec.endpoints is not None:
            endpoints.update(spec.endpoints(base))
    return {
        "status": "ok",
        "apis": list(emu.apis),
        "version": __version__,
        "endpoints": endpoints,
        "workers": emu.settings.workers,  # processes serving this port (serve --workers N)
        "pid": os.getpid(),  # which process answered
    }


@router.get("/credentials")
async def credentials(request: Request) -> dict[str, Any]:
    return _emu(request).tenants.document()


@router.post("/fixtures")
async def add_fixtures(request: Request) -> Response:
    emu = _emu(request)
    document = await read_json(request, empty={})
    try:
        added = emu.tenants.add(emu.tenants.parse(document))
    except FixtureError as exc:
        raise AdminError(400, str(exc)) from None
    return JSONResponse({"added": added, "tenants": emu.tenants.document()})


@router.post("/reset")
async def reset(request: Request) -> Response:
    """No body: everything. ``{"tenants": {api: [identity, ...]}}``: only those tenants'
    objects, sessions, tokens, events, journal entries, limit windows and faults."""
    emu = _emu(request)
    body = await read_json(request, empty={})
    try:
        if not isinstance(body, dict) or set(body) - {"tenants"}:
            raise ScopeError('body must be empty or {"tenants": {api: [identity, ...]}}')
        scope = None if body.get("tenants") is None else parse_scope(body["tenants"], emu.tenants)
    except ScopeError as exc:
        raise AdminError(400, str(exc)) from None
    await asyncio.to_thread(emu.reset, scope)
    return JSONResponse({"status": "ok"})


def _journal_scope(request: Request) -> Scope | None:
    """Repeated ``scope=<api>:<identity>``: only those tenants' entries (None: all)."""
    emu = _emu(request)
    try:
        return parse_scope_params(request.query_params.getlist("scope"), emu.tenants, known_tenants=False)
    except ScopeError as exc:
        raise AdminError(400, str(exc)) from None


@router.get("/requests")
async def requests_(
    request: Request,
    api: str | None = None,
    path: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    tenant: str | None = None,
    scope: Annotated[list[str] | None, Query(description="<api>:<identity>, repeatable")] = None,
    code: Annotated[str | None, Query(description="business code, e.g. 40001 or -501007")] = None,
    refused: Annotated[bool | None, Query(description="true: only vendor-error answers (with a reason)")] = None,
    since: Annotated[int | None, Query(description="only entries with an id above this one")] = None,
) -> Response:
    owned = _journal_scope(request)
    entries = _emu(request).journal.query(api=api, path=path, status=status, limit=limit, tenant=tenant, scope=owned,
                                          code=code, refused=refused, since=since)
    return JSONResponse(jsonable_encoder(entries))


@router.delete("/requests")
async def clear_requests(
    request: Request,
    scope: Annotated[list[str] | None, Query(description="<api>:<identity>, repeatable")] = None,
) -> Response:
    owned = _journal_scope(request)
    cleared = _emu(request).journal.clear(owned)
    return JSONResponse({"status": "ok", "cleared": cleared})


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
    body = await read_json(request, empty={})
    try:
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        unknown = set(body) - {"advance", "set", "freeze", "real"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        set_to = _number(body["set"], "set") if "set" in body else None
        advance = _number(body["advance"], "advance") if "advance" in body else None
        freeze = body.get("freeze")
        if freeze is not None and not isinstance(freeze, bool):
            raise ValueError("freeze must be true or false")
        real = body.get("real", False)
        if not isinstance(real, bool) or (real and len(body) > 1):
            raise ValueError("real must be true, alone (back to real, unfrozen time)")
        target = (set_to if set_to is not None else clock.now()) + (advance or 0.0)
        if not EARLIEST <= target < LATEST:
            raise ValueError(
                f"the clock must stay between {EARLIEST:.0f} (1970) and {LATEST:.0f} (2100-01-01) unix seconds, "
                f"the years every vendor's dates and token expiries can express; this would make it {target:.0f}"
            )
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
    if real:
        clock.reset()
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


@router.get("/limits")
async def get_limits(request: Request) -> dict[str, bool]:
    return {"enabled": _emu(request).limiter.enabled}


@router.post("/limits")
async def set_limits(request: Request) -> Response:
    """``{"enabled": false}`` turns every vendor QPS / per-minute limit off (as
    ``--no-rate-limits``), ``true`` back on; windows keep counting either way."""
    body = await read_json(request, empty={})
    if not isinstance(body, dict) or set(body) != {"enabled"} or not isinstance(body["enabled"], bool):
        raise AdminError(400, 'body must be {"enabled": true} or {"enabled": false}')
    limiter = _emu(request).limiter
    limiter.enabled = body["enabled"]
    return JSONResponse({"enabled": limiter.enabled})
