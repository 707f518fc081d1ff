"""A live emulator for the public 123pan SDKs (they open their own sockets), and the one
thing each needs to reach it: its base URL, or, where an SDK hard-codes the real hosts, a
transport that sends those hosts here (as a DNS override or a proxy would). Nothing of an
SDK is patched. (Imported by this folder's SDK tests; the folder is on sys.path.)"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from pan123_support import CLIENT_ID, CLIENT_SECRET, UID  # noqa: F401  (re-exported for the tests)
from requests.adapters import HTTPAdapter

REAL_API = "https://open-api.123pan.com"
REAL_UPLOAD = "https://openapi-upload.123242.com"  # x123pan's hard-coded single/create host
# Endpoints of the image-hosting document's QPS table the SDK flows call many times a second;
# the limits themselves are tested in test_pan123_disk.py (the SDKs' own 429 handling there).
UNLIMITED = dict.fromkeys(("upload/v1/file/mkdir", "upload/v1/file/create", "api/v1/file/move",
                           "api/v1/file/delete", "api/v1/file/list", "api/v1/user/info"), 0)


class Server:
    def __init__(self, proc: subprocess.Popen, url: str) -> None:
        self.proc = proc
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)

    def admin(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, "/_emulator" + path, **kw)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def config(self, **values: Any) -> dict[str, Any]:
        return self.admin("POST", "/pan123/config", json=values)

    def disk(self) -> dict[str, dict[str, Any]]:
        """The cloud-disk tree by path (the admin evidence)."""
        return {e["path"]: e for e in self.admin("GET", "/pan123/disk", params={"client_id": CLIENT_ID})}

    def content(self, file_id: int | str) -> bytes:
        r = self.http.get(f"/_emulator/pan123/files/{file_id}/content")
        assert r.status_code == 200, r.text
        return r.content

    def journal(self, path: str) -> list[dict[str, Any]]:
        return self.admin("GET", "/requests", params={"api": "pan123", "path": path})


@pytest.fixture
def pan_server(live_server: Any) -> Iterator[Server]:
    """The shared ``storage-emulator serve`` process (tests/conftest.py: as freshly started,
    its log to a file, so a chatty SDK never fills a pipe), small slices so that small files
    take several."""
    server = Server(live_server.proc, live_server.url)
    try:
        server.config(reset=True, slice_size=64 * 1024, v2_slice_size=64 * 1024, qps=UNLIMITED)
        yield server
    finally:
        server.http.close()


class ToEmulator(HTTPAdapter):
    """A requests adapter sending the real 123pan hosts to the emulator."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def send(self, request: requests.PreparedRequest, **kwargs: Any):  # type: ignore[override]
        for real in (REAL_API, REAL_UPLOAD):
            if request.url and request.url.startswith(real):
                request.url = self.base + request.url[len(real):]
        return super().send(request, **kwargs)


def redirect(session: requests.Session, base: str) -> None:
    for real in (REAL_API, REAL_UPLOAD):
        session.mount(real + "/", ToEmulator(base))


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class ToEmulatorAsync(httpx.AsyncHTTPTransport):
    """An httpx transport sending the real 123pan hosts to the emulator (URL and Host header,
    so the links the emulator hands out name the emulator, as DNS pointing there would)."""

    def __init__(self, base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = httpx.URL(base)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host in (httpx.URL(REAL_API).host, httpx.URL(REAL_UPLOAD).host):
            request.url = request.url.copy_with(scheme=self.base.scheme, host=self.base.host, port=self.base.port)
            request.headers["Host"] = self.base.netloc.decode()
        return await super().handle_async_request(request)
