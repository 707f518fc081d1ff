"""Out-of-range values on the admin API (issue 14 §3): hostile bodies answer 400 with a message
of the emulator's own (never a 500 or Python's hint), and no accepted setting makes a vendor
call fail afterwards."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from helpers import JPUSH_AUTH, pan123_file

from emulator.settings import Settings
from emulator.testing import InProcessEmulator

JSON = {"Content-Type": "application/json"}
HUGE = b"1" * 4400
POSTS = ["/_emulator/fixtures", "/_emulator/reset", "/_emulator/clock", "/_emulator/limits", "/_emulator/faults",
         "/_emulator/snapshots", "/_emulator/antelope/tokens", "/_emulator/pan123/config",
         "/_emulator/pan123/tokens", "/_emulator/wechat/tokens"]
HOSTILE = {
    "huge int": b'{"x": ' + HUGE + b"}",
    "huge int alone": HUGE,
    "NaN": b'{"cid": NaN}',
    "1e999": b'{"cid": 1e999}',
    "lone surrogate": b'{"app_id": "\\ud800"}',
    "-Infinity": b"[-Infinity]",
}
FIELDS = {  # each endpoint's own field, given a hostile value
    "/_emulator/fixtures": [b'{"jpush": [{"app_key": "k", "master_secret": "s", "file_vip": ' + HUGE + b"}]}"],
    "/_emulator/clock": [b'{"set": ' + HUGE + b"}", b'{"advance": ' + HUGE + b"}", b'{"set": 1e300}'],
    "/_emulator/limits": [b'{"enabled": ' + HUGE + b"}"],
    "/_emulator/faults": [b'{"api": "jpush", "status": 503, "times": ' + HUGE + b"}"],
    "/_emulator/snapshots": [b'{"name": ' + HUGE + b"}"],
    "/_emulator/antelope/tokens": [b'{"cid": NaN}', b'{"cid": 1e999}', b'{"cid": 1, "app_id": "\\ud800"}',
                                   b'{"cid": ' + HUGE + b"}"],
    "/_emulator/pan123/config": [b'{"slice_size": ' + HUGE + b"}"],
}


@pytest.fixture
def c(make_app):
    with TestClient(make_app(Settings(database_url="sqlite://")), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_bodies_answer_400_with_our_message(c, path, kind, caplog):
    caplog.set_level(logging.INFO)
    r = c.post(path, content=HOSTILE[kind], headers=JSON)
    assert r.status_code == 400, (path, kind, r.status_code, r.text)
    message = r.json()["error"]
    assert "set_int_max_str_digits" not in message and "Exceeds the limit" not in message
    assert not [rec for rec in caplog.records if rec.exc_info], path


@pytest.mark.parametrize("path", list(FIELDS))
def test_hostile_field_values_answer_400(c, path):
    for body in FIELDS[path]:
        r = c.post(path, content=body, headers=JSON)
        assert r.status_code == 400, (path, body[:60], r.status_code, r.text)
        assert "set_int_max_str_digits" not in r.text


@pytest.mark.parametrize("body", [
    {"set": 1e13}, {"set": 4102444800 + 1}, {"set": -1}, {"advance": 1e13}, {"advance": -1e13},
])
def test_the_clock_stays_within_what_the_vendors_dates_can_express(c, body):
    before = c.get("/_emulator/clock").json()
    r = c.post("/_emulator/clock", json=body)
    assert r.status_code == 400 and "between" in r.json()["error"], r.text
    after = c.get("/_emulator/clock").json()
    assert abs(after["now"] - before["now"]) < 5  # unchanged


def test_the_clock_at_its_bounds_keeps_every_vendor_call_working():
    with InProcessEmulator(rate_limits=False) as emu:
        for instant in (0, 4102444800 - 1):
            emu.clock.set(instant)
            emu.clock.freeze()
            # JPush upload + listing (dates in Beijing time), 123pan token (expiredAt) and upload
            r = emu.client.post(
                "/v3/files/alias", files={"filename": ("a.txt", b"alice\n", "text/plain")}, auth=JPUSH_AUTH
            )
            assert r.status_code == 200, r.text
            assert emu.client.get("/v3/files", auth=JPUSH_AUTH).status_code == 200
            r = emu.client.post("/api/v1/access_token", headers={"Platform": "open_platform"},
                                json={"clientID": emu.credentials.pan123.client_id,
                                      "clientSecret": emu.credentials.pan123.client_secret})
            assert r.json()["code"] == 0, r.text
            pan123_file(emu, b"x" * 1000, name=f"f{instant}.bin")
            assert emu.antelope_token(1003775)
            emu.reset()


@pytest.mark.parametrize("field,value", [
    ("slice_size", 100000000000000000000), ("slice_size", 1 << 50), ("token_lifetime", 1e18),
    ("presign_expires", 10**15), ("v2_slice_size", 1 << 50), ("async_seconds", 1e15),
])
def test_pan123_config_refuses_values_that_would_break_its_calls(c, field, value):
    before = c.get("/_emulator/pan123/config").json()
    r = c.post("/_emulator/pan123/config", json={field: value})
    assert r.status_code == 400 and field in r.json()["error"], r.text
    assert c.get("/_emulator/pan123/config").json() == before


def test_pan123_config_qps_refuses_huge_values(c):
    r = c.post("/_emulator/pan123/config", json={"qps": {"api/v1/access_token": 10**30}})
    assert r.status_code == 400


def test_pan123_largest_accepted_values_keep_create_working():
    with InProcessEmulator() as emu:
        emu.pan123_config(slice_size=1 << 40, token_lifetime=100 * 365 * 86400, presign_expires=100 * 365 * 86400)
        fid, _ = pan123_file(emu, b"y" * 5000)
        assert fid


def test_nextjoy_huge_int_appid_is_the_bad_parameter_error():
    """Malformed input is NextJoy's documented bad-parameter error (18007), never 18005."""
    import json

    with InProcessEmulator() as emu:
        params = emu.nextjoy_params()
        body = json.dumps({**params, "appid": 0}).replace('"appid": 0', '"appid": ' + "1" * 4400)
        r = emu.client.post("/upload_token/get", content=body, headers=JSON)
        assert r.status_code == 200 and r.json()["status"] == 18007, r.text
        for constant in ("NaN", "1e999", '"\\ud800"'):
            body = json.dumps({**params, "timestamp": 0}).replace('"timestamp": 0', '"timestamp": ' + constant)
            r = emu.client.post("/upload_token/get", content=body, headers=JSON)
            assert r.json()["status"] == 18007, (constant, r.text)


def test_a_client_gone_during_an_admin_body_read_is_one_log_line(caplog):
    class Gone(Exception):
        pass

    def body():
        yield b'{"jpush": ['
        raise Gone("client went away")

    caplog.set_level(logging.INFO)
    with InProcessEmulator() as emu:
        with pytest.raises(Gone):
            emu.client.post("/_emulator/fixtures", content=body(), headers=JSON)
        assert emu.client.get("/_emulator/health").status_code == 200
    lines = [r for r in caplog.records if "closed the connection" in r.getMessage()]
    assert len(lines) == 1 and "/_emulator/fixtures" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("doc", [
    {"pan123": [{"client_id": "x", "client_secret": "y", "uid": 10**30}]},
    {"nextjoy": [{"appid": 10**30, "child_id": 1, "app_secret": "s", "bucket": "b", "qiniu_access_key": "a",
                  "qiniu_secret_key": "s"}]},
])
def test_fixtures_refuse_integers_no_database_holds(c, doc):
    before = c.get("/_emulator/credentials").json()
    r = c.post("/_emulator/fixtures", json=doc)
    assert r.status_code == 400 and "out of range" in r.json()["error"], r.text
    assert c.get("/_emulator/credentials").json() == before
