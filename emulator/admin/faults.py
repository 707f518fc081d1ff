"""/_emulator/faults: add, list and remove injected fault rules (see core/faults.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..core.faults import FaultRuleError, Faults
from ..core.runtime import emulator_of
from .bodies import read_json
from .errors import AdminError

router = APIRouter(tags=["admin: faults"])


def _faults(request: Request) -> Faults:
    return emulator_of(request).faults


def _rule_id(text: str) -> int:
    if text.isascii() and text.isdigit() and len(text) < 19:
        return int(text)
    raise AdminError(400, f"a rule id is a number, not {text!r}")


@router.get("/faults")
async def list_faults(request: Request) -> list[dict[str, Any]]:
    """Every rule with its live counters (``matched``, ``fired``); exhausted ones stay,
    with ``active: false``, until removed."""
    return _faults(request).listing()


@router.post("/faults", status_code=201)
async def add_faults(request: Request) -> Response:
    """Body: one rule (an object) or several (a list); answers what was stored, in the
    same shape. A bad rule stores nothing (400)."""
    document = await read_json(request, empty=None)
    if document is None:
        raise AdminError(400, "body must be a rule (a JSON object) or a list of rules")
    try:
        stored = _faults(request).add(document)
    except FaultRuleError as exc:
        raise AdminError(400, str(exc)) from None
    return JSONResponse(stored if isinstance(document, list) else stored[0], status_code=201)


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, Any]:
    return {"status": "ok", "removed": _faults(request).clear()}


@router.get("/faults/{rule_id}")
async def get_fault(rule_id: str, request: Request) -> Response:
    found = _faults(request).get(_rule_id(rule_id))
    if found is None:
        raise AdminError(404, f"no fault rule {rule_id}")
    return JSONResponse(found)


@router.delete("/faults/{rule_id}")
async def remove_fault(rule_id: str, request: Request) -> Response:
    removed = _faults(request).remove(_rule_id(rule_id))
    if removed is None:
        raise AdminError(404, f"no fault rule {rule_id}")
    return JSONResponse({"status": "ok", "removed": removed})
