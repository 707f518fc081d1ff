"""Issue 11 on NextJoy: a repeated form key is refused (never half-applied), and a wrong
HTTP method on a NextJoy path or a Qiniu host path answers in that host's own error shape."""

from __future__ import annotations

import json

import pytest

CHECK_FAILED = {"status": 18007, "message": "获取uploadToken请求校验失败", "data": {}}


def state(client) -> tuple:
    return client.get("/_emulator/nextjoy/objects").json(), client.get("/_emulator/store").json()


# -- repeated keys ------------------------------------------------------------------------


def test_a_repeated_keystr_deletes_nothing_and_is_18007(client, nj):
    nj.put("a", b"1")
    nj.put("b", b"2")
    before = state(client)
    # What requests sends for data={"keystr": ["a", "b"]}: the name twice. Signed over the
    # last value, so a parser that kept the last one would accept the call and delete "b".
    params = nj.params(keystr="b")
    body = {**params, "keystr": ["a", "b"]}
    r = client.post("/upload_token/batch_del_file", data=body)
    assert (r.status_code, r.json()) == (200, CHECK_FAILED)
    assert state(client) == before
    entry = client.get("/_emulator/requests", params={"path": "/upload_token/*"}).json()[-1]
    assert "'keystr' is given more than once" in entry["reason"]


@pytest.mark.parametrize("name", ["appid", "sign", "timestamp", "marker"])
def test_any_repeated_parameter_is_18007(client, nj, name):
    params = nj.params(marker="", prefix="")
    body = {**params, name: [params[name], params[name]]}  # even the same value twice
    r = client.post("/upload_token/get_file_list", data=body)
    assert r.json() == CHECK_FAILED


def test_a_repeated_multipart_field_is_18007(client, nj):
    params = nj.params(urls="http://cdn.example/b.png")  # signed over the last value
    files = [("urls", (None, "http://cdn.example/a.png"))] + [(k, (None, v)) for k, v in params.items()]
    r = client.post("/upload_token/batch_refresh_file", files=files)
    assert r.json() == CHECK_FAILED
    assert client.get("/_emulator/nextjoy/refreshes").json() == []


def test_a_repeated_json_name_is_18007(client, nj):
    params = nj.params(dirs="http://cdn.example/e/")  # signed over the last value
    text = '{"dirs": "http://cdn.example/d/", ' + json.dumps(params)[1:]
    r = client.post("/upload_token/batch_refresh_dir", content=text, headers={"content-type": "application/json"})
    assert r.json() == CHECK_FAILED
    assert client.get("/_emulator/nextjoy/refreshes").json() == []


def test_one_value_each_still_works(client, nj):
    nj.put("a", b"1")
    assert nj.call("batch_del_file", keystr="a")["status"] == 200


# -- wrong methods ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("call", ["get", "get_file_list", "batch_del_file"])
def test_a_wrong_method_on_a_nextjoy_path_is_18007_on_http_200(client, nj, method, call):
    nj.put("a", b"1")
    before = state(client)
    r = client.request(method, f"/upload_token/{call}", data=nj.params(keystr="a", marker="", prefix=""))
    assert (r.status_code, r.json()) == (200, CHECK_FAILED)
    assert state(client) == before
    entry = client.get("/_emulator/requests", params={"path": "/upload_token/*"}).json()[-1]
    assert (entry["api"], entry["code"]) == ("nextjoy", 18007)
    assert entry["reason"] == f"method {method} not allowed (expects POST)"


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("GET", "/_qiniu/up", "POST"),
        ("PUT", "/_qiniu/up/", "POST"),
        ("POST", "/_qiniu/uc/v4/query", "GET"),
        ("DELETE", "/_qiniu/uc/v3/query", "GET"),
    ],
)
def test_a_wrong_method_on_a_qiniu_host_path_is_405_in_qiniu_shape(client, method, path, allow):
    r = client.request(method, path)
    assert (r.status_code, r.json()) == (405, {"error": "method not allowed"})
    assert r.headers["Allow"] == allow and r.headers["X-Reqid"]
    entry = client.get("/_emulator/requests", params={"path": "/_qiniu/*"}).json()[-1]
    assert (entry["api"], entry["code"], entry["qiniu_reqid"]) == ("nextjoy", 405, r.headers["X-Reqid"])

