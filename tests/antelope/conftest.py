"""Fixtures of the Antelope tests; the client and constants live in tests/antelope_kit.py."""

from __future__ import annotations

import pytest
from antelope_kit import DOC_TIME, Antelope


@pytest.fixture
def ant(client) -> Antelope:
    """A client on a fresh emulator frozen at the document's upload time."""
    client.post("/_emulator/clock", json={"freeze": True, "set": DOC_TIME})
    return Antelope(client)


@pytest.fixture
def state(client, emu, ant):
    """Everything a refused request must leave unchanged."""

    def snapshot() -> tuple:
        return ant.objects(), ant.all_events(), emu.blobs.stats()

    return snapshot
