"""A NUL character in a parameter is bad input on every backend, never an internal error
(PostgreSQL text cannot hold one: psycopg refuses the statement; SQLite would keep it). In the
URL (path or query) or in a JSON body it is refused before the route runs; anywhere else, on
PostgreSQL, the driver's refusal is answered as the API's invalid-request error."""

from __future__ import annotations

import sys
from pathlib import Path

from helpers import JPUSH_AUTH

from emulator.core.blobs import Blob

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "wechat"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pan123"))

from pan123_support import Pan
from test_wechat_storage import ENV, cos_error, cos_form, count, get_token, path_of, stored, tcb


def test_a_nul_in_the_url_is_each_apis_invalid_request(client, emu):
    r = client.delete("/v3/files/abc%00", auth=JPUSH_AUTH)
    assert (r.status_code, r.json()["error"]["code"]) == (400, 1103), r.text
    r = client.post("/tcb/uploadfile", params={"access_token": "a\x00"}, json={"env": ENV, "path": "a"})
    assert r.status_code == 200 and r.json()["errcode"] not in (-1, 0), r.text
    entries = client.get("/_emulator/requests").json()
    assert [e["reason"] for e in entries[-2:]] == ["NUL in the path or query"] * 2


def test_a_nul_in_a_json_string_is_the_apis_bad_json_answer(client, emu):
    pan = Pan(client)
    before = pan.ok("/api/v2/file/list", {"parentFileId": 0, "limit": 100}, method="GET")
    status, message = pan.err("/api/v1/file/trash", {"fileIDs": ["1\u0000"]})
    assert status == 1 and message, message
    assert pan.ok("/api/v2/file/list", {"parentFileId": 0, "limit": 100}, method="GET") == before


def test_a_nul_in_a_form_field_is_never_an_internal_error(client, emu):
    """The COS form's credentials are looked up by value: a NUL in one is refused (on
    PostgreSQL by the driver, answered as InvalidArgument), and nothing is stored."""
    token = get_token(client)
    link = tcb(client, "uploadfile", {"env": ENV, "path": "d/a.txt"}, token).json()
    blobs = count(emu, Blob)
    for field in ("x-cos-security-token", "x-cos-meta-fileid", "key"):
        value = (link["token"] if field == "x-cos-security-token" else
                 link["cos_file_id"] if field == "x-cos-meta-fileid" else "d/a.txt") + "\x00"
        r = client.post(path_of(link["url"]), files=cos_form(link, "d/a.txt", b"hello", override={field: value}))
        status, code = cos_error(r)
        assert 400 <= status < 500 and code in ("InvalidArgument", "AccessDenied", "SignatureDoesNotMatch"), r.text
    assert stored(client) == [] and count(emu, Blob) == blobs
    # the grant still works for the right fields
    r = client.post(path_of(link["url"]), files=cos_form(link, "d/a.txt", b"hello"))
    assert r.status_code == 204, r.text
