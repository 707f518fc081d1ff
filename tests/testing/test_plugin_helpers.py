"""The plugin's fixtures and helpers, each checked against the API it serves."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import httpx
import pytest
import requests
from helpers import pan123_file

from emulator.testing import AdminError, InProcessEmulator, LiveEmulator

JSON = {"Content-Type": "application/json"}


# -- the in-process fixture ----------------------------------------------------------------
def first_then(pytester: pytest.Pytester, code: str) -> None:
    """Runs ``code`` (a test module whose ``test_first`` leaves state behind and whose
    ``test_then`` checks that none is left) as a pytest session of its own, with only the
    installed plugin, and requires both tests to pass, in that order. As two tests of this
    file, the second would prove nothing when run alone or first."""
    pytester.makepyfile(test_order=code)
    result = pytester.runpytest_inprocess("-v", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    order = [line.split("::")[1].split()[0] for line in result.outlines if "::test_" in line and "PASSED" in line]
    assert order == ["test_first", "test_then"], result.outlines


def test_each_test_gets_a_fresh_emulator(pytester):
    first_then(pytester, """
def test_first(emulator):
    jp = emulator.jpush_auth()
    r = emulator.client.post("/v3/files/alias", headers={"Authorization": jp}, files={"filename": ("a.txt", b"x\\n")})
    assert r.status_code == 200
    assert len(emulator.jpush_files()) == 1


def test_then(emulator):
    # nothing of test_first is left
    assert emulator.jpush_files() == []
    assert emulator.requests() == []
""")


def test_two_in_process_emulators_do_not_share_state():
    with InProcessEmulator() as a, InProcessEmulator() as b:
        a.clock.advance(1000)
        assert abs(b.clock.now() - a.clock.now()) > 900
        a.client.post("/v3/files/alias", headers={"Authorization": a.jpush_auth()},
                      files={"filename": ("a.txt", b"x\n")})
        assert len(a.jpush_files()) == 1 and b.jpush_files() == []


def test_settings_overrides_apply():
    with InProcessEmulator(seed=7) as a, InProcessEmulator(seed=7) as b:
        ids = []
        for emu in (a, b):
            r = emu.client.post("/v3/files/alias", headers={"Authorization": emu.jpush_auth()},
                                files={"filename": ("a.txt", b"x\n")})
            ids.append(r.json()["file_id"])
        assert ids[0] == ids[1]


def test_credentials_are_the_default_tenants(emulator):
    c = emulator.credentials
    assert c.jpush.app_key == "testjpushappkey000000001"
    assert c.pan123.client_id == "test-pan123-client"
    assert c.wechat.appid == "wxtest0000000000001"
    assert c.antelope.app_id == "Test"
    assert c.nextjoy.identity() == "1001:1000"
    with pytest.raises(AttributeError):
        _ = c.dropbox


# -- minting, each accepted by its API -----------------------------------------------------
def test_jpush_auth_header_is_basic_of_key_and_secret(emulator):
    header = emulator.jpush_auth()
    assert base64.b64decode(header.split()[1]).decode() == "testjpushappkey000000001:testjpushmastersecret001"
    assert emulator.client.get("/v3/files", headers={"Authorization": header}).status_code == 200
    dev = emulator.jpush_auth(dev=True)
    r = emulator.client.get("/v3/files", headers={"Authorization": dev})
    assert r.json()["error"]["code"] == 1105  # the default dev key is not file_vip


def test_pan123_token_is_accepted_and_not_journaled(emulator):
    r = emulator.client.get("/api/v1/oss/file/list", params={"limit": 10}, headers=emulator.pan123_headers())
    assert r.json()["code"] != 401
    assert [e["path"] for e in emulator.requests()] == ["/api/v1/oss/file/list"]


def test_antelope_token_is_accepted_then_expires(emulator):
    token = emulator.antelope_token(5, ttl=10)
    q = {"access_token": token, "size": 3, "key": "/5/x"}
    assert emulator.client.post("/upload2", params=q, files={"file": ("x", b"abc")}).status_code == 200
    emulator.clock.advance(11)
    assert emulator.client.post("/upload2", params=q, files={"file": ("x", b"abc")}).status_code == 401


def test_nextjoy_sign_matches_the_documented_md5(emulator):
    params = {"appid": "1001", "child_id": "1000", "timestamp": "1525756883", "key": "a b"}
    plain = "appid|1001#child_id|1000#key|a b#timestamp|1525756883#test-nextjoy-app-secret"
    assert emulator.nextjoy_sign(params) == hashlib.md5(plain.encode()).hexdigest().upper()
    body = emulator.client.post("/upload_token/get", data=emulator.nextjoy_params()).json()
    assert body["status"] == 200 and body["data"]["upload_token"].startswith("test-qiniu-access-key:")


def test_nextjoy_params_follow_the_emulator_clock(emulator):
    emulator.clock.advance(10_000)
    assert emulator.client.post("/upload_token/get", data=emulator.nextjoy_params()).json()["status"] == 200


def test_wechat_token_is_accepted(emulator):
    token = emulator.wechat_token()
    body = emulator.client.post("/tcb/batchdownloadfile", params={"access_token": token},
                                json={"env": "test-1a2b3c", "file_list": []}).json()
    assert body["errcode"] != 40001 and body["errcode"] != 42001


def test_minting_for_an_unknown_tenant_is_an_admin_error(emulator):
    with pytest.raises(AdminError):
        emulator.pan123_token("nobody")


# -- clock, journal, limits ----------------------------------------------------------------
def test_clock_helpers(emulator):
    emulator.clock.freeze()
    assert emulator.clock.frozen
    t = emulator.clock.set(2_000_000_000)
    assert t == 2_000_000_000 == emulator.clock.now()
    assert emulator.clock.advance(5) == 2_000_000_005
    emulator.clock.real()
    assert not emulator.clock.frozen
    import time

    assert abs(emulator.clock.now() - time.time()) < 5


def test_journal_filters(emulator):
    auth = {"Authorization": emulator.jpush_auth()}
    emulator.client.get("/v3/files", headers=auth)
    emulator.client.get("/v3/files/nope-id", headers=auth)
    emulator.client.get("/v3/files", headers={"Authorization": "Basic bm9wZTpub3Bl"})
    assert len(emulator.requests(api="jpush")) == 3
    assert [(e["status"], e["code"]) for e in emulator.requests(status="4xx")] == [(400, 1104), (400, 1101)]
    assert len(emulator.requests(status=400)) == 2 and len(emulator.requests(status="2xx")) == 1
    assert emulator.requests(status=401) == []
    assert len(emulator.requests(path="/v3/files/*")) == 1
    assert len(emulator.requests(tenant="testjpushappkey000000001")) == 2
    assert len(emulator.requests(limit=1)) == 1
    emulator.clear_requests()
    assert emulator.requests() == []


def test_rate_limits_off_and_on(emulator):
    auth = {"Authorization": emulator.jpush_auth()}
    emulator.clock.freeze()
    statuses = [emulator.client.get("/v3/files", headers=auth).status_code for _ in range(21)]
    assert statuses[-1] == 429
    emulator.rate_limits(False)
    assert emulator.client.get("/v3/files", headers=auth).status_code == 200
    emulator.rate_limits(True)
    assert emulator.client.get("/v3/files", headers=auth).status_code == 429


# -- evidence --------------------------------------------------------------------------------
def test_object_bytes_for_pan123_antelope_nextjoy_wechat(emulator):
    # 123pan: one-slice upload
    data = b"pan123 bytes"
    file_id, _ = pan123_file(emulator, data)
    assert emulator.object_bytes("pan123", file_id) == data
    # Antelope
    r = emulator.client.post("/upload2", params={"access_token": emulator.antelope_token(1), "size": 4, "key": "/1/k"},
                             files={"file": ("k", b"ante")})
    assert emulator.object_bytes("antelope", r.json()["obj_id"]) == b"ante"
    with pytest.raises(AdminError):
        emulator.object_bytes("antelope", "0" * 24)
    # NextJoy / Qiniu
    token = emulator.client.post("/upload_token/get", data=emulator.nextjoy_params()).json()["data"]["upload_token"]
    up = emulator.client.post(emulator.endpoints["qiniu_upload"], data={"token": token, "key": "n/k"},
                              files={"file": ("k", b"qiniu")})
    assert up.status_code == 200, up.text
    assert emulator.object_bytes("nextjoy", "n/k") == b"qiniu"
    assert [o["key"] for o in emulator.objects("nextjoy")] == ["n/k"]
    with pytest.raises(ValueError):
        emulator.object_bytes("jpush", "x")


def test_antelope_events_helper(emulator):
    import json

    msg = {"channel_id": 3, "subject": "s", "body": {"a": 1}, "attachments": []}
    r = emulator.client.post("/upload3", params={"access_token": emulator.antelope_token(1)},
                             files={"message": (None, json.dumps(msg))})
    assert r.status_code == 200, r.text
    [event] = emulator.antelope_events(channel_id=3)
    assert event["event"]["subject"] == "s"


# -- async client ------------------------------------------------------------------------------
def test_async_client(emulator):
    async def go() -> int:
        async with emulator.async_client() as c:
            r = await c.get("/v3/files", headers={"Authorization": emulator.jpush_auth()})
            return r.status_code

    assert asyncio.run(go()) == 200


def test_transport_for_a_client_of_ones_own(emulator):
    with httpx.Client(transport=emulator.transport(), base_url=emulator.url) as mine:
        assert mine.get("/_emulator/health").json()["status"] == "ok"


# -- the live server ---------------------------------------------------------------------------
def test_live_server_url_and_public_url_agree(emulator_server):
    assert emulator_server.url == emulator_server.public_url
    assert emulator_server.endpoints["base"] == emulator_server.url
    h = emulator_server.pan123_headers()
    created = requests.post(emulator_server.url + "/upload/v1/oss/file/create", headers=h, json={
        "parentFileID": "", "filename": "a.bin", "etag": hashlib.md5(b"abc").hexdigest(), "size": 3,
        "type": 1}).json()["data"]
    url = requests.post(emulator_server.url + "/upload/v1/oss/file/get_upload_url", headers=h,
                        json={"preuploadID": created["preuploadID"], "sliceNo": 1}).json()["data"]["presignedURL"]
    assert url.startswith(emulator_server.url + "/")
    assert requests.put(url, data=b"abc").status_code == 200


def test_live_server_is_reset_between_tests(pytester):
    first_then(pytester, """
import time

import requests

SERVERS = []


def test_first(emulator_server):
    SERVERS.append(emulator_server)
    emulator_server.clock.advance(10_000)
    emulator_server.rate_limits(False)
    emulator_server._admin("POST", "/pan123/config", json={"slice_size": 1024})
    requests.post(emulator_server.url + "/v3/files/alias",
                  auth=("testjpushappkey000000001", "testjpushmastersecret001"),
                  files={"filename": ("a.txt", b"x\\n")}).raise_for_status()


def test_then(emulator_server):
    assert SERVERS == [emulator_server]  # the same server, reset
    assert emulator_server.jpush_files() == []
    assert emulator_server.requests() == []
    assert abs(emulator_server.clock.now() - time.time()) < 60
    assert emulator_server._admin("GET", "/limits") == {"enabled": True}
    assert emulator_server._admin("GET", "/pan123/config")["slice_size"] == 104857600
""")


def test_a_live_emulator_of_ones_own():
    with LiveEmulator(seed=3) as live:
        assert httpx.get(live.url + "/_emulator/health").status_code == 200
        assert live.state.settings.seed == 3
    with pytest.raises(httpx.ConnectError):
        httpx.get(live.url + "/_emulator/health", timeout=2)


def test_admin_mint_endpoints_refuse_bad_bodies(emulator):
    for path, field in (("/_emulator/pan123/tokens", "client_id"), ("/_emulator/wechat/tokens", "appid")):
        assert emulator.client.post(path, content=b"{not json", headers=JSON).status_code == 400
        assert emulator.client.post(path, json=[1]).status_code == 400
        assert emulator.client.post(path, json={"other": 1}).status_code == 400
        assert emulator.client.post(path, json={field: "nobody"}).status_code == 404
        assert emulator.client.post(path).status_code == 200
    assert emulator.requests() == []


def test_pan123_disk_shows_the_cloud_disk_tree_and_its_bin(emulator):
    h = emulator.pan123_headers()
    made = emulator.client.post("/upload/v1/file/mkdir", headers=h, json={"name": "docs", "parentID": 0}).json()
    folder = made["data"]["dirID"]
    emulator.client.post("/api/v1/file/trash", headers=h, json={"fileIDs": [folder]})
    [entry] = emulator.pan123_disk()
    assert entry["path"] == "/docs" and entry["id"] == folder and entry["trashed"] is True
    assert emulator.pan123_disk("test-pan123-client") == [entry]
