"""wechatpy's WeChatCloud storage calls, unchanged, against a live emulator (issue #6).

wechatpy 1.8.18 builds API URLs from ``API_BASE_URL`` but fetches its token from the
hard-coded ``https://api.weixin.qq.com/cgi-bin/token``; a transport adapter on the
client's own requests session sends that host to the emulator, as a DNS override or
proxy would. Nothing of wechatpy itself is patched.
"""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest
import requests
from requests.adapters import HTTPAdapter
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

APPID = "wxtest0000000000001"
SECRET = "test-wechat-secret-00000000000001"
ENV = "test-1a2b3c"
REAL_HOST = "https://api.weixin.qq.com"


class ToEmulator(HTTPAdapter):
    """Sends requests for the real WeChat host to the emulator instead."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def send(self, request: requests.PreparedRequest, **kwargs):  # type: ignore[override]
        request.url = self.base + request.url[len(REAL_HOST) :]
        return super().send(request, **kwargs)


def make_client(base: str, appid: str = APPID, secret: str = SECRET) -> WeChatClient:
    client = WeChatClient(appid, secret)
    client.API_BASE_URL = f"{base}/cgi-bin/"
    client.cloud.API_BASE_URL = f"{base}/"
    client._http.mount(REAL_HOST + "/", ToEmulator(base))
    return client


@pytest.fixture
def server(live_server):
    return live_server  # as freshly started (tests/conftest.py)


def journal(server, path: str) -> list[dict]:
    return httpx.get(server.url + "/_emulator/requests", params={"api": "wechat", "path": path}).json()


def test_upload_download_delete_with_wechatpy(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # wechatpy uses the local path as the cloud path
    (tmp_path / "photos").mkdir()
    content = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "photos" / "cat.bin").write_bytes(content)
    client = make_client(server.url)

    answer = client.cloud.upload_file(ENV, "photos/cat.bin")
    assert answer.status_code == 204
    token_calls = journal(server, "/cgi-bin/token")
    assert [(e["status"], e["tenant"]) for e in token_calls] == [(200, APPID)]

    [entry] = httpx.get(server.url + "/_emulator/wechat/files", params={"appid": APPID, "env": ENV}).json()
    md5 = hashlib.md5(content).hexdigest()
    assert (entry["key"], entry["size"], entry["md5"]) == ("photos/cat.bin", len(content), md5)
    file_id = entry["file_id"]

    [link] = client.cloud.download_files(ENV, [{"fileid": file_id, "max_age": 600}])
    assert (link["fileid"], link["status"], link["errmsg"]) == (file_id, 0, "ok")
    fetched = requests.get(link["download_url"], timeout=30)
    assert fetched.status_code == 200
    assert fetched.content == content

    [deleted] = client.cloud.delete_files(ENV, [file_id])
    assert (deleted["fileid"], deleted["status"], deleted["errmsg"]) == (file_id, 0, "ok")
    [after] = client.cloud.download_files(ENV, [{"fileid": file_id, "max_age": 600}])
    assert (after["status"], after["download_url"]) == (-503003, "")
    assert requests.get(link["download_url"], timeout=30).status_code == 404
    assert len(journal(server, "/cgi-bin/token")) == 1  # one token served every call


def test_wechatpy_refetches_a_token_the_emulator_expired(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_bytes(b"a")
    client = make_client(server.url)
    client.cloud.upload_file(ENV, "a.txt")
    httpx.post(server.url + "/_emulator/clock", json={"advance": 7200})
    # wechatpy still trusts its token by its own clock; the emulator answers 42001 and
    # wechatpy's auto-retry fetches a new one from /cgi-bin/token.
    [link] = client.cloud.download_files(ENV, [{"fileid": f"cloud://{ENV}.x/a.txt", "max_age": 60}])
    assert link["status"] == -503003
    codes = [e["code"] for e in journal(server, "/tcb/batchdownloadfile")]
    assert codes == [42001, None]
    assert len(journal(server, "/cgi-bin/token")) == 2


def test_wechatpy_sees_the_errcodes(server):
    bad = make_client(server.url, secret="wrong-secret")
    with pytest.raises(WeChatClientException) as caught:
        bad.fetch_access_token()
    assert caught.value.errcode == 40001
    client = make_client(server.url)
    with pytest.raises(WeChatClientException) as caught:
        client.cloud.download_files("no-such-env", [{"fileid": "cloud://x.y/z", "max_age": 60}])
    assert caught.value.errcode == -501000
