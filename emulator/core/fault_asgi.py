"""Where fault rules act on a request: :class:`FaultMiddleware` (pure ASGI) gives each
request a :class:`RequestFaults` that wraps the app's ``receive`` and ``send``; the vendor
route wrapper asks it (:func:`pending`) to check the rules as the request enters an API,
and the journal's :meth:`~emulator.core.journal.RequestInfo.identify_tenant` calls its
``on_tenant`` hook once the API knows the tenant. The overview: core/faults.py."""

from __future__ import annotations

import asyncio
import contextlib
from contextvars import ContextVar
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import journal
from .contract import Renderer
from .errors import ErrorCode, VendorError
from .fault_registry import Faults, Tally
from .fault_rules import Rule


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised out of the app, in process, where a real server would have dropped the
    connection; a client catching ``httpx.TransportError`` sees it as a real drop."""

    def __init__(self, message: str = "connection dropped by an injected fault") -> None:
        super().__init__(message)


class InjectedStatus(Exception):
    """A firing ``status`` rule, raised out of the route code to the route wrapper."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"injected HTTP {response.status_code}")
        self.response = response


class InjectedError(VendorError):
    """A firing ``error`` rule: a business error of the API, answered by ``render`` (the
    envelope of the table the code belongs to, which may differ from the route's own)."""

    def __init__(self, spec: ErrorCode, render: Renderer, rule_id: int) -> None:
        super().__init__(spec, None, {"reason": f"injected by fault rule {rule_id}"})
        self.render = render


# -- the current request ---------------------------------------------------------------

_current: ContextVar[RequestFaults | None] = ContextVar("emulator_request_faults", default=None)


def pending() -> RequestFaults | None:
    """The fault state of the current request (None when no rule exists)."""
    return _current.get()


def connection_gone() -> bool:
    """Whether a fault dropped or cut the current request's connection: whatever the app
    raises after that (ClientDisconnect, ...) goes to the middleware, unlogged."""
    state = _current.get()
    return state is not None and state.gone


async def drain() -> None:
    """Read what the client is still sending of the current request's body, before a
    faulted answer (so the client, still sending, receives it)."""
    state = _current.get()
    if state is not None:
        await state.drain()


class RequestFaults:
    """One request's encounter with the rules: its :class:`Tally`, the rule that decided,
    and the state of a drop or cut (how many body bytes the app may still receive)."""

    def __init__(self, faults: Faults, scope: Scope, receive: Receive, send: Send) -> None:
        self.faults = faults
        self.tally = Tally(method=scope["method"].upper(), path=scope["path"])
        self.info = journal.info()
        self._receive = receive
        self._send = send
        cycle = getattr(receive, "__self__", None)
        transport = getattr(cycle, "transport", None)
        self.cycle: Any = cycle if transport is not None and hasattr(transport, "abort") else None
        self.content_length: int | None = None
        self.tail = 1  # how many bytes at the body's end a cut never lets through
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                with contextlib.suppress(ValueError):
                    self.content_length = int(value)
            elif name == b"content-type":
                self.tail = _end_marker_length(value)
        self.slept = False
        self.decided: Rule | None = None  # the rule whose action decided
        self.received = 0
        self.body_done = False
        self.cut_limit: int | None = None  # body bytes the app may receive before the cut
        self.dropped = False
        self.cut = False
        self.aborted = False

    @property
    def gone(self) -> bool:
        return self.dropped or self.cut

    def note(self) -> None:
        """The journal entry's ``fault``: the rule that decided (or the first that fired)."""
        fired = self.tally.fired
        if not fired:
            return
        lead = next((r for r in fired if r.action is not None), fired[0])
        entry: dict[str, Any] = {"id": lead.id, "action": lead.action or "latency"}
        if lead.action == "status":
            entry["status"] = lead.status
        elif lead.action == "error" and lead.code is not None:
            entry["code"] = lead.code.code
        elif lead.action == "cut":
            entry["cut_after"] = lead.cut_after
        if self.tally.latency:
            entry["latency_ms"] = round(self.tally.latency * 1000, 3)
        if len(fired) > 1:
            entry["rules"] = [r.id for r in fired]
        self.info.extra["fault"] = entry

    async def enter(self, api: str, request: Request) -> None:
        """The request enters a route of ``api``: check the rules without a tenant. A
        status, error or drop happens here, before the route runs (an error after what the
        API does first for every request, e.g. minting the request id its envelope carries)."""
        if self.tally.api is not None:
            return
        self.tally.api = api
        self.info.api = api
        rule = self.faults.evaluate(self.tally, None)
        self.note()
        if rule is None:
            return
        self.decided = rule
        if rule.action == "cut":
            self._start_cut(rule)
            return
        if rule.action == "error" and rule.family is not None and rule.family.prepare is not None:
            rule.family.prepare(request)
        if rule.action != "drop":
            await self.drain()
        self.act(rule)

    def on_tenant(self, tenant: str) -> None:
        """The API identified the tenant: check the tenant-bound rules (a rule counts a
        request once even if the route names the tenant twice)."""
        if self.tally.api is None or self.decided is not None or self.gone:
            return
        rule = self.faults.evaluate(self.tally, tenant)
        self.note()
        if rule is not None:
            self.decided = rule
            self.act(rule)

    def act(self, rule: Rule) -> None:
        """Raise what a firing rule does, from inside the route code."""
        if rule.action == "status":
            raise InjectedStatus(rule.response())
        if rule.action == "error":
            assert rule.code is not None and rule.family is not None
            raise InjectedError(rule.code, rule.family.render, rule.id)
        if rule.action == "drop":
            self.dropped = True
            raise ConnectionDropped()
        if rule.action == "cut":
            self._start_cut(rule)
            if self.body_done:  # the route already read the whole body: nothing left to cut
                self.cut = True
                raise ConnectionDropped("connection cut by an injected fault")

    def _start_cut(self, rule: Rule) -> None:
        assert rule.cut_after is not None
        allowed = rule.cut_after
        if self.content_length is not None:  # never let the body's end through
            allowed = min(allowed, self.content_length - self.received - self.tail)
        self.cut_limit = self.received + max(allowed, 0)

    # -- the app's receive and send ------------------------------------------------------
    async def receive(self) -> Message:
        if self.gone:
            await self._cut_now()
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] != "http.request":
            if message["type"] == "http.disconnect":
                self.body_done = True
            return message
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if self.cut_limit is not None:
            room = self.cut_limit - self.received
            if len(body) > room or not more:
                # The cut point is in this chunk, or the body ends before it: the app gets
                # the bytes up to the cut (never the body's end) and then a disconnect.
                body = body[:room] if len(body) > room else body[: max(len(body) - self.tail, 0)]
                self.cut = True
                more = True
                if not body:
                    await self._cut_now()
                    return {"type": "http.disconnect"}
            self.received += len(body)
            return {"type": "http.request", "body": body, "more_body": more}
        self.received += len(body)
        if not more:
            self.body_done = True
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and not self.gone and self.cut_limit is not None:
            self.cut = True  # the app answers before the cut point: the answer is lost all the same
        if self.gone:
            return  # the connection is gone: nothing reaches the client
        if message["type"] == "http.response.start":
            await self._sleep()
        await self._send(message)

    async def drain(self) -> None:
        while not self.body_done and not self.gone:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return

    async def _sleep(self) -> None:
        if self.tally.latency and not self.slept:
            self.slept = True
            await asyncio.sleep(self.tally.latency)

    async def _cut_now(self) -> None:
        """Wait out the latency, then close the socket (on a live server)."""
        await self._sleep()
        if self.cycle is None or self.aborted:
            return
        self.aborted = True
        self.cycle.transport.abort()
        # uvicorn marks the cycle disconnected in connection_lost, called soon after the
        # abort: after that it neither answers 500 nor logs a response never started.
        for _ in range(100):
            if getattr(self.cycle, "disconnected", True):
                break
            await asyncio.sleep(0)

    async def finish(self) -> None:
        """After the app: a dropped or cut connection is closed (on a live server) or
        raised to the in-process client as :class:`ConnectionDropped`."""
        if not self.gone:
            return
        await self._cut_now()
        if self.cycle is None:
            raise ConnectionDropped(
                "connection cut by an injected fault" if self.cut else "connection dropped by an injected fault"
            )


def _end_marker_length(content_type: bytes) -> int:
    """What marks a body's end: a multipart body's closing boundary (a reader may finish
    on it, before the stream ends), else its last byte."""
    kind, _, params = content_type.decode("latin-1").partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return 1
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return len(value.strip().strip('"')) + 8  # CRLF "--" boundary "--" CRLF
    return 1


# -- middleware ------------------------------------------------------------------------


class FaultMiddleware:
    """Pure ASGI, inside the journal middleware (so faulted requests are journaled) and
    outside everything that would replace uvicorn's ``receive``. Does nothing but one
    check while no rule exists; admin paths are never faulted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(journal.ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        faults: Faults | None = getattr(scope["app"].state.emulator, "faults", None)
        if faults is None or not faults.rules:
            await self.app(scope, receive, send)
            return
        state = RequestFaults(faults, scope, receive, send)
        token = _current.set(state)
        state.info.on_tenant = state.on_tenant
        try:
            await self.app(scope, state.receive, state.send)
        except Exception:
            if not state.gone:
                raise
            # What the app raised once the connection was gone (ClientDisconnect, the
            # drop itself) is no error: the client was never going to get an answer.
        finally:
            state.info.on_tenant = None
            _current.reset(token)
        await state.finish()
