"""What keeps a web page from driving the admin API (``/_emulator``) through the developer's
browser, and how admin calls fail without tracebacks.

:class:`AdminGuardMiddleware` (pure ASGI) checks every admin request before any route runs:

1. ``Host`` (DNS rebinding): only names the emulator is served as: loopback names
   (``localhost``, ``*.localhost``, ``127.0.0.0/8``, ``::1``), the names in-process test
   clients use (``testserver``, ``*.test``: neither can be a public DNS name), the host of
   ``--public-url``, and ``--admin-allowed-hosts`` (``*``: any). Else 403.
2. ``--admin-token``: when set, ``Authorization: Bearer <token>``. Else 401.
3. A state-changing call (anything but GET/HEAD/OPTIONS) with an ``Origin`` other than the
   request's own scheme + Host (or the public URL's origin) is cross-site: 403. A POST,
   DELETE or PATCH that carries a body must say ``Content-Type: application/json`` (what
   a cross-site form or ``fetch`` without a CORS preflight cannot send): else 403. A
   bodiless POST (``curl -X POST .../reset``) is fine, and PUT (raw bytes: preload, probe,
   snapshot files) needs a CORS preflight in any browser, which the emulator never grants.

``GET /_emulator/health`` stays open to every Host and without the token (health checks).
The vendor APIs are not guarded: clients reach them by many names.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.requests import ClientDisconnect

from ..core.journal import ADMIN_PREFIX
from ..core.routing import NoAnswer
from ..core.space import StoreFull, as_store_full, is_disk_full
from .errors import AdminError, answer, error_response

log = logging.getLogger("emulator")

HEALTH = ADMIN_PREFIX + "/health"
# The dashboard's own files: the page a browser opens cannot send a bearer token, so they are
# served without it (they hold no state); every call the page then makes needs the token, and
# on a 401 the page asks for it. The Host check still applies.
DASHBOARD_SHELL = frozenset({ADMIN_PREFIX, ADMIN_PREFIX + "/", ADMIN_PREFIX + "/dashboard.js",
                             ADMIN_PREFIX + "/dashboard.css"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split_host(value: str) -> tuple[str, int | None] | None:
    """``Host`` header -> (lowercase name, port); None when unparsable."""
    try:
        parts = urlsplit(f"//{value}")
        return (parts.hostname or "").rstrip("."), parts.port
    except ValueError:
        return None


def is_loopback_name(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_allowed(name: str, settings: Any) -> bool:
    if is_loopback_name(name) or name == "testserver" or name.endswith(".test"):
        return True
    allowed = settings.admin_allowed_hosts
    if "*" in allowed or name in allowed:
        return True
    if settings.public_url:
        public = (urlsplit(settings.public_url).hostname or "").rstrip(".").lower()
        if name == public:
            return True
    return False


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int | None]:
    return scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme)


def _same_origin(origin: str, scope: dict[str, Any], host: tuple[str, int | None], settings: Any) -> bool:
    try:
        o = urlsplit(origin)
        wanted = _origin(o.scheme.lower(), (o.hostname or "").rstrip("."), o.port)
    except ValueError:
        return False
    own = _origin(scope.get("scheme", "http"), host[0], host[1])
    if wanted == own:
        return True
    if settings.public_url:
        p = urlsplit(settings.public_url)
        if wanted == _origin(p.scheme.lower(), (p.hostname or "").rstrip(".").lower(), p.port):
            return True
    return False


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def _refuse(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return error_response(status, message, headers)


def check(scope: dict[str, Any]) -> JSONResponse | None:
    """The refusal of an admin request, or None when it may go on."""
    path, method = scope["path"], scope["method"].upper()
    if path == HEALTH or path == HEALTH + "/":
        return None
    settings = scope["app"].state.emulator.settings
    headers: dict[str, str] = {}
    for k, v in scope.get("headers", ()):
        headers.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))
    raw_host = headers.get("host")
    host: tuple[str, int | None] | None = None
    if raw_host is not None:
        host = _split_host(raw_host)
        if host is None or not host_allowed(host[0], settings):
            return _refuse(
                403,
                f"the admin API does not answer to Host {raw_host!r}: add the name with "
                "--admin-allowed-hosts / EMULATOR_ADMIN_ALLOWED_HOSTS",
            )
    token = settings.admin_token
    if token and not (method in ("GET", "HEAD") and path in DASHBOARD_SHELL):
        given = headers.get("authorization", "")
        scheme, _, cred = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(cred.strip().encode(), token.encode()):
            return _refuse(
                401,
                "the admin API needs Authorization: Bearer <token> (--admin-token / EMULATOR_ADMIN_TOKEN)",
                {"WWW-Authenticate": 'Bearer realm="storage-emulator admin"'},
            )
    if method in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None and (host is None or not _same_origin(origin, scope, host, settings)):
        return _refuse(403, f"cross-site admin call refused (Origin {origin!r})")
    if method != "PUT":
        has_body = "transfer-encoding" in headers or headers.get("content-length", "0").strip() not in ("", "0")
        if has_body and not _is_json(headers.get("content-type", "")):
            return _refuse(
                403,
                "an admin call's body must be sent with Content-Type: application/json "
                f"(got {headers.get('content-type', 'none')!r})",
            )
    return None


class AdminGuardMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(ADMIN_PREFIX):
            refusal = check(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_admin_handlers(app: FastAPI) -> None:
    """Admin routes: a refusal (:class:`AdminError`) is its ``{"error"}`` answer; a client
    gone during the body read is one log line (no traceback); a full store answers 507
    with the reason."""

    async def gone(request: Request, exc: Exception) -> Response:
        log.warning("admin call abandoned: the client closed the connection during %s %s",
                    request.method, request.url.path)
        return NoAnswer()

    async def full(request: Request, exc: Exception) -> Response:
        refusal = as_store_full(exc)
        request.app.state.emulator.space.note_full(refusal.reason, disk=not isinstance(exc, StoreFull))
        return error_response(507, refusal.reason)

    async def database(request: Request, exc: Exception) -> Response:
        if is_disk_full(exc):
            return await full(request, exc)
        raise exc

    app.add_exception_handler(AdminError, answer)
    app.add_exception_handler(ClientDisconnect, gone)
    app.add_exception_handler(StoreFull, full)
    app.add_exception_handler(OperationalError, database)
