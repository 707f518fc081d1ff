"""The admin API under /_emulator (CONTRACT.md)."""

from __future__ import annotations

import time

import pytest
import yaml
from helpers import JPUSH_AUTH, REPO

from emulator import __version__


def test_health_shape(client):
    body = client.get("/_emulator/health").json()
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert "jpush" in body["apis"]
    assert body["endpoints"]["base"] == "http://testserver"
    assert body["endpoints"]["jpush"] == "http://testserver"


def test_health_links_follow_public_url_and_never_a_wildcard(tmp_path):
    from fastapi.testclient import TestClient

    from emulator.app import create_app
    from emulator.settings import Settings

    with TestClient(create_app(Settings(database_url="sqlite://"))) as c:
        assert c.get("/_emulator/health", headers={"host": "0.0.0.0:8080"}).json()["endpoints"]["base"] == (
            "http://127.0.0.1:8080"
        )
    app = create_app(Settings(database_url="sqlite://", public_url="http://emulator:8080/"))
    with TestClient(app) as c:
        assert c.get("/_emulator/health").json()["endpoints"]["base"] == "http://emulator:8080"


def test_credentials_are_the_loaded_tenants_in_fixture_format(client):
    expected = yaml.safe_load((REPO / "fixtures" / "default.yaml").read_text())
    got = client.get("/_emulator/credentials").json()
    for api, tenants in expected.items():
        for want, have in zip(tenants, got[api], strict=True):
            assert {k: have[k] for k in want} == want


def test_fixtures_post_adds_tenants_that_work_at_once(client):
    r = client.post("/_emulator/fixtures", json={"jpush": [{"app_key": "newapp", "master_secret": "newsecret"}]})
    assert r.status_code == 200 and r.json()["added"] == 1
    assert client.get("/v3/files", auth=("newapp", "newsecret")).status_code == 200
    assert any(t["app_key"] == "newapp" for t in client.get("/_emulator/credentials").json()["jpush"])


@pytest.mark.parametrize(
    "body",
    [
        b'{"jpush": [{"app_key": "x", "master_secret": "y", "bogus": 1}]}',
        b'{"nosuchapi": []}',
        b"not json",
        b"[1, 2]",
    ],
)
def test_fixtures_post_refuses_bad_documents_and_changes_nothing(client, body):
    before = client.get("/_emulator/credentials").json()
    r = client.post("/_emulator/fixtures", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]
    assert client.get("/_emulator/credentials").json() == before


def test_reset_drops_state_but_keeps_tenants(client, emu):
    client.post("/_emulator/fixtures", json={"jpush": [{"app_key": "keep", "master_secret": "me"}]})
    client.post("/v3/files/alias", files={"filename": ("a.txt", b"a\n")}, auth=JPUSH_AUTH)
    for _ in range(19):
        client.get("/v3/files", auth=JPUSH_AUTH)
    assert client.get("/v3/files", auth=JPUSH_AUTH).status_code == 429
    assert emu.blobs.stats()["blobs"] == 1
    assert client.post("/_emulator/reset").json() == {"status": "ok"}
    assert client.get("/_emulator/requests").json() == []
    assert emu.blobs.stats() == {"blobs": 0, "bytes": 0}
    r = client.get("/v3/files", auth=JPUSH_AUTH)  # limit counter gone too
    assert r.status_code == 200 and r.json()["total_count"] == 0
    assert client.get("/v3/files", auth=("keep", "me")).status_code == 200


def test_requests_journal_filters_and_clear(client):
    client.get("/v3/files", auth=JPUSH_AUTH)
    client.get("/v3/files/x", auth=JPUSH_AUTH)
    client.get("/no/such/path")
    entries = client.get("/_emulator/requests").json()
    assert [(e["api"], e["path"], e["status"]) for e in entries] == [
        ("jpush", "/v3/files", 200),
        ("jpush", "/v3/files/x", 400),
        (None, "/no/such/path", 404),
    ]
    for e in entries:
        assert {"time", "api", "method", "path", "query", "status", "code", "duration_ms"} <= set(e)
    assert [e["path"] for e in client.get("/_emulator/requests", params={"status": "4xx"}).json()] == [
        "/v3/files/x",
        "/no/such/path",
    ]
    assert len(client.get("/_emulator/requests", params={"api": "jpush", "limit": 1}).json()) == 1
    assert client.get("/_emulator/requests", params={"path": "/v3/*"}).json()[0]["path"] == "/v3/files"
    assert client.delete("/_emulator/requests").status_code == 200
    assert client.get("/_emulator/requests").json() == []


def test_admin_calls_are_not_journaled(client):
    client.get("/_emulator/health")
    client.get("/_emulator/clock")
    assert client.get("/_emulator/requests").json() == []


def test_journal_is_bounded_by_setting():
    from fastapi.testclient import TestClient

    from emulator.app import create_app
    from emulator.settings import Settings

    with TestClient(create_app(Settings(database_url="sqlite://", journal_size=3))) as c:
        for i in range(5):
            c.get(f"/nothing/{i}")
        assert [e["path"] for e in c.get("/_emulator/requests").json()] == ["/nothing/2", "/nothing/3", "/nothing/4"]


def test_clock_get_and_post(client):
    state = client.get("/_emulator/clock").json()
    assert abs(state["now"] - time.time()) < 2 and state["frozen"] is False
    assert client.post("/_emulator/clock", json={"freeze": True, "set": 1000}).json() == {"now": 1000, "frozen": True}
    assert client.post("/_emulator/clock", json={"advance": 60.5}).json() == {"now": 1060.5, "frozen": True}
    after = client.post("/_emulator/clock", json={"freeze": False}).json()
    assert after["frozen"] is False and 1060.5 <= after["now"] < 1062


@pytest.mark.parametrize(
    "body",
    [{"advance": "soon"}, {"set": -5}, {"freeze": "yes"}, {"rewind": 1}, [1], {"advance": True}],
)
def test_clock_post_refuses_bad_bodies_and_keeps_time(client, body):
    client.post("/_emulator/clock", json={"freeze": True, "set": 1000})
    r = client.post("/_emulator/clock", json=body)
    assert r.status_code == 400 and r.json()["error"]
    assert client.get("/_emulator/clock").json() == {"now": 1000, "frozen": True}


def test_store_probe_streams_and_reclaims(client, emu):
    import hashlib

    data = b"0123456789" * 300_000
    r = client.put("/_emulator/store/probe", content=data)
    assert r.json() == {"size": len(data), "md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest()}
    assert client.get("/_emulator/store").json() == {"blobs": 0, "bytes": 0}
