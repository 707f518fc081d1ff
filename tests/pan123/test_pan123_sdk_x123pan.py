"""x123pan (PyPI, requests), unchanged, against a live emulator: every cloud-disk flow it
offers. Its URLs are class constants of the real hosts (``https://open-api.123pan.com`` and,
for single/create, a hard-coded ``https://openapi-upload.123242.com``), so a transport
adapter on its own session sends those hosts here."""

from __future__ import annotations

import os

import pytest
import x123pan
from sdk_kit import CLIENT_ID, CLIENT_SECRET, UID, md5, pan_server, redirect, sha1  # noqa: F401


@pytest.fixture
def pan(pan_server):
    client = x123pan.Access(clientID=CLIENT_ID, clientSecret=CLIENT_SECRET)
    redirect(client.session, pan_server.url)
    return client


def test_token_user_info_and_folders(pan, pan_server):
    info = pan.user.info()
    assert info["uid"] == UID and info["spaceUsed"] == 0
    assert pan_server.journal("/api/v1/access_token")  # it asked for a token on the first 401
    top = pan.file.mkdir(0, "文档")
    sub = pan.file.mkdir(top, "子目录")
    assert isinstance(top, int) and isinstance(sub, int)
    assert pan_server.disk()["/文档/子目录"]["id"] == sub
    assert [f["filename"] for f in pan.file.list_v2(top)] == ["子目录"]


def test_uploads_v2_single_multi_slice_and_reuse(pan, pan_server):
    small = b"x123pan single/create " * 10
    single = pan.uploadV2.putSignal(small, "small.txt")
    assert pan_server.content(single) == small
    big = os.urandom(3 * 64 * 1024 + 1000)  # four slices of 64 KiB
    multi = pan.uploadV2.put(big, "big.bin")
    entry = pan_server.disk()["/big.bin"]
    assert entry["id"] == multi and entry["etag"] == md5(big)
    assert pan_server.content(multi) == big
    slices = [j for j in pan_server.journal("/upload/v2/file/slice")]
    assert len(slices) == 4
    again = pan.uploadV2.put(big, "again.bin")  # 秒传: create answers reuse
    assert again not in (multi, 0) and pan_server.disk()["/again.bin"]["size"] == len(big)
    hit = pan.file.sha1_reuse(0, "by-sha1.bin", sha1(big), len(big))
    assert hit["reuse"] is True and pan_server.content(hit["fileID"]) == big
    miss = pan.file.sha1_reuse(0, "nothing.bin", sha1(b"never stored"), 12)
    assert miss["reuse"] is False


def test_upload_v1_with_presigned_puts(pan, pan_server):
    data = os.urandom(2 * 64 * 1024 + 5)
    fid = pan.upload.put(data, "v1.bin")
    assert pan_server.content(fid) == data and pan_server.disk()["/v1.bin"]["id"] == fid


def test_list_detail_infos_download(pan, pan_server):
    folder = pan.file.mkdir(0, "f")
    data = os.urandom(1000)
    fid = pan.uploadV2.putSignal(data, "a.bin", parentFileID=folder)
    listed = list(pan.file.list_v2(folder))
    assert [(f["fileId"], f["size"], f["etag"]) for f in listed] == [(fid, 1000, md5(data))]
    old = pan.file.list(folder)
    assert old["total"] == 1 and old["fileList"][0]["fileID"] == fid
    detail = pan.file.detail(fid)
    assert detail["filename"] == "a.bin" and detail["parentFileID"] == folder
    assert [i["fileId"] for i in pan.file.infos([fid, folder])] == [fid, folder]
    url = pan.file.download_info(fid)  # it HEADs the link, following redirects
    assert pan.session.get(url).content == data


def test_move_rename_trash_recover_delete(pan, pan_server):
    a, b = pan.file.mkdir(0, "a"), pan.file.mkdir(0, "b")
    fid = pan.uploadV2.putSignal(b"move me", "m.txt", parentFileID=a)
    pan.file.move(fid, b)
    assert pan_server.disk()["/b/m.txt"]["id"] == fid
    pan.file.name(fid, "renamed.txt")
    pan.file.rename([(fid, "again.txt"), (a, "a2")])
    tree = pan_server.disk()
    assert "/b/again.txt" in tree and "/a2" in tree
    pan.file.trash(fid)
    assert pan_server.disk()["/b/again.txt"]["trashed"] is True
    assert list(pan.file.list_v2(b)) == []  # it filters trashed items out itself
    assert [f["fileId"] for f in pan.file.list_v2(b, trashed=True)] == [fid]
    pan.file.recover(fid)
    assert pan_server.disk()["/b/again.txt"]["trashed"] is False
    pan.file.trash([fid])
    pan.file.delete([fid])
    assert "/b/again.txt" not in pan_server.disk()


def test_its_20103_guard_aborts_its_own_upload(pan, pan_server):
    """x123pan's ``complete`` loop compares the exception object with 20103 (``e != 20103`` is
    always true), so a 20103 from upload_complete aborts its upload instead of being retried:
    an SDK bug. The emulator's side: 20103 only while the check runs, then the file."""
    pan_server.config(answer_20103=True, async_seconds=1)
    data = os.urandom(2 * 64 * 1024)
    with pytest.raises(Exception) as err:
        pan.uploadV2.put(data, "guarded.bin")
    assert "20103" in str(err.value) or getattr(err.value, "code", None) == 20103
    pan_server.config(answer_20103=False)
    import time

    time.sleep(1.1)
    assert pan_server.disk()["/guarded.bin"]["etag"] == md5(data)  # the emulator finished it anyway
