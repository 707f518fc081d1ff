"""The emulated Qiniu upload host the NextJoy tokens are used on: form upload with token,
scope, deadline, crc32 and insert-only checks, Qiniu's statuses and error bodies, the
etag; and the region query the SDKs make first."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zlib

import pytest
from qiniu import Auth
from qiniu.utils import etag_stream

from emulator.apis.nextjoy.qiniu import UploadDigest, etag_of

AK, SK, BUCKET = "test-qiniu-access-key", "test-qiniu-secret-key", "game-hddzz"


def sdk_token(key=None, expires=3600, policy=None, ak=AK, sk=SK, bucket=BUCKET):
    """A token minted by the qiniu SDK itself (for scopes NextJoy does not mint)."""
    return Auth(ak, sk).upload_token(bucket, key, expires, policy)


def state(client) -> tuple:
    return client.get("/_emulator/nextjoy/objects").json(), client.get("/_emulator/store").json()


def error(r) -> tuple[int, str]:
    return r.status_code, r.json()["error"]


def journal_last(client):
    return client.get("/_emulator/requests", params={"path": "/_qiniu/*"}).json()[-1]


# -- success ------------------------------------------------------------------------------


def test_upload_with_a_nextjoy_token_answers_hash_and_key(client, nj):
    r = nj.upload(nj.token(), "avatars/1.png", b"png-bytes")
    assert r.status_code == 200
    assert r.json() == {"hash": etag_of(b"png-bytes"), "key": "avatars/1.png"}
    assert client.get("/_emulator/nextjoy/objects/game-hddzz/avatars/1.png").content == b"png-bytes"


def test_trailing_slash_path_is_the_same_host(client, nj):
    r = client.post("/_qiniu/up/", data={"token": nj.token(), "key": "k"}, files={"file": ("f", b"1")})
    assert r.json() == {"hash": etag_of(b"1"), "key": "k"}


@pytest.mark.parametrize("size", [0, 1, 4 * 1024 * 1024, 4 * 1024 * 1024 + 1, 9 * 1024 * 1024 + 3])
def test_etag_matches_the_qiniu_sdk_on_block_boundaries(size):
    data = bytes(i % 251 for i in range(size))
    assert etag_of(data) == etag_stream(io.BytesIO(data))


def test_etag_does_not_depend_on_how_the_stream_is_cut():
    data = bytes(i % 253 for i in range(9 * 1024 * 1024 + 5))
    digest = UploadDigest()
    for i in range(0, len(data), 1_000_003):
        digest.feed(data[i : i + 1_000_003])
    assert digest.etag() == etag_stream(io.BytesIO(data))
    assert digest.crc32 == zlib.crc32(data)


def test_large_upload_gets_the_multi_block_etag(client, nj):
    data = bytes(i % 241 for i in range(5 * 1024 * 1024 + 17))
    r = nj.upload(nj.token(), "big.bin", data)
    assert r.json()["hash"] == etag_stream(io.BytesIO(data))
    assert r.json()["hash"].startswith("l")  # 0x96 prefix


def test_no_key_stores_under_the_etag(client, nj):
    r = nj.upload(nj.token(), None, b"anonymous")
    assert r.json() == {"hash": etag_of(b"anonymous"), "key": etag_of(b"anonymous")}


def test_empty_key_is_a_key(client, nj):
    assert nj.upload(nj.token(), "", b"x").json()["key"] == ""


def test_parts_in_any_order_and_extra_fields_are_accepted(client, nj):
    data = b"late token"
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n' + data + b"\r\n"
        b'--B\r\nContent-Disposition: form-data; name="x:user"\r\n\r\n42\r\n'
        b'--B\r\nContent-Disposition: form-data; name="fname"\r\n\r\na.txt\r\n'
        b'--B\r\nContent-Disposition: form-data; name="crc32"\r\n\r\n' + str(zlib.crc32(data)).encode() + b"\r\n"
        b'--B\r\nContent-Disposition: form-data; name="key"\r\n\r\nlate.txt\r\n'
        b'--B\r\nContent-Disposition: form-data; name="token"\r\n\r\n' + nj.token().encode() + b"\r\n--B--\r\n"
    )
    r = client.post("/_qiniu/up", content=body, headers={"content-type": "multipart/form-data; boundary=B"})
    assert r.json() == {"hash": etag_of(data), "key": "late.txt"}


def test_matching_crc32_is_accepted(client, nj):
    data = b"checked"
    assert nj.upload(nj.token(), "c", data, crc32=zlib.crc32(data)).status_code == 200


@pytest.mark.parametrize(
    "content_type, key, filename, expected",
    [
        ("image/jpeg", "x.bin", "f", "image/jpeg"),
        ("application/octet-stream", "a/b.json", "f", "application/json"),
        ("application/octet-stream", "noext", "photo.png", "image/png"),
        ("application/octet-stream", "noext", "noext", "application/octet-stream"),
    ],
)
def test_mime_type_from_the_part_or_guessed_from_key_then_file_name(client, nj, content_type, key, filename, expected):
    nj.upload(nj.token(), key, b"1", content_type=content_type, filename=filename)
    assert client.get("/_emulator/nextjoy/objects").json()[0]["mimeType"] == expected


def test_put_time_is_100ns_units_of_the_emulator_clock(client, nj):
    client.post("/_emulator/clock", json={"freeze": True, "set": 1700000000.5})
    nj.upload(nj.token(), "t", b"1")
    assert client.get("/_emulator/nextjoy/objects").json()[0]["putTime"] == 17000000005000000


def test_objects_are_per_bucket(client, nj, other_tenant):
    nj.upload(nj.token(), "same", b"mine")
    other_tenant.upload(other_tenant.token(), "same", b"theirs")
    assert client.get("/_emulator/nextjoy/objects/game-hddzz/same").content == b"mine"
    assert client.get("/_emulator/nextjoy/objects/game-other/same").content == b"theirs"


# -- token refusals: 401 ------------------------------------------------------------------------


def test_no_token_is_401_token_not_specified(client, nj):
    before = state(client)
    assert error(nj.upload(None, "k", b"1")) == (401, "token not specified")
    assert state(client) == before


@pytest.mark.parametrize("token, message", [("", "token not specified"), ("  ", "token not specified")])
def test_empty_token_is_401_token_not_specified(client, nj, token, message):
    before = state(client)
    assert error(nj.upload(token, "k", b"1")) == (401, message)
    assert state(client) == before


@pytest.mark.parametrize("token", ["abc", "a:b", "a:b:c:d", "test-qiniu-access-key::eyJ9"])
def test_malformed_token_is_401_bad_token(client, nj, token):
    before = state(client)
    assert error(nj.upload(token, "k", b"1")) == (401, "bad token")
    assert state(client) == before


def test_unknown_access_key_is_401_bad_token(client, nj):
    assert error(nj.upload(sdk_token(ak="nobody"), "k", b"1")) == (401, "bad token")


def test_wrong_secret_is_401_bad_token_and_the_journal_says_what_was_expected(client, nj):
    before = state(client)
    token = sdk_token(sk="not-the-secret")
    assert error(nj.upload(token, "k", b"1")) == (401, "bad token")
    assert state(client) == before
    entry = journal_last(client)
    assert entry["api"] == "nextjoy" and entry["code"] == 401
    assert entry["expected"].startswith("urlsafe_base64(hmac_sha1(<qiniu_secret_key of test-qiniu-access-key>, ")
    assert token.split(":")[2] in entry["expected"]
    assert "test-qiniu-secret-key" not in json.dumps(entry)


def test_tampered_policy_is_401_bad_token(client, nj):
    ak, sign, _ = nj.token().split(":")
    forged = base64.urlsafe_b64encode(json.dumps({"scope": BUCKET, "deadline": 4102444800}).encode()).decode()
    assert error(nj.upload(f"{ak}:{sign}:{forged}", "k", b"1")) == (401, "bad token")


def test_policy_without_deadline_is_401_bad_token(client, nj):
    policy = base64.urlsafe_b64encode(json.dumps({"scope": BUCKET}).encode()).decode()
    token = Auth(AK, SK).token_with_data(policy)
    assert error(nj.upload(token, "k", b"1")) == (401, "bad token")


def test_token_works_until_its_deadline_then_is_401_expired(client, nj, frozen):
    token = nj.token()
    client.post("/_emulator/clock", json={"advance": 3600})
    assert nj.upload(token, "at-deadline", b"1").status_code == 200
    client.post("/_emulator/clock", json={"advance": 1})
    before = state(client)
    assert error(nj.upload(token, "late", b"2")) == (401, "expired token")
    assert state(client) == before


def test_bad_token_is_refused_before_the_file_is_stored(client, nj):
    r = nj.upload(sdk_token(sk="wrong"), "k", b"z" * (3 * 1024 * 1024))
    assert error(r) == (401, "bad token")
    assert client.get("/_emulator/store").json() == {"blobs": 0, "bytes": 0}


# -- scope --------------------------------------------------------------------------------------


def test_bucket_of_another_account_is_631(client, nj, other_tenant):
    token = sdk_token(bucket="game-other")  # signed by tenant 1's keys, naming tenant 2's bucket
    assert error(nj.upload(token, "k", b"1")) == (631, "no such bucket")


def test_key_scope_allows_only_that_key(client, nj):
    token = sdk_token(key="exact.png")
    before = state(client)
    assert error(nj.upload(token, "other.png", b"1")) == (403, "key doesn't match with scope")
    assert error(nj.upload(token, None, b"1")) == (403, "key doesn't match with scope")
    assert state(client) == before
    assert nj.upload(token, "exact.png", b"1").status_code == 200


def test_prefix_scope_allows_keys_under_the_prefix(client, nj):
    token = sdk_token(key="user/42/", policy={"isPrefixalScope": 1})
    assert nj.upload(token, "user/42/a.png", b"1").status_code == 200
    assert error(nj.upload(token, "user/43/a.png", b"1")) == (403, "key doesn't match with scope")


def test_the_documents_example_scope_allows_only_the_key_slash(client, nj):
    token = sdk_token(key="/")  # {"scope":"game-hddzz:/", ...} as in the document's example
    assert error(nj.upload(token, "a.png", b"1")) == (403, "key doesn't match with scope")
    assert nj.upload(token, "/", b"1").json()["key"] == "/"


# -- existing keys ------------------------------------------------------------------------------


def test_bucket_scope_is_insert_only_614_file_exists(client, nj):
    token = nj.token()
    nj.upload(token, "k", b"first")
    before = state(client)
    assert error(nj.upload(token, "k", b"second")) == (614, "file exists")
    assert state(client) == before


def test_identical_content_under_insert_only_succeeds_without_change(client, nj):
    token = nj.token()
    nj.upload(token, "k", b"same")
    before = state(client)
    client.post("/_emulator/clock", json={"advance": 10})
    assert nj.upload(token, "k", b"same").json() == {"hash": etag_of(b"same"), "key": "k"}
    assert state(client) == before


def test_key_scope_overwrites(client, nj):
    nj.upload(nj.token(), "k", b"old")
    r = nj.upload(sdk_token(key="k"), "k", b"new!")
    assert r.json() == {"hash": etag_of(b"new!"), "key": "k"}
    assert client.get("/_emulator/nextjoy/objects/game-hddzz/k").content == b"new!"
    assert client.get("/_emulator/store").json() == {"blobs": 1, "bytes": 4}  # the old bytes went


def test_key_scope_with_insert_only_is_614(client, nj):
    nj.upload(nj.token(), "k", b"old")
    assert error(nj.upload(sdk_token(key="k", policy={"insertOnly": 1}), "k", b"new")) == (614, "file exists")


# -- form refusals ------------------------------------------------------------------------------


def test_crc32_mismatch_is_406(client, nj):
    before = state(client)
    assert error(nj.upload(nj.token(), "k", b"data", crc32=zlib.crc32(b"other"))) == (406, "crc32 not match")
    assert state(client) == before


@pytest.mark.parametrize("crc", ["abc", "-1", "4294967296", ""])
def test_malformed_crc32_is_400(client, nj, crc):
    before = state(client)
    assert nj.upload(nj.token(), "k", b"data", crc32=crc).status_code == 400
    assert state(client) == before


@pytest.mark.parametrize("crc", ["9" * 4301, "0" * 4400 + "4294967296", "\u00b2", "\u0661"])
def test_crc32_of_thousands_of_digits_or_other_digits_is_400_not_599(client, nj, crc):
    before = state(client)
    r = nj.upload(nj.token(), "k", b"data", crc32=crc)
    assert error(r) == (400, "invalid argument")
    assert "crc32 must be" in journal_last(client)["reason"]
    assert state(client) == before


def test_crc32_with_thousands_of_leading_zeros_is_the_number(client, nj):
    data = b"data"
    assert nj.upload(nj.token(), "k", data, crc32="0" * 4400 + str(zlib.crc32(data))).status_code == 200


def test_no_file_part_is_400(client, nj):
    r = client.post("/_qiniu/up", files={"token": (None, nj.token()), "key": (None, "k")})
    assert error(r) == (400, "file is not specified in multipart")


def test_two_file_parts_is_400(client, nj):
    r = client.post("/_qiniu/up", data={"token": nj.token()}, files=[("file", ("a", b"1")), ("file", ("b", b"2"))])
    assert r.status_code == 400
    assert client.get("/_emulator/store").json() == {"blobs": 0, "bytes": 0}


@pytest.mark.parametrize(
    "content, content_type",
    [(b"token=x", "application/x-www-form-urlencoded"), (b"--B\r\nbroken", "multipart/form-data; boundary=B")],
)
def test_a_body_that_is_not_multipart_is_400(client, content, content_type):
    r = client.post("/_qiniu/up", content=content, headers={"content-type": content_type})
    assert r.status_code == 400 and "error" in r.json()


def test_every_refusal_is_journaled_under_nextjoy_with_the_tenant(client, nj):
    r = nj.upload(nj.token(), "k", b"1", crc32=1)
    entry = journal_last(client)
    assert (entry["api"], entry["tenant"], entry["status"], entry["code"]) == ("nextjoy", "1001:1000", 406, 406)
    assert entry["qiniu_reqid"] == r.headers["X-Reqid"]


def test_every_answer_of_the_qiniu_hosts_carries_an_x_reqid(client, nj):
    ok = nj.upload(nj.token(), "k", b"1")
    refused = nj.upload(None, "k", b"1")
    query = client.get("/_qiniu/uc/v4/query", params={"ak": AK, "bucket": BUCKET})
    reqids = [r.headers.get("X-Reqid") for r in (ok, refused, query)]
    assert all(reqids) and len(set(reqids)) == 3


# -- region query ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v4", "v3"])
def test_region_query_points_the_sdk_at_the_emulator(client, version):
    r = client.get(f"/_qiniu/uc/{version}/query", params={"ak": AK, "bucket": BUCKET})
    assert r.status_code == 200
    (host,) = r.json()["hosts"]
    assert host["up"]["domains"] == ["testserver/_qiniu/up"]
    assert host["uc"]["domains"] == ["testserver/_qiniu/uc"]
    assert host["ttl"] > 0 and host["region"]


def test_region_query_follows_the_public_url(tmp_path):
    from fastapi.testclient import TestClient

    from emulator.app import create_app
    from emulator.settings import Settings

    app = create_app(Settings(database_url="sqlite://", data_dir=tmp_path, public_url="https://emu.example:9000"))
    with TestClient(app) as c:
        host = c.get("/_qiniu/uc/v4/query", params={"ak": AK, "bucket": BUCKET}).json()["hosts"][0]
        assert host["up"]["domains"] == ["emu.example:9000/_qiniu/up"]
        assert c.get("/_emulator/health").json()["endpoints"]["qiniu_upload"] == "https://emu.example:9000/_qiniu/up"
    app.state.emulator.close()


@pytest.mark.parametrize(
    "params, status",
    [({"ak": AK, "bucket": "nope"}, 631), ({"ak": "nobody", "bucket": BUCKET}, 631), ({"ak": AK}, 400), ({}, 400)],
)
def test_region_query_refusals(client, params, status):
    r = client.get("/_qiniu/uc/v4/query", params=params)
    assert r.status_code == status and "error" in r.json()


def test_health_names_the_qiniu_upload_url(client):
    endpoints = client.get("/_emulator/health").json()["endpoints"]
    assert endpoints["qiniu_upload"] == "http://testserver/_qiniu/up"
    assert endpoints["qiniu_uc"] == "http://testserver/_qiniu/uc"
    assert "nextjoy" in client.get("/_emulator/health").json()["apis"]


def test_md5_of_stored_object_is_recorded(client, nj):
    nj.upload(nj.token(), "k", b"abc")
    assert client.get("/_emulator/nextjoy/objects").json()[0]["md5"] == hashlib.md5(b"abc").hexdigest()


def pending_blobs(emu) -> int:
    from sqlalchemy import func, select

    from emulator.core.blobs import Blob

    with emu.db.session() as s:
        return s.execute(select(func.count()).select_from(Blob).where(Blob.state == "pending")).scalar_one()


@pytest.mark.parametrize(
    "fields",
    [
        {f"x:v{i}": "v" * (60 << 10) for i in range(20)},  # 1.2 MiB of fields, each under 64 KiB
        {f"x:v{i}": "1" for i in range(300)},  # more fields than any client sends
    ],
)
def test_form_fields_are_not_buffered_without_bound(client, nj, emu, fields):
    before = state(client)
    r = nj.upload(nj.token(), "k", b"1", **fields)
    assert error(r) == (400, "invalid argument")
    assert state(client) == before and pending_blobs(emu) == 0
    assert nj.upload(nj.token(), "k", b"1", **dict(list(fields.items())[:10])).status_code == 200


def test_an_unexpected_error_is_599_and_the_staged_bytes_are_discarded(client, nj, emu, monkeypatch):
    from emulator.apis.nextjoy.service import NextJoyService

    def boom(*args, **kwargs):
        raise RuntimeError("simulated fault")

    monkeypatch.setattr(NextJoyService, "store", boom)
    before = state(client)
    assert error(nj.upload(nj.token(), "k", b"some bytes")) == (599, "server error")
    assert state(client) == before and pending_blobs(emu) == 0
