"""Upload v2 of the cloud disk: domain, create (秒传, containDir, duplicate), slices with
their MD5, upload_complete on the emulator clock (and 20103 when asked), single/create,
sha1_reuse."""

from __future__ import annotations

import hashlib
import os

import pytest
from pan123_support import md5

V2 = "/upload/v2/file"


@pytest.fixture(autouse=True)
def small_slices(pan):
    pan.config(v2_slice_size=1000)


def create(pan, data: bytes, name: str = "v.bin", parent: int = 0, **extra) -> dict:
    return pan.ok(f"{V2}/create", {"parentFileID": parent, "filename": name, "etag": md5(data), "size": len(data),
                                   **extra})


def send_slice(client, pan, server: str, pre: str, n: int, piece: bytes, slice_md5: str | None = None) -> dict:
    r = client.post(f"{server}{V2}/slice", headers=pan.headers(),
                    data={"preuploadID": pre, "sliceNo": str(n), "sliceMD5": slice_md5 or md5(piece)},
                    files={"slice": (f"v.bin.part{n}", piece, "application/octet-stream")})
    assert r.status_code == 200, r.text
    return r.json()


def upload(client, pan, data: bytes, name: str = "v.bin", parent: int = 0) -> tuple[str, dict]:
    created = create(pan, data, name, parent)
    server, size = created["servers"][0], created["sliceSize"]
    for n in range(-(-len(data) // size)):
        piece = data[n * size:(n + 1) * size]
        assert send_slice(client, pan, server, created["preuploadID"], n + 1, piece)["code"] == 0
    return created["preuploadID"], created


def disk_files(client) -> dict[str, dict]:
    return {e["path"]: e for e in client.get("/_emulator/pan123/disk").json()}


def test_domain_is_this_emulators_bare_origin(client, pan):
    assert pan.ok(f"{V2}/domain", method="GET") == ["http://testserver"]


@pytest.mark.parametrize("host", ["[::1", "[zz]", "a]", "[127.0.0.1]", "a[b]c", "[]", "a:b"])
def test_a_host_header_that_is_no_host_gets_links_on_the_servers_address(client, pan, host):
    """Links are built on the request's Host; one that no URL can hold (urlsplit refused it:
    an internal error) gives way to the address the server listens on, as a missing Host does."""
    r = client.get(f"{V2}/domain", headers={**pan.headers(), "host": host})
    assert r.json()["data"] == ["http://testserver:80"], r.text  # TestClient's server address
    pre = pan.create(b"abc")["preuploadID"]
    r = client.post("/upload/v1/oss/file/get_upload_url", headers={**pan.headers(), "host": host},
                    json={"preuploadID": pre, "sliceNo": 1})
    assert r.json()["data"]["presignedURL"].startswith("http://testserver:80/"), r.text


def test_multi_slice_upload_completes_on_the_clock(client, pan):
    data = os.urandom(2500)
    pre, created = upload(client, pan, data)
    assert created["reuse"] is False and created["fileID"] == 0 and created["sliceSize"] == 1000
    assert created["servers"] == ["http://testserver"]
    assert pan.ok(f"{V2}/upload_complete", {"preuploadID": pre}) == {"completed": False, "fileID": 0}
    assert "/v.bin" not in disk_files(client)
    pan.tick(1)
    done = pan.ok(f"{V2}/upload_complete", {"preuploadID": pre})
    assert done["completed"] is True and isinstance(done["fileID"], int) and done["fileID"] > 0
    entry = disk_files(client)["/v.bin"]
    assert entry["id"] == done["fileID"] and entry["size"] == 2500 and entry["etag"] == md5(data)
    url = pan.ok("/api/v1/file/download_info", method="GET", params={"fileId": done["fileID"]})["downloadUrl"]
    assert client.get(url).content == data
    stored = next(f for f in client.get("/_emulator/pan123/files").json() if f["id"] == str(done["fileID"]))
    assert stored["slices"] == [1000, 1000, 500]


def test_the_file_appears_without_a_second_complete(client, pan):
    data = os.urandom(1500)
    pre, _ = upload(client, pan, data)
    pan.ok(f"{V2}/upload_complete", {"preuploadID": pre})
    pan.tick(1)
    listed = pan.ok("/api/v2/file/list", method="GET", params={"parentFileId": 0, "limit": 100})["fileList"]
    assert [(f["filename"], f["size"]) for f in listed] == [("v.bin", 1500)]


def test_20103_while_verifying_when_configured(client, pan):
    pan.config(answer_20103=True)
    pre, _ = upload(client, pan, os.urandom(1500))
    code, message = pan.err(f"{V2}/upload_complete", {"preuploadID": pre})
    assert code == 20103 and "校验中" in message
    pan.tick(1)
    assert pan.ok(f"{V2}/upload_complete", {"preuploadID": pre})["completed"] is True


def test_async_seconds_zero_completes_at_once(client, pan):
    pan.config(async_seconds=0)
    pre, _ = upload(client, pan, os.urandom(2100))
    assert pan.ok(f"{V2}/upload_complete", {"preuploadID": pre})["completed"] is True


def test_slice_md5_is_checked_and_nothing_kept(client, pan):
    data = os.urandom(1500)
    created = create(pan, data)
    before = pan.state()
    body = send_slice(client, pan, "", created["preuploadID"], 1, data[:1000], slice_md5=md5(b"other"))
    assert body["code"] == 1 and body["data"] is None and "MD5" in body["message"]
    assert pan.state() == before
    body = send_slice(client, pan, "", created["preuploadID"], 3, data[:1000])
    assert body["code"] == 1 and "sliceNo" in body["message"]
    body = send_slice(client, pan, "", "nope", 1, data[:1000])
    assert body["code"] == 1
    assert pan.state() == before


def test_missing_slice_or_whole_md5_mismatch(client, pan):
    data = os.urandom(2500)
    created = create(pan, data)
    pre = created["preuploadID"]
    send_slice(client, pan, "", pre, 1, data[:1000])
    assert pan.err(f"{V2}/upload_complete", {"preuploadID": pre})[0] == 1
    wrong = os.urandom(1000)
    send_slice(client, pan, "", pre, 2, wrong)
    send_slice(client, pan, "", pre, 3, data[2000:])
    assert pan.ok(f"{V2}/upload_complete", {"preuploadID": pre})["completed"] is False
    pan.tick(1)
    code, message = pan.err(f"{V2}/upload_complete", {"preuploadID": pre})
    assert code == 1 and "MD5" in message
    assert "/v.bin" not in disk_files(client)
    send_slice(client, pan, "", pre, 2, data[1000:2000])  # fixed: complete again
    pan.ok(f"{V2}/upload_complete", {"preuploadID": pre})
    pan.tick(1)
    assert pan.ok(f"{V2}/upload_complete", {"preuploadID": pre})["completed"] is True


def test_reuse_contain_dir_and_duplicate(client, pan):
    pan.config(async_seconds=0)
    data = os.urandom(1200)
    pre, _ = upload(client, pan, data, "orig.bin")
    first = pan.ok(f"{V2}/upload_complete", {"preuploadID": pre})["fileID"]
    again = create(pan, data, "/相册/2024/copy.bin", containDir=True)
    assert again["reuse"] is True and again["fileID"] not in (0, first)
    tree = disk_files(client)
    assert tree["/相册"]["is_dir"] and tree["/相册/2024/copy.bin"]["id"] == again["fileID"]
    assert pan.err(f"{V2}/create", {"parentFileID": 0, "filename": "orig.bin", "etag": md5(b"x"), "size": 1})[0] == 1
    kept = create(pan, b"x", "orig.bin", duplicate=1)
    assert kept["reuse"] is False
    over = create(pan, data, "orig.bin", duplicate=2)
    assert over["reuse"] is True
    names = sorted(p for p in disk_files(client) if p.count("/") == 1)
    assert names == ["/orig.bin", "/相册"]


def test_single_create(client, pan):
    data = b"one request " * 100
    domain = pan.ok(f"{V2}/domain", method="GET")[0]
    form = {"parentFileID": "0", "filename": "s.txt", "etag": md5(data), "size": str(len(data)),
            "containDir": "False"}
    r = client.post(f"{domain}{V2}/single/create", headers=pan.headers(), data=form,
                    files={"file": ("/", data, "application/octet-stream")})
    done = r.json()["data"]
    assert done["completed"] is True and disk_files(client)["/s.txt"]["id"] == done["fileID"]
    before = pan.state()
    r = client.post(f"{V2}/single/create", headers=pan.headers(), data={**form, "etag": md5(b"no")},
                    files={"file": ("upload", data)})
    assert r.json()["code"] == 1 and pan.state() == before
    r = client.post(f"{V2}/single/create", headers=pan.headers(), data={**form, "size": str(2 * 1024**3)},
                    files={"file": ("upload", data)})
    assert r.json()["code"] == 1 and pan.state() == before


def test_sha1_reuse(client, pan):
    data = b"reuse me by sha1"
    sha1 = hashlib.sha1(data).hexdigest()
    miss = pan.ok(f"{V2}/sha1_reuse", {"parentFileID": 0, "filename": "r.txt", "sha1": sha1, "size": len(data)})
    assert miss == {"fileID": 0, "reuse": False}
    pan.upload(data, "orig.txt", 0, space="disk")
    hit = pan.ok(f"{V2}/sha1_reuse", {"parentFileID": 0, "filename": "r.txt", "sha1": sha1, "size": len(data)})
    assert hit["reuse"] is True and disk_files(client)["/r.txt"]["id"] == hit["fileID"]
    # a multi-slice file's SHA-1 is computed by its check
    pan.config(async_seconds=0)
    big = os.urandom(2500)
    pre, _ = upload(client, pan, big, "big.bin")
    pan.ok(f"{V2}/upload_complete", {"preuploadID": pre})
    hit = pan.ok(f"{V2}/sha1_reuse", {"parentFileID": 0, "filename": "big2.bin",
                                      "sha1": hashlib.sha1(big).hexdigest(), "size": len(big)})
    assert hit["reuse"] is True
    url = pan.ok("/api/v1/file/download_info", method="GET", params={"fileId": hit["fileID"]})["downloadUrl"]
    assert client.get(url).content == big
