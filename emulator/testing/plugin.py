"""The pytest plugin (entry point ``pytest11``, active once storage-emulator is installed).

Fixtures:
- ``emulator``: a fresh emulator per test, in process (no socket, in-memory database), with
  an ``httpx`` client bound to it as ``emulator.client``;
- ``emulator_server``: a live server on a free port, started once per session and reset
  before each test; with ``--emulator-url URL`` (or ``EMULATOR_URL``) a handle on an
  emulator that is already running and shared with other workers instead;
- ``emulator_settings``: overrides for the ``emulator`` fixture's settings (override it in
  a conftest.py, e.g. ``return {"rate_limits": False, "seed": 7}``);
- ``emulator_server_settings``: the same for the session's live server (session scope).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from .inprocess import InProcessEmulator
from .server import LiveEmulator, SharedEmulator


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("storage-emulator")
    group.addoption(
        "--emulator-url",
        default=None,
        help="use the storage emulator already running at this URL for emulator_server (shared "
        "between workers: each gets tenants of its own) [EMULATOR_URL]",
    )


@pytest.fixture
def emulator_settings() -> dict[str, Any]:
    """Settings overrides for ``emulator`` (``Settings`` field names); none by default."""
    return {}


@pytest.fixture(scope="session")
def emulator_server_settings() -> dict[str, Any]:
    """Settings overrides for the session's ``emulator_server``; none by default."""
    return {}


@pytest.fixture
def emulator(emulator_settings: dict[str, Any]) -> Iterator[InProcessEmulator]:
    """A fresh in-process emulator; ``emulator.client`` is an httpx client bound to it."""
    emu = InProcessEmulator(**emulator_settings)
    try:
        yield emu
    finally:
        emu.close()


def _worker(config: pytest.Config) -> str:
    workerinput = getattr(config, "workerinput", None)  # set by pytest-xdist
    return workerinput["workerid"] if workerinput else "main"


@pytest.fixture(scope="session")
def _emulator_session_server(
    request: pytest.FixtureRequest, emulator_server_settings: dict[str, Any]
) -> Iterator[LiveEmulator | SharedEmulator]:
    url = request.config.getoption("--emulator-url") or os.environ.get("EMULATOR_URL")
    server: LiveEmulator | SharedEmulator
    server = SharedEmulator(url, worker=_worker(request.config)) if url else LiveEmulator(**emulator_server_settings)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def emulator_server(_emulator_session_server: LiveEmulator | SharedEmulator) -> LiveEmulator | SharedEmulator:
    """A live emulator (``.url``, ``.public_url``), reset before the test (rate limits back on,
    faults cleared, the clock back to real time unless shared)."""
    server = _emulator_session_server
    server.reset()
    if isinstance(server, LiveEmulator):
        server.clock.real()
        server.rate_limits(server.state.settings.rate_limits)
        if "pan123" in server.state.apis:  # its tunables are the one per-API setting a test may change
            server._admin("POST", "/pan123/config", json={"reset": True})
    return server
