"""Overriding ``emulator_settings`` in a module (or conftest.py) changes the fixture's settings."""

import pytest


@pytest.fixture
def emulator_settings():
    return {"rate_limits": False, "seed": 11}


def test_emulator_settings_fixture_is_honoured(emulator):
    assert emulator.state.settings.rate_limits is False
    assert emulator.state.settings.seed == 11
    emulator.clock.freeze()
    auth = {"Authorization": emulator.jpush_auth()}
    assert {emulator.client.get("/v3/files", headers=auth).status_code for _ in range(25)} == {200}
