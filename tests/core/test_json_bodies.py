"""Bodies that cannot be JSON (not UTF-8, nested beyond the parser's depth) get each API's
own bad-JSON error, and the admin API's 400, never an internal error."""

from __future__ import annotations

import pytest

DEEP = b"[" * 100_000 + b"]" * 100_000
NOT_UTF8 = b'{"a": "\xff\xfe"}'


@pytest.mark.parametrize("body", [DEEP, NOT_UTF8], ids=["deep", "not-utf8"])
@pytest.mark.parametrize("path", ["/_emulator/pan123/config", "/_emulator/pan123/tokens", "/_emulator/wechat/tokens",
                                  "/_emulator/faults", "/_emulator/fixtures", "/_emulator/clock", "/_emulator/reset"])
def test_admin_answers_400(emulator, path, body):
    r = emulator.client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("body", [DEEP, NOT_UTF8], ids=["deep", "not-utf8"])
def test_vendor_paths_answer_their_bad_json_errors(emulator, body):
    h = {"content-type": "application/json"}
    r = emulator.client.post("/api/v1/access_token", content=body, headers={**h, "Platform": "open_platform"})
    assert r.json()["code"] == 1, r.text  # 123pan reads bodies leniently (U+FFFD for bad bytes)
    if body is DEEP:
        assert "JSON" in r.json()["message"], r.text
    r = emulator.client.post("/tcb/uploadfile", params={"access_token": emulator.wechat_token()}, content=body)
    assert r.json()["errcode"] not in (-1, 0), r.text
    r = emulator.client.post("/upload_token/get", content=body, headers=h)
    assert r.json()["status"] == 18007, r.text
    r = emulator.client.post("/upload2", params={"access_token": emulator.antelope_token(1), "size": 1},
                             files={"metadata": (None, body), "file": ("a", b"x")})
    assert r.status_code == 400, r.text
    internal = [e for e in emulator.requests() if e["status"] == 500 or "internal" in str(e.get("reason", "")).lower()]
    assert internal == []
