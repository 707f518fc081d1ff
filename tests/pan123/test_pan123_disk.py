"""The cloud disk's file management: mkdir, list v2/v1, detail, infos, trash / recover /
delete, move, rename, download_info, user/info, and the 404 envelope of unknown paths."""

from __future__ import annotations

import pytest
from pan123_support import UID, md5

DISK = "/upload/v1/file"
LIMITED = ("upload/v1/file/mkdir", "upload/v1/file/create", "api/v1/file/move", "api/v1/file/delete",
           "api/v1/file/list", "api/v1/user/info")


@pytest.fixture(autouse=True)
def unlimited(pan):
    """These tests run many calls within one frozen second; test_qps_table_applies checks the limits."""
    pan.config(qps=dict.fromkeys(LIMITED, 0))


def test_qps_table_applies_to_the_disk_endpoints(client, pan):
    pan.config(reset=True)
    assert pan.ok("/api/v1/user/info", method="GET")["uid"] == UID
    assert pan.err("/api/v1/user/info", method="GET")[0] == 429
    mkdir(pan, "a")
    mkdir(pan, "b")
    assert pan.err("/upload/v1/file/mkdir", {"name": "c", "parentID": 0})[0] == 429
    for _ in range(10):  # not in the image-hosting document's table: not limited
        v2(pan)
    pan.tick(1)
    mkdir(pan, "c")


def mkdir(pan, name: str, parent: int = 0) -> int:
    return pan.ok("/upload/v1/file/mkdir", {"name": name, "parentID": parent})["dirID"]


def put(pan, data: bytes, name: str, parent: int = 0) -> int:
    return pan.upload(data, name, parent, space="disk")


def v2(pan, parent: int = 0, **q) -> dict:
    return pan.ok("/api/v2/file/list", method="GET", params={"parentFileId": parent, "limit": 100, **q})


def names(page: dict) -> list[str]:
    return [f["filename"] for f in page["fileList"]]


def test_mkdir_and_lists_share_the_tree_with_the_v1_upload(client, pan):
    folder = mkdir(pan, "文档")
    assert isinstance(folder, int) and folder > 0
    sub = mkdir(pan, "子目录", folder)
    fid = put(pan, b"hello disk", "a.txt", folder)
    assert isinstance(fid, int)
    page = v2(pan, folder)
    assert page["lastFileId"] == -1 and names(page) == ["子目录", "a.txt"]
    item = page["fileList"][1]
    assert item["fileId"] == fid and item["parentFileId"] == folder and item["type"] == 0
    assert item["size"] == 10 and item["etag"] == md5(b"hello disk") and item["trashed"] == 0
    assert item["s3KeyFlag"] == f"{UID}-0" and page["fileList"][0]["type"] == 1
    assert page["fileList"][0]["fileId"] == sub
    old = pan.ok("/api/v1/file/list", method="GET", params={
        "parentFileId": folder, "page": 1, "limit": 100, "orderBy": "file_name", "orderDirection": "desc",
        "trashed": "False"})
    assert old["total"] == 2 and [f["fileID"] for f in old["fileList"]] == [sub, fid]
    assert old["fileList"][0]["parentName"] == "文档" and old["fileList"][0]["createAt"].endswith("+0800 CST")
    # image hosting does not see the disk
    oss = pan.ok("/api/v1/oss/file/list", {"parentFileId": "", "limit": 100, "type": 1})
    assert oss["fileList"] == []


def test_mkdir_refuses_a_taken_name_and_a_missing_parent(client, pan):
    mkdir(pan, "x")
    before = pan.state()
    assert pan.err("/upload/v1/file/mkdir", {"name": "x", "parentID": 0})[0] == 1
    assert pan.err("/upload/v1/file/mkdir", {"name": "y", "parentID": 99999999})[0] == 1
    assert pan.err("/upload/v1/file/mkdir", {"name": "a/b", "parentID": 0})[0] == 1
    assert pan.state() == before


def test_v2_list_pages_with_last_file_id(client, pan):
    ids = [mkdir(pan, f"d{n}") for n in range(5)]
    first = v2(pan, limit=2)
    assert [f["fileId"] for f in first["fileList"]] == ids[:2] and first["lastFileId"] == ids[1]
    second = v2(pan, limit=2, lastFileId=first["lastFileId"])
    assert [f["fileId"] for f in second["fileList"]] == ids[2:4]
    third = v2(pan, limit=2, lastFileId=second["lastFileId"])
    assert [f["fileId"] for f in third["fileList"]] == ids[4:] and third["lastFileId"] == -1
    assert pan.err("/api/v2/file/list", method="GET", params={"parentFileId": 0, "limit": 101})[0] == 1


def test_get_parameters_in_a_form_body_under_a_json_label(client, pan):
    """The pan123 SDK sends GET parameters as a form body and says application/json."""
    folder = mkdir(pan, "f")
    headers = {**pan.headers(), "Content-Type": "application/json"}
    r = client.request("GET", "/api/v2/file/list", headers=headers,
                       content=f"parentFileId={folder}&limit=100&searchMode=0&lastFileID=0")
    assert r.json()["code"] == 0 and r.json()["data"]["fileList"] == []
    r = client.request("GET", "/api/v1/file/detail", headers=headers, content=f"fileID={folder}")
    assert r.json()["data"]["filename"] == "f" and r.json()["data"]["type"] == 1


def test_detail_infos_and_folder_size(client, pan):
    folder = mkdir(pan, "f")
    a = put(pan, b"a" * 100, "a.bin", folder)
    b = put(pan, b"b" * 50, "b.mp4", folder)
    d = pan.ok("/api/v1/file/detail", method="GET", params={"fileID": folder})
    assert d["size"] == 150 and d["type"] == 1 and d["parentFileID"] == 0 and d["trashed"] == 0
    d = pan.ok("/api/v1/file/detail", method="GET", params={"fileID": a})
    assert set(d) == {"fileID", "filename", "type", "size", "etag", "status", "parentFileID", "createAt", "trashed"}
    assert d["etag"] == md5(b"a" * 100) and d["parentFileID"] == folder
    assert pan.err("/api/v1/file/detail", method="GET", params={"fileID": 12345678})[0] == 5066
    infos = pan.ok("/api/v1/file/infos", {"fileIds": [b, a, 1]})
    assert infos["list"] == infos["fileList"] and [i["fileId"] for i in infos["list"]] == [b, a]
    assert infos["list"][0]["category"] == 2


def test_trash_recover_delete(client, pan):
    folder = mkdir(pan, "f")
    fid = put(pan, b"bytes", "a.txt", folder)
    before = pan.state()
    code, _ = pan.err("/api/v1/file/delete", {"fileIDs": [fid]})  # only from the recycle bin
    assert code == 1 and pan.state() == before
    assert pan.ok("/api/v1/file/trash", {"fileIDs": [fid]}) is None
    listed = v2(pan, folder)["fileList"]
    assert [(f["fileId"], f["trashed"]) for f in listed] == [(fid, 1)]  # v2 list shows the bin's items
    assert v2(pan, folder, trashed="false")["fileList"] == []
    binned = pan.ok("/api/v1/file/list", method="GET", params={
        "parentFileId": 0, "page": 1, "limit": 100, "orderBy": "file_id", "orderDirection": "asc", "trashed": "true"})
    assert [f["fileID"] for f in binned["fileList"]] == [fid]
    # its name is free while it is in the bin
    again = put(pan, b"other", "a.txt", folder)
    assert pan.ok("/api/v1/file/recover", {"fileIDs": [fid]}) == {"abnormalFileIDs": []}
    items = {f["fileId"]: f["filename"] for f in v2(pan, folder)["fileList"]}
    assert items == {again: "a.txt", fid: "a(1).txt"}
    pan.ok("/api/v1/file/trash", {"fileIDs": [fid]})
    pan.tick(1)
    assert pan.ok("/api/v1/file/delete", {"fileIDs": [fid]}) is None
    assert pan.err("/api/v1/file/detail", method="GET", params={"fileID": fid})[0] == 5066


def test_recover_into_a_folder_and_abnormal_ids(client, pan):
    folder = mkdir(pan, "f")
    target = mkdir(pan, "t")
    fid = put(pan, b"bytes", "a.txt", folder)
    pan.ok("/api/v1/file/trash", {"fileIDs": [fid]})
    pan.tick(1)
    pan.ok("/api/v1/file/trash", {"fileIDs": [folder]})
    assert pan.ok("/api/v1/file/recover", {"fileIDs": [fid]}) == {"abnormalFileIDs": [fid]}
    assert pan.ok("/api/v1/file/recover/by_path", {"fileIDs": [fid], "parentFileID": target}) is None
    assert [f["fileId"] for f in v2(pan, target)["fileList"]] == [fid]


def test_move_and_its_rules(client, pan):
    a, b = mkdir(pan, "a"), mkdir(pan, "b")
    inner = mkdir(pan, "inner", a)
    f1 = put(pan, b"1", "x.txt")
    assert pan.ok("/api/v1/file/move", {"fileIDs": [f1], "toParentFileID": b}) is None
    assert [f["fileId"] for f in v2(pan, b)["fileList"]] == [f1]
    before = pan.state()
    pan.tick(1)
    assert pan.err("/api/v1/file/move", {"fileIDs": [a], "toParentFileID": inner})[0] == 1  # into itself
    pan.tick(1)
    f2 = put(pan, b"2", "x.txt")
    before = pan.state()
    assert pan.err("/api/v1/file/move", {"fileIDs": [f2], "toParentFileID": b})[0] == 1  # name taken
    pan.tick(1)
    assert pan.err("/api/v1/file/move", {"fileIDs": [f2, 99999999], "toParentFileID": a})[0] == 5066
    assert pan.state() == before


def test_rename_single_and_batch(client, pan):
    f1, f2 = put(pan, b"1", "one.txt"), put(pan, b"2", "two.txt")
    assert pan.ok("/api/v1/file/name", {"fileId": f1, "fileName": "uno.txt"}, method="PUT") is None
    before = pan.state()
    assert pan.err("/api/v1/file/name", {"fileId": f1, "fileName": "two.txt"}, method="PUT")[0] == 1
    assert pan.err("/api/v1/file/rename", {"renameList": [f"{f1}|a.txt", f"{f2}|a.txt"]})[0] == 1
    assert pan.err("/api/v1/file/rename", {"renameList": [f"{f1}|x{n}" for n in range(31)]})[0] == 1
    assert pan.state() == before
    done = pan.ok("/api/v1/file/rename", {"renameList": [f"{f1}|b.txt", f"{f2}|c.txt"]})
    assert [s["fileID"] for s in done["successList"]] == [f1, f2] and done["failList"] == []
    assert sorted(names(v2(pan))) == ["b.txt", "c.txt"]


def test_download_info_serves_get_head_and_range(client, pan):
    data = bytes(range(256)) * 10
    fid = put(pan, data, "d.bin")
    url = pan.ok("/api/v1/file/download_info", method="GET", params={"fileId": fid})["downloadUrl"]
    assert client.get(url).content == data
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    r = client.get(url, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert pan.err("/api/v1/file/download_info", method="GET", params={"fileId": 1})[0] == 5066


def test_user_info(client, pan):
    put(pan, b"x" * 1000, "a.bin")
    info = pan.ok("/api/v1/user/info", method="GET")
    assert info["uid"] == UID and info["spaceUsed"] == 1000 and info["vip"] is False
    for key in ("nickname", "headImage", "passport", "mail", "spacePermanent", "spaceTemp", "directTraffic",
                "httpsCount"):
        assert key in info


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/upload/v2/file/upload_domain"), ("GET", "/api/v1/file/download"), ("POST", "/api/v1/file/info"),
    ("POST", "/api/v1/file/trash/restore"), ("DELETE", "/api/v9/nothing"),
])
def test_paths_the_platform_does_not_have_are_404_envelopes(client, pan, method, path):
    r = client.request(method, path, headers=pan.headers())
    assert r.status_code == 404
    body = r.json()
    assert body["code"] == 404 and body["data"] is None and set(body) == {"code", "message", "data", "x-traceID"}


def test_evidence_shows_the_disk_tree_with_the_bin(client, pan):
    folder = mkdir(pan, "f")
    fid = put(pan, b"x", "a.txt", folder)
    pan.ok("/api/v1/file/trash", {"fileIDs": [folder]})
    tree = {e["path"]: e for e in client.get("/_emulator/pan123/disk").json()}
    assert tree["/f"]["trashed"] is True and tree["/f/a.txt"]["id"] == fid
    assert tree["/f/a.txt"]["trashed"] is False and tree["/f/a.txt"]["in_trash"] is True


def test_preload_into_the_cloud_disk(client, pan):
    """``@disk/<folders>/<file>`` preloads the cloud disk (other paths: image hosting)."""
    pan.config(slice_size=1000)
    data = bytes(range(256)) * 10
    r = client.put("/_emulator/preload/pan123/test-pan123-client/@disk/docs/a.bin", content=data)
    assert r.status_code == 201, r.text
    desc = r.json()
    assert isinstance(desc["id"], int) and desc["result"] == "created"
    tree = {e["path"]: e for e in client.get("/_emulator/pan123/disk").json()}
    assert tree["/docs"]["is_dir"] and tree["/docs/a.bin"]["id"] == desc["id"]
    listed = v2(pan, tree["/docs"]["id"])["fileList"]
    assert [(f["fileId"], f["etag"]) for f in listed] == [(desc["id"], md5(data))]
    url = pan.ok("/api/v1/file/download_info", method="GET", params={"fileId": desc["id"]})["downloadUrl"]
    assert client.get(url).content == data
    again = client.put("/_emulator/preload/pan123/test-pan123-client/@disk/docs/a.bin", content=data).json()
    assert again["result"] == "unchanged" and again["id"] == desc["id"]
    assert pan.ok("/api/v1/oss/file/list", {"parentFileId": "", "limit": 100, "type": 1})["fileList"] == []


def test_v1_create_with_contain_dir_makes_the_folders(client, pan):
    data = b"in a folder"
    body = {"parentFileID": 0, "filename": "/x/y/z.txt", "etag": md5(data), "size": len(data), "containDir": True}
    pre = pan.ok("/upload/v1/file/create", body)["preuploadID"]
    pan.put_slices(pre, data, 104857600, space="disk")
    fid = pan.ok("/upload/v1/file/upload_complete", {"preuploadID": pre})["fileID"]
    tree = {e["path"]: e for e in client.get("/_emulator/pan123/disk").json()}
    assert tree["/x/y/z.txt"]["id"] == fid and tree["/x/y"]["is_dir"]
