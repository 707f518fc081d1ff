"""Windowed rate limits on the emulator clock, keyed by (api, principal, route group).

A window opens at the first request after the previous one closed and lasts ``period``
seconds of emulator time; limits are data passed in by each API.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Float, Integer, String, Table, delete
from sqlalchemy.orm import Mapped, mapped_column

from .clock import Clock
from .db import Base, Database, table_of
from .space import SpaceGuard, is_space_error, no_room
from .state import execute, joined, peek_live, set_live

SWITCH = "rate_limits"  # the live value (core/state.py): limits on (true) or off (false), once switched


@dataclass(frozen=True)
class Limit:
    count: int
    period: float  # seconds


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds of emulator time until the window closes

    @property
    def reset_seconds(self) -> int:
        return max(0, math.ceil(self.reset_after))


class RateWindow(Base):
    """One open window of a limit: when it opened and how many requests it has counted."""

    __tablename__ = "emulator_rate_windows"
    __keep_on_reset__ = True  # RateLimiter.reset deletes them (the whole set, or a scope's)
    __snapshot__ = False  # live counters: neither saved nor replaced by snapshots
    __tenant_api__ = None

    api: Mapped[str] = mapped_column(String(32), primary_key=True)
    principal: Mapped[str] = mapped_column(String(255), primary_key=True)
    grp: Mapped[str] = mapped_column(String(120), primary_key=True)
    start: Mapped[float] = mapped_column(Float)
    used: Mapped[int] = mapped_column(Integer)


def _table() -> Table:
    return table_of(RateWindow)


# hit() as one statement: a window that closed (or lies ahead of a clock set back) opens
# again at ``now``; the answer is the window's (start, used) after this request.
_EXPIRED = "? >= w.start + ? OR ? < w.start"
HIT = (
    "INSERT INTO emulator_rate_windows AS w (api, principal, grp, start, used) VALUES (?, ?, ?, ?, 1) "
    f"ON CONFLICT (api, principal, grp) DO UPDATE SET start = CASE WHEN {_EXPIRED} THEN ? ELSE w.start END, "
    f"used = CASE WHEN {_EXPIRED} THEN 1 ELSE w.used + 1 END RETURNING start, used"
)


class RateLimiter:
    """The windows, and the switch that turns limits off (``enabled``). With a ``db`` that
    several processes may open, both are rows (windows here, the switch the shared value
    ``rate_limits``; ``enabled`` given here is the default while no one has switched it),
    and :meth:`hit` is one upsert: a limit holds across replicas. Otherwise (no ``db``, or
    the in-memory database) they live in this object."""

    def __init__(self, clock: Clock, enabled: bool = True, db: Database | None = None,
                 space: SpaceGuard | None = None) -> None:
        self.clock = clock
        self._space = space
        self._enabled = enabled
        self._db = db if db is not None and not db.memory else None
        self._windows: dict[tuple[str, str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        if self._db is None:
            return self._enabled
        value = peek_live(self._db, SWITCH)[0]
        return self._enabled if value is None else bool(value)

    @enabled.setter
    def enabled(self, value: bool) -> None:
        if self._db is None:
            self._enabled = bool(value)
            return
        with joined(self._db) as s:
            set_live(s, SWITCH, bool(value))

    def hit(self, api: str, principal: str, group: str, limit: Limit) -> Decision:
        now = self.clock.now()
        if self._db is None:
            key = (api, principal, group)
            with self._lock:
                start, used = self._windows.get(key, (now, 0))
                if now >= start + limit.period or now < start:
                    start, used = now, 0
                used += 1
                self._windows[key] = (start, used)
            enabled = self._enabled
        else:
            if no_room(self._space):
                # The disk is (nearly) full: requests go uncounted, so that deletes can make room.
                return Decision(True, limit.count, max(0, limit.count - 1), limit.period)
            try:
                row = execute(
                    self._db, HIT,
                    (api, principal, group, now, now, limit.period, now, now, now, limit.period, now),
                )
            except Exception as exc:
                if not is_space_error(exc):
                    raise
                # A disk with no byte left: the request is let through uncounted (deletes must
                # still work to make room; a limit's bookkeeping never refuses them).
                return Decision(True, limit.count, max(0, limit.count - 1), limit.period)
            assert row is not None
            start, used = float(row[0]), int(row[1])
            switch = peek_live(self._db, SWITCH)[0]
            enabled = self._enabled if switch is None else bool(switch)
        allowed = used <= limit.count or not enabled
        return Decision(allowed, limit.count, max(0, limit.count - used), start + limit.period - now)

    def reset(self, scope: Mapping[str, Iterable[str]] | None = None) -> None:
        """Forget every window, or only those of ``scope``'s tenants: a window's principal
        is the tenant identity (123pan client_id, JPush app_key)."""
        if self._db is not None:
            t = _table()
            with joined(self._db) as s:
                if scope is None:
                    s.execute(delete(t))
                else:
                    for api, principals in scope.items():
                        names = list(principals)
                        if names:
                            s.execute(delete(t).where(t.c.api == api, t.c.principal.in_(names)))
            return
        with self._lock:
            if scope is None:
                self._windows.clear()
                return
            for key in [k for k in self._windows if k[1] in scope.get(k[0], ())]:
                del self._windows[key]
