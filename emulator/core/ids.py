"""Every generated id, from one source that a seed makes deterministic.

With a seed, the n-th id drawn is derived from (seed, n) alone (SHAKE-256), and n is a
position in one stream: a counter in this object for an emulator only one process can
open (the in-memory database), else the shared counter ``ids`` (core/shared.py),
incremented in one statement. Several replicas or workers on one database therefore draw
from one stream and never hand out the same id; which replica draws which position
depends on the order in which requests reach them (the ids are deterministic for a given
order of calls cluster-wide, as for one process). Without a seed, ids are random.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import uuid
from typing import Any

from .db import Database
from .shared import next_value, set_counter
from .state import joined, peek_counter

NAME = "ids"  # the shared counter of the stream's position


def derive(seed: int, position: int, n: int) -> bytes:
    """The ``n`` bytes at ``position`` of ``seed``'s stream."""
    return hashlib.shake_256(f"{seed}:{position}".encode()).digest(n)


class Ids:
    def __init__(self, seed: int | None = None, db: Database | None = None) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._position = 0  # the last position drawn (one process)
        self._db = db if db is not None and not db.memory else None

    @property
    def deterministic(self) -> bool:
        return self._seed is not None

    def reseed(self) -> None:
        """Start the stream over (``reset``): the next id is the first one again."""
        if self._seed is None:
            return
        if self._db is None:
            with self._lock:
                self._position = 0
            return
        with joined(self._db) as s:
            set_counter(s, NAME, 0)

    def save(self) -> int | None:
        """The stream's position (None when ids are random), for a snapshot."""
        if self._seed is None:
            return None
        if self._db is None:
            return self._position
        return peek_counter(self._db, NAME)  # no transaction: a snapshot's save holds the write lock

    def load(self, state: Any) -> None:
        """Continue from a :meth:`save`d position (ignored when ids are random or it is
        not a position: a snapshot written before 0.2 held a random generator's state)."""
        if self._seed is None or isinstance(state, bool) or not isinstance(state, int) or state < 0:
            return
        if self._db is None:
            with self._lock:
                self._position = state
            return
        with joined(self._db) as s:
            set_counter(s, NAME, state)

    def _next(self) -> int:
        if self._db is None:
            with self._lock:
                self._position += 1
                return self._position
        with joined(self._db) as s:
            return next_value(s, NAME)

    def bytes(self, n: int) -> bytes:
        if self._seed is None:
            return secrets.token_bytes(n)
        return derive(self._seed, self._next(), n)

    def hex(self, nbytes: int) -> str:
        return self.bytes(nbytes).hex()

    def uuid4(self) -> str:
        return str(uuid.UUID(bytes=self.bytes(16), version=4))

    def token(self, nbytes: int = 24) -> str:
        """URL-safe opaque token."""
        return base64.urlsafe_b64encode(self.bytes(nbytes)).rstrip(b"=").decode()
