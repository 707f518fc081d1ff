"""py-123pan-client (PyPI, httpx), unchanged, against a live emulator through its ``base_url``:
every cloud-disk flow it offers. Files under 100 MiB go through the upload domain and
single/create; it falls back to upload v2's slices when that call fails (a fault rule makes
it fail here, so a small file takes the multi-slice path)."""

from __future__ import annotations

import os
import time
import types

import py_123pan_client.client as sdk_client
import pytest
from py_123pan_client.client import PanClient
from py_123pan_client.exceptions import PanAPIError
from sdk_kit import CLIENT_ID, CLIENT_SECRET, UID, md5, pan_server  # noqa: F401


@pytest.fixture
def pan(pan_server):
    pan_server.config(async_seconds=0)  # it sleeps 10 s between upload_complete polls
    with PanClient(CLIENT_ID, CLIENT_SECRET, base_url=pan_server.url) as client:
        yield client


def put(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_token_user_info_mkdir_with_parents(pan, pan_server):
    info = pan.get_user_info()  # its pydantic model requires the documented fields
    assert info.uid == UID and info.space_used == 0
    leaf = pan.mkdir("a/b/c")  # level by level, each dirID the next parent
    assert pan_server.disk()["/a/b/c"]["id"] == leaf
    with pytest.raises(PanAPIError) as err:
        pan.mkdir("a", parents=False)  # a taken name
    assert err.value.code == 1


def test_single_upload_and_reuse(pan, pan_server, tmp_path):
    data = os.urandom(5000)
    fid = pan.upload_file(put(tmp_path, "s.bin", data), "s.bin")
    assert pan_server.content(fid) == data
    assert pan_server.journal("/upload/v2/file/single/create")[-1]["status"] == 200
    again = pan.upload_file(put(tmp_path, "s.bin", data), "dir/copy.bin")  # containDir: "true"
    assert pan_server.disk()["/dir/copy.bin"]["id"] == again and pan_server.content(again) == data


def test_multi_slice_upload_after_single_create_fails(pan, pan_server, tmp_path):
    pan_server.admin("POST", "/faults", json={"api": "pan123", "path": "/upload/v2/file/single/create",
                                               "error": 1, "times": 1})
    data = os.urandom(3 * 64 * 1024 + 11)
    fid = pan.upload_file(put(tmp_path, "m.bin", data), "m.bin")
    assert pan_server.content(fid) == data and pan_server.disk()["/m.bin"]["etag"] == md5(data)
    assert len(pan_server.journal("/upload/v2/file/slice")) == 4
    # 秒传: the same bytes again (single/create fails again, create answers reuse)
    pan_server.admin("POST", "/faults", json={"api": "pan123", "path": "/upload/v2/file/single/create",
                                               "error": 1, "times": 1})
    again = pan.upload_file(put(tmp_path, "m.bin", data), "m.bin")
    assert again != fid and pan_server.content(again) == data  # duplicate 1: kept both
    assert "/m(1).bin" in pan_server.disk()


def test_it_tolerates_20103_while_the_check_runs(pan, pan_server, tmp_path, monkeypatch):
    """It retries upload_complete on 20103 (after 10 s: cut here to 1.5 s, still longer than
    the emulator's 1 s check, so the retry finds the check done)."""
    real_sleep = time.sleep
    monkeypatch.setattr(sdk_client, "time", types.SimpleNamespace(
        **{**vars(time), "sleep": lambda seconds: real_sleep(min(seconds, 1.5))}))
    pan_server.config(answer_20103=True, async_seconds=1)
    pan_server.admin("POST", "/faults", json={"api": "pan123", "path": "/upload/v2/file/single/create",
                                               "error": 1, "times": 1})
    data = os.urandom(2 * 64 * 1024)
    fid = pan.upload_file(put(tmp_path, "v.bin", data), "v.bin")
    assert pan_server.content(fid) == data
    codes = [j.get("code") for j in pan_server.journal("/upload/v2/file/upload_complete")]
    assert codes == [20103, 0]


def test_list_detail_infos_download(pan, pan_server, tmp_path):
    folder = pan.mkdir("f")
    data = os.urandom(1000)
    fid = pan.upload_file(put(tmp_path, "a.bin", data), "a.bin", parent_file_id=folder)
    page = pan.list_files(folder)
    assert [(f.file_id, f.size, f.etag) for f in page.file_list] == [(fid, 1000, md5(data))]
    assert page.last_file_id == -1
    for n in range(3):
        pan.mkdir(f"d{n}", parent_id=folder)
    assert [f.filename for f in pan.iter_files(folder, batch_size=2)] == ["a.bin", "d0", "d1", "d2"]
    detail = pan.get_file_detail(fid)
    assert detail.filename == "a.bin" and detail.parent_file_id == folder and detail.trashed == 0
    assert [i.file_id for i in pan.get_files_info([fid, folder])] == [fid, folder]
    url = pan.get_download_url(fid)
    assert pan.client.get(url).content == data


def test_rename_move_trash_recover_delete(pan, pan_server, tmp_path):
    a, b = pan.mkdir("a"), pan.mkdir("b")
    fid = pan.upload_file(put(tmp_path, "m.txt", b"move me"), "m.txt", parent_file_id=a)
    pan.rename_file(fid, "n.txt")
    pan.rename_files({fid: "o.txt", a: "a2"})
    pan.move_files([fid], b)
    assert pan_server.disk()["/b/o.txt"]["id"] == fid and "/a2" in pan_server.disk()
    pan.trash_files([fid])
    assert pan_server.disk()["/b/o.txt"]["trashed"] is True
    assert pan.recover_files([fid]) == {"abnormalFileIDs": []}
    pan.trash_files([fid])
    assert pan.recover_files([fid], to_parent_id=0) is None  # recover/by_path into the root
    assert pan_server.disk()["/o.txt"]["trashed"] is False
    with pytest.raises(PanAPIError):
        pan.delete_files([fid])  # not in the recycle bin
    pan.trash_files([fid])
    pan.delete_files([fid])
    assert "/o.txt" not in pan_server.disk()
