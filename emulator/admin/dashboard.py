"""``GET /_emulator/``: the dashboard, one HTML page of what the emulator holds and saw."""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from .. import __version__
from ..core.urls import public_base

router = APIRouter(tags=["admin"])

STYLE = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}th{background:#f3f3f3}
code{font-size:13px}.bad{color:#b00}h2{margin-top:1.5em}"""


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if c is None else str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, limit: int = 50) -> HTMLResponse:
    emu = request.app.state.emulator
    base = public_base(request)
    clock = emu.clock.state()
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>storage-emulator</title><style>{STYLE}</style></head><body>",
        f"<h1>storage-emulator {html.escape(__version__)}</h1>",
        f"<p>Serving on <code>{html.escape(base)}</code> · clock <code>{_when(clock['now'])}</code>"
        f"{' (frozen)' if clock['frozen'] else ''} · rate limits {'on' if emu.limiter.enabled else 'off'} · "
        f"<a href='{base}/_emulator/docs'>admin API reference</a></p>",
        "<h2>APIs</h2>",
    ]
    endpoints: dict[str, str] = {}
    for spec in emu.apis.values():
        if spec.endpoints is not None:
            endpoints.update(spec.endpoints(base))
    parts.append(_table(["api", "name"], [[name, spec.title] for name, spec in emu.apis.items()]))
    parts.append(_table(["endpoint", "URL"], sorted(endpoints.items())))
    parts.append("<h2>Tenants</h2>")
    doc = emu.tenants.document()
    rows = [[api, ", ".join(f"{k}={v}" for k, v in t.items() if v is not None)] for api, ts in doc.items() for t in ts]
    parts.append(_table(["api", "credentials"], rows))
    faults = getattr(emu, "faults", None)
    if faults is not None:
        rules = faults.list()
        parts.append("<h2>Fault rules</h2>")
        parts.append(_table(["id", "rule", "matched", "fired"], [
            [r.get("id"), ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("id", "matched", "fired") and v is not None),
             r.get("matched"), r.get("fired")] for r in rules]))
    stats = emu.blobs.stats()
    parts.append(f"<h2>Store</h2><p>{stats['blobs']} distinct blobs, {stats['bytes']} bytes</p>")
    entries = emu.journal.query(limit=max(1, min(limit, 1000)))
    parts.append(f"<h2>Last {len(entries)} requests</h2>")
    parts.append(_table(
        ["time", "api", "tenant", "method", "path", "status", "code", "ms", "why"],
        [[_when(e["time"]), e["api"], e.get("tenant"), e["method"], e["path"], e["status"], e["code"],
          e["duration_ms"], e.get("reason") or (f"fault {e['fault']}" if e.get("fault") else "")]
         for e in reversed(entries)],
    ))
    parts.append("</body></html>")
    return HTMLResponse("".join(parts))
