"""The Qiniu host's resumable uploads call by call (qiniu-upload.md §3, §4, §5, §8): v1
mkblk/bput/mkfile, v2 initiate/part/complete/abort/list, the refusals with Qiniu's statuses
(nothing stored), the put policy on both, and abandoned uploads released at reset or expiry."""

from __future__ import annotations

import base64
import hashlib
import io
import zlib

import pytest
from qiniu import Auth
from qiniu.utils import etag_stream

from emulator.apis.nextjoy.qiniu import b64encode, etag_of

AK, SK, BUCKET = "test-qiniu-access-key", "test-qiniu-secret-key", "game-hddzz"
MiB = 1 << 20
UP = "/_qiniu/up"


def sdk_token(key=None, policy=None, expires=3600, bucket=BUCKET):
    return Auth(AK, SK).upload_token(bucket, key, expires, policy)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"UpToken {token}"}


def data_of(size: int, salt: int = 0) -> bytes:
    return bytes((i * 13 + salt) % 256 for i in range(size))


def evidence(client) -> tuple:
    return (client.get("/_emulator/nextjoy/objects").json(), client.get("/_emulator/store").json(),
            client.get("/_emulator/nextjoy/uploads").json())


def error(r) -> tuple[int, str]:
    return r.status_code, r.json()["error"]


def mkblk(client, token, data: bytes, block_size: int | None = None):
    return client.post(f"{UP}/mkblk/{block_size or len(data)}", content=data, headers=auth(token))


def mkfile(client, token, size: int, ctxs: list[str], **pairs: str):
    path = "".join(f"/{k}/{b64encode(v.encode())}" for k, v in pairs.items())
    return client.post(f"{UP}/mkfile/{size}{path}", content=",".join(ctxs), headers=auth(token))


def obj(key: str | None) -> str:
    return "~" if key is None else b64encode(key.encode())


def initiate(client, token, key: str | None):
    r = client.post(f"{UP}/buckets/{BUCKET}/objects/{obj(key)}/uploads", headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()["uploadId"]


def put_part(client, token, key, upload_id, n, data, md5=True):
    headers = {**auth(token), "Content-Type": "application/octet-stream"}
    if md5:
        headers["Content-MD5"] = hashlib.md5(data).hexdigest() if md5 is True else md5
    return client.put(f"{UP}/buckets/{BUCKET}/objects/{obj(key)}/uploads/{upload_id}/{n}", content=data,
                      headers=headers)


def complete(client, token, key, upload_id, parts, **extra):
    body = {"parts": [{"etag": e, "partNumber": n} for n, e in parts], **extra}
    return client.post(f"{UP}/buckets/{BUCKET}/objects/{obj(key)}/uploads/{upload_id}", json=body,
                       headers=auth(token))


# -- v1 -------------------------------------------------------------------------------------


def test_mkblk_answers_ctx_checksum_crc32_offset_host_expiry(client, nj, frozen):
    data = data_of(4 * MiB)
    r = mkblk(client, nj.token(), data)
    assert r.status_code == 200 and r.headers["X-Reqid"]
    body = r.json()
    assert set(body) == {"ctx", "checksum", "crc32", "offset", "host", "expired_at"}
    assert body["crc32"] == zlib.crc32(data) and isinstance(body["crc32"], int)
    assert body["checksum"] == base64.urlsafe_b64encode(hashlib.sha1(data).digest()).decode()
    assert body["offset"] == 4 * MiB
    assert body["host"] == "http://testserver/_qiniu/up"
    assert body["expired_at"] == frozen + 7 * 86400


def test_blocks_out_of_order_then_mkfile_in_order(client, nj):
    data = data_of(9 * MiB + 7)
    blocks = [data[i:i + 4 * MiB] for i in range(0, len(data), 4 * MiB)]
    token = nj.token()
    ctxs = {}
    for i in (2, 0, 1):  # as the SDK's three workers may deliver them
        ctxs[i] = mkblk(client, token, blocks[i]).json()["ctx"]
    r = mkfile(client, token, len(data), [ctxs[0], ctxs[1], ctxs[2]], fname="a.bin", key="a/b.bin",
               mimeType="application/octet-stream")
    assert r.json() == {"hash": etag_stream(io.BytesIO(data)), "key": "a/b.bin"}
    assert client.get("/_emulator/nextjoy/objects/game-hddzz/a/b.bin").content == data
    assert client.get("/_emulator/nextjoy/uploads").json() == []


def test_bput_chains_chunks_within_a_block(client, nj):
    data = data_of(3 * MiB + 11)
    token = nj.token()
    first = mkblk(client, token, data[:MiB], block_size=len(data)).json()
    assert first["offset"] == MiB
    second = client.post(f"{UP}/bput/{first['ctx']}/{MiB}", content=data[MiB:2 * MiB], headers=auth(token)).json()
    assert second["offset"] == 2 * MiB and second["crc32"] == zlib.crc32(data[MiB:2 * MiB])
    assert second["checksum"] == base64.urlsafe_b64encode(hashlib.sha1(data[:2 * MiB]).digest()).decode()
    # the superseded ctx no longer works
    stale = client.post(f"{UP}/bput/{first['ctx']}/{MiB}", content=b"x", headers=auth(token))
    assert error(stale) == (701, "invalid ctx")
    third = client.post(f"{UP}/bput/{second['ctx']}/{2 * MiB}", content=data[2 * MiB:], headers=auth(token)).json()
    r = mkfile(client, token, len(data), [third["ctx"]])  # no key: stored under the etag
    assert r.json() == {"hash": etag_of(data), "key": etag_of(data)}


def test_mkfile_pairs_in_any_order_with_vars_and_meta(client, nj):
    data = b"pairs"
    token = sdk_token(policy={"returnBody": '{"k":"$(key)","v":"$(x:who)","n":"$(fname)","s":$(fsize)}'})
    ctx = mkblk(client, token, data).json()["ctx"]
    r = client.post(f"{UP}/mkfile/5/x:who/{b64encode('张三'.encode())}/fname/{b64encode(b'p.txt')}"
                    f"/x-qn-meta-a/{b64encode(b'1')}/key/{b64encode(b'k1')}/mimeType/{b64encode(b'text/plain')}",
                    content=ctx, headers=auth(token))
    assert r.json() == {"k": "k1", "v": "张三", "n": "p.txt", "s": 5}
    assert client.get("/_emulator/nextjoy/objects").json()[0]["mimeType"] == "text/plain"


def test_mkfile_with_an_empty_key_stores_under_the_key_empty(client, nj):
    token = nj.token()
    ctx = mkblk(client, token, b"abc").json()["ctx"]
    r = client.post(f"{UP}/mkfile/3/key/", content=ctx, headers=auth(token))  # what put_file(key="") sends
    assert r.json() == {"hash": etag_of(b"abc"), "key": ""}


@pytest.mark.parametrize("pairs", ["/key", "/key/a2V5/fname", "/key/not*b64"])
def test_mkfile_with_malformed_pairs_is_400(client, nj, pairs):
    token = nj.token()
    ctx = mkblk(client, token, b"abc").json()["ctx"]
    before = evidence(client)
    assert client.post(f"{UP}/mkfile/3{pairs}", content=ctx, headers=auth(token)).status_code == 400
    assert evidence(client) == before


@pytest.mark.parametrize("bad", ["nonsense", "", "{other}"])
def test_mkfile_with_a_wrong_ctx_is_701_and_stores_nothing(client, nj, bad):
    token = nj.token()
    good = mkblk(client, token, b"abc").json()["ctx"]
    before = evidence(client)
    ctx = good[:-2] + "zz" if bad == "{other}" else bad
    r = mkfile(client, token, 3, [ctx] if bad else [good, good])
    assert r.status_code in (701, 400) and "error" in r.json()
    if bad:
        assert error(r) == (701, "invalid ctx")
    assert evidence(client) == before


def test_a_ctx_of_another_bucket_is_701(client, nj, other_tenant):
    ctx = mkblk(client, other_tenant.token(), b"theirs").json()["ctx"]
    before = evidence(client)
    assert error(mkfile(client, nj.token(), 6, [ctx])) == (701, "invalid ctx")
    assert error(client.post(f"{UP}/bput/{ctx}/6", content=b"x", headers=auth(nj.token()))) == (701, "invalid ctx")
    assert evidence(client) == before


def test_a_block_not_yet_full_or_a_wrong_offset_is_701(client, nj):
    token = nj.token()
    first = mkblk(client, token, b"1234", block_size=8).json()
    assert error(mkfile(client, token, 8, [first["ctx"]])) == (701, "invalid ctx")
    r = client.post(f"{UP}/bput/{first['ctx']}/3", content=b"5678", headers=auth(token))
    assert error(r) == (701, "invalid ctx")


@pytest.mark.parametrize("size, body", [(0, b""), (4 * MiB + 1, b"x"), (3, b"four")])
def test_bad_block_sizes_are_400(client, nj, size, body):
    before = evidence(client)
    assert mkblk(client, nj.token(), body, block_size=size).status_code == 400
    assert evidence(client) == before


def test_mkfile_size_not_the_blocks_total_is_400(client, nj):
    token = nj.token()
    ctx = mkblk(client, token, b"abc").json()["ctx"]
    before = evidence(client)
    assert mkfile(client, token, 4, [ctx]).status_code == 400
    assert evidence(client) == before


@pytest.mark.parametrize("header, message", [(None, "token not specified"), ("Bearer x", "bad token"),
                                             ("UpToken a:b:c", "bad token")])
def test_resumable_calls_need_an_uptoken(client, header, message):
    headers = {} if header is None else {"Authorization": header}
    for r in (client.post(f"{UP}/mkblk/3", content=b"abc", headers=headers),
              client.post(f"{UP}/buckets/{BUCKET}/objects/~/uploads", headers=headers)):
        assert error(r) == (401, message) and r.headers["X-Reqid"]
    assert client.get("/_emulator/store").json() == {"blobs": 0, "bytes": 0}


def test_token_expired_mid_upload_is_401_and_nothing_is_stored(client, nj, frozen):
    token = nj.token()
    ctx = mkblk(client, token, b"abc").json()["ctx"]
    client.post("/_emulator/clock", json={"advance": 3601})
    before = evidence(client)
    assert error(mkfile(client, token, 3, [ctx])) == (401, "expired token")
    assert evidence(client) == before
    # a fresh token finishes the same blocks (the ctx outlives the token)
    assert mkfile(client, nj.token(), 3, [ctx]).json()["hash"] == etag_of(b"abc")


# -- v2 -------------------------------------------------------------------------------------


def test_v2_initiate_parts_complete(client, nj, frozen):
    token = nj.token()
    data = data_of(9 * MiB + 1)
    r = client.post(f"{UP}/buckets/{BUCKET}/objects/{obj('v2/a.bin')}/uploads", headers=auth(token))
    assert r.json()["expireAt"] == frozen + 7 * 86400
    uid = r.json()["uploadId"]
    parts = []
    for n, i in ((2, 4 * MiB), (1, 0), (3, 8 * MiB)):  # out of order, as the SDK's workers send them
        piece = data[i:i + 4 * MiB]
        answer = put_part(client, token, "v2/a.bin", uid, n, piece).json()
        assert answer == {"etag": etag_of(piece), "md5": hashlib.md5(piece).hexdigest()}
        parts.append((n, answer["etag"]))
    r = complete(client, token, "v2/a.bin", uid, sorted(parts), fname="a.bin", mimeType=None, customVars=None,
                 metadata=None)
    assert r.json() == {"hash": etag_stream(io.BytesIO(data)), "key": "v2/a.bin"}
    assert client.get("/_emulator/nextjoy/objects/game-hddzz/v2/a.bin").content == data
    # the uploadId is spent
    assert error(complete(client, token, "v2/a.bin", uid, sorted(parts))) == (612, "no such uploadId")


def test_v2_etag_of_parts_that_are_not_4_mib(client, nj):
    token = nj.token()
    data = data_of(5 * MiB + 3)
    cuts = [(1, data[:MiB]), (2, data[MiB:MiB * 6])]
    uid = initiate(client, token, None)
    parts = [(n, put_part(client, token, None, uid, n, piece).json()["etag"]) for n, piece in cuts]
    r = complete(client, token, None, uid, parts)
    part_digests = hashlib.sha1(data[:MiB]).digest() + hashlib.sha1(
        hashlib.sha1(data[MiB:5 * MiB]).digest() + hashlib.sha1(data[5 * MiB:]).digest()).digest()
    expected = base64.urlsafe_b64encode(b"\x9e" + hashlib.sha1(part_digests).digest()).decode()
    assert r.json() == {"hash": expected, "key": expected}  # "~": stored under the hash


def test_v2_re_uploading_a_part_replaces_it(client, nj):
    token = nj.token()
    uid = initiate(client, token, "r")
    put_part(client, token, "r", uid, 1, b"old")
    e = put_part(client, token, "r", uid, 1, b"new!").json()["etag"]
    assert client.get("/_emulator/nextjoy/uploads").json()[0]["bytes"] == 4
    assert complete(client, token, "r", uid, [(1, e)]).json()["hash"] == etag_of(b"new!")


def test_v2_content_md5_mismatch_is_400_and_keeps_nothing(client, nj):
    token = nj.token()
    uid = initiate(client, token, "m")
    before = evidence(client)
    r = put_part(client, token, "m", uid, 1, b"data", md5=hashlib.md5(b"other").hexdigest())
    assert error(r) == (400, "Content-MD5 not match")
    assert evidence(client) == before
    b64md5 = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    assert put_part(client, token, "m", uid, 1, b"data", md5=b64md5).status_code == 200  # base64 works too


def test_v2_complete_with_a_missing_part_or_a_wrong_etag_is_400(client, nj):
    token = nj.token()
    uid = initiate(client, token, "p")
    e1 = put_part(client, token, "p", uid, 1, data_of(MiB)).json()["etag"]
    other = initiate(client, token, "p")
    e_other = put_part(client, token, "p", other, 2, b"theirs").json()["etag"]
    before = evidence(client)
    assert error(complete(client, token, "p", uid, [(1, e1), (2, e_other)])) == (400, "invalid part")
    assert error(complete(client, token, "p", uid, [(1, e_other)])) == (400, "invalid part")
    assert evidence(client) == before
    assert complete(client, token, "p", uid, [(1, e1)]).status_code == 200


def test_v2_a_part_under_1_mib_before_the_last_is_400(client, nj):
    token = nj.token()
    uid = initiate(client, token, "s")
    parts = [(n, put_part(client, token, "s", uid, n, b"tiny").json()["etag"]) for n in (1, 2)]
    before = evidence(client)
    assert error(complete(client, token, "s", uid, parts)) == (400, "part too small")
    assert evidence(client) == before


@pytest.mark.parametrize("body", [
    {"parts": []},
    {"parts": [{"partNumber": 2, "etag": "a"}, {"partNumber": 1, "etag": "b"}]},
    {"parts": [{"partNumber": "1", "etag": "a"}]},
    {"parts": [{"partNumber": 1, "etag": "a"}], "customVars": {"noprefix": "1"}},
])
def test_v2_malformed_complete_bodies_are_400(client, nj, body):
    token = nj.token()
    uid = initiate(client, token, "b")
    r = client.post(f"{UP}/buckets/{BUCKET}/objects/{obj('b')}/uploads/{uid}", json=body, headers=auth(token))
    assert r.status_code == 400


def test_v2_unknown_upload_or_another_objects_upload_is_612(client, nj):
    token = nj.token()
    uid = initiate(client, token, "one")
    assert error(put_part(client, token, "two", uid, 1, b"x")) == (612, "no such uploadId")
    assert error(put_part(client, token, "one", "nope", 1, b"x")) == (612, "no such uploadId")
    assert client.get("/_emulator/store").json() == {"blobs": 0, "bytes": 0}


@pytest.mark.parametrize("n", ["0", "10001", "x"])
def test_v2_part_numbers_outside_1_to_10000_are_400(client, nj, n):
    token = nj.token()
    uid = initiate(client, token, "n")
    r = client.put(f"{UP}/buckets/{BUCKET}/objects/{obj('n')}/uploads/{uid}/{n}", content=b"x", headers=auth(token))
    assert r.status_code == 400


def test_v2_key_outside_the_scope_is_403_at_initiate(client, nj):
    token = sdk_token(key="only-this")
    r = client.post(f"{UP}/buckets/{BUCKET}/objects/{obj('other')}/uploads", headers=auth(token))
    assert error(r) == (403, "key doesn't match with scope")
    r = client.post(f"{UP}/buckets/game-other/objects/{obj('only-this')}/uploads", headers=auth(token))
    assert r.status_code == 403


def test_v2_list_parts_and_abort(client, nj):
    token = nj.token()
    uid = initiate(client, token, "l")
    for n in (3, 1, 2):
        put_part(client, token, "l", uid, n, bytes([n]) * n)
    base = f"{UP}/buckets/{BUCKET}/objects/{obj('l')}/uploads/{uid}"
    page = client.get(base, params={"max-parts": 2}, headers=auth(token)).json()
    assert [p["partNumber"] for p in page["parts"]] == [1, 2] and page["partNumberMarker"] == 2
    first = page["parts"][0]
    assert first == {"partNumber": 1, "etag": etag_of(b"\x01"), "size": 1, "putTime": first["putTime"]}
    rest = client.get(base, params={"part-number-marker": 2}, headers=auth(token)).json()
    assert [p["partNumber"] for p in rest["parts"]] == [3] and rest["partNumberMarker"] == 0
    assert client.delete(base, headers=auth(token)).json() == {}
    assert evidence(client) == ([], {"blobs": 0, "bytes": 0}, [])
    assert error(client.delete(base, headers=auth(token))) == (612, "no such uploadId")


def test_v2_insert_only_existing_key_is_614_and_the_upload_stays(client, nj):
    token = nj.token()
    nj.upload(token, "taken", b"first")
    uid = initiate(client, token, "taken")
    e = put_part(client, token, "taken", uid, 1, b"second").json()["etag"]
    assert error(complete(client, token, "taken", uid, [(1, e)])) == (614, "file exists")
    assert client.get("/_emulator/nextjoy/objects/game-hddzz/taken").content == b"first"
    assert len(client.get("/_emulator/nextjoy/uploads").json()) == 1


# -- the put policy on every upload kind ------------------------------------------------------


def test_fsize_limit_is_413_for_form_v1_and_v2(client, nj):
    token = sdk_token(policy={"fsizeLimit": 4})
    before = evidence(client)
    assert error(nj.upload(token, "f", b"12345")) == (413, "request entity too large")
    ctx = mkblk(client, token, b"12345").json()["ctx"]
    assert error(mkfile(client, token, 5, [ctx], key="f")) == (413, "request entity too large")
    uid = initiate(client, token, "f")
    e = put_part(client, token, "f", uid, 1, b"12345").json()["etag"]
    assert error(complete(client, token, "f", uid, [(1, e)])) == (413, "request entity too large")
    assert client.get("/_emulator/nextjoy/objects").json() == before[0]
    assert nj.upload(token, "f", b"1234").status_code == 200


def test_mime_limit_is_403_for_form_and_v2(client, nj):
    token = sdk_token(policy={"mimeLimit": "image/*;video/mp4"})
    assert error(nj.upload(token, "a.txt", b"t", content_type="text/plain")) == (403, "limited mimeType")
    assert nj.upload(token, "a.png", b"p", content_type="image/png").status_code == 200
    uid = initiate(client, token, "b.json")
    e = put_part(client, token, "b.json", uid, 1, b"{}").json()["etag"]
    r = complete(client, token, "b.json", uid, [(1, e)], mimeType="application/json")
    assert error(r) == (403, "limited mimeType")
    deny = sdk_token(policy={"mimeLimit": "!text/plain"})
    assert nj.upload(deny, "c.txt", b"t", content_type="text/plain").status_code == 403
    assert nj.upload(deny, "c.bin", b"t", content_type="application/zip").status_code == 200


def test_return_body_and_save_key(client, nj, frozen):
    policy = {"saveKey": "u/$(x:uid)/$(year)$(mon)$(day)/$(etag)$(ext)",
              "returnBody": '{"key":"$(key)","hash":"$(etag)","size":$(fsize),"bucket":"$(bucket)","uid":"$(x:uid)"}'}
    token = sdk_token(policy=policy)
    r = nj.upload(token, None, b"saved", filename="pic.png", **{"x:uid": "42"})
    key = f"u/42/20180508/{etag_of(b'saved')}.png"
    assert r.json() == {"key": key, "hash": etag_of(b"saved"), "size": 5, "bucket": BUCKET, "uid": "42"}
    assert client.get(f"/_emulator/nextjoy/objects/game-hddzz/{key}").content == b"saved"
    # v2 with "~" takes the saveKey too
    uid = initiate(client, token, None)
    e = put_part(client, token, None, uid, 1, b"v2!").json()["etag"]
    r = complete(client, token, None, uid, [(1, e)], fname="x.bin", customVars={"x:uid": "7"})
    assert r.json()["key"] == f"u/7/20180508/{etag_of(b'v2!')}.bin"


def test_save_key_is_not_used_when_the_upload_names_a_key_unless_forced(client, nj):
    assert nj.upload(sdk_token(policy={"saveKey": "s/$(etag)"}), "mine", b"1").json()["key"] == "mine"
    forced = sdk_token(policy={"saveKey": "s/$(fname)", "forceSaveKey": True})
    assert nj.upload(forced, "mine2", b"2", filename="f.txt").json()["key"] == "s/f.txt"


# -- abandoned uploads ----------------------------------------------------------------------


def test_abandoned_uploads_are_released_when_they_expire_on_the_emulator_clock(client, nj, frozen):
    token = nj.token()
    ctx = mkblk(client, token, b"v1 block").json()["ctx"]
    uid = initiate(client, token, "late")
    put_part(client, token, "late", uid, 1, b"v2 part")
    assert client.get("/_emulator/store").json()["blobs"] == 2
    client.post("/_emulator/clock", json={"advance": 7 * 86400 - 1})
    assert len(client.get("/_emulator/nextjoy/uploads").json()) == 2
    client.post("/_emulator/clock", json={"advance": 1})
    assert client.get("/_emulator/nextjoy/uploads").json() == []
    assert client.get("/_emulator/store").json() == {"blobs": 0, "bytes": 0}
    fresh = nj.token()
    assert error(mkfile(client, fresh, 8, [ctx])) == (701, "invalid ctx")
    assert error(put_part(client, fresh, "late", uid, 2, b"x")) == (612, "no such uploadId")


def test_reset_releases_uploads_under_way(client, nj):
    token = nj.token()
    mkblk(client, token, b"block")
    uid = initiate(client, token, "k")
    put_part(client, token, "k", uid, 1, b"part")
    assert client.post("/_emulator/reset").status_code in (200, 204)
    assert evidence(client) == ([], {"blobs": 0, "bytes": 0}, [])


def test_a_scoped_reset_releases_only_that_tenants_uploads(client, nj, other_tenant):
    mkblk(client, nj.token(), b"mine")
    mkblk(client, other_tenant.token(), b"theirs")
    r = client.post("/_emulator/reset", json={"tenants": {"nextjoy": ["2002:7"]}})
    assert r.status_code in (200, 204), r.text
    assert [u["bucket"] for u in client.get("/_emulator/nextjoy/uploads").json()] == [BUCKET]
    assert client.get("/_emulator/store").json() == {"blobs": 1, "bytes": 4}


# -- the host ------------------------------------------------------------------------------


def test_region_query_answers_every_service_the_sdks_read(client):
    (host,) = client.get("/_qiniu/uc/v4/query", params={"ak": AK, "bucket": BUCKET}).json()["hosts"]
    for service in ("up", "io", "uc", "rs", "rsf", "api", "s3"):
        assert isinstance(host[service]["domains"], list), service
    assert isinstance(host["ttl"], int) and host["ttl"] > 0
    assert host["up"]["domains"] == ["testserver/_qiniu/up"]


def test_the_older_v2_query_format_points_at_the_emulator(client):
    r = client.get("/_qiniu/uc/v2/query", params={"ak": AK, "bucket": BUCKET})
    body = r.json()
    assert body["up"]["src"]["main"] == ["testserver/_qiniu/up"]
    assert body["up"]["acc"]["main"] == ["testserver/_qiniu/up"]
    assert body["io"]["src"]["main"][0] and isinstance(body["ttl"], int) and r.headers["X-Reqid"]
    assert client.get("/_qiniu/uc/v2/query", params={"ak": AK, "bucket": "nope"}).status_code == 631


def test_wrong_methods_on_resumable_paths_are_405_in_qiniu_shape(client):
    key = b64encode(b"k")
    for method, path in [("GET", f"{UP}/mkblk/4"), ("PUT", f"{UP}/mkfile/4/key/{key}"),
                         ("GET", f"{UP}/buckets/b/objects/{key}/uploads"),
                         ("POST", f"{UP}/buckets/b/objects/{key}/uploads/u/1")]:
        r = client.request(method, path)
        assert (r.status_code, r.json()) == (405, {"error": "method not allowed"}), (method, path)
        assert r.headers["X-Reqid"]


def test_journal_names_the_tenant_and_reqid_of_resumable_calls(client, nj):
    r = mkblk(client, nj.token(), b"abc")
    entry = client.get("/_emulator/requests", params={"path": "/_qiniu/up/mkblk/*"}).json()[-1]
    assert (entry["api"], entry["tenant"], entry["status"]) == ("nextjoy", "1001:1000", 200)
    assert entry["qiniu_reqid"] == r.headers["X-Reqid"]
