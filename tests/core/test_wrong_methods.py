"""A documented path called with a method it does not take answers in that API's own error
shape (never FastAPI's {"detail": "Method Not Allowed"}), with an Allow header; nothing changes."""

from __future__ import annotations

import pytest
from helpers import JPUSH_AUTH

JPUSH = [
    ("PUT", "/v3/files/alias", "DELETE, GET, POST"),
    ("PATCH", "/v3/files", "GET"),
    ("POST", "/v3/files", "GET"),
    ("DELETE", "/v3/files", "GET"),
    ("PUT", "/v3/files/some-file-id", "DELETE, GET, POST"),
]


@pytest.mark.parametrize(("method", "path", "allow"), JPUSH)
def test_jpush_wrong_method_is_a_jpush_error(client, method, path, allow):
    before = client.get("/v3/files", auth=JPUSH_AUTH).json()
    r = client.request(method, path, auth=JPUSH_AUTH, content=b"x=1")
    assert r.status_code == 405
    body = r.json()
    assert "detail" not in body
    assert body["error"]["code"] == 1103 and method in body["error"]["message"]
    assert r.headers["allow"] == allow
    assert client.get("/v3/files", auth=JPUSH_AUTH).json() == before
    [entry] = [e for e in client.get("/_emulator/requests").json() if e["method"] == method]
    assert entry["api"] == "jpush" and entry["code"] == 1103


ANTELOPE = [
    ("GET", "/upload2", "POST"),
    ("PUT", "/upload3", "POST"),
    ("POST", "/v2/events", "GET"),
    ("DELETE", "/files", "GET"),
    ("POST", "/fileinfo/delete", "GET"),
    ("PUT", "/fileinfo/infos", "GET"),
    ("POST", "/fileinfo/listbysort", "GET"),
    ("PATCH", "/fileinfo/cidsbyappid", "GET"),
]


@pytest.mark.parametrize(("method", "path", "allow"), ANTELOPE)
def test_antelope_wrong_method_is_an_antelope_error(client, method, path, allow):
    r = client.request(method, path, content=b"payload")
    assert r.status_code == 405
    assert r.json() == {"code": 405, "message": f"请求方法不支持: 请求方法{method}不支持,应为{allow}"}
    assert r.headers["allow"] == allow
    [entry] = client.get("/_emulator/requests").json()
    assert entry["api"] == "antelope" and entry["code"] == 405


def test_head_on_a_get_path_is_refused_in_shape_too(client):
    r = client.head("/v3/files", auth=JPUSH_AUTH)
    assert r.status_code == 405 and r.headers["allow"] == "GET"
