"""Injected faults: rules that make matching vendor requests answer an HTTP status or one
of the API's own business errors, wait, drop the connection, or cut an upload short.

A rule matches ``api`` / ``method`` / a ``path`` glob and optionally a ``tenant``; its
schedule lets the first ``skip`` matches through, then acts on the next ``times`` (or on
every match while ``times`` is null). Rules without a tenant are checked as the request
enters its vendor route (the :func:`~emulator.core.routing.vendor_router` wrapper, the first
code any vendor route runs, is where the request's API is known; requests no vendor route
takes are never faulted); rules with a tenant once the API has identified the tenant
(``journal.info().tenant = ...`` calls the hook :class:`FaultMiddleware` installs). Within
each stage rules are checked in creation order: every firing rule adds its latency, the
first one with an action decides, and the rules after it do not see the request.

How each action reaches the client:
- ``status`` / ``error``: raised to the route wrapper, which answers it (an error in the
  envelope of the table its code belongs to).
- ``drop``: the middleware closes the connection before answering. On uvicorn it aborts
  the transport (found on the ``receive`` callable, a bound method of uvicorn's request
  cycle); in process (Starlette TestClient, ``httpx.ASGITransport``) there is no socket,
  so :class:`ConnectionDropped`, an ``httpx.RemoteProtocolError``, is raised out of the app.
- ``cut_after``: the app receives that many body bytes, then ``http.disconnect``; the
  connection is dropped as above. The app never sees the body's end, so it stores nothing.
- ``latency_ms``: slept before the response starts (or before the drop / cut).
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import json
import math
import threading
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from . import journal
from .errors import ErrorCode, VendorError
from .statuses import allow_statuses

if TYPE_CHECKING:
    from .contract import ApiSpec, ErrorFamily, Renderer

ACTIONS = ("status", "error", "drop", "cut")
FIELDS = (
    "api", "method", "path", "tenant", "skip", "times",
    "status", "body", "error", "message", "drop", "cut_after", "latency_ms",
)
DEFAULT_BODY = b'{"error": "injected fault"}'
NO_BODY_STATUSES = (204, 304)


class FaultRuleError(ValueError):
    """A rule the admin API refuses (answered 400 with this message)."""


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


# -- rules -------------------------------------------------------------------------------


@dataclass
class Rule:
    id: int
    api: str | None
    method: str | None
    path: str
    tenant: str | None
    skip: int
    times: int | None
    action: str | None  # one of ACTIONS, or None (latency only)
    status: int | None = None
    body: str | None = None
    error: int | str | None = None  # as given; ``code`` is what it resolved to
    message: str | None = None
    cut_after: int | None = None
    latency_ms: float | None = None
    code: ErrorCode | None = None
    family: ErrorFamily | None = None
    matched: int = 0
    fired: int = 0

    @property
    def active(self) -> bool:
        return self.times is None or self.fired < self.times

    def matches(self, api: str, method: str, path: str, tenant: str | None) -> bool:
        return (
            (self.api is None or self.api == api)
            and (self.method is None or self.method == method)
            and (self.tenant is None or self.tenant == tenant)
            and fnmatch.fnmatchcase(path, self.path)
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "api": self.api,
            "method": self.method,
            "path": self.path,
            "tenant": self.tenant,
            "skip": self.skip,
            "times": self.times,
            "action": self.action or "latency",
        }
        if self.action == "status":
            out["status"] = self.status
            if self.body is not None:
                out["body"] = self.body
        elif self.action == "error":
            out["error"] = self.error
            if self.message is not None:
                out["message"] = self.message
        elif self.action == "drop":
            out["drop"] = True
        elif self.action == "cut":
            out["cut_after"] = self.cut_after
        if self.latency_ms is not None:
            out["latency_ms"] = self.latency_ms
        out.update(matched=self.matched, fired=self.fired, active=self.active)
        return out

    def response(self) -> Response:
        """What a firing ``status`` rule answers."""
        if self.status in NO_BODY_STATUSES:
            return Response(status_code=self.status)
        if self.body is None:
            return Response(DEFAULT_BODY, status_code=self.status, media_type="application/json")
        try:
            json.loads(self.body)
            media_type = "application/json"
        except ValueError:
            media_type = "text/plain; charset=utf-8"
        return Response(self.body.encode("utf-8"), status_code=self.status, media_type=media_type)


def _integer(doc: Mapping[str, Any], name: str, minimum: int) -> int | None:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FaultRuleError(f"{name} must be an integer >= {minimum}, not {json.dumps(value)}")
    return value


def _string(doc: Mapping[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise FaultRuleError(f"{name} must be a non-empty string, not {json.dumps(value)}")
    return value


class Faults:
    """The rules of one emulator, with their live counters. Thread-safe."""

    def __init__(self, apis: Mapping[str, ApiSpec]) -> None:
        self.apis = apis
        self.rules: list[Rule] = []  # replaced, never mutated: readers iterate without the lock
        self._lock = threading.Lock()
        self._next_id = 1

    # -- admin -------------------------------------------------------------------------
    def add(self, document: Any) -> list[dict[str, Any]]:
        """Store one rule (a dict) or several (a list), all or none. Raises FaultRuleError."""
        docs = document if isinstance(document, list) else [document]
        if not docs:
            raise FaultRuleError("the list holds no rule")
        parsed = []
        for n, doc in enumerate(docs):
            try:
                parsed.append(self._parse(doc))
            except FaultRuleError as exc:
                raise FaultRuleError(f"rule {n + 1}: {exc}" if len(docs) > 1 else str(exc)) from None
        with self._lock:
            rules = []
            for fields in parsed:
                rules.append(Rule(id=self._next_id, **fields))
                self._next_id += 1
            self.rules = [*self.rules, *rules]
            return [r.as_dict() for r in rules]

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.as_dict() for r in self.rules]

    def get(self, rule_id: int) -> dict[str, Any] | None:
        with self._lock:
            return next((r.as_dict() for r in self.rules if r.id == rule_id), None)

    def remove(self, rule_id: int) -> dict[str, Any] | None:
        """Remove one rule; answers it as it was, or None when there is no such rule."""
        with self._lock:
            found = next((r for r in self.rules if r.id == rule_id), None)
            if found is None:
                return None
            self.rules = [r for r in self.rules if r is not found]
            return found.as_dict()

    def clear(self, scope: Mapping[str, Any] | None = None) -> int:
        """Remove every rule, or with ``scope`` (``{api: [identity, ...]}``) only the rules
        bound to one of those tenants: a rule with ``api`` set must name one of that API's
        identities, a rule for any API one of any API's. Answers how many were removed."""
        with self._lock:
            before = len(self.rules)
            if scope is None:
                self.rules = []
            else:
                owned = {api: {str(t) for t in tenants} for api, tenants in scope.items()}
                everyone = set().union(*owned.values()) if owned else set()

                def in_scope(rule: Rule) -> bool:
                    if rule.tenant is None:
                        return False
                    if rule.api is None:
                        return rule.tenant in everyone
                    return rule.tenant in owned.get(rule.api, ())

                self.rules = [r for r in self.rules if not in_scope(r)]
            return before - len(self.rules)

    def _parse(self, doc: Any) -> dict[str, Any]:
        if not isinstance(doc, dict):
            raise FaultRuleError("a rule must be a JSON object")
        unknown = sorted(set(doc) - set(FIELDS))
        if unknown:
            raise FaultRuleError(f"unknown field(s): {', '.join(unknown)} (a rule takes {', '.join(FIELDS)})")
        api = _string(doc, "api")
        if api is not None and api not in self.apis:
            raise FaultRuleError(f"unknown api {api!r} (one of {', '.join(self.apis)})")
        method = _string(doc, "method")
        if method is not None:
            if not method.isascii() or not method.isalpha():
                raise FaultRuleError(f"method must be an HTTP method name, not {method!r}")
            method = method.upper()
        path = _string(doc, "path") or "*"
        if not path.startswith(("/", "*", "?", "[")):
            raise FaultRuleError(f"path is a glob on the request path and starts with '/', not {path!r}")
        tenant = _string(doc, "tenant")
        skip = _integer(doc, "skip", 0) or 0
        # Without `times` a rule stays until it is removed (as WireMock and Toxiproxy rules do).
        times = _integer(doc, "times", 1)

        status = doc.get("status")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
            raise FaultRuleError(f"status must be an HTTP status code (an integer), not {json.dumps(status)}")
        body = doc.get("body")
        error = doc.get("error")
        message = doc.get("message")
        drop = doc.get("drop")
        cut_after = _integer(doc, "cut_after", 0)
        latency = doc.get("latency_ms")

        if drop is not None and not isinstance(drop, bool):
            raise FaultRuleError(f"drop must be true, not {json.dumps(drop)}")
        given = [
            name
            for name, present in (
                ("status", status is not None),
                ("error", error is not None),
                ("drop", drop is True),
                ("cut_after", cut_after is not None),
            )
            if present
        ]
        if len(given) > 1:
            raise FaultRuleError(f"a rule takes one action, not {' and '.join(given)}")
        if latency is not None:
            if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not math.isfinite(latency):
                raise FaultRuleError(f"latency_ms must be a number of milliseconds, not {json.dumps(latency)}")
            if latency < 0:
                raise FaultRuleError(f"latency_ms must be >= 0, not {latency}")
        if not given and latency is None:
            raise FaultRuleError("a rule needs an action (status, error, drop or cut_after) or latency_ms")

        out: dict[str, Any] = dict(
            api=api, method=method, path=path, tenant=tenant, skip=skip, times=times,
            action=None, latency_ms=latency,
        )
        if body is not None and status is None:
            raise FaultRuleError("body goes with status")
        if message is not None and error is None:
            raise FaultRuleError("message goes with error")
        if status is not None:
            if not 200 <= status <= 999:
                raise FaultRuleError(
                    f"status must be a final HTTP status, 200 to 999 (1xx are not final answers), not {status}"
                )
            if body is not None and not isinstance(body, str):
                raise FaultRuleError(f"body must be a string, not {json.dumps(body)}")
            if body and status in NO_BODY_STATUSES:
                raise FaultRuleError(f"an HTTP {status} answer carries no body")
            if status >= 600:
                allow_statuses([status])
            out.update(action="status", status=status, body=body)
        elif error is not None:
            out.update(action="error", **self._error(api, error, message))
        elif drop:
            out.update(action="drop")
        elif cut_after is not None:
            out.update(action="cut", cut_after=cut_after)
        return out

    def _error(self, api: str | None, error: Any, message: Any) -> dict[str, Any]:
        if api is None:
            raise FaultRuleError("error needs api: a business code belongs to one API's error table")
        if isinstance(error, bool) or not isinstance(error, (int, str)) or error == "":
            raise FaultRuleError(f"error must be a business code (a number or a string), not {json.dumps(error)}")
        if message is not None and (not isinstance(message, str) or not message):
            raise FaultRuleError(f"message must be a non-empty string, not {json.dumps(message)}")
        spec = self.apis[api]
        for family in spec.errors:
            code = family.table.by_code(error)
            if code is not None:
                if message is not None:
                    code = dataclasses.replace(code, message=message)
                return {"error": code.code, "message": message, "code": code, "family": family}
        known = sorted({str(e.code) for family in spec.errors for e in family.table.all()})
        raise FaultRuleError(f"{api} has no business code {error!r} (its codes: {', '.join(known) or 'none'})")

    # -- matching ----------------------------------------------------------------------
    def _evaluate(self, state: _RequestFaults, tenant: str | None) -> Rule | None:
        """Count the request on every rule of this stage that matches it; answer the first
        firing rule with an action (the rules after it do not see the request)."""
        with self._lock:
            for rule in self.rules:
                if rule.id in state.seen or (rule.tenant is None) != (tenant is None):
                    continue
                if not rule.matches(state.api, state.method, state.path, tenant):
                    continue
                state.seen.add(rule.id)
                rule.matched += 1
                if rule.matched > rule.skip and rule.active:
                    rule.fired += 1
                    state.fired.append(rule)
                    if rule.latency_ms:
                        state.latency += rule.latency_ms / 1000
                    if rule.action is not None:
                        return rule
        return None


# -- per request -----------------------------------------------------------------------

_current: ContextVar[_RequestFaults | None] = ContextVar("emulator_request_faults", default=None)


def pending() -> _RequestFaults | None:
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


class _RequestFaults:
    def __init__(self, faults: Faults, scope: dict, receive: Any, send: Any) -> None:
        self.faults = faults
        self.api: str | None = None  # known once a vendor route takes the request
        self.method = scope["method"].upper()
        self.path = scope["path"]
        self.info = journal.info()
        self._receive = receive
        self._send = send
        cycle = getattr(receive, "__self__", None)
        transport = getattr(cycle, "transport", None)
        self.cycle = cycle if transport is not None and hasattr(transport, "abort") else None
        self.content_length: int | None = None
        self.tail = 1  # how many bytes at the body's end a cut never lets through
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    self.content_length = int(value)
                except ValueError:
                    pass
            elif name == b"content-type":
                self.tail = _end_marker_length(value)
        self.seen: set[int] = set()
        self.fired: list[Rule] = []
        self.latency = 0.0
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
        if not self.fired:
            return
        lead = next((r for r in self.fired if r.action is not None), self.fired[0])
        entry: dict[str, Any] = {"id": lead.id, "action": lead.action or "latency"}
        if lead.action == "status":
            entry["status"] = lead.status
        elif lead.action == "error" and lead.code is not None:
            entry["code"] = lead.code.code
        elif lead.action == "cut":
            entry["cut_after"] = lead.cut_after
        if self.latency:
            entry["latency_ms"] = round(self.latency * 1000, 3)
        if len(self.fired) > 1:
            entry["rules"] = [r.id for r in self.fired]
        self.info.extra["fault"] = entry

    async def enter(self, api: str, request: Request) -> None:
        """The request enters a route of ``api``: check the rules without a tenant. A
        status, error or drop happens here, before the route runs (an error after what the
        API does first for every request, e.g. minting the request id its envelope carries)."""
        if self.api is not None:
            return
        self.api = api
        self.info.api = api
        rule = self.faults._evaluate(self, None)
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
        if self.api is None or self.decided is not None or self.gone:
            return
        rule = self.faults._evaluate(self, tenant)
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
    async def receive(self) -> dict:
        if self.gone:
            await self._cut_now()
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] != "http.request":
            if message["type"] == "http.disconnect":
                self.body_done = True
            return message
        body = message.get("body", b"")
        more = message.get("more_body", False)
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

    async def send(self, message: dict) -> None:
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
        if self.latency and not self.slept:
            self.slept = True
            await asyncio.sleep(self.latency)

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

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith(journal.ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        faults: Faults | None = getattr(scope["app"].state.emulator, "faults", None)
        if faults is None or not faults.rules:
            await self.app(scope, receive, send)
            return
        state = _RequestFaults(faults, scope, receive, send)
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
