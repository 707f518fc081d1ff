"""The NextJoy calls: upload_token/get, get_file_list, batch_get_file_info,
batch_del_file, batch_refresh_file, batch_refresh_dir (nextjoy-upload-token.md)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json

import pytest

from emulator.apis.nextjoy.auth import verify_upload_token
from emulator.apis.nextjoy.models import QiniuObject
from emulator.apis.nextjoy.qiniu import etag_of

# Hand-computed (openssl dgst -sha1 -hmac test-qiniu-secret-key | base64, URL-safe).
DOC_TIME_TOKEN = (
    "test-qiniu-access-key:3l0mJsM6RxeMnlvykEt_Ho2k8-E=:eyJzY29wZSI6ImdhbWUtaGRkenoiLCJkZWFkbGluZSI6MTUyNTc2MDQ4M30="
)
DOC_EXAMPLE_POLICY = "eyJzY29wZSI6ImdhbWUtaGRkeno6LyIsImRlYWRsaW5lIjoxNTI1NzYwNDgzfQ=="


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def state(client) -> tuple:
    return client.get("/_emulator/nextjoy/objects").json(), client.get("/_emulator/store").json()


# -- upload_token/get ----------------------------------------------------------------------


def test_get_answers_a_qiniu_token_for_the_tenants_bucket(nj, frozen):
    body = nj.call("get")
    assert body == {
        "status": 200,
        "message": "操作成功",
        "data": {"upload_token": DOC_TIME_TOKEN, "bucket_name": "game-hddzz"},
    }


def test_token_is_signed_with_the_tenants_qiniu_secret_and_expires_an_hour_later(nj, frozen):
    ak, encoded_sign, encoded_policy = nj.token().split(":")
    assert ak == "test-qiniu-access-key"
    digest = hmac.new(b"test-qiniu-secret-key", encoded_policy.encode(), hashlib.sha1).digest()
    assert b64d(encoded_sign) == digest
    policy = json.loads(b64d(encoded_policy))
    assert policy == {"scope": "game-hddzz", "deadline": frozen + 3600}
    # The document's own example has the same one-hour relation to this timestamp.
    assert json.loads(b64d(DOC_EXAMPLE_POLICY))["deadline"] == frozen + 3600


def test_deadline_follows_the_emulator_clock(client, nj, frozen):
    client.post("/_emulator/clock", json={"advance": 1000})
    policy = json.loads(b64d(nj.token().split(":")[2]))
    assert policy["deadline"] == frozen + 1000 + 3600


def test_token_padding_decodes_with_the_qiniu_sdk(nj, frozen):
    from qiniu import Auth

    ak, _, policy = Auth.up_token_decode(nj.token())
    assert (ak, policy["scope"]) == ("test-qiniu-access-key", "game-hddzz")


def test_each_tenant_gets_its_own_keys_and_bucket(nj, other_tenant):
    token = other_tenant.token()
    assert token.startswith("second-ak:")
    assert other_tenant.call("get")["data"]["bucket_name"] == "game-other"
    assert nj.token().startswith("test-qiniu-access-key:")


# -- get_file_list ------------------------------------------------------------------------


def seed(emu, keys, data=b"seed"):
    """Store many objects fast: the first through the service (as the upload host does),
    the rest as rows sharing its bytes (one more blob reference each)."""
    service = emu.service("nextjoy")
    tenant = emu.tenants.get("nextjoy", "1001:1000")
    grant = verify_upload_token(emu.tenants, service.upload_token(tenant)["upload_token"], emu.clock.now())

    async def body():
        yield data

    first, *rest = keys
    service.store(grant, first, asyncio.run(service.receive(body(), None, None)))
    with emu.db.session() as s:
        row = s.get(QiniuObject, (tenant.qiniu_access_key, tenant.bucket, first))
        for key in rest:
            s.add(
                QiniuObject(
                    access_key=row.access_key,
                    bucket=row.bucket,
                    key=key,
                    hash=row.hash,
                    md5=row.md5,
                    fsize=row.fsize,
                    mime_type=row.mime_type,
                    put_time=row.put_time,
                    blob_id=row.blob_id,
                )
            )
            emu.blobs.retain(s, row.blob_id)


def test_listing_pages_by_1000_with_a_prefix_and_a_marker(emu, nj):
    inside = [f"img/{i:05d}.png" for i in range(2005)]
    outside = ["a.txt", "img", "imh/x.png", "zz/img/1.png"]
    seed(emu, inside + outside)

    first = nj.listing("", "img/")
    assert first["status"] == 200
    page1 = first["data"]
    assert len(page1["data"]) == 1000 and page1["marker"]
    page2 = nj.listing(page1["marker"], "img/")["data"]
    assert len(page2["data"]) == 1000 and page2["marker"]
    page3 = nj.listing(page2["marker"], "img/")["data"]
    assert len(page3["data"]) == 5 and page3["marker"] == ""
    keys = [i["key"] for p in (page1, page2, page3) for i in p["data"]]
    assert keys == inside  # ascending, no overlap, nothing outside the prefix

    everything = nj.keys("")
    assert everything == sorted(inside + outside)


def test_exactly_1000_items_is_one_page_with_an_empty_marker(emu, nj):
    keys = [f"k{i:04d}" for i in range(1000)]
    seed(emu, keys)
    data = nj.listing("", "")["data"]
    assert [i["key"] for i in data["data"]] == keys and data["marker"] == ""
    seed(emu, ["k1000"])
    data = nj.listing("", "")["data"]
    assert len(data["data"]) == 1000 and data["marker"]
    rest = nj.listing(data["marker"], "")["data"]
    assert [i["key"] for i in rest["data"]] == ["k1000"] and rest["marker"] == ""


def test_listing_items_have_qiniu_shape(client, nj, frozen):
    nj.put("docs/readme.txt", b"hello")
    item = nj.listing("", "docs/")["data"]["data"][0]
    assert item == {
        "key": "docs/readme.txt",
        "hash": etag_of(b"hello"),
        "fsize": 5,
        "mimeType": "text/plain",
        "putTime": frozen * 10_000_000,
        "type": 0,
        "status": 0,
        "md5": hashlib.md5(b"hello").hexdigest(),
    }


def test_empty_bucket_lists_nothing_with_empty_marker(nj):
    assert nj.listing()["data"] == {"marker": "", "data": []}


@pytest.mark.parametrize("marker", ["garbage!", "eyJ4IjoxfQ==", "bm90IGpzb24="])
def test_a_marker_the_service_never_gave_is_18005(client, nj, marker):
    nj.put("a", b"1")
    body = nj.listing(marker, "")
    assert body == {"status": 18005, "message": "获取uploadToken失败", "data": {}}


@pytest.mark.parametrize("raw", [b'{"k":"\\ud800"}', b'{"c":0,"k":"a\\udfff"}', b'{"k":"a","c":' + b"9" * 4301 + b"}"])
def test_a_marker_json_no_key_can_hold_is_18005_not_an_internal_error(client, nj, raw):
    """A lone UTF-16 surrogate cannot be in a stored key (it reached the database and failed
    there), nor can a number past Python's digit limit be read: the service never gave
    such a marker (18005, Qiniu's 640, as for any other)."""
    nj.put("a", b"1")
    body = nj.listing(base64.urlsafe_b64encode(raw).decode(), "")
    assert body == {"status": 18005, "message": "获取uploadToken失败", "data": {}}
    entry = client.get("/_emulator/requests", params={"api": "nextjoy"}).json()[-1]
    assert "640 invalid marker" in entry["reason"]
    assert nj.keys() == ["a"]


def test_listing_never_shows_another_tenants_objects(nj, other_tenant):
    nj.put("mine.txt", b"1")
    other_tenant.put("theirs.txt", b"2")
    assert nj.keys() == ["mine.txt"]
    assert other_tenant.keys() == ["theirs.txt"]


# -- batch_get_file_info ------------------------------------------------------------------


def test_batch_info_answers_qiniu_batch_stat_results_in_key_order(nj, frozen):
    nj.put("a.png", b"\x89PNG....")
    nj.put("b/c.png", b"other")
    body = nj.call("batch_get_file_info", keystr="b/c.png,missing.png,a.png")
    assert body["status"] == 200
    results = body["data"]["data"]
    assert [r["code"] for r in results] == [200, 612, 200]
    assert results[1] == {"code": 612, "data": {"error": "no such file or directory"}}
    assert results[0]["data"] == {
        "fsize": 5,
        "hash": etag_of(b"other"),
        "md5": hashlib.md5(b"other").hexdigest(),
        "mimeType": "image/png",
        "putTime": frozen * 10_000_000,
        "type": 0,
    }


def test_batch_info_keys_are_split_on_commas_only(nj):
    nj.put("with space.txt", b"1")
    results = nj.call("batch_get_file_info", keystr="with space.txt, with space.txt,")["data"]["data"]
    assert [r["code"] for r in results] == [200, 612, 612]


def test_batch_info_over_qiniu_batch_limit_is_18005(nj):
    body = nj.call("batch_get_file_info", keystr=",".join(f"k{i}" for i in range(1001)))
    assert body["status"] == 18005
    assert len(nj.call("batch_get_file_info", keystr=",".join(f"k{i}" for i in range(1000)))["data"]["data"]) == 1000


def test_batch_info_does_not_see_another_tenants_object(nj, other_tenant):
    other_tenant.put("theirs.txt", b"2")
    assert nj.call("batch_get_file_info", keystr="theirs.txt")["data"]["data"][0]["code"] == 612


# -- batch_del_file -----------------------------------------------------------------------


def test_batch_delete_removes_the_keys_and_answers_empty_data(client, nj):
    for key in ("a", "b", "c"):
        nj.put(key, key.encode())
    body = nj.call("batch_del_file", keystr="a,c")
    assert body == {"status": 200, "message": "操作成功", "data": {}}
    assert nj.keys() == ["b"]


def test_batch_delete_releases_the_bytes(client, nj):
    nj.put("a", b"x" * 1000)
    nj.call("batch_del_file", keystr="a")
    assert client.get("/_emulator/store").json() == {"blobs": 0, "bytes": 0}


def test_more_than_500_keys_is_18009_and_nothing_is_deleted(client, nj):
    nj.put("k0", b"0")
    before = state(client)
    body = nj.call("batch_del_file", keystr=",".join(f"k{i}" for i in range(501)))
    assert body == {"status": 18009, "message": "批量删除的文件过多", "data": {}}
    assert state(client) == before


def test_exactly_500_keys_is_allowed(client, nj, emu):
    keys = [f"k{i}" for i in range(500)]
    seed(emu, keys)
    assert nj.call("batch_del_file", keystr=",".join(keys))["status"] == 200
    assert nj.keys() == []
    assert client.get("/_emulator/store").json() == {"blobs": 0, "bytes": 0}


def test_a_missing_key_is_18008_with_per_key_results_and_the_others_deleted(nj):
    nj.put("a", b"1")
    nj.put("b", b"2")
    body = nj.call("batch_del_file", keystr="a,nope,b")
    assert body["status"] == 18008
    assert body["message"] == "批量删除文件失败"
    assert body["data"] == {
        "data": [{"code": 200}, {"code": 612, "data": {"error": "no such file or directory"}}, {"code": 200}]
    }
    assert nj.keys() == []  # Qiniu's batch is not atomic: the existing keys went


def test_deleting_the_same_key_twice_in_one_batch_fails_the_second(nj):
    nj.put("a", b"1")
    body = nj.call("batch_del_file", keystr="a,a")
    assert body["status"] == 18008
    assert [r["code"] for r in body["data"]["data"]] == [200, 612]


def test_cannot_delete_another_tenants_object(nj, other_tenant):
    other_tenant.put("theirs.txt", b"2")
    assert nj.call("batch_del_file", keystr="theirs.txt")["status"] == 18008
    assert other_tenant.keys() == ["theirs.txt"]


# -- batch_refresh_file / batch_refresh_dir -------------------------------------------------


def refreshes(client, **params):
    return client.get("/_emulator/nextjoy/refreshes", params=params).json()


def test_refresh_files_answers_status_and_message_and_is_recorded(client, nj, frozen):
    urls = [f"http://cdn.example.com/img/{i}.png" for i in range(100)]
    body = nj.call("batch_refresh_file", urls=",".join(urls))
    assert body == {"status": 200, "message": "操作成功"}
    assert refreshes(client) == [{"tenant": "1001:1000", "kind": "file", "entries": urls, "time": frozen}]


def test_refresh_dirs_is_recorded(client, nj, frozen):
    dirs = [f"http://cdn.example.com/d{i}/" for i in range(10)]
    assert nj.call("batch_refresh_dir", dirs=",".join(dirs)) == {"status": 200, "message": "操作成功"}
    assert refreshes(client, tenant="1001:1000") == [
        {"tenant": "1001:1000", "kind": "dir", "entries": dirs, "time": frozen}
    ]


@pytest.mark.parametrize("name, field, count", [("batch_refresh_file", "urls", 101), ("batch_refresh_dir", "dirs", 11)])
def test_refresh_over_the_limit_is_18005_and_not_recorded(client, nj, name, field, count):
    body = nj.call(name, **{field: ",".join(f"http://cdn.example.com/{i}/" for i in range(count))})
    assert body == {"status": 18005, "message": "获取uploadToken失败", "data": {}}
    assert refreshes(client) == []


@pytest.mark.parametrize("name, field", [("batch_refresh_file", "urls"), ("batch_refresh_dir", "dirs")])
def test_refresh_of_nothing_is_18005(client, nj, name, field):
    assert nj.call(name, **{field: " , "})["status"] == 18005
    assert refreshes(client) == []


def test_refreshes_are_per_tenant_and_reset_drops_them(client, nj, other_tenant):
    nj.call("batch_refresh_file", urls="http://a/1")
    other_tenant.call("batch_refresh_file", urls="http://b/2")
    assert [r["entries"] for r in refreshes(client, tenant="2002:7")] == [["http://b/2"]]
    client.post("/_emulator/reset")
    assert refreshes(client) == []
