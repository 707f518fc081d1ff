"""Wrong HTTP methods on a vendor's documented paths: answered in that vendor's own error
shape, never FastAPI's ``405 {"detail": "Method Not Allowed"}`` that no client of the API
can read.

Starlette takes the first route whose path *and* method match, and only falls back to a
route whose path alone matches when none does. Catch-all routes added after the real ones,
for the methods the real routes of a path do not take, therefore see exactly the requests
that would have been a bare 405.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from .errors import ErrorCode
from .multipart import drain_body

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

# The shape of a route's path with its parameter names dropped: /v3/files/{file_type} and
# /v3/files/{file_id} are one path to a client.
_PARAM = re.compile(r"\{([^}:]+)(:[^}]*)?\}")

Refusal = Callable[[Request, str], Awaitable[Any]]


def _shape(path: str) -> str:
    return _PARAM.sub(lambda m: "{" + (m.group(2) or "") + "}", path)


def allowed_by_path(routes: list[Any]) -> dict[str, set[str]]:
    """Route path → every method some route of the same shape takes."""
    by_shape: dict[str, set[str]] = {}
    for route in routes:
        by_shape.setdefault(_shape(route.path), set()).update(getattr(route, "methods", None) or ())
    return {route.path: by_shape[_shape(route.path)] for route in routes if getattr(route, "methods", None)}


def refuse_other_methods(router: APIRouter, refuse: Refusal) -> None:
    """Add, for every path of ``router``, a route taking the methods no real route takes.
    It reads and drops the body (so the client receives the answer), then awaits
    ``refuse(request, allowed)``, which raises the API's own error (``allowed`` is e.g.
    ``"GET/POST"``)."""
    for path, allowed in allowed_by_path(list(router.routes)).items():
        others = [m for m in METHODS if m not in allowed]
        if others:
            router.add_api_route(path, _wrong_method(refuse, "/".join(sorted(allowed))), methods=others,
                                 include_in_schema=False)


def _wrong_method(refuse: Refusal, want: str) -> Callable[[Request], Awaitable[Response]]:
    async def wrong_method(request: Request) -> Response:
        await drain_body(request.stream())
        await refuse(request, want)
        raise AssertionError("refuse() must raise the API's error")  # pragma: no cover

    return wrong_method


def refuse_with(error: ErrorCode) -> Refusal:
    """A refusal raising ``error`` with an ``Allow`` header and the journal's reason, for APIs
    whose error shape carries the method in its message (JPush, Antelope)."""

    async def refuse(request: Request, allowed: str) -> None:
        raise error(
            f"请求方法{request.method}不支持,应为{allowed}",
            headers={"Allow": allowed.replace("/", ", ")},
            reason=f"method {request.method} not allowed (expects {allowed})",
        )

    return refuse
