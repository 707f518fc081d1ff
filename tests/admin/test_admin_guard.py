"""The admin API refuses what a web page could make the developer's browser send (issue 14 §2):
cross-site Origins, non-JSON bodies, foreign Host names (DNS rebinding), and, with
--admin-token, calls without the token. Health stays open; the vendor APIs are not affected."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from helpers import JPUSH_AUTH, start_server

from emulator.settings import Settings
from emulator.testing import InProcessEmulator, LiveEmulator

JSON = {"Content-Type": "application/json"}
EVIL = "http://evil.example"


def _upload(client) -> str:
    r = client.post("/v3/files/alias", files={"filename": ("a.txt", b"alice\n", "text/plain")}, auth=JPUSH_AUTH)
    assert r.status_code == 200, r.text
    return r.json()["file_id"]


@pytest.fixture
def _app(make_app):
    """``_app(**settings)``: a started in-memory app with these settings (from the pool)."""
    return lambda **settings: make_app(Settings(database_url="sqlite://", **settings))


@pytest.fixture
def c(_app):
    with TestClient(_app(), base_url="http://127.0.0.1:8080") as client:
        yield client


def test_a_cross_site_reset_is_refused_and_changes_nothing(c):
    file_id = _upload(c)
    r = c.post("/_emulator/reset", headers={"Content-Type": "text/plain", "Origin": EVIL}, content=b"x")
    assert r.status_code == 403 and "cross-site" in r.json()["error"]
    r = c.post("/_emulator/reset", headers={"Origin": EVIL})  # even bodiless
    assert r.status_code == 403
    r = c.post("/_emulator/clock", headers={"Origin": "null", **JSON}, json={"advance": 10})
    assert r.status_code == 403
    assert c.get(f"/v3/files/{file_id}", auth=JPUSH_AUTH).status_code == 200


def test_a_body_must_be_sent_as_json(c):
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        headers = {"Content-Type": ctype} if ctype else {}
        r = c.post("/_emulator/clock", content=b'{"advance": 10}', headers=headers)
        assert r.status_code == 403, ctype
        assert "Content-Type: application/json" in r.json()["error"]
        r = c.post("/_emulator/fixtures", content=b'{"jpush": []}', headers=headers)
        assert r.status_code == 403
    assert not c.get("/_emulator/clock").json()["frozen"]
    # JSON bodies, a bodiless POST and the same origin are fine
    assert c.post("/_emulator/clock", content=b'{"freeze": true}', headers=JSON).status_code == 200
    same_origin = {"Origin": "http://127.0.0.1:8080"}
    assert c.post("/_emulator/clock", json={"freeze": False}, headers=same_origin).status_code == 200
    assert c.post("/_emulator/reset").status_code == 200
    assert c.post("/_emulator/clock", content=b'{"advance": 1}',
                  headers={"Content-Type": "application/json; charset=utf-8"}).status_code == 200
    # PUT bodies are raw bytes (a browser needs a CORS preflight for them, never granted)
    assert c.put("/_emulator/store/probe", content=b"abc").status_code == 200
    assert c.put("/_emulator/store/probe", content=b"abc", headers={"Origin": EVIL}).status_code == 403


@pytest.mark.parametrize("host", ["rebind.evil.example:8080", "evil.example", "192.168.1.20:8080", "[::ffff:1.2.3.4]"])
def test_foreign_host_names_are_refused(c, host):
    r = c.get("/_emulator/credentials", headers={"Host": host})
    assert r.status_code == 403 and "--admin-allowed-hosts" in r.json()["error"]
    assert "secret" not in r.text
    assert c.post("/_emulator/reset", headers={"Host": host}).status_code == 403
    assert c.get("/_emulator/", headers={"Host": host}).status_code == 403
    # health stays open for health checks; the vendor APIs answer any Host
    assert c.get("/_emulator/health", headers={"Host": host}).status_code == 200
    assert c.get("/v3/files", auth=JPUSH_AUTH, headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["localhost:8080", "127.0.0.1", "127.0.0.2:9", "[::1]:8080", "LOCALHOST", "app.localhost"]
)
def test_loopback_names_are_answered(c, host):
    assert c.get("/_emulator/credentials", headers={"Host": host}).status_code == 200


def test_the_public_url_and_allowed_hosts_are_answered(_app):
    app = _app(public_url="http://emulator:8080", admin_allowed_hosts="emu.internal, Other.Example")
    with TestClient(app) as c:
        for host in ("emulator:8080", "emu.internal", "other.example:1234"):
            assert c.get("/_emulator/credentials", headers={"Host": host}).status_code == 200, host
        assert c.get("/_emulator/credentials", headers={"Host": "evil.example"}).status_code == 403
        # the public URL's origin is the emulator's own
        r = c.post("/_emulator/clock", json={"advance": 1}, headers={"Host": "emulator:8080", "Origin": "http://emulator:8080"})
        assert r.status_code == 200
    app.state.emulator.close()
    app = _app(admin_allowed_hosts="*")
    with TestClient(app) as c:
        assert c.get("/_emulator/credentials", headers={"Host": "anything.example"}).status_code == 200
    app.state.emulator.close()


def test_with_a_token_the_dashboards_own_files_load_and_everything_it_calls_needs_the_token(_app):
    """A browser opening the dashboard cannot send a bearer token: the page's three static
    files (no state in them) load, and the page asks for the token at its first refused call."""
    app = _app(admin_token="s3cret-token")
    with TestClient(app) as c:
        for path in ("/_emulator/", "/_emulator/dashboard.js", "/_emulator/dashboard.css"):
            assert c.get(path).status_code == 200, path
            assert "s3cret" not in c.get(path).text
            assert c.get(path, headers={"Host": "evil.example"}).status_code == 403  # the Host check stays
        assert c.post("/_emulator/", json={}).status_code in (401, 405)
    app.state.emulator.close()


def test_the_admin_token_guards_every_call_but_health(_app):
    app = _app(admin_token="s3cret-token")
    with TestClient(app) as c:
        for method, path in (("GET", "/_emulator/credentials"), ("POST", "/_emulator/reset"),
                             ("GET", "/_emulator/requests"), ("GET", "/_emulator/store"),
                             ("GET", "/_emulator/objects?api=jpush")):
            r = c.request(method, path)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert c.request(method, path, headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert c.request(method, path, headers={"Authorization": "Bearer s3cret-token"}).status_code == 200, path
        assert c.get("/_emulator/health").status_code == 200
        assert c.get("/v3/files", auth=JPUSH_AUTH).status_code == 200  # the vendor APIs need no admin token
    app.state.emulator.close()


def test_the_plugin_handles_pass_the_token_on():
    with InProcessEmulator(admin_token="tok-1") as emu:
        assert emu.client.get("/_emulator/credentials").status_code == 401
        emu.clock.advance(5)
        assert emu.credentials.jpush.app_key
        emu.reset()
        assert emu.requests() == []
    with LiveEmulator(admin_token="tok-2") as live:
        assert httpx.get(live.url + "/_emulator/credentials").status_code == 401
        live.clock.freeze()
        assert live.clock.frozen
        live.faults.clear()


def test_serve_flags_set_the_token_and_allowed_hosts(tmp_path: Path):
    server = start_server(tmp_path, "--admin-token", "cli-token", "--admin-allowed-hosts", "emulator")
    try:
        auth = {"Authorization": "Bearer cli-token"}
        assert httpx.get(server.url + "/_emulator/credentials").status_code == 401
        assert httpx.get(server.url + "/_emulator/credentials", headers=auth).status_code == 200
        credentials = server.url + "/_emulator/credentials"
        assert httpx.get(credentials, headers={**auth, "Host": "emulator:8080"}).status_code == 200
        assert httpx.get(credentials, headers={**auth, "Host": "evil.example"}).status_code == 403
        assert httpx.get(server.url + "/_emulator/health", headers={"Host": "evil.example"}).status_code == 200
    finally:
        server.stop()
    server = start_server(
        tmp_path, env={"EMULATOR_ADMIN_TOKEN": "env-token", "EMULATOR_ADMIN_ALLOWED_HOSTS": "a.example"}
    )
    try:
        auth = {"Authorization": "Bearer env-token"}
        credentials = server.url + "/_emulator/credentials"
        assert httpx.get(credentials, headers={**auth, "Host": "a.example"}).status_code == 200
        assert httpx.get(server.url + "/_emulator/credentials", headers={"Host": "a.example"}).status_code == 401
    finally:
        server.stop()
