"""The one source of "now": real time, shifted, or frozen, under the admin API's control."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from .db import Database
from .shared import SharedValue, write_value
from .state import joined, peek_value

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
# The instants the emulator's clock may show (the admin API refuses others): every vendor's
# dates must stay expressible, up to the furthest deadline a call can hand out. The tightest
# is Antelope's access_token, whose expiry is a 32-bit unix time (it ends in February 2106);
# 2100 leaves years of room for every TTL above it.
EARLIEST = 0.0  # 1970-01-01T00:00:00Z
LATEST = 4102444800.0  # 2100-01-01T00:00:00Z, excluded
NAME = "clock"  # the shared value (core/shared.py) holding {"offset": s, "frozen_at": t or null}


def _parse(value: Any) -> tuple[float, float | None]:
    if not isinstance(value, dict):
        return 0.0, None
    frozen_at = value.get("frozen_at")
    return float(value.get("offset") or 0.0), None if frozen_at is None else float(frozen_at)


class Clock:
    """Emulator time. Every expiry, TTL, deadline and rate-limit window reads :meth:`now`.

    With a ``db`` that several processes may open (a file or PostgreSQL), the offset and
    the frozen instant are the shared value ``clock`` (core/shared.py): every :meth:`now`
    reads that row, so a change made through any replica applies at once on all of them,
    and a change is a read-modify-write under ``SELECT ... FOR UPDATE`` (SQLite serialises
    writers anyway). Without one (tests) or with the in-memory database (one process) the
    two numbers live in this object."""

    def __init__(self, db: Database | None = None) -> None:
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._lock = threading.Lock()
        self._db = db if db is not None and not db.memory else None

    # -- the two numbers ------------------------------------------------------------------
    def _read(self) -> tuple[float, float | None]:
        if self._db is None:
            return self._offset, self._frozen_at
        return _parse(peek_value(self._db, NAME))

    @contextmanager
    def _change(self) -> Iterator[list[Any]]:
        """``[offset, frozen_at]`` to change in place; written back (shared) on exit."""
        if self._db is None:
            with self._lock:
                state: list[Any] = [self._offset, self._frozen_at]
                yield state
                self._offset, self._frozen_at = float(state[0]), state[1]
            return
        with joined(self._db) as s:
            raw = s.execute(
                select(SharedValue.value).where(SharedValue.name == NAME).with_for_update()
            ).scalar_one_or_none()
            offset, frozen_at = _parse(None if raw is None else json.loads(raw))
            state = [offset, frozen_at]
            yield state
            write_value(s, NAME, {"offset": float(state[0]), "frozen_at": state[1]})

    def now(self) -> float:
        offset, frozen = self._read()
        return frozen if frozen is not None else time.time() + offset

    @property
    def frozen(self) -> bool:
        return self._read()[1] is not None

    def advance(self, seconds: float) -> float:
        with self._change() as state:
            if state[1] is not None:
                state[1] += seconds
            else:
                state[0] += seconds
        return self.now()

    def set(self, timestamp: float) -> float:
        with self._change() as state:
            if state[1] is not None:
                state[1] = float(timestamp)
            else:
                state[0] = float(timestamp) - time.time()
        return self.now()

    def freeze(self, frozen: bool) -> float:
        with self._change() as state:
            if frozen and state[1] is None:
                state[1] = time.time() + state[0]
            elif not frozen and state[1] is not None:
                # Time resumes from where it stood, not from the real clock.
                state[0] = state[1] - time.time()
                state[1] = None
        return self.now()

    def reset(self) -> None:
        with self._change() as state:
            state[0], state[1] = 0.0, None

    def save(self) -> dict[str, float | None]:
        """Offset and frozen instant, for a snapshot (:meth:`load` brings them back)."""
        offset, frozen_at = self._read()
        return {"offset": offset, "frozen_at": frozen_at}

    def load(self, state: dict[str, float | None]) -> None:
        frozen_at = state.get("frozen_at")
        with self._change() as current:
            current[0] = float(state.get("offset") or 0.0)
            current[1] = None if frozen_at is None else float(frozen_at)

    def datetime(self, tz: timezone = UTC) -> datetime:
        return datetime.fromtimestamp(self.now(), tz)

    def state(self) -> dict[str, float | bool]:
        offset, frozen = self._read()
        return {"now": frozen if frozen is not None else time.time() + offset, "frozen": frozen is not None}
