"""Links the emulator hands out: on EMULATOR_PUBLIC_URL (the app's settings) when set, else on the scheme
and Host of the request that asked, and never on a wildcard bind address."""

from __future__ import annotations

from starlette.requests import Request

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}


def public_base(request: Request) -> str:
    configured: str | None = request.app.state.emulator.settings.public_url
    if configured:
        return configured.rstrip("/")
    host = request.headers.get("host")
    if not host:
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    name, sep, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not sep:
        name, port = host, ""
    name = _WILDCARDS.get(name, name)
    return f"{request.url.scheme}://{name}{':' + port if port else ''}"
