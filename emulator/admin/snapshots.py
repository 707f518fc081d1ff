"""/_emulator/snapshots: save, list, restore, delete, export and import snapshots
(core/snapshots.py). Admin calls: never journaled, never faulted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..core.runtime import Emulator, emulator_of
from ..core.snapshot_format import SUFFIX, SnapshotError, check_name
from ..core.space import is_disk_full
from .bodies import read_json
from .errors import AdminError

router = APIRouter(tags=["snapshots"])


def _emu(request: Request) -> Emulator:
    return emulator_of(request)


def _refused(exc: SnapshotError) -> AdminError:
    return AdminError(exc.status, str(exc))


def _io_failed(exc: OSError) -> AdminError:
    # a full disk is 507, as every other full-store refusal of the admin API (core/space.py)
    return AdminError(507 if is_disk_full(exc) else 500, f"cannot write the snapshot: {exc.strerror or exc}")


@router.post("/snapshots", status_code=201)
async def save(request: Request) -> Response:
    """``{"name": ..., "tenants": {api: [identity, ...]}?}``: the whole state, or only those
    tenants' rows, saved under ``name`` (an older snapshot of that name is replaced)."""
    emu = _emu(request)
    body = await read_json(request, empty=None)
    if not isinstance(body, dict):
        raise AdminError(400, 'body must be a JSON object: {"name": ..., "tenants": {api: [identity, ...]}}')
    unknown = set(body) - {"name", "tenants"}
    if unknown:
        raise AdminError(400, f"unknown field(s): {', '.join(sorted(unknown))}")
    if "name" not in body:
        raise AdminError(400, "name is required")
    try:
        check_name(body["name"])
        described = await asyncio.to_thread(emu.snapshots.save, body["name"], body.get("tenants"))
    except SnapshotError as exc:
        raise _refused(exc) from None
    except OSError as exc:
        raise _io_failed(exc) from None
    return JSONResponse(described, status_code=201)


@router.get("/snapshots")
async def list_snapshots(request: Request) -> list[dict[str, Any]]:
    return await asyncio.to_thread(_emu(request).snapshots.listing)


@router.get("/snapshots/{name}")
async def describe(name: str, request: Request) -> Response:
    try:
        return JSONResponse(await asyncio.to_thread(_emu(request).snapshots.get, name))
    except SnapshotError as exc:
        raise _refused(exc) from None


@router.delete("/snapshots/{name}")
async def delete(name: str, request: Request) -> Response:
    try:
        await asyncio.to_thread(_emu(request).snapshots.delete, name)
    except SnapshotError as exc:
        raise _refused(exc) from None
    return JSONResponse({"status": "ok", "deleted": name})


@router.post("/snapshots/{name}/restore")
async def restore(name: str, request: Request) -> Response:
    """A whole snapshot: the state becomes the saved one (clock included). A scoped one:
    only its tenants' rows are replaced; other tenants and the clock are left alone."""
    try:
        return JSONResponse(await asyncio.to_thread(_emu(request).snapshots.restore, name))
    except SnapshotError as exc:
        raise _refused(exc) from None


@router.get("/snapshots/{name}/export")
async def export(name: str, request: Request) -> Response:
    """The snapshot as one file (a SQLite database), streamed."""
    try:
        size, chunks = await asyncio.to_thread(_emu(request).snapshots.export, name)
    except SnapshotError as exc:
        raise _refused(exc) from None
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
        raise _refused(exc) from None
    except OSError as exc:
        raise _io_failed(exc) from None
    return JSONResponse(described, status_code=201)
