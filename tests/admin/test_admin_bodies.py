"""Admin bodies that are not JSON in ways `json.loads` reports with other exceptions than
JSONDecodeError (bytes that are not UTF-8, nesting deeper than the parser goes): every
admin call that reads a JSON body answers 400 `{"error"}` and changes nothing."""

from __future__ import annotations

import pytest
from helpers import JPUSH_AUTH

CALLS = ["/_emulator/reset", "/_emulator/snapshots", "/_emulator/fixtures", "/_emulator/clock", "/_emulator/limits",
         "/_emulator/faults"]
BODIES = {
    "not UTF-8": b"\xff{}",
    "not UTF-8 inside a string": b'{"tenants": "\xff"}',
    "nested too deeply": b"[" * 100_000 + b"]" * 100_000,
    "an object nested too deeply": b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,
}


@pytest.mark.parametrize("label", list(BODIES))
def test_bodies_that_are_not_json_are_400_and_change_nothing(client, label):
    r = client.post("/v3/files/alias", files={"filename": ("a.txt", b"alice\n")}, auth=JPUSH_AUTH)
    assert r.status_code == 200, r.text
    state = lambda: (client.get("/_emulator/jpush/files").json(), client.get("/_emulator/snapshots").json(),  # noqa: E731
                     client.get("/_emulator/credentials").json(), client.get("/_emulator/clock").json()["frozen"],
                     client.get("/_emulator/limits").json(), client.get("/_emulator/faults").json())
    before = state()
    for path in CALLS:
        r = client.post(path, content=BODIES[label], headers={"content-type": "application/json"})
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        assert r.json()["error"] and "\n" not in r.json()["error"], (path, r.text[:200])
    assert state() == before
