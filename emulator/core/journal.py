"""Request journal: a bounded ring of what clients sent and what they got, secrets redacted.

The middleware opens a :class:`RequestInfo` per request and puts it in a context
variable; routes and error handlers fill in what only they know (api, tenant, business
code, why a signature was refused and what was expected).
"""

from __future__ import annotations

import base64
import fnmatch
import functools
import itertools
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .clock import Clock
from .db import Database
from .journal_table import BodyState, JournalTable
from .logs import log_access
from .space import SpaceGuard, no_room
from .state import request_view

log = logging.getLogger("emulator")
ADMIN_PREFIX = "/_emulator"
_SECRET_WORDS = ("secret", "token", "sign", "password", "authorization", "x-app-key", "cookie", "credential")
_NOT_SECRET = {"x-amz-signedheaders", "q-header-list", "q-url-param-list", "x-amz-algorithm", "q-sign-algorithm"}


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    n = name.lower()
    return n not in _NOT_SECRET and any(word in n for word in _SECRET_WORDS)


def mask(value: str, keep: int = 4) -> str:
    """Keep a short prefix so a reader can tell two secrets apart, hide the rest."""
    if len(value) <= keep * 2:
        return "***"
    return value[:keep] + "***"


def redact_authorization(value: str) -> str:
    scheme, _, cred = value.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, _ = base64.b64decode(cred, validate=True).decode("utf-8").partition(":")
            return f"Basic {user}:***"
        except Exception:  # noqa: BLE001 - anything undecodable is simply hidden
            return "Basic ***"
    return f"{scheme} {mask(cred)}" if cred else mask(scheme)


def redact_pairs(pairs: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for k, v in pairs:
        v = mask(v) if is_secret_name(k) else v
        if k in out:
            prev = out[k]
            out[k] = [*prev, v] if isinstance(prev, list) else [prev, v]
        else:
            out[k] = v
    return out


def redact_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in raw:
        name = k.decode("latin-1").lower()
        value = v.decode("latin-1")
        if name == "authorization":
            value = redact_authorization(value)
        elif is_secret_name(name):
            value = mask(value)
        out[name] = value
    return out


BODY_HEAD = 4096  # how much of a textual request / response body an entry keeps
_TEXT_TYPES = ("json", "xml", "x-www-form-urlencoded", "javascript", "html")
_JSON_PAIR = re.compile(r'"([^"\\]{1,80})"(\s*:\s*)"([^"\\]*(?:\\.[^"\\]*)*)"')
_XML_PAIR = re.compile(r"<([A-Za-z][\w.-]{0,80})>([^<]*)</\1>")


def is_textual(content_type: str) -> bool:
    """Whether a body of this type is kept as text (the first 4 KiB) rather than as an
    upload (size + MD5): text/*, JSON, XML, form-urlencoded; anything else, multipart
    and a missing type included, counts as an upload."""
    main = content_type.split(";", 1)[0].strip().lower()
    if main.startswith("text/"):
        return True
    sub = main.partition("/")[2]
    return any(sub == t or sub.endswith("+" + t) for t in _TEXT_TYPES)


def mask_body_text(text: str, content_type: str) -> str:
    """Secret-named fields of a (possibly truncated) JSON, XML or form body masked as in
    headers and query strings; the text otherwise as sent."""
    main = content_type.split(";", 1)[0].strip().lower()
    if main == "application/x-www-form-urlencoded":
        parts = []
        for part in text.split("&"):
            name, eq, value = part.partition("=")
            parts.append(f"{name}={mask(value)}" if eq and is_secret_name(name) else part)
        return "&".join(parts)
    text = _JSON_PAIR.sub(lambda m: f'"{m[1]}"{m[2]}"{mask(m[3])}"' if is_secret_name(m[1]) else m[0], text)
    return _XML_PAIR.sub(lambda m: f"<{m[1]}>{mask(m[2])}</{m[1]}>" if is_secret_name(m[1]) else m[0], text)


class BodyTap:
    """Watches one body go by: counts it and keeps the first 4 KiB of a textual one (an
    upload is only counted; its MD5 is the content store's, computed as it streams, see
    ``RequestInfo.stored``). Nothing is decoded or masked until an entry is read."""

    __slots__ = ("_head", "_rendered", "_text", "content_type", "size", "stored")

    def __init__(self, content_type: str = "") -> None:
        self.size = 0
        self.stored: list[dict[str, Any]] = []
        self._head = bytearray()
        self._rendered: dict[str, Any] | None = None
        self.typed(content_type)

    def typed(self, content_type: str) -> None:
        """Set the body's type (before its first byte: a response's comes with its start)."""
        self.content_type = content_type
        self._text = is_textual(content_type)

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if self._text and len(self._head) < BODY_HEAD:
            self._head += chunk[: BODY_HEAD - len(self._head)]

    def state(self) -> BodyState:
        """What :meth:`restored` needs to render this body elsewhere (the shared journal)."""
        return self.size, self.content_type, self.stored, bytes(self._head)

    @classmethod
    def restored(cls, state: BodyState) -> BodyTap:
        size, content_type, stored, head = state
        tap = cls(content_type)
        tap.size, tap.stored, tap._head = size, list(stored), bytearray(head)
        return tap

    def render(self) -> dict[str, Any] | None:
        """``None`` for no body; ``{size, content_type}`` for an upload, with ``stored``
        (``[{size, md5}]``, what the content store kept of it); ``{size, content_type,
        text, truncated}`` for a textual body, secrets masked."""
        if self.size == 0:
            return None
        if self._rendered is None:
            out: dict[str, Any] = {"size": self.size, "content_type": self.content_type or None}
            if self._text:
                text = bytes(self._head).decode("utf-8", errors="replace")
                out["text"] = mask_body_text(text, self.content_type)
                out["truncated"] = self.size > len(self._head)
            if self.stored:
                out["stored"] = list(self.stored)
            self._rendered = out
        return self._rendered


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str:
    for k, v in headers:
        if k.lower() == name:
            return v.decode("latin-1")
    return ""


@dataclass
class RequestInfo:
    """What the handling code learned about a request, for its journal entry."""

    api: str | None = None
    tenant: str | None = None
    code: int | str | None = None
    reason: str | None = None
    expected: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # What the content store kept of the request's body ({size, md5} per object, the MD5
    # computed as the bytes streamed): the journal's record of an upload, at no extra cost.
    stored: list[dict[str, Any]] = field(default_factory=list)
    # Called by identify_tenant: the fault middleware's hook, which checks the tenant-bound
    # fault rules at that moment (and may raise their action).
    on_tenant: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    def identify_tenant(self, tenant: str) -> None:
        """Record the tenant the request acts for, then check the fault rules bound to a
        tenant: the fault point of those rules. May raise an injected fault's action
        (core/faults.py) out of the route that names the tenant."""
        self.tenant = tenant
        if self.on_tenant is not None:
            self.on_tenant(tenant)


current: ContextVar[RequestInfo | None] = ContextVar("emulator_request_info", default=None)


def info() -> RequestInfo:
    """The current request's info (a detached one outside a request)."""
    value = current.get()
    return value if value is not None else RequestInfo()


class Journal:
    """The newest ``size`` entries: a ring in this object, or with a ``db`` that several
    processes may open the table of core/journal_table.py (every replica's requests, ids
    unique across them)."""

    def __init__(self, clock: Clock, size: int = 1000, db: Database | None = None,
                 space: SpaceGuard | None = None) -> None:
        self.clock = clock
        self._space = space
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._table = JournalTable(db, size) if db is not None and not db.memory else None

    def record(self, entry: dict[str, Any], bodies: tuple[BodyTap, BodyTap] | None = None) -> None:
        """Keep ``entry``; ``bodies`` (request, response) are rendered only when read."""
        if self._table is not None:
            if no_room(self._space):
                return  # the disk is (nearly) full: the journal yields its room to deletes
            entry["id"] = self._table.record(
                entry, None if bodies is None else (bodies[0].state(), bodies[1].state())
            )
            return
        with self._lock:
            entry["id"] = next(self._ids)
            if bodies is not None:
                entry["_bodies"] = bodies
            self._entries.append(entry)

    def _all(self, since: int | None) -> list[dict[str, Any]]:
        if self._table is None:
            with self._lock:
                return list(self._entries)
        out = []
        for row_id, entry, bodies in self._table.rows(since):
            entry["id"] = row_id
            if bodies is not None:
                entry["_bodies"] = (BodyTap.restored(bodies[0]), BodyTap.restored(bodies[1]))
            out.append(entry)
        return out

    def query(
        self,
        api: str | None = None,
        path: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        tenant: str | None = None,
        scope: Mapping[str, Iterable[str]] | None = None,
        code: str | None = None,
        refused: bool | None = None,
        since: int | None = None,
    ) -> list[dict[str, Any]]:
        """Entries oldest first; ``scope`` ({api: [tenant identity, ...]}) keeps only the
        entries of those tenants (as several test workers sharing one emulator want).
        ``code``: the business code (as text); ``refused``: only entries the emulator
        answered with a vendor error and its reason (False: only the others); ``since``:
        only entries with an id above it (what a poller has not seen yet)."""
        entries = self._all(since)
        if since is not None:
            entries = [e for e in entries if e["id"] > since]
        if code is not None:
            entries = [e for e in entries if e.get("code") is not None and str(e["code"]) == code]
        if refused is not None:
            entries = [e for e in entries if _refused(e) == refused]
        if scope is not None:
            entries = [e for e in entries if _in_scope(scope, e)]
        if api is not None:
            entries = [e for e in entries if (e["api"] or "none") == api]
        if tenant is not None:
            entries = [e for e in entries if e.get("tenant") == tenant]
        if path is not None:
            entries = [e for e in entries if fnmatch.fnmatchcase(e["path"], path)]
        if status is not None:
            entries = [e for e in entries if _status_matches(e["status"], status)]
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return [_public(e) for e in entries]

    def clear(self, scope: Mapping[str, Iterable[str]] | None = None) -> int:
        """Forget every entry, or only the entries of ``scope``'s tenants; returns how many."""
        if self._table is not None:
            return self._table.clear(scope)
        with self._lock:
            before = len(self._entries)
            if scope is None:
                self._entries.clear()
            else:
                kept = [e for e in self._entries if not _in_scope(scope, e)]
                self._entries.clear()
                self._entries.extend(kept)
            return before - len(self._entries)

    def __len__(self) -> int:
        return len(self._entries) if self._table is None else self._table.count()


def _refused(entry: dict[str, Any]) -> bool:
    """Answered with a vendor error, whose reason the entry carries (a client that went away
    before the end has a reason too, but got no answer)."""
    return entry.get("reason") is not None and entry.get("status") is not None


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    bodies = entry.get("_bodies")
    if bodies is None:
        return entry
    out = {k: v for k, v in entry.items() if k != "_bodies"}
    out["request_body"] = bodies[0].render()
    out["response_body"] = bodies[1].render()
    return out


def _in_scope(scope: Mapping[str, Iterable[str]], entry: dict[str, Any]) -> bool:
    api, tenant = entry.get("api"), entry.get("tenant")
    return api is not None and tenant is not None and tenant in scope.get(api, ())


def _status_matches(actual: int | None, wanted: str) -> bool:
    """``404`` matches exactly; ``4xx`` matches a class."""
    if actual is None:
        return False
    wanted = wanted.lower()
    if len(wanted) == 3 and wanted.endswith("xx") and wanted[0].isdigit():
        return actual // 100 == int(wanted[0])
    return str(actual) == wanted


class _TappedReceive:
    """``receive``, feeding each piece of the request body to a tap. The fault and body
    middlewares reach uvicorn's request cycle (to close the socket on a drop or a stall)
    through ``receive.__self__``: it stays reachable through this wrapper."""

    def __init__(self, receive: Receive, tap: BodyTap) -> None:
        self._receive = receive
        self._tap = tap
        self.__self__: object = getattr(receive, "__self__", None)

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._tap.feed(message.get("body", b""))
        return message


class JournalMiddleware:
    """Pure ASGI, so request and response bodies keep streaming. The journal is the
    app's current emulator's (``scope["app"].state.emulator``), so an app can be given a
    fresh emulator without being rebuilt (the pytest plugin does that)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(ADMIN_PREFIX):
            await self._admin(scope, receive, send)
            return
        emulator = scope["app"].state.emulator
        with request_view(emulator.db):
            await self._vendor(emulator.journal, scope, receive, send)

    async def _vendor(self, journal: Journal, scope: Scope, receive: Receive, send: Send) -> None:
        """A vendor call, journaled."""
        req = RequestInfo()
        token = current.set(req)
        started = time.perf_counter()
        at = journal.clock.now()
        status: list[int] = []
        request_body = BodyTap(_header(scope.get("headers", []), b"content-type"))
        response_body = BodyTap()

        receive_wrapper = _TappedReceive(receive, request_body)
        recorded: list[bool] = []

        def finish() -> None:
            """Record the entry (once): before the response's last piece goes out, so a
            client that has its answer finds the entry, through any replica."""
            if recorded:
                return
            recorded.append(True)
            query = scope.get("query_string", b"").decode("latin-1")
            entry: dict[str, Any] = {
                "time": at,
                "api": req.api,
                "tenant": req.tenant,
                "method": scope["method"],
                "path": scope["path"],
                "query": redact_pairs(parse_qsl(query, keep_blank_values=True)),
                "headers": redact_headers(scope.get("headers", [])),
                "status": status[0] if status else None,
                "code": req.code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            }
            if req.reason is not None:
                entry["reason"] = req.reason
            if req.expected is not None:
                entry["expected"] = req.expected
            entry.update(req.extra)
            request_body.stored = list(req.stored)
            try:
                journal.record(entry, (request_body, response_body))
            except Exception as exc:  # noqa: BLE001 - bookkeeping never cuts a response
                log.warning("request journal: the entry of %s %s was not kept: %s",
                            scope["method"], scope["path"], exc)
            log_access(entry, scope.get("client"))

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                response_body.typed(_header(message.get("headers", []), b"content-type"))
            elif message["type"] == "http.response.body":
                response_body.feed(message.get("body", b""))
                if not message.get("more_body", False):
                    finish()
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        finally:
            current.reset(token)
            finish()

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Admin calls are not journaled; they get an access line all the same."""
        started = time.perf_counter()
        status: list[int] = []

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            log_access({
                "method": scope["method"], "path": scope["path"],
                "query": redact_pairs(parse_qsl(query, keep_blank_values=True)),
                "status": status[0] if status else None,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            }, scope.get("client"))
