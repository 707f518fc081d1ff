"""Image-hosting folders and files: mkdir, detail, list (paging, filters), delete, and the
download links that detail and list hand out."""

from __future__ import annotations

import json
import re

import pytest
from pan123_support import DOC_TIME, UID, md5

DIR_ID = re.compile(r"^[0-9a-z]{32}[0-9A-Za-z]{20}$")
DOCUMENTED = {"fileId", "filename", "type", "size", "etag", "status", "createAt", "updateAt", "downloadURL",
              "userSelfURL", "totalTraffic", "parentFileId", "parentFilename", "extension"}


def listing(pan, **body):
    return pan.ok("/api/v1/oss/file/list", {"limit": 100, "type": 1, **body})


# -- mkdir ----------------------------------------------------------------------------------------
def test_document_example_mkdir(client, pan):
    raw = '{\n    "name": "测试图床目录",\n    "parentID": "",\n    "type": 1\n}'
    r = client.post("/upload/v1/oss/file/mkdir", headers={**pan.headers(), "Content-Type": "application/json"},
                    content=raw)
    doc = r.json()
    assert doc["code"] == 0
    [entry] = doc["data"]["list"]
    assert entry["filename"] == "测试图床目录" and DIR_ID.match(entry["dirID"])
    [row] = listing(pan)["fileList"]
    assert row["fileId"] == entry["dirID"] and row["type"] == 1 and row["parentFilename"] == "img_oss"


def test_mkdir_takes_a_list_of_names_and_nests(client, pan):
    got = pan.ok("/upload/v1/oss/file/mkdir", {"name": ["a", "b"], "parentID": "", "type": 1})["list"]
    assert [g["filename"] for g in got] == ["a", "b"]
    inner = pan.mkdir("inner", got[0]["dirID"])
    assert pan.detail(inner)["parentFileId"] == got[0]["dirID"]
    assert pan.detail(inner)["parentFilename"] == "a"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"name": "dup", "parentID": "", "type": 1}, "同名文件夹"),
        ({"name": ["x", "x"], "parentID": "", "type": 1}, "重名"),
        ({"name": ["fresh", "dup"], "parentID": "", "type": 1}, "同名文件夹"),
        ({"name": "a/b", "parentID": "", "type": 1}, "字符"),
        ({"name": "", "parentID": "", "type": 1}, "目录名"),
        ({"name": [], "parentID": "", "type": 1}, "name"),
        ({"name": "n", "parentID": "nosuch", "type": 1}, "父目录"),
        ({"name": "n", "parentID": "", "type": 0}, "type"),
        ({"name": "n", "type": 1}, "parentID"),
        ({"parentID": "", "type": 1}, "name"),
    ],
)
def test_mkdir_rules(client, pan, body, words):
    pan.mkdir("dup")
    before = pan.state()
    code, message = pan.err("/upload/v1/oss/file/mkdir", body)
    assert code == 1 and words in message
    assert pan.state() == before  # all or nothing, even for a list


# -- detail ---------------------------------------------------------------------------------------
def test_document_example_detail_sends_the_id_as_a_get_body(client, pan):
    raw = '{\n    "fileID": "ymjew503t0m000d7w32xormjidkak3rgDIYPAIDOBIY0DcxvDwFO"\n}'
    r = client.request("GET", "/api/v1/oss/file/detail", content=raw,
                       headers={**pan.headers(), "Content-Type": "application/json"})
    assert r.json()["code"] == 5066 and r.json()["message"] == "文件不存在"
    file_id = pan.upload(b"image bytes", "测试图床.jpg", pan.mkdir("测试图床目录"))
    r = client.request("GET", "/api/v1/oss/file/detail", content=raw.replace(
        "ymjew503t0m000d7w32xormjidkak3rgDIYPAIDOBIY0DcxvDwFO", file_id), headers=pan.headers())
    assert r.json()["data"]["fileId"] == file_id


def test_detail_has_every_documented_field(client, pan):
    folder = pan.mkdir("测试图床目录")
    data = b"\x89PNG fake image"
    file_id = pan.upload(data, "测试图床.jpg", folder)
    d = pan.detail(file_id)
    assert set(d) >= DOCUMENTED
    assert d["filename"] == "测试图床.jpg" and d["type"] == 0 and d["size"] == len(data) and d["etag"] == md5(data)
    assert d["status"] == 2 and d["extension"] == "jpg" and d["parentFileId"] == folder
    assert d["parentFilename"] == "测试图床目录" and d["totalTraffic"] == 0
    assert d["createAt"] == d["updateAt"] == "2025-03-03 16:38:26"
    assert d["downloadURL"] == f"http://testserver/_pan123/vip/{UID}/{file_id}.jpg"
    assert d["userSelfURL"] == f"http://testserver/_pan123/self/{UID}/{file_id}.jpg"
    assert d["s3KeyFlag"] == f"{UID}-0"
    f = pan.detail(folder)
    assert f["type"] == 1 and f["etag"] == "" and f["size"] == 0 and f["downloadURL"] == "" and f["status"] == 0


TYPES = {"fileId": str, "filename": str, "type": int, "size": int, "etag": str, "status": int, "createAt": str,
         "updateAt": str, "downloadURL": str, "userSelfURL": str, "totalTraffic": int, "parentFileId": str,
         "parentFilename": str, "extension": str}


def assert_documented_types(item):
    """The document's 返回数据 tables: string fields are strings, number fields are (non-bool) numbers."""
    for name, kind in TYPES.items():
        assert type(item[name]) is kind, (name, item[name])


def test_detail_and_list_fields_have_the_documented_types(client, pan):
    folder = pan.mkdir("测试图床目录")
    file_id = pan.upload(b"typed bytes", "测试图床.jpg", folder)
    pan.upload(b"at the root", "root.png")
    for fid in (folder, file_id):
        assert_documented_types(pan.detail(fid))
    items = listing(pan)["fileList"] + listing(pan, parentFileId=folder)["fileList"]
    assert sorted(i["type"] for i in items) == [0, 0, 1]  # files and a folder
    for item in items:
        assert set(item) >= DOCUMENTED
        assert_documented_types(item)
    inner = listing(pan, parentFileId=folder)["fileList"][0]
    assert inner == pan.detail(file_id)  # list items carry the same fields as detail


def test_detail_without_file_id(client, pan):
    code, message = pan.err("/api/v1/oss/file/detail", method="GET")
    assert code == 1 and "fileID" in message


# -- list -----------------------------------------------------------------------------------------
def test_document_example_list(client, pan):
    raw = ('{\n    "parentFileId": "ymjew503t0m000d5qavemj7c19gu1js0DIYPAIDOBIY0DcxvDwFO",\n'
           '    "limit": 100,\n    "type": 1\n}')
    r = client.post("/api/v1/oss/file/list", headers=pan.headers(), content=raw)
    assert r.json()["code"] == 1  # not one of our folders
    folder = pan.mkdir("img")
    pan.mkdir("测试图床目录", folder)
    pan.tick(60)
    pan.mkdir("测试图床目录1", folder)
    r = client.post("/api/v1/oss/file/list", headers=pan.headers(), content=raw.replace(
        "ymjew503t0m000d5qavemj7c19gu1js0DIYPAIDOBIY0DcxvDwFO", folder))
    data = r.json()["data"]
    assert data["lastFileId"] == "-1"
    assert [f["filename"] for f in data["fileList"]] == ["测试图床目录1", "测试图床目录"]  # newest first
    for f in data["fileList"]:
        assert set(f) >= DOCUMENTED and f["type"] == 1 and f["parentFilename"] == "img"


def test_list_pages_with_last_file_id(client, pan):
    ids = []
    for n in range(5):
        ids.append(pan.upload(f"file {n}".encode(), f"{n}.txt"))
        pan.tick(1)
    seen, last, pages = [], "", 0
    while True:
        page = listing(pan, limit=2, lastFileId=last)
        pages += 1
        seen += [f["fileId"] for f in page["fileList"]]
        last = page["lastFileId"]
        if last == "-1":
            break
        assert last == page["fileList"][-1]["fileId"]
    assert pages == 3 and seen == ids[::-1]
    assert listing(pan, limit=5)["lastFileId"] == "-1"  # exactly one full page


def test_list_time_filters(client, pan):
    old = pan.upload(b"old", "old.txt")
    pan.tick(100)
    new = pan.upload(b"new", "new.txt")
    t = int(DOC_TIME)
    assert [f["fileId"] for f in listing(pan, startTime=t + 50)["fileList"]] == [new]
    assert [f["fileId"] for f in listing(pan, endTime=t + 50)["fileList"]] == [old]
    assert listing(pan, startTime=t, endTime=t + 100)["fileList"].__len__() == 2


@pytest.mark.parametrize(
    ("body", "words"),
    [({"limit": 0, "type": 1}, "limit"), ({"limit": 101, "type": 1}, "limit"), ({"type": 1}, "limit"),
     ({"limit": 10}, "type"), ({"limit": 10, "type": 1, "lastFileId": "nope"}, "lastFileId"),
     ({"limit": 10, "type": 1, "startTime": "x"}, "startTime")],
)
def test_list_rules(client, pan, body, words):
    code, message = pan.err("/api/v1/oss/file/list", body)
    assert code == 1 and words in message


# -- delete ---------------------------------------------------------------------------------------
def test_document_example_delete(client, pan):
    raw = '{\n    "fileIDs": [\n        "yk6baz03t0l000d7w33fbyt8704m2bohDIYPAIDOBIY0DcxvDwFO"\n    ]\n}'
    keep = pan.mkdir("keep")
    r = client.post("/api/v1/oss/file/delete", headers=pan.headers(), content=raw)
    assert r.json() | {"x-traceID": ""} == {"code": 0, "message": "ok", "data": None, "x-traceID": ""}
    assert [f["fileId"] for f in listing(pan)["fileList"]] == [keep]


def test_delete_at_most_100(client, pan):
    keep = pan.mkdir("keep")
    before = pan.state()
    code, message = pan.err("/api/v1/oss/file/delete", {"fileIDs": [keep] + [f"x{n}" for n in range(100)]})
    assert code == 1 and "100" in message
    assert pan.state() == before
    assert pan.err("/api/v1/oss/file/delete", {"fileIDs": []})[0] == 1
    assert pan.err("/api/v1/oss/file/delete", {"fileIDs": "notalist"})[0] == 1
    assert pan.ok("/api/v1/oss/file/delete", {"fileIDs": [keep] + [f"x{n}" for n in range(99)]}) is None
    assert listing(pan)["fileList"] == []


def test_delete_naming_the_root_deletes_nothing(client, pan):
    folder = pan.mkdir("f")
    pan.upload(b"inside", "in.txt", folder)
    root = listing(pan)["fileList"][0]["parentFileId"]
    before = pan.state()
    code, message = pan.err("/api/v1/oss/file/delete", {"fileIDs": [folder, root]})
    assert code == 1 and "根目录" in message
    assert pan.state() == before  # the folder named before the root is still there


def test_delete_folder_takes_its_content(client, pan):
    folder = pan.mkdir("f")
    file_id = pan.upload(b"inside", "in.txt", folder)
    url = pan.detail(file_id)["downloadURL"]
    pan.ok("/api/v1/oss/file/delete", {"fileIDs": [folder]})
    assert pan.call("/api/v1/oss/file/detail", method="GET", params={"fileID": file_id})["code"] == 5066
    assert client.get(url).status_code == 404
    assert client.get("/_emulator/store").json()["blobs"] == 0


def test_delete_leaves_other_tenants_alone(client, pan):
    mine = pan.mkdir("mine")
    client.post("/_emulator/fixtures", json={"pan123": [{"client_id": "other", "client_secret": "s2", "uid": 7}]})
    pan.tick(1)
    other = pan.new_token("other", "s2")
    assert pan.ok("/api/v1/oss/file/delete", {"fileIDs": [mine]}, token=other) is None
    assert pan.detail(mine)["fileId"] == mine


# -- downloads ------------------------------------------------------------------------------------
def test_download_link_serves_bytes_and_counts_traffic(client, pan):
    data = bytes(range(256)) * 40
    file_id = pan.upload(data, "pic.gif")
    d = pan.detail(file_id)
    head = client.head(d["downloadURL"])
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    assert head.headers["content-type"] == "image/gif" and head.headers["etag"] == f'"{md5(data)}"'
    assert client.get(d["downloadURL"]).content == data
    assert client.get(d["userSelfURL"], headers={"Range": "bytes=-10"}).content == data[-10:]
    assert pan.detail(file_id)["totalTraffic"] == len(data) + 10
    r = client.get(d["downloadURL"], headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(data)}"


def test_download_of_unknown_file_or_user_is_404(client, pan):
    file_id = pan.upload(b"x", "x.jpg")
    r = client.get(f"/_pan123/vip/{UID + 1}/{file_id}.jpg")
    assert r.status_code == 404 and "<Code>NoSuchKey</Code>" in r.text
    assert client.get(f"/_pan123/vip/{UID}/nosuchfile.jpg").status_code == 404
    entry = client.get("/_emulator/requests", params={"status": "404"}).json()[-1]
    assert entry["api"] == "pan123" and entry["reason"]
    assert json.dumps(entry)


# -- repeated form keys (issue 11) -------------------------------------------------------------
def test_repeated_form_keys_of_a_list_field_are_a_list(client, pan):
    """``requests`` encodes ``data={"fileIDs": [a, b]}`` as ``fileIDs=a&fileIDs=b`` (the pan123
    SDK does, under a JSON Content-Type): both are deleted, not only the first."""
    a, b, c = (pan.upload(bytes([n]) * 10, f"{n}.jpg") for n in range(3))
    r = client.post("/api/v1/oss/file/delete", headers={**pan.headers(), "Content-Type": "application/json"},
                    content=f"fileIDs={a}&fileIDs={b}")
    assert r.json()["code"] == 0, r.text
    left = {f["id"] for f in client.get("/_emulator/pan123/files").json() if not f["is_dir"]}
    assert left == {c}


@pytest.mark.parametrize(("path", "body"), [
    ("/upload/v1/oss/file/mkdir", "name=x&parentID=&parentID=&type=1"),
    ("/upload/v1/oss/file/mkdir", "name=x&parentID=&type=1&type=1"),
    ("/upload/v1/oss/file/create", "parentFileID=&filename=a.jpg&filename=b.jpg&etag={etag}&size=3&type=1"),
    ("/upload/v1/file/create", "parentFileID=0&filename=a.bin&etag={etag}&size=3&size=3"),
])
def test_a_repeated_field_that_cannot_be_a_list_is_refused_whole(client, pan, path, body):
    before = pan.state()
    r = client.post(path, headers={**pan.headers(), "Content-Type": "application/x-www-form-urlencoded"},
                    content=body.format(etag=md5(b"abc")))
    doc = r.json()
    assert r.status_code == 200 and doc["code"] == 1 and doc["data"] is None, doc
    assert pan.state() == before
