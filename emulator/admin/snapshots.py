"""/_emulator/snapshots: save, list, restore, delete, export and import snapshots
(core/snapshots.py). Admin calls: never journaled, never faulted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..core.runtime import Emulator
from ..core.space import is_disk_full
from ..core.snapshot_format import SUFFIX, SnapshotError, check_name
from .routes import parse_json

router = APIRouter(tags=["snapshots"])


def _emu(request: Request) -> Emulator:
    return request.app.state.emulator


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _refused(exc: SnapshotError) -> JSONResponse:
    return _error(str(exc), exc.status)


def _io_failed(exc: OSError) -> JSONResponse:
    # a full disk is 507, as every other full-store refusal of the admin API (core/space.py)
    return _error(f"cannot write the snapshot: {exc.strerror or exc}", 507 if is_disk_full(exc) else 500)


@router.post("/snapshots", status_code=201)
async def save(request: Request) -> Response:
    """``{"name": ..., "tenants": {api: [identity, ...]}?}``: the whole state, or only those
    tenants' rows, saved under ``name`` (an older snapshot of that name is replaced)."""
    emu = _emu(request)
    raw = await request.body()
    try:
        body = parse_json(raw) if raw.strip() else None
    except json.JSONDecodeError as exc:
        return _error(f"body is not JSON: {exc.msg}")
    if not isinstance(body, dict):
        return _error('body must be a JSON object: {"name": ..., "tenants": {api: [identity, ...]}}')
    unknown = set(body) - {"name", "tenants"}
    if unknown:
        return _error(f"unknown field(s): {', '.join(sorted(unknown))}")
    if "name" not in body:
        return _error("name is required")
    try:
        check_name(body["name"])
        described = await asyncio.to_thread(emu.snapshots.save, body["name"], body.get("tenants"))
    except SnapshotError as exc:
        return _refused(exc)
    except OSError as exc:
        return _io_failed(exc)
    return JSONResponse(described, status_code=201)


@router.get("/snapshots")
async def list_snapshots(request: Request) -> list[dict[str, Any]]:
    return await asyncio.to_thread(_emu(request).snapshots.listing)


@router.get("/snapshots/{name}")
async def describe(name: str, request: Request) -> Response:
    try:
        return JSONResponse(await asyncio.to_thread(_emu(request).snapshots.get, name))
    except SnapshotError as exc:
        return _refused(exc)


@router.delete("/snapshots/{name}")
async def delete(name: str, request: Request) -> Response:
    try:
        await asyncio.to_thread(_emu(request).snapshots.delete, name)
    except SnapshotError as exc:
        return _refused(exc)
    return JSONResponse({"status": "ok", "deleted": name})


@router.post("/snapshots/{name}/restore")
async def restore(name: str, request: Request) -> Response:
    """A whole snapshot: the state becomes the saved one (clock included). A scoped one:
    only its tenants' rows are replaced; other tenants and the clock are left alone."""
    try:
        return JSONResponse(await asyncio.to_thread(_emu(request).snapshots.restore, name))
    except SnapshotError as exc:
        return _refused(exc)


@router.get("/snapshots/{name}/export")
async def export(name: str, request: Request) -> Response:
    """The snapshot as one file (a SQLite database), streamed."""
    try:
        size, chunks = await asyncio.to_thread(_emu(request).snapshots.export, name)
    except SnapshotError as exc:
        return _refused(exc)
    return StreamingResponse(
        _closing(chunks),
        media_type="application/octet-stream",
        headers={"content-length": str(size), "content-disposition": f'attachment; filename="{name}{SUFFIX}"'},
    )


def _closing(chunks: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


@router.put("/snapshots/{name}", status_code=201)
async def import_(name: str, request: Request) -> Response:
    """Store an exported snapshot file (the streamed body) under ``name``; a file that is
    not a snapshot of this format (or of another schema version) is refused, nothing kept."""
    try:
        check_name(name)
        described = await _emu(request).snapshots.import_(name, request.stream())
    except SnapshotError as exc:
        return _refused(exc)
    except OSError as exc:
        return _io_failed(exc)
    return JSONResponse(described, status_code=201)
