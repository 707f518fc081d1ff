"""The sixth API's state: a greeting (saved in snapshots through the state hooks) and a
count of the ``state_changed`` calls the core made."""

from __future__ import annotations

from typing import Any

from emulator.core.contract import ServiceBase
from emulator.core.runtime import Emulator

DEFAULT = "hello"


class SixthService(ServiceBase):
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.greeting = DEFAULT
        self.changes = 0

    def save_state(self) -> dict[str, Any] | None:
        return {"greeting": self.greeting}

    def check_state(self, state: Any) -> object:
        if state is not None and not (isinstance(state, dict) and isinstance(state.get("greeting"), str)):
            raise ValueError("greeting must be a string")
        return state

    def load_state(self, state: dict[str, Any] | None) -> None:
        self.greeting = DEFAULT if state is None else state["greeting"]

    def state_changed(self) -> None:
        self.changes += 1
