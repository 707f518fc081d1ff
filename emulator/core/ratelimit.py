"""Windowed rate limits on the emulator clock, keyed by (api, principal, route group).

A window opens at the first request after the previous one closed and lasts ``period``
seconds of emulator time; limits are data passed in by each API.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .clock import Clock


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


class RateLimiter:
    def __init__(self, clock: Clock, enabled: bool = True) -> None:
        self.clock = clock
        self.enabled = enabled
        self._windows: dict[tuple[str, str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, api: str, principal: str, group: str, limit: Limit) -> Decision:
        now = self.clock.now()
        key = (api, principal, group)
        with self._lock:
            start, used = self._windows.get(key, (now, 0))
            if now >= start + limit.period or now < start:
                start, used = now, 0
            used += 1
            self._windows[key] = (start, used)
        allowed = used <= limit.count or not self.enabled
        return Decision(allowed, limit.count, max(0, limit.count - used), start + limit.period - now)

    def reset(self, scope: Mapping[str, Iterable[str]] | None = None) -> None:
        """Forget every window, or only those of ``scope``'s tenants: a window's principal
        is the tenant identity (123pan client_id, JPush app_key)."""
        with self._lock:
            if scope is None:
                self._windows.clear()
                return
            for key in [k for k in self._windows if k[1] in scope.get(k[0], ())]:
                del self._windows[key]
