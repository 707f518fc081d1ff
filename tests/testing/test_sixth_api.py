"""A sixth API touches only its own folder and one registration (issue 15): the test-only
module tests/sixth_api.py (router, tenant model, service with state hooks, admin router,
per-worker tenants) registered next to the five in a fresh app, with no other edit. The
runtime, the admin API (health, credentials, fixtures, reset, snapshots, faults, preload),
the testing handle and per-worker tenants on a shared emulator all work for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sixth_api import API as SIXTH

from emulator.apis import ALL_APIS
from emulator.settings import Settings
from emulator.testing import AdminError, InProcessEmulator, LiveEmulator, SharedEmulator

APIS = [*ALL_APIS, SIXTH]


@pytest.fixture
def fixtures(tmp_path: Path) -> list[Path]:
    sixth = tmp_path / "sixth.yaml"
    sixth.write_text("sixth:\n  - {key: k1, name: Ann}\n  - {key: k2, name: Bob}\n")
    return [*Settings(database_url="sqlite://").fixtures, sixth]  # the default tenants, and the sixth API's


def hello(client, key: str):
    return client.get("/sixth/hello", headers={"x-sixth-key": key})


def test_a_sixth_api_in_process(fixtures):
    with InProcessEmulator(apis=APIS, fixtures=fixtures) as emu:
        c = emu.client
        health = c.get("/_emulator/health").json()
        assert health["apis"] == [*(spec.name for spec in ALL_APIS), "sixth"]
        assert health["endpoints"]["sixth"] == emu.url + "/sixth"
        assert [t["key"] for t in c.get("/_emulator/credentials").json()["sixth"]] == ["k1", "k2"]
        assert emu.credentials.sixth.key == "k1" and [t.name for t in emu.tenants("sixth")] == ["Ann", "Bob"]
        assert emu.credentials.jpush.app_key  # the five are still there

        # its routes, journaled under its name; faults find it in the registry
        assert hello(c, "k2").json() == {"greeting": "hello, Bob", "key": "k2"}
        assert hello(c, "nobody").status_code == 401
        assert [e["status"] for e in emu.requests(api="sixth")] == [200, 401]
        rule = emu.faults.add(api="sixth", status=503)
        assert hello(c, "k1").status_code == 503
        emu.faults.remove(rule["id"])

        # its admin router: one error shape, one body reader
        r = c.post("/_emulator/sixth/greeting", content=b"{nope", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"].startswith("body is not JSON")
        assert c.post("/_emulator/sixth/greeting", json={"greeting": 1}).status_code == 400
        assert c.post("/_emulator/sixth/greeting", json={"greeting": "hi"}).json() == {"greeting": "hi"}
        assert c.post("/_emulator/sixth/whoami", json={"key": "k9"}).json() == {"error": "no sixth tenant 'k9'"}
        assert c.post("/_emulator/sixth/whoami").json()["key"] == "k1"
        listed = c.get("/_emulator/objects", params={"api": "sixth"}).json()
        assert (listed["views"], listed["tenants"], listed["items"][0]["name"]) == (["greetings"], ["k1", "k2"], "hi")

        # snapshots carry its state through save_state / check_state / load_state
        service = emu.state.service("sixth")
        emu.snapshot("s1")
        c.post("/_emulator/sixth/greeting", json={"greeting": "bye"})
        assert hello(c, "k1").json()["greeting"] == "bye, Ann"
        changes = service.changes  # type: ignore[attr-defined]
        emu.restore("s1")
        assert hello(c, "k1").json()["greeting"] == "hi, Ann"
        assert service.changes == changes + 1  # type: ignore[attr-defined]  # state_changed after the restore

        # reset (whole and scoped), fixtures, scoped snapshots
        emu.reset()
        assert service.changes == changes + 2  # type: ignore[attr-defined]
        assert c.post("/_emulator/reset", json={"tenants": {"sixth": ["k1"]}}).status_code == 200
        r = c.post("/_emulator/fixtures", json={"sixth": [{"key": "k3"}]})
        assert r.status_code == 200 and [t["key"] for t in r.json()["tenants"]["sixth"]] == ["k1", "k2", "k3"]
        assert hello(c, "k3").json()["greeting"] == "hi, someone"
        r = c.post("/_emulator/snapshots", json={"name": "only-k3", "tenants": {"sixth": ["k3"]}})
        assert r.status_code == 201, r.text
        assert c.post("/_emulator/snapshots/only-k3/restore").status_code == 200

        # it takes no preloaded objects, and says so as every other refusal
        r = c.put("/_emulator/preload/sixth/k1/a.txt", content=b"x")
        assert r.status_code == 400 and "unknown API folder 'sixth'" in r.json()["error"]


def test_a_sixth_api_on_a_shared_live_emulator_gives_each_worker_a_tenant_of_its_own(fixtures):
    with LiveEmulator(apis=APIS, fixtures=fixtures) as live:
        shared = SharedEmulator(live.url, worker="w7", apis=APIS)
        try:
            mine = shared.credentials.sixth
            assert mine.key.startswith("k1-w7-") and mine.name == "Ann"
            assert hello(shared.client, mine.key).json()["key"] == mine.key
            assert shared.credentials.scope()["sixth"] == [mine.key]
            assert shared.snapshot("w7")["name"] == "w7"
            shared.reset()
        finally:
            shared.close()
        # a worker that does not know the sixth API is refused, rather than sharing its tenant
        with pytest.raises(AdminError, match="sixth"):
            SharedEmulator(live.url, worker="w8")
