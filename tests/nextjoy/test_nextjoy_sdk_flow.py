"""A game client's real flow against a running emulator: sign -> upload_token/get ->
upload with the official qiniu SDK (PyPI) -> list -> info -> delete."""

from __future__ import annotations

import qiniu
import qiniu.config
from qiniu import etag, put_data, put_file_v2


def test_sign_token_sdk_upload_list_info_delete(live, tmp_path):
    nj, endpoints = live
    region = qiniu.Region(up_host=endpoints["qiniu_upload"])
    path = tmp_path / "save-slot-1.dat"
    path.write_bytes(bytes(range(256)) * 4096 + b"tail")  # 1 MiB + 4 bytes

    token = nj.token()
    ret, info = put_file_v2(token, "saves/1001/slot-1.dat", str(path), regions=[region])
    assert info.status_code == 200, info
    assert ret == {"hash": etag(str(path)), "key": "saves/1001/slot-1.dat"}
    assert info.req_id and not info.connect_failed()

    ret, info = put_data(token, "saves/1001/meta.json", b'{"level": 7}', regions=[region], params={"x:uid": "42"})
    assert info.status_code == 200, info

    listing = nj.call("get_file_list", marker="", prefix="saves/1001/")
    assert listing["status"] == 200
    items = {i["key"]: i for i in listing["data"]["data"]}
    assert set(items) == {"saves/1001/slot-1.dat", "saves/1001/meta.json"}
    assert items["saves/1001/slot-1.dat"]["hash"] == etag(str(path))
    assert items["saves/1001/slot-1.dat"]["fsize"] == path.stat().st_size
    assert items["saves/1001/meta.json"]["mimeType"] == "application/json"

    info_body = nj.call("batch_get_file_info", keystr="saves/1001/slot-1.dat,saves/1001/gone.dat")
    found, missing = info_body["data"]["data"]
    assert found["code"] == 200 and found["data"]["hash"] == etag(str(path))
    assert missing["code"] == 612

    assert nj.call("batch_del_file", keystr="saves/1001/slot-1.dat,saves/1001/meta.json")["status"] == 200
    assert nj.keys("saves/") == []
    assert nj.call("batch_get_file_info", keystr="saves/1001/slot-1.dat")["data"]["data"][0]["code"] == 612


def test_sdk_finds_the_upload_host_through_the_region_query(live, sdk_defaults):
    nj, endpoints = live
    qiniu.config.set_default(default_query_region_host=endpoints["qiniu_uc"])
    ret, info = put_data(nj.token(), "via-query.txt", b"found the host by asking")
    assert info.status_code == 200, info
    assert ret["key"] == "via-query.txt"
    assert nj.keys() == ["via-query.txt"]


def test_sdk_sees_qiniu_statuses_for_refusals(live):
    nj, endpoints = live
    region = qiniu.Region(up_host=endpoints["qiniu_upload"])
    token = nj.token()
    assert put_data(token, "k", b"first", regions=[region])[1].status_code == 200

    ret, info = put_data(token, "k", b"second", regions=[region])
    assert (ret, info.status_code, info.json()) == (None, 614, {"error": "file exists"})
    assert info.req_id

    nj.http.post("/_emulator/clock", json={"advance": 3601})
    ret, info = put_data(token, "late", b"x", regions=[region])
    assert (info.status_code, info.json()) == (401, {"error": "expired token"})
    assert nj.keys() == ["k"]
