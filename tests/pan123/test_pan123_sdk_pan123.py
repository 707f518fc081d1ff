"""pan123 (PyPI, requests), unchanged, against a live emulator through its ``base_url``: every
cloud-disk flow it offers. It sends every body as a form under ``Content-Type:
application/json``, GET parameters in a GET body, lists as repeated keys, and never polls an
upload: its multi-slice upload appears ``async_seconds`` after upload_complete on its own."""

from __future__ import annotations

import os
import time

import pan123
import pytest
from pan123.auth import Auth
from pan123.utils.exceptions import ClientKeyError, CloudError
from requests import HTTPError
from sdk_kit import CLIENT_ID, CLIENT_SECRET, UID, md5, pan_server  # noqa: F401

HEADER = {"Content-Type": "application/json", "Platform": "open_platform"}


@pytest.fixture
def pan(pan_server):
    token = Auth(pan_server.url, dict(HEADER)).get_access_token(CLIENT_ID, CLIENT_SECRET)
    return pan123.Pan123(token, base_url=pan_server.url)


def test_token_as_a_form_body_and_wrong_secret(pan_server):
    with pytest.raises(ClientKeyError):
        Auth(pan_server.url, dict(HEADER)).get_access_token(CLIENT_ID, "wrong")


def test_user_info_mkdir_and_lists(pan, pan_server):
    assert pan.user.info()["uid"] == UID
    folder = pan.file.mkdir("文档", 0)["dirID"]
    sub = pan.file.mkdir("子目录", folder)["dirID"]
    page = pan.file.list_file(folder, 100)  # GET body, lastFileID spelling when paging
    assert [f["fileId"] for f in page["fileList"]] == [sub] and page["lastFileId"] == -1
    for n in range(3):
        pan.file.mkdir(f"d{n}", folder)
    first = pan.file.list_file(folder, 2)
    second = pan.file.list_file(folder, 2, last_file_id=first["lastFileId"])
    assert [f["filename"] for f in first["fileList"] + second["fileList"]] == ["子目录", "d0", "d1", "d2"]
    old = pan.file.legacy_list_file(folder, page=1, limit=100)
    assert old["total"] == 4 and old["fileList"][0]["fileID"] == sub


def test_legacy_list_without_limit_is_refused(pan, pan_server):
    """Its defaults leave out ``limit`` (required by the document): the emulator answers code 1
    naming it (the SDK raises CloudError); with a limit the call works."""
    with pytest.raises(CloudError, match="limit"):
        pan.file.legacy_list_file(0)


def test_upload_small_and_multi_slice_without_polling(pan, pan_server, tmp_path):
    small = tmp_path / "small.txt"
    small.write_bytes(b"pan123 small upload")
    pan.file.upload(0, str(small))  # one slice: the file exists at once
    assert pan_server.content(pan_server.disk()["/small.txt"]["id"]) == small.read_bytes()
    big = tmp_path / "big.bin"
    data = os.urandom(3 * 64 * 1024 + 7)
    big.write_bytes(data)
    pan.file.upload(0, str(big))  # four presigned PUTs, list_upload_parts compared, complete; no poll
    assert "/big.bin" not in pan_server.disk()
    time.sleep(1.1)  # async_seconds (1) on the real clock
    entry = pan_server.disk()["/big.bin"]
    assert entry["etag"] == md5(data) and pan_server.content(entry["id"]) == data
    assert not pan_server.journal("/upload/v1/file/upload_async_result")  # it never polled
    pan.file.upload(0, str(big))  # 秒传: same bytes, duplicate=1 keeps both
    assert pan_server.disk()["/big(1).bin"]["etag"] == md5(data)


def test_detail_rename_move_trash_recover_delete(pan, pan_server, tmp_path):
    a = pan.file.mkdir("a", 0)["dirID"]
    b = pan.file.mkdir("b", 0)["dirID"]
    f = tmp_path / "m.txt"
    f.write_bytes(b"move me")
    pan.file.upload(a, str(f))
    fid = pan_server.disk()["/a/m.txt"]["id"]
    detail = pan.file.detail(fid)  # it turns type into "not type": True for a file
    assert detail["filename"] == "m.txt" and detail["type"] is True and detail["trashed"] is False
    pan.file.rename({fid: "n.txt"})
    pan.file.move([fid], b)
    assert pan_server.disk()["/b/n.txt"]["id"] == fid
    other = pan.file.mkdir("c", 0)["dirID"]
    pan.file.to_trashed([fid, other])  # fileIDs=…&fileIDs=… : both go
    tree = pan_server.disk()
    assert tree["/b/n.txt"]["trashed"] is True and tree["/c"]["trashed"] is True
    assert pan.file.detail(fid)["trashed"] is True
    pan.file.recover([fid])
    assert pan_server.disk()["/b/n.txt"]["trashed"] is False
    with pytest.raises(CloudError):  # only from the recycle bin
        pan.file.delete([fid])
    pan.file.to_trashed([fid])
    pan.file.delete([fid, other])
    assert {"/b/n.txt", "/c"} & set(pan_server.disk()) == set()


def test_its_download_calls_a_path_the_platform_does_not_have(pan, pan_server, tmp_path):
    """``File.download`` calls ``GET /api/v1/file/download`` (the platform's call is
    ``/api/v1/file/download_info``): the emulator answers HTTP 404 with the 123pan envelope,
    and the SDK raises HTTPError. The documented call serves the bytes."""
    f = tmp_path / "d.bin"
    f.write_bytes(b"download me")
    pan.file.upload(0, str(f))
    fid = pan_server.disk()["/d.bin"]["id"]
    with pytest.raises(HTTPError, match='"code":404'):
        pan.file.download(fid)
    headers = {**HEADER, **pan.header}
    r = pan_server.http.get("/api/v1/file/download_info", params={"fileId": fid}, headers=headers)
    assert pan_server.http.get(r.json()["data"]["downloadUrl"]).content == b"download me"
