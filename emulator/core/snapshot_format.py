"""The snapshot file's format: its names and markers, the refusals of the snapshot code
(:class:`SnapshotError` and kin), and the ``_snapshot_meta`` table (:class:`Meta`: what it
holds, how it is written and read back). The overview: core/snapshots.py."""

from __future__ import annotations

import json
import math
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from .ownership import Scope, scope_json

FORMAT = "storage-emulator-snapshot"
VERSION = 1
META = "_snapshot_meta"
SNAP = "snap"  # schema name of an attached snapshot
SUFFIX = ".snapshot"
NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class SnapshotError(ValueError):
    """A refused snapshot request; ``status`` is the admin API's HTTP status."""

    status = 400


class SnapshotNotFound(SnapshotError):
    status = 404


class SnapshotConflict(SnapshotError):
    status = 409


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise SnapshotError("name must be 1 to 64 characters of A-Z a-z 0-9 . _ -")
    return name


def quote(name: str) -> str:
    """``name`` as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Meta:
    """A snapshot's ``_snapshot_meta`` rows. ``clock``, ``ids`` and ``services`` (the
    clock, the id generator's position, each service's saved state) only in a whole one."""

    created_at: float
    scope: Scope | None
    rows: int
    bytes: int
    clock: dict[str, Any] | None = None
    ids: Any = None
    services: dict[str, Any] | None = None

    def describe(self, name: str) -> dict[str, Any]:
        return {"name": name, "created_at": self.created_at, "scope": scope_json(self.scope), "rows": self.rows,
                "bytes": self.bytes}

    def records(self) -> dict[str, str]:
        return {
            "format": json.dumps(FORMAT),
            "version": json.dumps(VERSION),
            "emulator_version": json.dumps(__version__),
            "created_at": json.dumps(self.created_at),
            "scope": json.dumps(scope_json(self.scope)),
            "rows": json.dumps(self.rows),
            "bytes": json.dumps(self.bytes),
            "clock": json.dumps(self.clock),
            "ids": json.dumps(self.ids),
            "services": json.dumps(self.services),
        }


def finite(value: Any) -> bool:
    """A JSON number (not a boolean) that is neither infinite nor NaN."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def meta_from(conn: sqlite3.Connection) -> Meta:
    """The meta of the snapshot open on ``conn`` (untrusted: SnapshotError when it is not
    one of this format and version, or its meta is malformed)."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"not a storage-emulator snapshot ({exc})") from None
    if META not in tables:
        raise SnapshotError("not a storage-emulator snapshot (no snapshot meta table)")
    try:
        raw = {k: json.loads(v) for k, v in conn.execute(f"SELECT key, value FROM {META}")}
    except (sqlite3.DatabaseError, ValueError, TypeError, RecursionError) as exc:
        raise SnapshotError(f"not a storage-emulator snapshot (unreadable meta: {exc})") from None
    if raw.get("format") != FORMAT:
        raise SnapshotError("not a storage-emulator snapshot (wrong format marker)")
    if raw.get("version") != VERSION:
        raise SnapshotError(
            f"snapshot format version {raw.get('version')!r} is not supported (this emulator reads {VERSION})"
        )
    scope = raw.get("scope")
    if scope is not None and not (
        isinstance(scope, dict)
        and all(isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in scope.values())
    ):
        raise SnapshotError("snapshot meta has a malformed scope")
    created_at: Any = raw.get("created_at")
    if not finite(created_at):
        raise SnapshotError("snapshot meta is incomplete (created_at must be a unix time)")
    counts = {key: raw.get(key) or 0 for key in ("rows", "bytes")}
    for key, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SnapshotError(f"snapshot meta is incomplete ({key} must be a count)")
    return Meta(
        created_at=float(created_at),
        scope=None if scope is None else {api: tuple(ids) for api, ids in scope.items()},
        rows=counts["rows"],
        bytes=counts["bytes"],
        clock=raw.get("clock"),
        ids=raw.get("ids"),
        services=raw.get("services"),
    )


def open_ro(path: Path) -> sqlite3.Connection:
    """The snapshot file at ``path``, opened read-only."""
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)


def read_meta_file(path: Path) -> Meta:
    conn = open_ro(path)
    try:
        return meta_from(conn)
    finally:
        conn.close()
