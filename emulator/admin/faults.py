"""/_emulator/faults: add, list and remove injected fault rules (see core/faults.py)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..core import jsonbody
from ..core.faults import FaultRuleError, Faults

router = APIRouter(tags=["admin: faults"])


def _faults(request: Request) -> Faults:
    return request.app.state.emulator.faults


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _rule_id(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


@router.get("/faults")
async def list_faults(request: Request) -> list[dict[str, Any]]:
    """Every rule with its live counters (``matched``, ``fired``); exhausted ones stay,
    with ``active: false``, until removed."""
    return _faults(request).listing()


@router.post("/faults", status_code=201)
async def add_faults(request: Request) -> Response:
    """Body: one rule (an object) or several (a list); answers what was stored, in the
    same shape. A bad rule stores nothing (400)."""
    raw = await request.body()
    try:
        document = jsonbody.loads(raw) if raw.strip() else None
    except json.JSONDecodeError as exc:
        return _bad(f"body is not JSON: {getattr(exc, 'msg', exc)}")
    if document is None:
        return _bad("body must be a rule (a JSON object) or a list of rules")
    try:
        stored = _faults(request).add(document)
    except FaultRuleError as exc:
        return _bad(str(exc))
    return JSONResponse(stored if isinstance(document, list) else stored[0], status_code=201)


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, Any]:
    return {"status": "ok", "removed": _faults(request).clear()}


@router.get("/faults/{rule_id}")
async def get_fault(rule_id: str, request: Request) -> Response:
    number = _rule_id(rule_id)
    if number is None:
        return _bad(f"a rule id is a number, not {rule_id!r}")
    found = _faults(request).get(number)
    if found is None:
        return _bad(f"no fault rule {rule_id}", 404)
    return JSONResponse(found)


@router.delete("/faults/{rule_id}")
async def remove_fault(rule_id: str, request: Request) -> Response:
    number = _rule_id(rule_id)
    if number is None:
        return _bad(f"a rule id is a number, not {rule_id!r}")
    removed = _faults(request).remove(number)
    if removed is None:
        return _bad(f"no fault rule {rule_id}", 404)
    return JSONResponse({"status": "ok", "removed": removed})
