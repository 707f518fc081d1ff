"""The one source of "now": real time, shifted, or frozen, under the admin API's control."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
# The instants the emulator's clock may show (the admin API refuses others): every vendor's
# dates must stay expressible, up to the furthest deadline a call can hand out. The tightest
# is Antelope's access_token, whose expiry is a 32-bit unix time (it ends in February 2106);
# 2100 leaves years of room for every TTL above it.
EARLIEST = 0.0  # 1970-01-01T00:00:00Z
LATEST = 4102444800.0  # 2100-01-01T00:00:00Z, excluded


class Clock:
    """Emulator time. Every expiry, TTL, deadline and rate-limit window reads :meth:`now`."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen_at: float | None = None
        self._lock = threading.Lock()

    def now(self) -> float:
        frozen = self._frozen_at
        return frozen if frozen is not None else time.time() + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def advance(self, seconds: float) -> float:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds
            return self.now()

    def set(self, timestamp: float) -> float:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = float(timestamp)
            else:
                self._offset = float(timestamp) - time.time()
            return self.now()

    def freeze(self, frozen: bool) -> float:
        with self._lock:
            if frozen and self._frozen_at is None:
                self._frozen_at = self.now()
            elif not frozen and self._frozen_at is not None:
                # Time resumes from where it stood, not from the real clock.
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None
            return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
            self._frozen_at = None

    def save(self) -> dict[str, float | None]:
        """Offset and frozen instant, for a snapshot (:meth:`load` brings them back)."""
        with self._lock:
            return {"offset": self._offset, "frozen_at": self._frozen_at}

    def load(self, state: dict[str, float | None]) -> None:
        frozen_at = state.get("frozen_at")
        with self._lock:
            self._offset = float(state.get("offset") or 0.0)
            self._frozen_at = None if frozen_at is None else float(frozen_at)

    def datetime(self, tz: timezone = UTC) -> datetime:
        return datetime.fromtimestamp(self.now(), tz)

    def state(self) -> dict[str, float | bool]:
        return {"now": self.now(), "frozen": self.frozen}
