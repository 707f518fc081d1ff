"""The ``pan`` fixture: a 123pan client on a frozen clock (helpers in pan123_support.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pan123_support import DOC_TIME, Pan


@pytest.fixture
def pan(client) -> Pan:
    client.post("/_emulator/clock", json={"freeze": True, "set": DOC_TIME})
    return Pan(client)
