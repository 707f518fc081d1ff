"""Issue 16: two emulators on ONE database file act as one emulator (each has its own
Database, as two replicas or workers would): the clock, limits and their switch, fault
rules and their counters, the journal, tenants, snapshots and seeded ids are shared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from snapshot_kit import T0, Kit, assert_refcounts_exact, ok

from emulator.app import create_app
from emulator.core.ids import Ids
from emulator.core.ratelimit import Limit
from emulator.settings import Settings

WX = {"grant_type": "client_credential", "appid": "wxtest0000000000001",
      "secret": "test-wechat-secret-00000000000001"}


@pytest.fixture(params=["file", "pg"])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Two emulators (and clients) on one database: replicas A and B. ``file``: one data
    dir; ``pg``: one PostgreSQL database of tests/pg_server.py (the pg_server plugin)."""
    extra: dict[str, Any] = {}
    if request.param == "pg":
        if not request.config.pluginmanager.hasplugin("pg_server"):
            pytest.skip("the PostgreSQL test server (tests/pg_server.py) is not on this branch")
        extra["database_url"] = request.getfixturevalue("pg_url")
    apps = [create_app(Settings(data_dir=tmp_path / "data", seed=5, **extra)) for _ in range(2)]
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        yield a, b, apps[0].state.emulator, apps[1].state.emulator


def test_the_clock_moved_on_one_applies_on_both(pair):
    a, b, ea, eb = pair
    ok(a.post("/_emulator/clock", json={"freeze": True, "set": T0}))
    assert ok(b.get("/_emulator/clock")) == {"now": T0, "frozen": True}
    ok(b.post("/_emulator/clock", json={"advance": 3600}))
    assert ea.clock.now() == eb.clock.now() == T0 + 3600
    ok(a.post("/_emulator/clock", json={"freeze": False}))
    assert not eb.clock.frozen and abs(eb.clock.now() - (T0 + 3600)) < 5
    ea.clock.reset()
    assert abs(eb.clock.now() - ea.clock.now()) < 1 and not eb.clock.frozen


def test_a_limit_of_one_holds_across_both(pair):
    _, _, ea, eb = pair
    ea.clock.freeze(True)
    limit = Limit(1, 1.0)
    assert ea.limiter.hit("jpush", "k", "files", limit).allowed
    assert not eb.limiter.hit("jpush", "k", "files", limit).allowed
    assert not ea.limiter.hit("jpush", "k", "files", limit).allowed
    eb.clock.advance(1.0)
    assert eb.limiter.hit("jpush", "k", "files", limit).allowed
    ea.limiter.enabled = False
    assert not eb.limiter.enabled and eb.limiter.hit("jpush", "k", "files", limit).allowed
    eb.limiter.enabled = True
    ea.limiter.reset({"jpush": ["k"]})
    assert eb.limiter.hit("jpush", "k", "files", limit).allowed


def test_a_fault_skip_2_times_1_fires_once_across_both(pair):
    a, b, _, _ = pair
    rule = ok(a.post("/_emulator/faults", json={"path": "/cgi-bin/token", "status": 503, "skip": 2, "times": 1}),
              201)
    statuses = [(a, b)[n % 2].get("/cgi-bin/token", params=WX).status_code for n in range(6)]
    assert statuses == [200, 200, 503, 200, 200, 200]
    listed = ok(b.get(f"/_emulator/faults/{rule['id']}"))
    assert (listed["matched"], listed["fired"], listed["active"]) == (6, 1, False)
    second = ok(b.post("/_emulator/faults", json={"path": "/nowhere", "status": 500}), 201)
    assert second["id"] > rule["id"]  # ids from the database: never the same on two replicas
    ok(a.delete(f"/_emulator/faults/{second['id']}"))
    assert [r["id"] for r in ok(b.get("/_emulator/faults"))] == [rule["id"]]
    ok(b.delete("/_emulator/faults"))
    assert ok(a.get("/_emulator/faults")) == []


def test_the_journal_is_complete_from_either(pair):
    a, b, _, eb = pair
    for n in range(6):
        (a, b)[n % 2].get("/cgi-bin/token", params=WX)
    for client in (a, b):
        entries = ok(client.get("/_emulator/requests", params={"path": "/cgi-bin/token"}))
        assert len(entries) == 6 and len({e["id"] for e in entries}) == 6
        assert entries[0]["query"]["secret"].endswith("***") and entries[0]["response_body"]["size"] > 0
        assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)
    assert len(eb.journal) == 6
    since = entries[3]["id"]
    assert len(ok(a.get("/_emulator/requests", params={"since": since}))) == 2
    ok(b.delete("/_emulator/requests"))
    assert ok(a.get("/_emulator/requests")) == []


def test_the_journal_keeps_the_newest_journal_size_entries(tmp_path):
    apps = [create_app(Settings(data_dir=tmp_path / "data", journal_size=4)) for _ in range(2)]
    with TestClient(apps[0]) as a, TestClient(apps[1]) as b:
        for n in range(7):
            (a, b)[n % 2].get(f"/nowhere/{n}")
        assert [e["path"] for e in ok(b.get("/_emulator/requests"))] == [f"/nowhere/{n}" for n in range(3, 7)]


def test_a_tenant_added_on_one_is_known_to_the_other(pair):
    a, _, _, eb = pair
    assert eb.tenants.get("jpush", "another-app-key") is None
    ok(a.post("/_emulator/fixtures", json={"jpush": [{"app_key": "another-app-key", "master_secret": "s3cret"}]}))
    assert eb.tenants.get("jpush", "another-app-key").master_secret == "s3cret"
    assert any(t.app_key == "another-app-key" for t in eb.tenants.all("jpush"))


def test_a_snapshot_saved_on_one_restores_on_the_other(pair):
    a, b, ea, eb = pair
    ok(a.post("/_emulator/clock", json={"freeze": True, "set": T0}))
    ok(a.post("/_emulator/fixtures", json={"jpush": [{"app_key": "saved-app-key", "master_secret": "s"}]}))
    ok(a.post("/_emulator/snapshots", json={"name": "s1"}), 201)
    ok(b.post("/_emulator/clock", json={"advance": 99}))
    ok(b.post("/_emulator/fixtures", json={"jpush": [{"app_key": "saved-app-key", "master_secret": "changed"}]}))
    ok(b.post("/_emulator/faults", json={"path": "/nowhere", "status": 500}), 201)
    assert [s["name"] for s in ok(b.get("/_emulator/snapshots"))] == ["s1"]
    ok(b.post("/_emulator/snapshots/s1/restore"))
    assert ea.clock.now() == eb.clock.now() == T0
    assert ea.tenants.get("jpush", "saved-app-key").master_secret == "s"  # A's index reloaded
    assert len(ok(a.get("/_emulator/faults"))) == 1  # live state: not part of a snapshot


def test_a_whole_snapshot_of_every_api_saved_on_one_restores_exactly_on_the_other(pair):
    a, b, _, eb = pair
    ok(a.post("/_emulator/clock", json={"freeze": True, "set": T0}))
    Kit(a).fill("one")
    saved = Kit(a).evidence()
    assert ok(a.post("/_emulator/snapshots", json={"name": "base"}), 201)["bytes"] > 0
    Kit(b).fill("two")
    assert Kit(b).evidence() != saved
    ok(b.post("/_emulator/snapshots/base/restore"))
    assert Kit(a).evidence() == saved == Kit(b).evidence()
    assert_refcounts_exact(eb)
    Kit(b).fill("three")  # new rows after the restore: ids and sequences go on past the restored ones
    exported = b.get("/_emulator/snapshots/base/export").content
    assert ok(a.put("/_emulator/snapshots/copy", content=exported), 201)["name"] == "copy"
    ok(b.delete("/_emulator/snapshots/base"))
    assert [s["name"] for s in ok(a.get("/_emulator/snapshots"))] == ["copy"]
    ok(a.post("/_emulator/snapshots/copy/restore"))
    assert Kit(b).evidence() == saved


def test_seeded_ids_are_one_stream_across_both(pair):
    _, _, ea, eb = pair
    ea.ids.reseed()
    drawn = [(ea, eb)[n % 2].ids.hex(8) for n in range(20)]
    alone = Ids(seed=5)
    assert drawn == [alone.hex(8) for _ in range(20)]  # one stream, in the order of the calls
    position = eb.ids.save()
    assert position == 20
    more = ea.ids.hex(8)
    eb.ids.load(position)
    assert ea.ids.hex(8) == more
    eb.ids.reseed()
    assert ea.ids.hex(8) == drawn[0]


def test_journal_entries_read_the_same_from_the_table_as_from_memory(tmp_path):
    """The shared journal's entries are the in-process ring's, field for field."""
    seen = []
    for settings in (Settings(database_url="sqlite://", seed=1), Settings(data_dir=tmp_path / "data", seed=1)):
        with TestClient(create_app(settings)) as client:
            client.post("/cgi-bin/token?grant_type=client_credential", json={"secret": "x" * 40})
            client.get("/cgi-bin/token", params=WX)
            entries = ok(client.get("/_emulator/requests"))
            for e in entries:
                e.pop("time"), e.pop("duration_ms"), e.pop("id")
                e["headers"].pop("host", None)
            seen.append(entries)
    assert seen[0] == seen[1] and seen[0][1]["query"]["secret"].endswith("***") and len(seen[0]) == 2
