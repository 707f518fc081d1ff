"""The six-step upload: create (秒传), get_upload_url, the presigned PUT, list_upload_parts,
upload_complete, upload_async_result; image hosting and the cloud-disk flow."""

from __future__ import annotations

import json
import os
import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest
from pan123_support import UID, md5

OSS = "/upload/v1/oss/file"
DISK = "/upload/v1/file"
FILE_ID = re.compile(r"^[0-9a-z]{32}[0-9A-Za-z]{20}$")


def slices(pan, size: int = 2500, slice_size: int = 1000, name: str = "p.jpg") -> tuple[bytes, str]:
    pan.config(slice_size=slice_size)
    data = os.urandom(size)
    return data, pan.create(data, name)["preuploadID"]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    q = dict(parse_qsl(parts.query))
    q.update(changes)
    from urllib.parse import urlencode

    return urlunsplit(parts._replace(query=urlencode(q)))


# -- create ---------------------------------------------------------------------------------
def test_document_example_create(client, pan):
    raw = ('{\n    "parentFileID": "yk6baz03t0l000d7w33fbyq51l4izkneDIYPAIDOBIY0DcxvDwFO",\n'
           '    "filename": "测试图床.jpg",\n    "etag": "e62623f4906aeba8f8d8f5de19e1e34e",\n'
           '    "size": 22032384,\n    "type": 1\n}')
    before = pan.state()
    r = client.post(f"{OSS}/create", headers={**pan.headers(), "Content-Type": "application/json"}, content=raw)
    assert r.json()["code"] == 1 and "父目录不存在" in r.json()["message"]  # that folder is not ours
    assert pan.state() == before
    folder = pan.mkdir("测试图床目录")
    body = json.loads(raw) | {"parentFileID": folder}
    data = pan.ok(f"{OSS}/create", body)
    assert data["fileID"] == "" and data["reuse"] is False and data["sliceSize"] == 104857600
    assert len(data["preuploadID"]) >= 64
    url = pan.ok(f"{OSS}/get_upload_url", {"preuploadID": data["preuploadID"], "sliceNo": 1})
    assert url["isMultipart"] is False  # 22032384 bytes < 100 MiB: one slice


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"filename": ""}, "文件名"),
        ({"filename": "a" * 255}, "255"),
        ({"etag": "e62623f4906aeba8f8d8f5de19e1e34"}, "etag"),
        ({"etag": "g62623f4906aeba8f8d8f5de19e1e34e"}, "etag"),
        ({"size": 0}, "size"),
        ({"size": -5}, "size"),
        ({"type": 2}, "type"),
        ({"type": None}, "type"),
        ({"parentFileID": "nosuchfolder"}, "父目录"),
    ] + [({"filename": f"a{c}b.jpg"}, "字符") for c in '"/:*?|><'],
)
def test_create_rules(client, pan, change, words):
    pan.mkdir("seed")  # the root exists before, so state compares like for like
    before = pan.state()
    body = {"parentFileID": "", "filename": "ok.jpg", "etag": "e62623f4906aeba8f8d8f5de19e1e34e", "size": 10,
            "type": 1}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    code, message = pan.err(f"{OSS}/create", body)
    assert code == 1 and words in message
    assert pan.state() == before


def test_create_accepts_254_characters_and_refuses_a_taken_name(client, pan):
    name = "n" * 250 + ".jpg"
    assert pan.create(b"one", name)["preuploadID"]
    pan.upload(b"first", "taken.jpg")
    before = pan.state()
    code, message = pan.err(f"{OSS}/create", {"parentFileID": "", "filename": "taken.jpg", "etag": md5(b"x"),
                                              "size": 1, "type": 1})
    assert code == 1 and "同名" in message
    pan.mkdir("dirname")
    code, _ = pan.err(f"{OSS}/create", {"parentFileID": "", "filename": "dirname", "etag": md5(b"x"), "size": 1,
                                        "type": 1})
    assert code == 1
    assert pan.state()[0][:2] == before[0][:2]


# -- get_upload_url and the PUT ---------------------------------------------------------------
def test_upload_url_is_presigned_s3_style_on_the_public_base(client, pan):
    data, pre = slices(pan)
    got = pan.ok(f"{OSS}/get_upload_url", {"preuploadID": pre, "sliceNo": 2})
    assert got["isMultipart"] is True
    url = urlsplit(got["presignedURL"])
    assert f"{url.scheme}://{url.netloc}" == "http://testserver"
    assert f"/{UID}-0/{md5(data)}" in url.path
    q = dict(parse_qsl(url.query))
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and q["X-Amz-SignedHeaders"] == "host"
    assert q["X-Amz-Expires"] == "3600" and q["partNumber"] == "2" and len(q["X-Amz-Signature"]) == 64
    assert re.fullmatch(r"\d{8}T\d{6}Z", q["X-Amz-Date"])
    assert q["X-Amz-Credential"].endswith("/us-east-1/s3/aws4_request")


def test_public_url_setting_is_the_base_of_presigned_urls(tmp_path):
    from fastapi.testclient import TestClient
    from pan123_support import Pan

    from emulator.app import create_app
    from emulator.settings import Settings

    app = create_app(Settings(database_url="sqlite://", public_url="http://emulator:8080"))
    with TestClient(app) as c:
        pan = Pan(c)
        pre = pan.create(b"abc", "x.bin")["preuploadID"]
        assert pan.url(pre, 1).startswith("http://emulator:8080/_pan123/s3/")
    app.state.emulator.close()


@pytest.mark.parametrize("slice_no", [0, -1, 4, 100])
def test_slice_number_out_of_range(client, pan, slice_no):
    _, pre = slices(pan)
    code, message = pan.err(f"{OSS}/get_upload_url", {"preuploadID": pre, "sliceNo": slice_no})
    assert code == 1 and "1~3" in message


def test_unknown_or_foreign_preupload_id(client, pan):
    _, pre = slices(pan)
    assert pan.err(f"{OSS}/get_upload_url", {"preuploadID": "nope", "sliceNo": 1})[0] == 1
    assert pan.err(f"{DISK}/get_upload_url", {"preuploadID": pre, "sliceNo": 1})[0] == 1  # other flow
    client.post("/_emulator/fixtures", json={"pan123": [{"client_id": "other", "client_secret": "s2", "uid": 7}]})
    other = pan.new_token("other", "s2")
    assert pan.call(f"{OSS}/get_upload_url", {"preuploadID": pre, "sliceNo": 1}, token=other)["code"] == 1


def test_put_needs_no_auth_headers_and_answers_an_empty_200(client, pan):
    data, pre = slices(pan)
    r = client.put(pan.url(pre, 1), content=data[:1000], headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and r.content == b"" and r.headers["etag"] == f'"{md5(data[:1000])}"'
    parts = pan.ok(f"{OSS}/list_upload_parts", {"preuploadID": pre})["parts"]
    assert parts == [{"partNumber": 1, "size": 1000, "etag": md5(data[:1000])}]


def xml_error(r) -> str:
    assert r.headers["content-type"].startswith("application/xml")
    return re.search(r"<Code>(.*?)</Code>", r.text).group(1)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda u: u[:-1] + ("0" if u[-1] != "0" else "1"),  # signature
        lambda u: with_query(u, partNumber="2"),  # another slice
        lambda u: with_query(u, **{"X-Amz-Expires": "999999"}),
        lambda u: with_query(u, **{"X-Amz-Date": "20250303T083827Z"}),
        lambda u: u.replace("/p", "/q", 1).replace("/_pan123/s3/123", "/_pan123/s3/124"),  # path
        lambda u: re.sub(r"X-Amz-Signature=\w+", "X-Amz-Signature=%C3%A9", u),  # non-ASCII signature
        lambda u: u + "%C3%A9",  # the signature and a non-ASCII character
    ],
)
def test_tampered_url_is_403_and_stores_nothing(client, pan, tamper):
    data, pre = slices(pan)
    url = pan.url(pre, 1)
    before = pan.state()
    r = client.put(tamper(url), content=data[:1000])
    assert r.status_code == 403 and xml_error(r) == "SignatureDoesNotMatch"
    assert pan.state() == before
    entry = client.get("/_emulator/requests", params={"status": "403"}).json()[-1]
    assert entry["reason"] and "canonical request" in entry["expected"] and "string to sign" in entry["expected"]
    assert entry["tenant"] == "test-pan123-client"
    assert "test-pan123-secret" not in json.dumps(entry)


def test_url_used_for_another_host_is_refused(client, pan):
    data, pre = slices(pan)
    r = client.put(pan.url(pre, 1), content=data[:1000], headers={"Host": "elsewhere:9000"})
    assert r.status_code == 403 and xml_error(r) == "SignatureDoesNotMatch"


def test_url_without_signature_or_upload_is_refused(client, pan):
    _, pre = slices(pan)
    url = pan.url(pre, 1)
    assert client.put(url.split("?")[0] + "?uploadId=" + dict(parse_qsl(urlsplit(url).query))["uploadId"],
                      content=b"x").status_code == 403
    r = client.put(with_query(url, uploadId="0" * 32), content=b"x")
    assert r.status_code == 403 and xml_error(r) == "AccessDenied"


def test_url_expires_on_the_clock(client, pan):
    data, pre = slices(pan)
    url = pan.url(pre, 1)
    pan.tick(3599)
    assert client.put(url, content=data[:1000]).status_code == 200
    pan.tick(1)
    before = pan.state()
    r = client.put(url, content=data[:1000])
    assert r.status_code == 403 and xml_error(r) == "AccessDenied" and "expired" in r.text
    assert pan.state() == before
    pan.config(presign_expires=10)
    short = pan.url(pre, 1)
    assert "X-Amz-Expires=10&" in short
    pan.tick(10)
    assert client.put(short, content=data[:1000]).status_code == 403


def test_second_put_of_a_slice_replaces_it(client, pan):
    data, pre = slices(pan)
    client.put(pan.url(pre, 1), content=b"z" * 1000)
    assert client.get("/_emulator/store").json() == {"blobs": 1, "bytes": 1000}
    client.put(pan.url(pre, 1), content=data[:1000])
    parts = pan.ok(f"{OSS}/list_upload_parts", {"preuploadID": pre})["parts"]
    assert parts == [{"partNumber": 1, "size": 1000, "etag": md5(data[:1000])}]
    assert client.get("/_emulator/store").json() == {"blobs": 1, "bytes": 1000}  # the old bytes are gone


def test_slice_larger_than_slice_size_is_refused(client, pan):
    _, pre = slices(pan)
    before = pan.state()
    r = client.put(pan.url(pre, 1), content=b"x" * 1001)
    assert r.status_code == 400 and xml_error(r) == "EntityTooLarge"
    assert pan.state() == before


def test_list_upload_parts_is_empty_for_a_single_slice_file(client, pan):
    data = b"small file"
    pre = pan.create(data, "s.txt")["preuploadID"]
    client.put(pan.url(pre, 1), content=data)
    assert pan.ok(f"{OSS}/list_upload_parts", {"preuploadID": pre}) == {"parts": []}


def test_list_upload_parts_in_order(client, pan):
    data, pre = slices(pan)
    for n in (3, 1):
        client.put(pan.url(pre, n), content=data[(n - 1) * 1000:n * 1000])
    parts = pan.ok(f"{OSS}/list_upload_parts", {"preuploadID": pre})["parts"]
    assert parts == [{"partNumber": 1, "size": 1000, "etag": md5(data[:1000])},
                     {"partNumber": 3, "size": 500, "etag": md5(data[2000:])}]


# -- complete -----------------------------------------------------------------------------------
def test_single_slice_completes_synchronously(client, pan):
    data = b"hello image"
    pre = pan.create(data, "h.jpg")["preuploadID"]
    client.put(pan.url(pre, 1), content=data)
    done = pan.ok(f"{OSS}/upload_complete", {"preuploadID": pre})
    assert done["async"] is False and done["completed"] is True and FILE_ID.match(done["fileID"])
    assert pan.detail(done["fileID"])["size"] == len(data)
    again = pan.ok(f"{OSS}/upload_complete", {"preuploadID": pre})  # idempotent
    assert again == done
    assert pan.ok(f"{OSS}/upload_async_result", {"preuploadID": pre}) == {"completed": True,
                                                                          "fileID": done["fileID"]}
    code, message = pan.err(f"{OSS}/get_upload_url", {"preuploadID": pre, "sliceNo": 1})
    assert code == 1 and "完毕" in message


def test_put_after_complete_is_no_such_upload(client, pan):
    data = b"abc"
    pre = pan.create(data, "a.bin")["preuploadID"]
    url = pan.url(pre, 1)
    client.put(url, content=data)
    pan.ok(f"{OSS}/upload_complete", {"preuploadID": pre})
    r = client.put(url, content=data)
    assert r.status_code == 404 and xml_error(r) == "NoSuchUpload"


def test_single_slice_md5_mismatch_creates_nothing(client, pan):
    data = b"declared bytes"
    pre = pan.create(data, "m.jpg")["preuploadID"]
    client.put(pan.url(pre, 1), content=b"other  bytes!!")
    before = pan.state()
    code, message = pan.err(f"{OSS}/upload_complete", {"preuploadID": pre})
    assert code == 1 and "MD5" in message
    assert pan.state() == before
    client.put(pan.url(pre, 1), content=data)  # fix the slice and finish
    assert pan.ok(f"{OSS}/upload_complete", {"preuploadID": pre})["completed"] is True


def test_missing_or_wrong_sized_slices_create_nothing(client, pan):
    data, pre = slices(pan)
    client.put(pan.url(pre, 1), content=data[:1000])
    client.put(pan.url(pre, 3), content=data[2000:])
    before = pan.state()
    code, message = pan.err(f"{OSS}/upload_complete", {"preuploadID": pre})
    assert code == 1 and "2" in message
    client.put(pan.url(pre, 2), content=data[1000:1999])
    code, message = pan.err(f"{OSS}/upload_complete", {"preuploadID": pre})
    assert code == 1 and "分片2" in message
    assert pan.state()[0] == before[0]


def test_async_result_before_complete_is_an_error(client, pan):
    _, pre = slices(pan)
    assert pan.err(f"{OSS}/upload_async_result", {"preuploadID": pre})[0] == 1


def test_multi_slice_completes_after_the_configured_seconds_whatever_the_polls(client, pan):
    pan.config(async_seconds=2)
    data, pre = slices(pan)
    pan.put_slices(pre, data, 1000)
    done = pan.ok(f"{OSS}/upload_complete", {"preuploadID": pre})
    assert done == {"async": True, "completed": False, "fileID": ""}
    results = [pan.ok(f"{OSS}/upload_async_result", {"preuploadID": pre}) for _ in range(5)]
    assert [r["completed"] for r in results] == [False] * 5  # polls alone never finish it
    pan.tick(1.9)
    assert pan.ok(f"{OSS}/upload_async_result", {"preuploadID": pre})["completed"] is False
    files_before = pan.state()[0]
    assert not [f for f in files_before if f["name"] == "p.jpg"]  # not there until the check ends
    pan.tick(0.1)
    result = pan.ok(f"{OSS}/upload_async_result", {"preuploadID": pre})
    assert result["completed"] is True and FILE_ID.match(result["fileID"])
    assert pan.ok(f"{OSS}/upload_complete", {"preuploadID": pre})["completed"] is True


def _listed(pan, name: str) -> list[dict]:
    page = pan.ok("/api/v1/oss/file/list", {"parentFileId": "", "limit": 100, "type": 1})
    return [f for f in page["fileList"] if f["filename"] == name]


def test_multi_slice_upload_finishes_without_being_polled(client, pan):
    """Issue 11: the file comes into being async_seconds after upload_complete, on its own;
    a later poll only reports it (the pan123 SDK never polls)."""
    data, pre = slices(pan)
    pan.put_slices(pre, data, 1000)
    assert pan.ok(f"{OSS}/upload_complete", {"preuploadID": pre})["async"] is True
    assert _listed(pan, "p.jpg") == []
    pan.tick(1)  # async_seconds (default 1) pass; nobody polls
    listed = _listed(pan, "p.jpg")
    assert len(listed) == 1 and listed[0]["size"] == len(data) and listed[0]["etag"] == md5(data)
    assert client.get(listed[0]["downloadURL"]).content == data
    assert pan.ok(f"{OSS}/upload_async_result", {"preuploadID": pre}) == {"completed": True,
                                                                          "fileID": listed[0]["fileId"]}


def test_cloud_disk_upload_appears_in_the_evidence_without_a_poll(client, pan):
    pan.config(slice_size=1000, async_seconds=3)
    data = os.urandom(2500)
    pre = pan.create(data, "d.bin", space="disk")["preuploadID"]
    pan.put_slices(pre, data, 1000, space="disk")
    pan.ok(f"{DISK}/upload_complete", {"preuploadID": pre})
    pan.tick(2.5)
    assert pan.ok(f"{DISK}/upload_async_result", {"preuploadID": pre}) == {"completed": False, "fileID": 0}
    assert not [f for f in client.get("/_emulator/pan123/files").json() if f["name"] == "d.bin"]
    pan.tick(0.5)
    files = [f for f in client.get("/_emulator/pan123/files").json() if f["name"] == "d.bin"]
    assert len(files) == 1 and files[0]["slices"] == [1000, 1000, 500]
    assert client.get(f"/_emulator/pan123/files/{files[0]['id']}/content").content == data
    done = pan.ok(f"{DISK}/upload_async_result", {"preuploadID": pre})
    assert done == {"completed": True, "fileID": int(files[0]["id"])}


def test_a_failed_check_without_polls_creates_nothing_and_is_reported(client, pan):
    data, pre = slices(pan)
    wrong = bytearray(data)
    wrong[1500] ^= 0xFF
    pan.put_slices(pre, bytes(wrong), 1000)
    pan.ok(f"{OSS}/upload_complete", {"preuploadID": pre})
    pan.tick(1)
    assert _listed(pan, "p.jpg") == []
    code, message = pan.err(f"{OSS}/upload_async_result", {"preuploadID": pre})
    assert code == 1 and "MD5" in message


def test_multi_slice_md5_mismatch_is_reported_by_the_async_result(client, pan):
    data, pre = slices(pan)
    wrong = bytearray(data)
    wrong[1500] ^= 0xFF
    pan.put_slices(pre, bytes(wrong), 1000)
    assert pan.ok(f"{OSS}/upload_complete", {"preuploadID": pre})["async"] is True
    assert pan.ok(f"{OSS}/upload_async_result", {"preuploadID": pre})["completed"] is False
    pan.tick(1)
    code, message = pan.err(f"{OSS}/upload_async_result", {"preuploadID": pre})
    assert code == 1 and "MD5" in message
    assert not [f for f in pan.state()[0] if f["name"] == "p.jpg"]
    assert pan.err(f"{OSS}/upload_async_result", {"preuploadID": pre})[0] == 1  # stays failed
    # the client re-sends the bad slice and completes again
    client.put(pan.url(pre, 2), content=data[1000:2000])
    pan.ok(f"{OSS}/upload_complete", {"preuploadID": pre})
    pan.tick(1)
    done = pan.ok(f"{OSS}/upload_async_result", {"preuploadID": pre})
    assert done["completed"] is True
    assert client.get(pan.detail(done["fileID"])["downloadURL"]).content == data


def test_multi_slice_end_to_end(client, pan):
    pan.config(slice_size=64 * 1024)
    data = os.urandom(5 * 64 * 1024 + 12345)
    folder = pan.mkdir("相册")
    created = pan.create(data, "大图.png", folder)
    pre, size = created["preuploadID"], created["sliceSize"]
    assert size == 64 * 1024
    urls = [pan.ok(f"{OSS}/get_upload_url", {"preuploadID": pre, "sliceNo": n}) for n in range(1, 7)]
    assert all(u["isMultipart"] for u in urls)
    for n, u in enumerate(urls):
        assert client.put(u["presignedURL"], content=data[n * size:(n + 1) * size]).status_code == 200
    parts = pan.ok(f"{OSS}/list_upload_parts", {"preuploadID": pre})["parts"]
    assert [p["etag"] for p in parts] == [md5(data[n * size:(n + 1) * size]) for n in range(6)]
    assert pan.ok(f"{OSS}/upload_complete", {"preuploadID": pre}) == {"async": True, "completed": False,
                                                                     "fileID": ""}
    assert pan.ok(f"{OSS}/upload_async_result", {"preuploadID": pre})["completed"] is False
    pan.tick(1)
    done = pan.ok(f"{OSS}/upload_async_result", {"preuploadID": pre})
    file_id = done["fileID"]
    detail = pan.detail(file_id)
    assert detail["etag"] == md5(data) and detail["size"] == len(data) and detail["parentFileId"] == folder
    assert detail["parentFilename"] == "相册" and detail["extension"] == "png"
    r = client.get(detail["downloadURL"])
    assert r.status_code == 200 and r.content == data and r.headers["content-type"] == "image/png"
    r = client.get(detail["userSelfURL"], headers={"Range": "bytes=65530-131080"})
    assert r.status_code == 206 and r.content == data[65530:131081]
    assert r.headers["content-range"] == f"bytes 65530-131080/{len(data)}"
    listing = pan.ok("/api/v1/oss/file/list", {"parentFileId": folder, "limit": 10, "type": 1})
    assert [f["fileId"] for f in listing["fileList"]] == [file_id] and listing["lastFileId"] == "-1"
    stored = next(f for f in client.get("/_emulator/pan123/files").json() if f["id"] == file_id)
    assert stored["slices"] == [size] * 5 + [12345]  # slices are kept, never joined
    assert pan.ok("/api/v1/oss/file/delete", {"fileIDs": [file_id]}) is None
    assert client.get(detail["downloadURL"]).status_code == 404
    assert pan.call("/api/v1/oss/file/detail", method="GET", params={"fileID": file_id})["code"] == 5066
    assert client.get("/_emulator/store").json() == {"blobs": 0, "bytes": 0}


# -- 秒传 ------------------------------------------------------------------------------------------
def test_same_bytes_are_an_instant_upload(client, pan):
    pan.config(slice_size=1000)
    data = os.urandom(3000)
    first = pan.upload(data, "one.jpg")
    again = pan.create(data, "two.jpg")
    assert again["reuse"] is True and FILE_ID.match(again["fileID"]) and "preuploadID" not in again
    assert again["fileID"] != first
    assert pan.detail(again["fileID"])["etag"] == md5(data)
    pan.ok("/api/v1/oss/file/delete", {"fileIDs": [first]})
    assert client.get(pan.detail(again["fileID"])["downloadURL"]).content == data  # bytes still held
    assert client.get("/_emulator/store").json()["bytes"] == 3000


def test_instant_upload_from_bytes_another_api_stored(client, pan):
    content = b"alias-1\nalias-2\n"
    r = client.post("/v3/files/alias", files={"filename": ("ids.txt", content, "text/plain")},
                    auth=("testjpushappkey000000001", "testjpushmastersecret001"))
    assert r.status_code == 200
    got = pan.create(content, "ids.txt")
    assert got["reuse"] is True
    assert client.get(pan.detail(got["fileID"])["downloadURL"]).content == content


def test_instant_upload_across_tenants_and_flows(client, pan):
    data = b"shared picture bytes"
    pan.upload(data, "x.jpg")
    got = pan.create(data, "y.jpg", space="disk")
    assert got["reuse"] is True and isinstance(got["fileID"], int) and got["fileID"] > 0


# -- cloud disk flow -----------------------------------------------------------------------------
def test_document_header_example_disk_create(client, pan):
    # 接口身份校验示例: parentFileID 0 (a number), no type
    raw = ('{\n    "parentFileID": 0,\n    "filename": "测试文件.txt",\n'
           '    "etag":"0a05e3dcd8ba1d14753597bc8611d0a1",\n    "size":44321\n}')
    r = client.post(f"{DISK}/create", headers={**pan.headers(), "Content-Type": "application/json"}, content=raw)
    data = r.json()["data"]
    assert r.json()["code"] == 0 and data["fileID"] == 0 and data["reuse"] is False and data["preuploadID"]


def test_disk_upload_gives_numeric_file_ids(client, pan):
    pan.config(slice_size=1000)
    data = os.urandom(1500)
    file_id = pan.upload(data, "d.bin", space="disk")
    assert isinstance(file_id, int) and file_id >= 10_000_000
    got = client.get(f"/_emulator/pan123/files/{file_id}/content")
    assert got.content == data


def test_disk_create_refuses_unknown_parent_and_taken_names(client, pan):
    assert pan.err(f"{DISK}/create", {"parentFileID": 12345, "filename": "a", "etag": "0" * 32, "size": 1})[0] == 1
    pan.upload(b"v1", "same.txt", space="disk")
    pan.tick(1)
    code, message = pan.err(f"{DISK}/create", {"parentFileID": 0, "filename": "same.txt", "etag": md5(b"v2"),
                                               "size": 2})
    assert code == 1 and "同名" in message


def test_disk_duplicate_policies(client, pan):
    first = pan.upload(b"v1", "same.txt", space="disk")
    pan.tick(1)
    keep = pan.ok(f"{DISK}/create", {"parentFileID": 0, "filename": "same.txt", "etag": md5(b"v1"), "size": 2,
                                     "duplicate": 1})
    names = sorted(f["name"] for f in client.get("/_emulator/pan123/files").json() if f["space"] == "disk")
    assert keep["reuse"] is True and names == ["same(1).txt", "same.txt"]
    pan.tick(1)
    over = pan.create(b"v3", "x")  # noqa: F841 - unrelated image hosting upload in between
    body = {"parentFileID": 0, "filename": "same.txt", "etag": md5(b"v3"), "size": 2, "duplicate": 2}
    pre = pan.ok(f"{DISK}/create", body)["preuploadID"]
    client.put(pan.url(pre, 1, "disk"), content=b"v3")
    new = pan.ok(f"{DISK}/upload_complete", {"preuploadID": pre})["fileID"]
    disk = {f["name"]: f["id"] for f in client.get("/_emulator/pan123/files").json() if f["space"] == "disk"}
    assert disk["same.txt"] == str(new) and str(first) not in disk.values()


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_other_methods_on_a_presigned_url_fail_its_signature_and_store_nothing(client, pan, method):
    """The URL signs PUT: another method is S3's 403 SignatureDoesNotMatch, not FastAPI's 405."""
    data, pre = slices(pan)
    url = pan.url(pre, 1)
    before = pan.state()
    r = client.request(method, url, content=data[:1000])
    assert r.status_code == 403 and xml_error(r) == "SignatureDoesNotMatch"
    assert pan.state() == before
    entry = client.get("/_emulator/requests", params={"status": "403"}).json()[-1]
    assert entry["api"] == "pan123" and entry["tenant"] == "test-pan123-client"
    assert entry["expected"].startswith(f"canonical request:\n{method}\n")


def test_other_methods_on_download_links_are_s3_method_not_allowed(client, pan):
    file_id = pan.upload(b"bytes", "d.jpg")
    url = pan.detail(file_id)["downloadURL"]
    for method in ("POST", "PUT", "DELETE"):
        r = client.request(method, url, content=b"new bytes")
        assert r.status_code == 405 and xml_error(r) == "MethodNotAllowed"
        assert r.headers["allow"] == "GET, HEAD"
    assert client.get(url).content == b"bytes"
