"""``GET /_emulator/``: the dashboard, a static page (HTML, JS, CSS shipped in the package,
no build step) that reads and steers the emulator through the admin API only."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(tags=["admin"])

# The page may load only its own files and call only its own origin.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'self'")
ASSETS = {
    "dashboard.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


@cache
def _asset(name: str) -> bytes:
    return files("emulator.admin").joinpath("static", name).read_bytes()


def _serve(name: str) -> Response:
    return Response(_asset(name), media_type=ASSETS[name],
                    headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP,
                             "X-Content-Type-Options": "nosniff"})


@router.get("/", include_in_schema=False)
async def dashboard() -> Response:
    return _serve("dashboard.html")


@router.get("/dashboard.js", include_in_schema=False)
async def dashboard_js() -> Response:
    return _serve("dashboard.js")


@router.get("/dashboard.css", include_in_schema=False)
async def dashboard_css() -> Response:
    return _serve("dashboard.css")
