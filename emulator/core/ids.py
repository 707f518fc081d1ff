"""Every generated id, from one source that a seed makes deterministic."""

from __future__ import annotations

import random
import secrets
import threading
import uuid
from typing import Any


class Ids:
    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._rng: random.Random | None = random.Random(seed) if seed is not None else None

    @property
    def deterministic(self) -> bool:
        return self._rng is not None

    def reseed(self) -> None:
        if self._seed is not None:
            with self._lock:
                self._rng = random.Random(self._seed)

    def save(self) -> list[Any] | None:
        """The deterministic generator's position (None when ids are random), for a snapshot."""
        if self._rng is None:
            return None
        with self._lock:
            version, internal, gauss = self._rng.getstate()
            return [version, list(internal), gauss]

    def load(self, state: list[Any] | None) -> None:
        """Continue from a :meth:`save`d position (ignored when ids are random or it is None)."""
        if self._rng is None or state is None:
            return
        version, internal, gauss = state
        with self._lock:
            self._rng.setstate((version, tuple(internal), gauss))

    def bytes(self, n: int) -> bytes:
        if self._rng is None:
            return secrets.token_bytes(n)
        with self._lock:
            return self._rng.randbytes(n)

    def hex(self, nbytes: int) -> str:
        return self.bytes(nbytes).hex()

    def uuid4(self) -> str:
        return str(uuid.UUID(bytes=self.bytes(16), version=4))

    def token(self, nbytes: int = 24) -> str:
        """URL-safe opaque token."""
        import base64

        return base64.urlsafe_b64encode(self.bytes(nbytes)).rstrip(b"=").decode()
