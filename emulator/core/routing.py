"""The router an API's routes are made on (:func:`vendor_router`): every route gets the
vendor's error envelope and a journal entry tagged with the API's name, and injected
faults act before it runs. What an API registers is core/contract.py."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from . import faults, journal
from .bodies import drain
from .contract import Renderer
from .errors import ErrorCode, VendorError
from .space import StoreFull, as_store_full, is_disk_full

log = logging.getLogger("emulator")


class NoAnswer(Response):
    """What a route answers to a client that is gone: nothing at all."""

    def __init__(self) -> None:
        super().__init__(status_code=499)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        return None


def vendor_router(
    api: str,
    render: Renderer | None = None,
    internal: ErrorCode | None = None,
    invalid: ErrorCode | None = None,
    full: ErrorCode | None = None,
) -> APIRouter:
    """An APIRouter whose routes tag the journal with ``api`` and turn every failure into
    the vendor's envelope: a :class:`VendorError` as raised, request validation into
    ``invalid``, a full store (core/space.py) into ``full`` (default ``internal``; the
    journal's reason says the store is full, one log line), anything unexpected into
    ``internal`` (logged)."""

    class VendorRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Any]:
            handler = super().get_route_handler()

            async def wrapped(request: Request) -> Response:
                info = journal.info()
                info.api = api
                try:
                    state = faults.pending()
                    if state is not None:  # fault rules exist: they may act before the route runs
                        await state.enter(api, request)
                    if invalid is not None and render is not None and _nul_in_url(request):
                        await drain()  # a client still sending gets the answer
                        return _render(invalid("a NUL character (%00) in the URL", reason="NUL in the path or query"),
                                       info)
                    return await handler(request)
                except faults.InjectedStatus as injected:
                    await faults.drain()
                    return injected.response
                except faults.InjectedError as err:
                    await faults.drain()
                    return _render(err, info, err.render)
                except VendorError as err:
                    return _render(err, info)
                except RequestValidationError as exc:
                    if render is None or invalid is None:
                        raise
                    return _render(invalid(_validation_text(exc)), info)
                except ClientDisconnect:
                    if faults.connection_gone():
                        raise
                    # The client went away before the request's end: no error of the
                    # emulator's (nothing logged), and no answer (the journal's status: null).
                    info.reason = "the client closed the connection before the request's end"
                    return NoAnswer()
                except Exception as exc:
                    if render is None or internal is None or faults.connection_gone():
                        raise
                    if is_disk_full(exc):
                        return await _store_full(exc, request, info)
                    if invalid is not None and nul_refused(exc):
                        return _render(invalid("a NUL character in a parameter", reason=str(exc).splitlines()[0]), info)
                    log.exception("unexpected error in %s %s", request.method, request.url.path)
                    return _render(internal(), info)

            return wrapped

    async def _store_full(exc: Exception, request: Request, info: journal.RequestInfo) -> Response:
        refusal = as_store_full(exc)
        request.app.state.emulator.space.note_full(refusal.reason, disk=not isinstance(exc, StoreFull))  # one log line
        await drain()  # a client still sending gets the answer
        spec = full or internal
        assert spec is not None
        return _render(spec("the emulator's store is full: delete objects to make room", reason=refusal.reason), info)

    VendorRoute.api = api  # type: ignore[attr-defined]  # which API a route serves, for introspection

    def _render(err: VendorError, info: journal.RequestInfo, renderer: Renderer | None = None) -> Response:
        info.code = err.spec.code
        if "reason" in err.extra:
            info.reason = err.extra["reason"]
        elif info.reason is None:
            info.reason = err.message
        if "expected" in err.extra:
            info.expected = err.extra["expected"]
        if renderer is not None:
            return renderer(err)
        if render is None:
            raise err
        return render(err)

    return APIRouter(route_class=VendorRoute)


def _nul_in_url(request: Request) -> bool:
    """A NUL in the path (decoded) or the query string (``%00``): no vendor id or name holds
    one, and PostgreSQL text cannot (both backends answer it alike)."""
    return "\x00" in request.scope.get("path", "") or b"%00" in request.scope.get("query_string", b"")


def nul_refused(exc: BaseException) -> bool:
    """``exc`` is PostgreSQL's driver refusing a text parameter with a NUL character in it
    (psycopg's ``DataError``, perhaps wrapped by SQLAlchemy): bad input, not an internal error."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if type(seen).__name__ == "DataError" and "cannot contain NUL" in str(seen):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def _validation_text(exc: RequestValidationError) -> str:
    errs = exc.errors()
    if not errs:
        return "invalid request"
    e = errs[0]
    loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path"))
    return f"{loc}: {e.get('msg', 'invalid')}" if loc else str(e.get("msg", "invalid"))
