"""Links the emulator hands out: on EMULATOR_PUBLIC_URL (the app's settings) when set, else on the scheme
and Host of the request that asked (the address the server listens on when the Host is missing or is
no host name, IP address or bracketed IPv6 address with an optional port), and never on a wildcard
bind address."""

from __future__ import annotations

import ipaddress
import re

from starlette.requests import Request

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}
# RFC 3986's host: a registered name (unreserved, pct-encoded, sub-delims) or an IP literal; a port.
_AUTHORITY = re.compile(r"(?:(?P<name>[A-Za-z0-9._~%!$&'()*+,;=-]+)|\[(?P<ip6>[0-9A-Fa-f:.]+)\])(?::[0-9]*)?")


def _usable(host: str) -> bool:
    m = _AUTHORITY.fullmatch(host)
    if m is None:
        return False
    if m.group("ip6") is None:
        return True
    try:
        ipaddress.IPv6Address(m.group("ip6"))
    except ValueError:
        return False
    return True


def public_base(request: Request) -> str:
    configured: str | None = request.app.state.emulator.settings.public_url
    if configured:
        return configured.rstrip("/")
    host = request.headers.get("host")
    if not host or not _usable(host):  # a link on it would not even parse (urlsplit refuses "[::1")
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    name, sep, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not sep:
        name, port = host, ""
    name = _WILDCARDS.get(name, name)
    return f"{request.url.scheme}://{name}{':' + port if port else ''}"
