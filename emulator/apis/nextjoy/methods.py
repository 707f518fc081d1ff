"""Wrong HTTP methods on this API's paths: answered in the envelope of the router the path
belongs to (NextJoy's 18007 on HTTP 200, the Qiniu hosts' 405 ``{"error"}``), never
FastAPI's 405 ``{"detail"}``, which no client of either reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from ...core.errors import VendorError
from ...core.multipart import drain_body

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

Refusal = Callable[[Request, set[str]], VendorError]


def refuse_other_methods(router: APIRouter, refusal: Refusal) -> None:
    """Give every path of ``router`` a route for the methods its own routes do not take.
    Starlette tries a route whose method matches before one whose path alone does, so these
    only ever see the other methods. Call once every real route is on ``router``."""
    allowed: dict[str, set[str]] = {}
    for route in router.routes:
        allowed.setdefault(route.path, set()).update(getattr(route, "methods", None) or ())
    for path, methods in allowed.items():
        others = [m for m in METHODS if m not in methods]
        if others:
            router.add_api_route(path, _handler(refusal, methods), methods=others, include_in_schema=False)


def _handler(refusal: Refusal, allowed: set[str]) -> Callable[[Request], Awaitable[Response]]:
    async def wrong_method(request: Request) -> Any:
        err = refusal(request, allowed)
        await drain_body(request.stream())
        raise err

    return wrong_method
