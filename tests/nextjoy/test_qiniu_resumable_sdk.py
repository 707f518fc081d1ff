"""The official Python ``qiniu`` SDK (PyPI, unchanged) uploading with NextJoy tokens through
the emulated Qiniu host: put_file over the 8 MiB threshold (resumable v1, its default) and
put_file_v2 (resumable v2), put_data, and a resumable upload that resumes from the SDK's
own resume record after an injected failure. Bytes and etags compared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import qiniu
import qiniu.config
from qiniu import etag, put_data, put_file, put_file_v2
from qiniu.services.storage.upload_progress_recorder import UploadProgressRecorder
from qiniu_kit import v2_etag

MiB = 1 << 20
THRESHOLD = 8 * MiB  # the SDK's default_upload_threshold


def payload(path, size: int, salt: int = 0) -> str:
    block = bytes((i * 7 + salt) % 251 for i in range(MiB))
    with open(path, "wb") as f:
        f.write(block * (size // MiB) + block[: size % MiB])
    return str(path)


def journal(http, **filters):
    return http.get("/_emulator/requests", params=filters).json()


def stored(http, key: str) -> bytes:
    return http.get(f"/_emulator/nextjoy/objects/game-hddzz/{key}").content


def test_put_file_over_the_threshold_goes_up_as_v1_blocks(live, tmp_path):
    nj, endpoints = live
    path = payload(tmp_path / "level.pak", THRESHOLD + 3 * MiB + 5)
    region = qiniu.Region(up_host=endpoints["qiniu_upload"])
    ret, info = put_file(nj.token(), "paks/level.pak", path, regions=[region])
    assert info.status_code == 200, info
    assert ret == {"hash": etag(path), "key": "paks/level.pak"}
    assert info.req_id
    assert stored(nj.http, "paks/level.pak") == Path(path).read_bytes()
    calls = [e["path"] for e in journal(nj.http, path="/_qiniu/up/*")]
    assert sum(p.startswith("/_qiniu/up/mkblk/") for p in calls) == 3
    assert sum(p.startswith("/_qiniu/up/mkfile/") for p in calls) == 1
    listing = nj.call("get_file_list", marker="", prefix="paks/")["data"]["data"]
    expected = [("paks/level.pak", etag(path), os.path.getsize(path))]
    assert [(i["key"], i["hash"], i["fsize"]) for i in listing] == expected
    assert nj.http.get("/_emulator/nextjoy/uploads").json() == []  # the blocks went with mkfile
    assert nj.http.get("/_emulator/store").json()["bytes"] == os.path.getsize(path)
    assert nj.call("batch_del_file", keystr="paks/level.pak")["status"] == 200
    assert nj.keys() == [] and nj.http.get("/_emulator/store").json() == {"blobs": 0, "bytes": 0}


@pytest.mark.parametrize("part_size", [None, 4 * MiB, 3 * MiB])
def test_put_file_v2_over_the_threshold_goes_up_as_multipart(live, tmp_path, part_size):
    nj, endpoints = live
    path = payload(tmp_path / "movie.mp4", THRESHOLD + 2 * MiB + 1)
    region = qiniu.Region(up_host=endpoints["qiniu_upload"])
    ret, info = put_file_v2(nj.token(), "movies/m.mp4", path, regions=[region], part_size=part_size,
                            params={"x:level": "7"})
    assert info.status_code == 200, info
    assert ret["key"] == "movies/m.mp4"
    if part_size in (None, 4 * MiB):
        assert ret["hash"] == etag(path)  # 4 MiB parts: the plain etag
    else:
        assert ret["hash"] == v2_etag(Path(path).read_bytes(), part_size)
    assert stored(nj.http, "movies/m.mp4") == Path(path).read_bytes()
    calls = [(e["method"], e["path"]) for e in journal(nj.http, path="/_qiniu/up/buckets/*")]
    assert sum(m == "PUT" for m, _ in calls) == -(-os.path.getsize(path) // (part_size or 4 * MiB))
    info = nj.call("batch_get_file_info", keystr="movies/m.mp4")["data"]["data"][0]
    assert info["data"]["hash"] == ret["hash"] and info["data"]["mimeType"] == "video/mp4"
    assert nj.http.get("/_emulator/nextjoy/uploads").json() == []


def test_put_data_is_a_form_upload_at_any_size(live):
    nj, endpoints = live
    data = bytes(range(256)) * (THRESHOLD // 256 + 100)
    region = qiniu.Region(up_host=endpoints["qiniu_upload"])
    ret, info = put_data(nj.token(), "blob.bin", data, regions=[region])
    assert info.status_code == 200, info
    assert ret == {"hash": qiniu.utils.etag_stream(__import__("io").BytesIO(data)), "key": "blob.bin"}
    assert [e["path"] for e in journal(nj.http, path="/_qiniu/up*")] == ["/_qiniu/up"]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_resumable_upload_resumes_from_its_record_after_a_failure(live, tmp_path, version):
    nj, endpoints = live
    path = payload(tmp_path / "save.dat", 3 * 4 * MiB + 100, salt=3)
    region = qiniu.Region(up_host=endpoints["qiniu_upload"])
    recorder = UploadProgressRecorder(str(tmp_path / "records"))
    os.makedirs(tmp_path / "records")
    piece = "/_qiniu/up/mkblk/*" if version == "v1" else "/_qiniu/up/buckets/*/uploads/*/*"
    # Let two pieces through, then fail every further piece with Qiniu's 614 (never retried).
    r = nj.http.post("/_emulator/faults", json={"api": "nextjoy", "path": piece, "skip": 2, "status": 614})
    assert r.status_code == 201, r.text
    token = nj.token()
    ret, info = put_file(token, "saves/s.dat", path, regions=[region], upload_progress_recorder=recorder,
                         version=version)
    assert ret is None and info.status_code == 614
    assert os.listdir(tmp_path / "records")  # the SDK kept what went up
    assert nj.keys() == []
    nj.http.delete(f"/_emulator/faults/{r.json()['id']}")
    first = journal(nj.http, path=piece)
    went_up = sum(e["status"] == 200 for e in first)
    assert went_up >= 2 and any(e["status"] == 614 for e in first)

    ret, info = put_file(token, "saves/s.dat", path, regions=[region], upload_progress_recorder=recorder,
                         version=version)
    assert info.status_code == 200, info
    assert ret["hash"] == etag(path)
    assert stored(nj.http, "saves/s.dat") == Path(path).read_bytes()
    # Only the pieces that had not gone up were sent again (4 in all).
    assert len(journal(nj.http, path=piece)) - len(first) == 4 - went_up
    assert os.listdir(tmp_path / "records") == []
    assert nj.http.get("/_emulator/nextjoy/uploads").json() == []


def test_put_file_v2_finds_the_host_through_the_region_query(live, tmp_path, sdk_defaults):
    nj, endpoints = live
    qiniu.config.set_default(default_query_region_host=endpoints["qiniu_uc"])
    path = payload(tmp_path / "q.bin", THRESHOLD + 1)
    ret, info = put_file_v2(nj.token(), "q.bin", path)
    assert info.status_code == 200, info
    assert ret == {"hash": etag(path), "key": "q.bin"}
    assert stored(nj.http, "q.bin") == Path(path).read_bytes()


@pytest.mark.parametrize("version, status", [("v1", 701), ("v2", 612)])
def test_a_resume_record_of_expired_pieces_is_refused_with_the_documented_status(live, tmp_path, version, status):
    """The emulator releases pieces 7 days later on its clock. The SDK, resuming from its
    record (it filters records by the real clock, so it still trusts them), is answered 701
    (v1 ctx) or 612 (v2 uploadId) and stores nothing. (qiniu 7.18 returns that answer
    as it is: 701 and 612 are on its never-retry list, so its restart-once policy is not
    reached.) Without the record the same call succeeds."""
    nj, endpoints = live
    path = payload(tmp_path / "old.dat", 2 * 4 * MiB + 10, salt=9)
    region = qiniu.Region(up_host=endpoints["qiniu_upload"])
    os.makedirs(tmp_path / "records")
    recorder = UploadProgressRecorder(str(tmp_path / "records"))
    piece = "/_qiniu/up/mkblk/*" if version == "v1" else "/_qiniu/up/buckets/*/uploads/*/*"
    r = nj.http.post("/_emulator/faults", json={"api": "nextjoy", "path": piece, "skip": 1, "status": 614})
    ret, info = put_file(nj.token(), "old.dat", path, regions=[region], upload_progress_recorder=recorder,
                         version=version)
    assert info.status_code == 614 and os.listdir(tmp_path / "records")
    nj.http.delete(f"/_emulator/faults/{r.json()['id']}")
    nj.http.post("/_emulator/clock", json={"advance": 7 * 86400 + 1})
    assert nj.http.get("/_emulator/nextjoy/uploads").json() == []  # released on the emulator clock
    assert nj.http.get("/_emulator/store").json() == {"blobs": 0, "bytes": 0}

    ret, info = put_file(nj.token(), "old.dat", path, regions=[region], upload_progress_recorder=recorder,
                         version=version)
    assert (ret, info.status_code) == (None, status)
    assert nj.keys() == []  # (v1: the block the record lacked went up and waits for its own expiry)

    for name in os.listdir(tmp_path / "records"):
        os.remove(tmp_path / "records" / name)
    ret, info = put_file(nj.token(), "old.dat", path, regions=[region], upload_progress_recorder=recorder,
                         version=version)
    assert info.status_code == 200, info
    assert ret["hash"] == etag(path) and stored(nj.http, "old.dat") == Path(path).read_bytes()
