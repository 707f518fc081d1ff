"""Console logging: one stream (stderr), text or JSON lines, secrets masked.

uvicorn's own access log prints the raw query string (``/cgi-bin/token?...&secret=...``) and
only the HTTP status, so a 123pan ``code: 1`` on HTTP 200 reads as ``200 OK``. It is turned
off; the journal middleware writes one access line per request instead through the
``emulator.access`` logger, from the entry it has already redacted: method, path, masked
query, HTTP status, and the API, tenant and business code the route named.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

access = logging.getLogger("emulator.access")


def _query_text(query: dict[str, Any]) -> str:
    pairs = []
    for name, value in query.items():
        for one in value if isinstance(value, list) else [value]:
            pairs.append(f"{name}={one}")
    return "&".join(pairs)


def log_access(entry: dict[str, Any], client: tuple[str, int] | None) -> None:
    """One access line for a request (``entry``: a journal-shaped dict, already redacted)."""
    if not access.isEnabledFor(logging.INFO):
        return
    query = _query_text(entry.get("query") or {})
    target = entry["path"] + (f"?{query}" if query else "")
    status = entry.get("status")
    parts = [f'"{entry["method"]} {target}"', "-" if status is None else str(status)]
    if entry.get("api"):
        parts.append(f"api={entry['api']}")
    if entry.get("tenant"):
        parts.append(f"tenant={entry['tenant']}")
    if entry.get("code") is not None:
        parts.append(f"code={entry['code']}")
    if status is None:
        parts.append("(no answer)")
    parts.append(f"{entry['duration_ms']:.1f}ms")
    who = f"{client[0]}:{client[1]}" if client else "-"
    fields = {
        "client": who,
        "method": entry["method"],
        "path": entry["path"],
        "query": entry.get("query") or {},
        "status": status,
        "api": entry.get("api"),
        "tenant": entry.get("tenant"),
        "code": entry.get("code"),
        "duration_ms": entry["duration_ms"],
    }
    if entry.get("reason"):
        fields["reason"] = entry["reason"]
    access.info("%s - %s", who, " ".join(parts), extra={"fields": fields})


class TextFormatter(logging.Formatter):
    """``INFO:     message`` as uvicorn prints it; a traceback, when there is one, follows."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s:%(padding)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.padding = " " * max(1, 9 - len(record.levelname))
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the record's
    structured ``fields`` (access lines), and ``exc`` (the traceback as one string)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def logging_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document for uvicorn's and the emulator's loggers."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    lvl = "DEBUG" if level == "trace" else level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {"main": {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["main"], "level": lvl, "propagate": False},
            "uvicorn.error": {"level": lvl},
            # Replaced by emulator.access (masked, with API, tenant and business code).
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "emulator": {"handlers": ["main"], "level": lvl, "propagate": False},
        },
    }
