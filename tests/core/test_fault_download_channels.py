"""Every fault action on every download side channel (123pan download links, WeChat's /_tcb/
links, Antelope's /files), bound on arrival and once the tenant is known; latency on the
upload side channels; and a client that goes away mid-upload (no error, no answer, nothing
stored). Uploads' status/error/drop/cut: tests/core/test_faults.py."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest
from antelope_kit import Antelope, make_token
from fault_kit import ANTELOPE_APP, PAN_ID, PLATFORM, WX_APPID, WX_ENV, Kit, local

DATA = bytes(range(256)) * 64  # 16 KiB


@pytest.fixture
def kit(client) -> Kit:
    return Kit(client)


def pan123_link(kit: Kit) -> str:
    token = kit.pan_token()
    created = kit.pan_call("/upload/v1/oss/file/create", {
        "parentFileID": "", "filename": "pic.jpg", "etag": hashlib.md5(DATA).hexdigest(), "size": len(DATA),
        "type": 1}, token)["data"]
    url = kit.pan_call("/upload/v1/oss/file/get_upload_url", {"preuploadID": created["preuploadID"], "sliceNo": 1},
                       token)["data"]["presignedURL"]
    assert kit.http.put(local(url), content=DATA).status_code == 200
    done = kit.pan_call("/upload/v1/oss/file/upload_complete", {"preuploadID": created["preuploadID"]}, token)
    detail = kit.http.get("/api/v1/oss/file/detail", params={"fileID": done["data"]["fileID"]},
                          headers={**PLATFORM, "Authorization": f"Bearer {token}"}).json()
    return local(detail["data"]["downloadURL"])


def wechat_link(kit: Kit) -> str:
    link = kit.wx_link("dl/a.bin")
    assert kit.cos_post(link, "dl/a.bin", DATA).status_code == 204
    got = kit.http.post("/tcb/batchdownloadfile", params={"access_token": kit.wx_token()},
                        json={"env": WX_ENV, "file_list": [{"fileid": link["file_id"], "max_age": 600}]}).json()
    return local(got["file_list"][0]["download_url"])


def antelope_link(kit: Kit) -> str:
    ant = Antelope(kit.http, make_token(expire=4102444800))
    obj = ant.ok(ant.upload2(DATA, key="/dl/b.bin"))
    return str(httpx.URL("/files", params={"access_token": ant.token, "obj_id": obj["obj_id"]}))


CHANNELS = {
    # api: (the link, the rule's path, the tenant, a business error of the channel, what it answers)
    "pan123": (pan123_link, "/_pan123/*", PAN_ID, "AccessDenied", 403),
    "wechat": (wechat_link, "/_tcb/*", WX_APPID, "AccessDenied", 403),
    "antelope": (antelope_link, "/files", ANTELOPE_APP, 500, 500),
}


@pytest.mark.parametrize("api", list(CHANNELS))
@pytest.mark.parametrize("bound", ["on arrival", "once the tenant is known"])
@pytest.mark.parametrize("action", ["status", "error", "drop", "latency"])
def test_each_action_on_each_download_channel(kit, api, bound, action):
    make_link, path, tenant, error, error_status = CHANNELS[api]
    link = make_link(kit)
    rule: dict = {"api": api, "method": "GET", "path": path}
    if bound != "on arrival":
        rule["tenant"] = tenant
    rule.update({"status": {"status": 503}, "error": {"error": error}, "drop": {"drop": True},
                 "latency": {"latency_ms": 200}}[action])
    made = kit.fault(**rule)
    started = time.perf_counter()
    if action == "drop":
        with pytest.raises(httpx.TransportError):
            kit.http.get(link)
    else:
        r = kit.http.get(link)
        if action == "status":
            assert (r.status_code, r.json()) == (503, {"error": "injected fault"})
        elif action == "error":
            assert r.status_code == error_status
            assert str(error) in r.text  # the channel's own envelope (S3 / COS XML, Antelope JSON)
        else:
            assert r.status_code == 200 and r.content == DATA
            assert time.perf_counter() - started >= 0.2
    [entry] = [e for e in kit.journal(api=api) if "fault" in e]
    assert entry["fault"]["id"] == made["id"]
    # a rule bound on arrival acts before the route has identified the caller
    assert entry["tenant"] == (None if bound == "on arrival" and action != "latency" else tenant)
    assert kit.http.get(link).content == DATA  # once: the next download goes through


UPLOADS = {
    "pan123": ("/_pan123/s3/*", PAN_ID),
    "wechat": ("/_cos/*", WX_APPID),
    "nextjoy": ("/_qiniu/up", "1001:1000"),
}


@pytest.mark.parametrize("api", list(UPLOADS))
@pytest.mark.parametrize("bound", ["on arrival", "once the tenant is known"])
def test_latency_on_each_upload_channel(kit, api, bound):
    path, tenant = UPLOADS[api]
    if api == "pan123":
        url = local(kit.pan_presigned(DATA))
        upload = lambda: kit.http.put(url, content=DATA)  # noqa: E731
    elif api == "wechat":
        link = kit.wx_link("lat/a.bin")
        upload = lambda: kit.cos_post(link, "lat/a.bin", DATA)  # noqa: E731
    else:
        token = kit.nj_token()
        upload = lambda: kit.qiniu_upload(token, "lat-key", DATA)  # noqa: E731
    rule = {"api": api, "path": path, "latency_ms": 200}
    if bound != "on arrival":
        rule["tenant"] = tenant
    kit.fault(**rule)
    started = time.perf_counter()
    assert upload().status_code in (200, 204)
    assert time.perf_counter() - started >= 0.2
    [entry] = kit.journal(path=path)
    assert entry["fault"]["action"] == "latency" and entry["tenant"] == tenant
    assert kit.evidence()["store"]["bytes"] == len(DATA)
