"""Preloaded objects, API by API: indistinguishable from the same file uploaded through the
vendor endpoints (same fields apart from ids, same hashes and bytes), listing order of the
sorted tree, re-preloading without duplicates, and every refusal with nothing stored."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from antelope_kit import DOC_TIME, Antelope, make_token
from helpers import JPUSH_AUTH, JPUSH_KEY, write_tree

from emulator.core.preload import preload_tree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pan123"))
from pan123_support import CLIENT_ID, Pan

OTHER_PAN = {"client_id": "other-pan123-client", "client_secret": "other-pan123-secret", "uid": 1815309871}
OTHER_ANTELOPE = {"app_id": "Other", "app_key": "other-antelope-key", "area_id": 1}
NJ_APPID, NJ_CHILD, NJ_SECRET, NJ_BUCKET = 1001, 1000, "test-nextjoy-app-secret", "game-hddzz"
WX_APPID, WX_SECRET, WX_ENV = "wxtest0000000000001", "test-wechat-secret-00000000000001", "test-1a2b3c"


@pytest.fixture
def frozen(client):
    client.post("/_emulator/clock", json={"freeze": True, "set": DOC_TIME})


def put(client, api: str, tenant: str, path: str, data: bytes) -> dict[str, Any]:
    r = client.put(f"/_emulator/preload/{api}/{tenant}/{quote(path)}", content=data)
    assert r.status_code == 201, r.text
    return r.json()


def refused(client, api: str, tenant: str, path: str, data: bytes, *words: str) -> str:
    """A refusal: 400 with one line naming the file and the rule, and nothing stored."""
    before = client.get("/_emulator/store").json()
    r = client.put(f"/_emulator/preload/{api}/{tenant}/{quote(path)}", content=data)
    assert r.status_code == 400, r.text
    message = r.json()["error"]
    assert message.startswith(f"{api}/{tenant}/"), message
    assert "\n" not in message
    for w in words:
        assert w in message, message
    assert client.get("/_emulator/store").json() == before
    return message


tree = write_tree


def load(emu, root: Path) -> list[dict[str, Any]]:
    return asyncio.run(preload_tree(emu, root, progress=False)).objects


# -- JPush ---------------------------------------------------------------------------------
def jpush_upload(client, name: str, data: bytes, file_type: str = "alias") -> str:
    r = client.post(f"/v3/files/{file_type}", files={"filename": (name, data)}, auth=JPUSH_AUTH)
    assert r.status_code == 200, r.text
    return r.json()["file_id"]


def jpush_files(client) -> list[dict[str, Any]]:
    return client.get("/v3/files", auth=JPUSH_AUTH).json()["files"]


def test_jpush_preloaded_file_is_an_upload_without_ttl(client, frozen):
    data = b"alice\n  bob  \n\ncarol\n"
    desc = put(client, "jpush", JPUSH_KEY, "alias/users.txt", data)
    uploaded = jpush_upload(client, "users.txt", data)  # (a preload of an equal file would keep that one)
    assert desc == {"api": "jpush", "tenant": JPUSH_KEY, "path": "alias/users.txt", "id": desc["id"],
                    "size": len(data), "result": "created"}
    assert desc["id"].startswith(JPUSH_KEY + "-") and desc["id"] != uploaded
    a = client.get(f"/v3/files/{uploaded}", auth=JPUSH_AUTH).json()
    b = client.get(f"/v3/files/{desc['id']}", auth=JPUSH_AUTH).json()
    assert {**a, "file_id": None} == {**b, "file_id": None}
    assert "expire_time" not in b and b["type"] == "alias" and b["file_name"] == "users.txt"
    lines = [client.get(f"/_emulator/jpush/files/{i}").json()["lines"] for i in (uploaded, desc["id"])]
    assert lines[0] == lines[1] == ["alice", "bob", "carol"]
    # the default TTL applies: gone after 720 hours like the upload
    client.post("/_emulator/clock", json={"advance": 720 * 3600})
    assert jpush_files(client) == []


def test_jpush_listing_follows_the_sorted_tree(client, emu, tmp_path):
    root = tree(tmp_path / "t", {f"jpush/{JPUSH_KEY}/{t}/{n}.txt": f"{t}-{n}\n".encode()
                                 for t in ("registration_id", "alias") for n in ("b", "a", "c")})
    load(emu, root)
    listed = [(f["type"], f["file_name"]) for f in jpush_files(client)]
    assert listed == [(t, f"{n}.txt") for t in ("alias", "registration_id") for n in "abc"]


def test_jpush_repreload_keeps_same_bytes_and_replaces_others(client):
    first = put(client, "jpush", JPUSH_KEY, "alias/users.txt", b"alice\n")
    again = put(client, "jpush", JPUSH_KEY, "alias/users.txt", b"alice\n")
    assert (again["id"], again["result"]) == (first["id"], "unchanged")
    changed = put(client, "jpush", JPUSH_KEY, "alias/users.txt", b"bob\n")
    assert changed["result"] == "replaced" and changed["id"] != first["id"]
    assert [f["file_id"] for f in jpush_files(client)] == [changed["id"]]
    assert client.get(f"/_emulator/jpush/files/{changed['id']}").json()["lines"] == ["bob"]


def test_jpush_refusals_name_the_file_and_the_rule(client):
    k = JPUSH_KEY
    refused(client, "jpush", k, "alias/long.txt", b"x" * 41 + b"\n", "alias/long.txt", "1103",
            "line 1 is longer than 40 bytes")
    refused(client, "jpush", k, "alias/users.csv", b"a\n", "only .txt files")
    refused(client, "jpush", k, "alias/bad.txt", b"\xff\xfe\n", "not UTF-8")
    refused(client, "jpush", k, "alias/empty.txt", b"", "empty")
    refused(client, "jpush", k, "tags/a.txt", b"a\n", "alias or registration_id")
    refused(client, "jpush", k, "a.txt", b"a\n", "<alias|registration_id>/<name>.txt")
    refused(client, "jpush", k, "alias/deep/a.txt", b"a\n", "<alias|registration_id>/<name>.txt")
    refused(client, "jpush", "nosuchappkey", "alias/a.txt", b"a\n", "no jpush tenant", "nosuchappkey")
    refused(client, "jpush", k, "alias/big.txt", b"a\n" * (5 * 1024 * 1024 + 1), "larger than 10485760")
    assert jpush_files(client) == []


def test_jpush_twenty_file_cap_applies(client):
    for i in range(20):
        put(client, "jpush", JPUSH_KEY, f"alias/f{i:02}.txt", f"user{i}\n".encode())
    refused(client, "jpush", JPUSH_KEY, "alias/f20.txt", b"one more\n", "1112", "at most 20")
    # replacing one of the twenty is no twenty-first
    assert put(client, "jpush", JPUSH_KEY, "alias/f00.txt", b"changed\n")["result"] == "replaced"
    assert len(jpush_files(client)) == 20


# -- 123pan --------------------------------------------------------------------------------
@pytest.fixture
def pan(client, frozen) -> Pan:
    r = client.post("/_emulator/fixtures", json={"pan123": [OTHER_PAN]})
    assert r.status_code == 200, r.text
    return Pan(client)


def pan_other(client) -> Pan:
    other = Pan(client)
    other._token = other.new_token(OTHER_PAN["client_id"], OTHER_PAN["client_secret"])
    return other


def pan_list(pan: Pan, parent: str = "") -> list[dict[str, Any]]:
    return pan.ok("/api/v1/oss/file/list", {"parentFileId": parent, "limit": 100, "type": 1})["fileList"]


ID_FIELDS = ("fileId", "parentFileId", "downloadURL", "userSelfURL", "s3KeyFlag")


def test_pan123_preloaded_file_is_a_completed_upload(client, pan):
    pan.config(slice_size=65536)
    data = bytes(range(256)) * 800  # 204800 bytes: four slices
    other = pan_other(client)
    folder = other.mkdir("pics")
    uploaded = other.upload(data, "cat.jpg", folder)
    desc = put(client, "pan123", CLIENT_ID, "pics/cat.jpg", data)
    assert (desc["size"], desc["result"]) == (len(data), "created")
    a, b = other.detail(uploaded), pan.detail(desc["id"])
    assert b["etag"] == hashlib.md5(data).hexdigest() == a["etag"]
    assert {k: v for k, v in a.items() if k not in ID_FIELDS} == {k: v for k, v in b.items() if k not in ID_FIELDS}
    assert b["parentFilename"] == "pics" and b["filename"] == "cat.jpg" and b["size"] == len(data)
    # the folder is one mkdir would make, the file sits in it, sliced as the upload was
    folders = pan_list(pan)
    assert [(f["filename"], f["type"]) for f in folders] == [("pics", 1)]
    assert b["parentFileId"] == folders[0]["fileId"]
    files = {f["id"]: f for f in client.get("/_emulator/pan123/files").json()}
    assert files[desc["id"]]["slices"] == files[uploaded]["slices"] == [65536, 65536, 65536, 8192]
    # the download link serves the bytes
    got = client.get(b["downloadURL"])
    assert got.status_code == 200 and got.content == data
    # 秒传 finds the preloaded bytes
    assert pan.create(data, "again.jpg")["reuse"] is True


def test_pan123_listing_and_folders_follow_the_sorted_tree(client, emu, pan, tmp_path):
    files = {f"pan123/{CLIENT_ID}/{p}": p.encode() for p in ("b.jpg", "a.jpg", "d/y.png", "d/x.png", "c.jpg")}
    descs = load(emu, tree(tmp_path / "t", files))
    assert [d["path"] for d in descs] == ["a.jpg", "b.jpg", "c.jpg", "d/x.png", "d/y.png"]
    # newest first, as if uploaded in that order
    assert [f["filename"] for f in pan_list(pan)] == ["d", "c.jpg", "b.jpg", "a.jpg"]
    folder = pan_list(pan)[0]["fileId"]
    assert [f["filename"] for f in pan_list(pan, folder)] == ["y.png", "x.png"]


def test_pan123_repreload_keeps_same_bytes_and_replaces_others(client, pan):
    first = put(client, "pan123", CLIENT_ID, "pics/cat.jpg", b"meow")
    again = put(client, "pan123", CLIENT_ID, "pics/cat.jpg", b"meow")
    assert (again["id"], again["result"]) == (first["id"], "unchanged")
    changed = put(client, "pan123", CLIENT_ID, "pics/cat.jpg", b"purr")
    assert changed["result"] == "replaced" and changed["id"] != first["id"]
    assert pan.err("/api/v1/oss/file/detail", method="GET", params={"fileID": first["id"]})[0] == 5066
    folder = pan_list(pan)
    assert len(folder) == 1
    listed = pan_list(pan, folder[0]["fileId"])
    assert [(f["fileId"], f["etag"]) for f in listed] == [(changed["id"], hashlib.md5(b"purr").hexdigest())]


def test_pan123_refusals_name_the_file_and_the_rule(client, pan):
    refused(client, "pan123", CLIENT_ID, "a:b.jpg", b"x", "a:b.jpg", "文件名不能包含")
    refused(client, "pan123", CLIENT_ID, "bad|dir/a.jpg", b"x", "目录名不能包含")
    refused(client, "pan123", CLIENT_ID, "empty.jpg", b"", "size必须大于0")
    refused(client, "pan123", CLIENT_ID, ("n" * 255) + ".jpg", b"x", "小于255个字符")
    refused(client, "pan123", "no-such-client", "a.jpg", b"x", "no pan123 tenant")
    put(client, "pan123", CLIENT_ID, "taken.jpg", b"x")
    refused(client, "pan123", CLIENT_ID, "taken.jpg/inside.jpg", b"x", "同名文件夹")
    put(client, "pan123", CLIENT_ID, "dir/a.jpg", b"y")
    before = client.get("/_emulator/pan123/files").json()
    refused(client, "pan123", CLIENT_ID, "dir", b"z", "同名文件")
    assert client.get("/_emulator/pan123/files").json() == before


# -- Antelope ------------------------------------------------------------------------------
def test_antelope_preloaded_object_is_an_upload2(client, frozen):
    assert client.post("/_emulator/fixtures", json={"antelope": [OTHER_ANTELOPE]}).status_code == 200
    data = b"hello antelope" * 100
    other = Antelope(client, make_token(OTHER_ANTELOPE["app_key"]))
    a = other.ok(other.upload2(data, name="upload.txt", key="/1/upload.txt"))
    desc = put(client, "antelope", "Test", "1003775/1/upload.txt", data)
    assert (desc["size"], desc["result"]) == (len(data), "created")
    ant = Antelope(client)
    b = ant.ok(ant.get("/fileinfo/infos", obj_id=desc["id"]))
    assert b["file_id"] == hashlib.sha1(data).hexdigest() == a["file_id"]
    assert {**a, "obj_id": None, "app_id": None} == {**b, "obj_id": None, "app_id": None}
    assert (b["key"], b["name"], b["c_id"], b["expire_type"], b["metadata"]) == (
        "/1/upload.txt", "upload.txt", 1003775, 0, {})
    got = ant.get("/files", key="/1/upload.txt")
    assert got.status_code == 200 and got.content == data
    assert ant.ok(ant.get("/fileinfo/cidsbyappid", obj_type="1")) == {"c_ids": [1003775]}


def test_antelope_listbysort_follows_the_sorted_tree(client, emu, frozen, tmp_path):
    names = ["b.txt", "a.txt", "sub/z.txt", "c.txt"]
    load(emu, tree(tmp_path / "t", {f"antelope/Test/7/{n}": n.encode() for n in names}))
    ant = Antelope(client, make_token(cid=7))
    after = ant.ok(ant.get("/fileinfo/listbysort", key="/a.txt", count=10))
    assert [o["key"] for o in after] == ["/b.txt", "/c.txt", "/sub/z.txt"]


def test_antelope_repreload_keeps_same_bytes_and_replaces_others(client, frozen):
    first = put(client, "antelope", "Test", "1/x.bin", b"one")
    assert put(client, "antelope", "Test", "1/x.bin", b"one")["id"] == first["id"]
    changed = put(client, "antelope", "Test", "1/x.bin", b"two")
    assert changed["result"] == "replaced" and changed["id"] != first["id"]
    objects = client.get("/_emulator/antelope/objects").json()
    assert [(o["obj_id"], o["key"], o["file_size"]) for o in objects] == [(changed["id"], "/x.bin", 3)]


def test_antelope_refusals_name_the_file_and_the_rule(client):
    refused(client, "antelope", "Test", "x.txt", b"x", "<cid>/<key path>")
    refused(client, "antelope", "Test", "abc/x.txt", b"x", "<cid>/<key path>")
    refused(client, "antelope", "Test", "4294967296/x.txt", b"x", "unsigned 32-bit")
    refused(client, "antelope", "Test", "1/" + "k" * 1030, b"x", "longer than 1024 bytes")
    refused(client, "antelope", "Test", "1/a\x01b", b"x", "control characters")
    refused(client, "antelope", "Nope", "1/x.txt", b"x", "no antelope tenant")
    assert client.get("/_emulator/antelope/objects").json() == []


# -- NextJoy (the Qiniu bucket) ----------------------------------------------------------
class Qiniu:
    def __init__(self, client) -> None:
        self.client = client

    def call(self, name: str, **extra: Any) -> dict[str, Any]:
        now = int(self.client.get("/_emulator/clock").json()["now"])
        p = {k: str(v) for k, v in {"appid": NJ_APPID, "child_id": NJ_CHILD, "timestamp": now, **extra}.items()}
        text = "".join(f"{k}|{p[k]}#" for k in sorted(p)) + NJ_SECRET
        p["sign"] = hashlib.md5(text.encode()).hexdigest().upper()
        body = self.client.post(f"/upload_token/{name}", data=p).json()
        assert body["status"] == 200, body
        return body.get("data")

    def upload(self, key: str, data: bytes, filename: str = "file_name") -> dict[str, Any]:
        token = self.call("get")["upload_token"]
        r = self.client.post("/_qiniu/up", data={"token": token, "key": key},
                             files={"file": (filename, data, "application/octet-stream")})
        assert r.status_code == 200, r.text
        return r.json()

    def stat(self, *keys: str) -> list[dict[str, Any]]:
        return [r["data"] for r in self.call("batch_get_file_info", keystr=",".join(keys))["data"]]

    def keys(self) -> list[str]:
        return [i["key"] for i in self.call("get_file_list", marker="", prefix="")["data"]]


def test_nextjoy_preloaded_object_is_a_form_upload(client, frozen):
    qiniu = Qiniu(client)
    data = b"\x89PNG" + bytes(5 << 20)  # two Qiniu etag blocks
    uploaded = qiniu.upload("img/uploaded.png", data, "uploaded.png")
    desc = put(client, "nextjoy", f"{NJ_APPID}:{NJ_CHILD}", "img/preloaded.png", data)
    assert (desc["id"], desc["tenant"], desc["size"]) == ("img/preloaded.png", "1001:1000", len(data))
    a, b = qiniu.stat("img/uploaded.png", "img/preloaded.png")
    assert a == b and b["hash"] == uploaded["hash"] and b["md5"] == hashlib.md5(data).hexdigest()
    assert b["mimeType"] == "image/png" and b["fsize"] == len(data)
    assert client.get(f"/_emulator/nextjoy/objects/{NJ_BUCKET}/img/preloaded.png").content == data


def test_nextjoy_tenant_folder_is_the_identity_or_an_unambiguous_bucket(client, frozen):
    qiniu = Qiniu(client)
    assert put(client, "nextjoy", NJ_BUCKET, "b.txt", b"b")["tenant"] == "1001:1000"
    put(client, "nextjoy", "1001:1000", "a.txt", b"a")
    assert qiniu.keys() == ["a.txt", "b.txt"]
    other = {"appid": 2002, "child_id": 1, "app_secret": "s", "bucket": NJ_BUCKET,
             "qiniu_access_key": "another-account", "qiniu_secret_key": "k"}
    assert client.post("/_emulator/fixtures", json={"nextjoy": [other]}).status_code == 200
    refused(client, "nextjoy", NJ_BUCKET, "c.txt", b"c", "2 Qiniu accounts", "appid:child_id")
    assert put(client, "nextjoy", "2002:1", "c.txt", b"c")["tenant"] == "2002:1"
    refused(client, "nextjoy", "no-such-bucket", "c.txt", b"c", "no nextjoy tenant")
    assert qiniu.keys() == ["a.txt", "b.txt"]


def test_nextjoy_repreload_keeps_same_bytes_and_replaces_others(client, frozen):
    qiniu = Qiniu(client)
    put(client, "nextjoy", NJ_BUCKET, "k.txt", b"one")
    before = qiniu.stat("k.txt")[0]
    client.post("/_emulator/clock", json={"advance": 10})
    assert put(client, "nextjoy", NJ_BUCKET, "k.txt", b"one")["result"] == "unchanged"
    assert qiniu.stat("k.txt")[0] == before
    assert put(client, "nextjoy", NJ_BUCKET, "k.txt", b"two")["result"] == "replaced"
    after = qiniu.stat("k.txt")[0]
    assert after["putTime"] == before["putTime"] + 10 * 10_000_000 and after["md5"] == hashlib.md5(b"two").hexdigest()
    assert qiniu.keys() == ["k.txt"]


# -- WeChat --------------------------------------------------------------------------------
def wx_token(client) -> str:
    r = client.get("/cgi-bin/token", params={"grant_type": "client_credential", "appid": WX_APPID,
                                             "secret": WX_SECRET})
    return r.json()["access_token"]


def wx_upload(client, token: str, path: str, data: bytes, content_type: str) -> dict[str, Any]:
    link = client.post("/tcb/uploadfile", params={"access_token": token}, json={"env": WX_ENV, "path": path}).json()
    assert link["errcode"] == 0, link
    fields = {"key": path, "Signature": link["authorization"], "x-cos-security-token": link["token"],
              "x-cos-meta-fileid": link["cos_file_id"]}
    r = client.post(link["url"], data=fields, files={"file": ("upload.bin", data, content_type)})
    assert r.status_code == 204, r.text
    return link


def wx_download(client, token: str, file_id: str):
    body = client.post("/tcb/batchdownloadfile", params={"access_token": token},
                       json={"env": WX_ENV, "file_list": [{"fileid": file_id, "max_age": 60}]}).json()
    entry = body["file_list"][0]
    assert entry["status"] == 0, body
    return client.get(entry["download_url"])


def test_wechat_preloaded_file_is_an_upload_link_and_cos_post(client, frozen):
    token = wx_token(client)
    data = b"\x89PNG picture bytes"
    link = wx_upload(client, token, "pics/uploaded.png", data, "image/png")
    desc = put(client, "wechat", WX_APPID, f"{WX_ENV}/pics/preloaded.png", data)
    assert desc["id"] == link["file_id"].replace("uploaded", "preloaded")
    files = {f["key"]: f for f in client.get("/_emulator/wechat/files").json()}
    a, b = files["pics/uploaded.png"], files["pics/preloaded.png"]
    skip = ("key", "file_id")
    assert {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}
    assert b["content_type"] == "image/png" and b["md5"] == hashlib.md5(data).hexdigest()
    got_a, got_b = wx_download(client, token, link["file_id"]), wx_download(client, token, desc["id"])
    assert got_b.status_code == 200 and got_b.content == data == got_a.content
    assert {h: got_b.headers[h] for h in ("etag", "content-type", "content-length")} == {
        h: got_a.headers[h] for h in ("etag", "content-type", "content-length")}


def test_wechat_repreload_and_refusals(client, frozen):
    first = put(client, "wechat", WX_APPID, f"{WX_ENV}/a/b.bin", b"one")
    assert first["result"] == "created" and first["id"].endswith("/a/b.bin")
    assert put(client, "wechat", WX_APPID, f"{WX_ENV}/a/b.bin", b"one")["result"] == "unchanged"
    assert put(client, "wechat", WX_APPID, f"{WX_ENV}/a/b.bin", b"two")["result"] == "replaced"
    files = client.get("/_emulator/wechat/files").json()
    assert [(f["key"], f["md5"]) for f in files] == [("a/b.bin", hashlib.md5(b"two").hexdigest())]
    assert wx_download(client, wx_token(client), first["id"]).content == b"two"
    refused(client, "wechat", WX_APPID, "no-such-env/a.bin", b"x", "no-such-env")
    refused(client, "wechat", WX_APPID, "a.bin", b"x", "<env>/<cloud path>")
    refused(client, "wechat", WX_APPID, f"{WX_ENV}/" + "p" * 851, b"x", "cloud path is invalid", "850")
    refused(client, "wechat", "wxnosuchapp", f"{WX_ENV}/a.bin", b"x", "no wechat tenant")
    assert len(client.get("/_emulator/wechat/files").json()) == 1
