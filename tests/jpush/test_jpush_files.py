"""Every rule of the JPush file API over HTTP (jpush-files.md, issue: foundation §5)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from helpers import JPUSH_AUTH, JPUSH_KEY, basic

FILE_ID = re.compile(rf"^{JPUSH_KEY}-[0-9a-f]{{8}}-[0-9a-f]{{4}}-4[0-9a-f]{{3}}-[89ab][0-9a-f]{{3}}-[0-9a-f]{{12}}$")
# 2019-10-12 13:36:55 in Beijing, the document's example create_time.
DOC_TIME = datetime(2019, 10, 12, 13, 36, 55, tzinfo=timezone(timedelta(hours=8))).timestamp()


def upload(client, content: bytes = b"id-1\nid-2\n", *, name="ids.txt", ttl=None, type="registration_id",
           auth=JPUSH_AUTH, extra_fields=None):
    data = {} if ttl is None else {"ttl": ttl}
    data.update(extra_fields or {})
    return client.post(f"/v3/files/{type}", files={"filename": (name, content, "text/plain")}, data=data, auth=auth)


def error_of(response) -> tuple[int, int, str]:
    body = response.json()
    return response.status_code, body["error"]["code"], body["error"]["message"]


def state(client, emu) -> tuple:
    """Everything a bad request must leave unchanged."""
    listing = client.get("/v3/files", auth=JPUSH_AUTH).json()
    return listing["files"], emu.blobs.stats()


@pytest.fixture
def frozen(client):
    client.post("/_emulator/clock", json={"freeze": True, "set": DOC_TIME})
    return DOC_TIME


# -- upload ---------------------------------------------------------------------------


def test_document_example_upload_answers_file_id(client):
    r = upload(client, b"160a3797c80a0a7d9b9\n1a0018970a2d5c9ff6f\n", name="registration_id.txt", ttl="720")
    assert r.status_code == 200
    assert set(r.json()) == {"file_id"}
    assert FILE_ID.match(r.json()["file_id"])


@pytest.mark.parametrize("file_type", ["alias", "registration_id"])
def test_both_types_upload_and_report_their_type(client, file_type):
    file_id = upload(client, type=file_type).json()["file_id"]
    assert client.get(f"/v3/files/{file_id}", auth=JPUSH_AUTH).json()["type"] == file_type


@pytest.mark.parametrize("file_type", ["tag", "Alias", "registration_ids", "x"])
def test_unknown_type_is_1103(client, emu, file_type):
    before = state(client, emu)
    status, code, message = error_of(upload(client, type=file_type))
    assert (status, code) == (400, 1103)
    assert "type" in message
    assert state(client, emu) == before


def test_missing_filename_is_1102(client, emu):
    before = state(client, emu)
    r = client.post("/v3/files/alias", files={"other": ("ids.txt", b"a\n")}, data={"ttl": "1"}, auth=JPUSH_AUTH)
    assert error_of(r)[:2] == (400, 1102)
    assert state(client, emu) == before


def test_filename_as_plain_field_is_1102(client):
    r = client.post("/v3/files/alias", data={"filename": "ids.txt"}, auth=JPUSH_AUTH)
    assert error_of(r)[:2] == (400, 1102)


def test_non_multipart_body_is_1102(client):
    r = client.post("/v3/files/alias", content=b"abc", headers={"content-type": "text/plain"}, auth=JPUSH_AUTH)
    assert error_of(r)[:2] == (400, 1102)


def test_empty_body_is_1102(client):
    assert error_of(client.post("/v3/files/alias", auth=JPUSH_AUTH))[:2] == (400, 1102)


@pytest.mark.parametrize(
    ("content", "name", "words"),
    [
        (b"", "ids.txt", "empty"),
        (b"\n   \n\t\n", "ids.txt", "empty"),
        (b"a\n", "ids.csv", ".txt"),
        (b"a\n", "ids", ".txt"),
        (b"\xff\xfe\x00a\n", "ids.txt", "UTF-8"),
        ("中文别名\n".encode("gbk"), "ids.txt", "UTF-8"),
        (b"abc\xe4\xb8", "ids.txt", "UTF-8"),  # truncated multi-byte sequence at the end
        (b"ok\n" + b"x" * 41 + b"\n", "ids.txt", "line 2"),
        (("中" * 14 + "\n").encode(), "ids.txt", "line 1"),  # 42 bytes
    ],
)
def test_content_rules_are_1103_naming_the_rule(client, emu, content, name, words):
    before = state(client, emu)
    status, code, message = error_of(upload(client, content, name=name))
    assert (status, code) == (400, 1103)
    assert words in message
    assert state(client, emu) == before


def test_lines_are_trimmed_before_the_40_byte_rule(client, emu):
    line = b"x" * 40
    r = upload(client, b"   " + line + b"  \t\r\n" + ("中" * 13).encode() + b"\n")
    assert r.status_code == 200, r.text
    lines = client.get(f"/_emulator/jpush/files/{r.json()['file_id']}").json()["lines"]
    assert lines == ["x" * 40, "中" * 13]


def test_inner_spaces_count_toward_the_line_length(client):
    status, code, _ = error_of(upload(client, b"a" + b" " * 39 + b"b\n"))
    assert (status, code) == (400, 1103)


def test_crlf_files_and_utf8_bom_are_accepted(client):
    r = upload(client, b"\xef\xbb\xbf" + b"a" * 40 + b"\r\nb\r\n")
    assert r.status_code == 200, r.text
    assert client.get(f"/_emulator/jpush/files/{r.json()['file_id']}").json()["lines"] == ["a" * 40, "b"]


def test_size_limit_is_10_mib(client, emu):
    line = b"y" * 39 + b"\n"
    exact = line * (10 * 1024 * 1024 // len(line))
    exact += b"z" * (10 * 1024 * 1024 - len(exact))
    assert len(exact) == 10 * 1024 * 1024
    assert upload(client, exact).status_code == 200
    before = state(client, emu)
    status, code, message = error_of(upload(client, exact + b"\n"))
    assert (status, code) == (400, 1103)
    assert "larger" in message
    assert state(client, emu) == before


@pytest.mark.parametrize("ttl", ["0", "721", "-1", "abc", "1.5", "", "72O"])
def test_ttl_out_of_range_or_not_integer_is_1103(client, emu, ttl):
    before = state(client, emu)
    status, code, message = error_of(upload(client, ttl=ttl))
    assert (status, code) == (400, 1103)
    assert "ttl" in message
    assert state(client, emu) == before


@pytest.mark.parametrize(("ttl", "words"), [
    ("--1", "must be an integer"),  # stacked signs (were a 500, code 1100)
    ("+-1", "must be an integer"),
    ("-+5", "must be an integer"),
    ("++5", "must be an integer"),
    ("+", "must be an integer"),
    ("\u00b2", "must be an integer"),  # "²": str.isdigit() says yes, int() refuses it
    ("9" * 60, "must be within [1, 720]"),  # the ttl field holds at most 64 bytes
    ("-" + "9" * 60, "must be within [1, 720]"),
])
def test_ttl_with_stacked_signs_other_digits_or_many_digits_is_1103_not_1100(client, emu, ttl, words):
    before = state(client, emu)
    status, code, message = error_of(upload(client, b"a\n", name="a.txt", ttl=ttl, type="alias"))
    assert (status, code) == (400, 1103)
    assert f"ttl {words}" in message and len(message) < 300
    assert state(client, emu) == before


@pytest.mark.parametrize("ttl", ["1", "720", " 24 ", "+5", "0" * 60 + "5"])
def test_ttl_bounds_are_accepted(client, ttl):
    assert upload(client, ttl=ttl).status_code == 200


def test_ttl_may_come_after_the_file_as_in_the_curl_example(client, frozen):
    # curl -F "filename=@..." -F "ttl=720": the file part precedes ttl on the wire.
    body = (
        b"--B\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"ids.txt\"\r\n\r\na\nb\r\n"
        b"--B\r\nContent-Disposition: form-data; name=\"ttl\"\r\n\r\n2\r\n--B--\r\n"
    )
    r = client.post("/v3/files/alias", content=body, headers={"content-type": "multipart/form-data; boundary=B"},
                    auth=JPUSH_AUTH)
    assert r.status_code == 200, r.text
    detail = client.get(f"/v3/files/{r.json()['file_id']}", auth=JPUSH_AUTH).json()
    assert detail["expire_time"] == "2019-10-12 15:36:55"


def test_twenty_unexpired_files_at_most(client, emu, frozen):
    emu.limiter.enabled = False  # this test makes more than 20 calls a minute
    ids = [upload(client, f"id-{i}\n".encode(), ttl="1").json()["file_id"] for i in range(20)]
    before = state(client, emu)
    status, code, _ = error_of(upload(client))
    assert (status, code) == (400, 1112)
    assert state(client, emu) == before
    # deleting one frees a place
    assert client.delete(f"/v3/files/{ids[0]}", auth=JPUSH_AUTH).status_code == 200
    assert upload(client, ttl="2").status_code == 200
    assert error_of(upload(client))[:2] == (400, 1112)
    # expired files no longer count
    client.post("/_emulator/clock", json={"advance": 3600})
    assert upload(client).status_code == 200


def test_limits_count_per_app_key(client, emu, frozen):
    emu.limiter.enabled = False
    client.post("/_emulator/fixtures", json={"jpush": [{"app_key": "otherapp", "master_secret": "othersecret"}]})
    for i in range(20):
        assert upload(client, f"{i}\n".encode()).status_code == 200
    assert upload(client, auth=("otherapp", "othersecret")).status_code == 200


# -- list and detail ------------------------------------------------------------------


def test_list_shape_times_and_order(client, frozen):
    first = upload(client, type="alias", name="a.txt").json()["file_id"]
    client.post("/_emulator/clock", json={"advance": 86400})
    second = upload(client, type="registration_id", name="r.txt", ttl="168").json()["file_id"]
    listing = client.get("/v3/files", auth=JPUSH_AUTH).json()
    assert listing == {
        "total_count": 2,
        "files": [
            {"file_id": first, "type": "alias", "create_time": "2019-10-12 13:36:55", "file_name": "a.txt"},
            {
                "file_id": second,
                "type": "registration_id",
                "create_time": "2019-10-13 13:36:55",
                "expire_time": "2019-10-20 13:36:55",
                "file_name": "r.txt",
            },
        ],
    }


def test_detail_matches_list_entry(client, frozen):
    file_id = upload(client, name="test.txt", ttl="192").json()["file_id"]
    detail = client.get(f"/v3/files/{file_id}", auth=JPUSH_AUTH)
    assert detail.status_code == 200
    assert detail.json() == client.get("/v3/files", auth=JPUSH_AUTH).json()["files"][0]
    assert detail.json()["expire_time"] == "2019-10-20 13:36:55"


def test_unknown_file_is_1104(client):
    status, code, _ = error_of(client.get(f"/v3/files/{JPUSH_KEY}-nope", auth=JPUSH_AUTH))
    assert (status, code) == (400, 1104)


def test_files_expire_after_ttl_hours_on_the_clock(client, emu, frozen):
    file_id = upload(client, ttl="1").json()["file_id"]
    client.post("/_emulator/clock", json={"advance": 3599})
    assert client.get(f"/v3/files/{file_id}", auth=JPUSH_AUTH).status_code == 200
    client.post("/_emulator/clock", json={"advance": 1})
    assert error_of(client.get(f"/v3/files/{file_id}", auth=JPUSH_AUTH))[:2] == (400, 1104)
    assert client.get("/v3/files", auth=JPUSH_AUTH).json() == {"total_count": 0, "files": []}
    assert emu.blobs.stats() == {"blobs": 0, "bytes": 0}  # the bytes are reclaimed


def test_default_ttl_is_720_hours_without_expire_time(client, frozen):
    file_id = upload(client).json()["file_id"]
    assert "expire_time" not in client.get(f"/v3/files/{file_id}", auth=JPUSH_AUTH).json()
    client.post("/_emulator/clock", json={"advance": 720 * 3600 - 1})
    assert client.get(f"/v3/files/{file_id}", auth=JPUSH_AUTH).status_code == 200
    client.post("/_emulator/clock", json={"advance": 1})
    assert client.get(f"/v3/files/{file_id}", auth=JPUSH_AUTH).status_code == 400


# -- delete ---------------------------------------------------------------------------


def test_delete_answers_200_with_empty_body(client, emu):
    file_id = upload(client).json()["file_id"]
    r = client.delete(f"/v3/files/{file_id}", auth=JPUSH_AUTH)
    assert r.status_code == 200
    assert r.content == b""
    assert error_of(client.get(f"/v3/files/{file_id}", auth=JPUSH_AUTH))[1] == 1104
    assert emu.blobs.stats()["blobs"] == 0


def test_delete_of_unknown_id_is_success(client):
    r = client.delete(f"/v3/files/{JPUSH_KEY}-374004a2-bc6c-4abc-bde5-9f1a9671d307", auth=JPUSH_AUTH)
    assert (r.status_code, r.content) == (200, b"")


# -- tenants --------------------------------------------------------------------------


def test_apps_never_see_each_others_files(client):
    client.post("/_emulator/fixtures", json={"jpush": [{"app_key": "otherapp", "master_secret": "othersecret"}]})
    other = ("otherapp", "othersecret")
    file_id = upload(client).json()["file_id"]
    assert client.get("/v3/files", auth=other).json() == {"total_count": 0, "files": []}
    assert error_of(client.get(f"/v3/files/{file_id}", auth=other))[1] == 1104
    assert client.delete(f"/v3/files/{file_id}", auth=other).status_code == 200
    assert client.get(f"/v3/files/{file_id}", auth=JPUSH_AUTH).status_code == 200


def test_identical_bytes_are_stored_once(client, emu):
    a = upload(client, b"same\n").json()["file_id"]
    b = upload(client, b"same\n", type="alias").json()["file_id"]
    assert emu.blobs.stats()["blobs"] == 1
    client.delete(f"/v3/files/{a}", auth=JPUSH_AUTH)
    assert client.get(f"/_emulator/jpush/files/{b}").json()["lines"] == ["same"]
    client.delete(f"/v3/files/{b}", auth=JPUSH_AUTH)
    assert emu.blobs.stats() == {"blobs": 0, "bytes": 0}


# -- auth -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": basic(JPUSH_KEY, "wrong-secret")},
        {"authorization": basic("unknown-key", "x")},
        {"authorization": "Bearer abc"},
        {"authorization": "Basic !!!notbase64"},
        {"authorization": "Basic " + "bm9jb2xvbg=="},  # "nocolon"
        {"authorization": b"Basic \xff"},  # a byte no base64 holds (read as Latin-1: a 500 before)
        {"authorization": basic(JPUSH_KEY, "x").encode() + b"\xc3\x28"},
    ],
)
def test_missing_or_wrong_credentials_are_1101_on_every_endpoint(client, emu, headers):
    before = state(client, emu)
    file_id = f"{JPUSH_KEY}-x"
    answers = [
        client.post("/v3/files/alias", files={"filename": ("a.txt", b"a\n")}, headers=headers),
        client.get("/v3/files", headers=headers),
        client.get(f"/v3/files/{file_id}", headers=headers),
        client.delete(f"/v3/files/{file_id}", headers=headers),
    ]
    for r in answers:
        assert error_of(r)[:2] == (400, 1101)
    assert state(client, emu) == before


def test_dev_key_without_file_vip_is_1105(client):
    r = client.get("/v3/files", auth=("testjpushdevkey000000001", "testjpushdevsecret000001"))
    assert error_of(r)[:2] == (403, 1105)


def test_dev_key_with_wrong_secret_is_1101(client):
    assert error_of(client.get("/v3/files", auth=("testjpushdevkey000000001", "nope")))[:2] == (400, 1101)


def test_dev_key_with_file_vip_acts_for_its_app(client):
    client.post(
        "/_emulator/fixtures",
        json={"jpush": [{"app_key": "vipapp", "master_secret": "vipsecret", "dev_key": "vipdev",
                         "dev_secret": "vipdevsecret", "file_vip": True}]},
    )
    r = upload(client, auth=("vipdev", "vipdevsecret"))
    assert r.status_code == 200
    assert r.json()["file_id"].startswith("vipapp-")
    assert client.get("/v3/files", auth=("vipapp", "vipsecret")).json()["total_count"] == 1


# -- rate limit -----------------------------------------------------------------------


def test_twenty_calls_a_minute_shared_by_all_endpoints(client, frozen):
    file_id = upload(client).json()["file_id"]  # 1
    calls = [
        lambda: client.get("/v3/files", auth=JPUSH_AUTH),
        lambda: client.get(f"/v3/files/{file_id}", auth=JPUSH_AUTH),
        lambda: client.delete(f"/v3/files/{JPUSH_KEY}-unknown", auth=JPUSH_AUTH),
        lambda: upload(client, ttl="999"),  # refused input still counts
    ]
    remaining = []
    for i in range(19):  # 2..20
        r = calls[i % len(calls)]()
        assert r.status_code in (200, 400)
        remaining.append(int(r.headers["X-Rate-Limit-Remaining"]))
        assert r.headers["X-Rate-Limit-Limit"] == "20"
    assert remaining == list(range(18, -1, -1))
    for call in calls:
        r = call()
        assert error_of(r)[:2] == (429, 2002)
        assert r.headers["X-Rate-Limit-Remaining"] == "0"
        assert r.headers["X-Rate-Limit-Reset"] == "60"
    client.post("/_emulator/clock", json={"advance": 30})
    r = client.get("/v3/files", auth=JPUSH_AUTH)
    assert r.status_code == 429 and r.headers["X-Rate-Limit-Reset"] == "30"
    client.post("/_emulator/clock", json={"advance": 30})
    r = client.get("/v3/files", auth=JPUSH_AUTH)
    assert r.status_code == 200
    assert (r.headers["X-Rate-Limit-Remaining"], r.headers["X-Rate-Limit-Reset"]) == ("19", "60")


def test_rate_limited_upload_stores_nothing(client, emu, frozen):
    for _ in range(20):
        client.get("/v3/files", auth=JPUSH_AUTH)
    r = upload(client)
    assert r.status_code == 429
    assert emu.blobs.stats()["blobs"] == 0


def test_each_app_key_has_its_own_budget(client, frozen):
    client.post("/_emulator/fixtures", json={"jpush": [{"app_key": "otherapp", "master_secret": "othersecret"}]})
    for _ in range(20):
        client.get("/v3/files", auth=JPUSH_AUTH)
    assert client.get("/v3/files", auth=JPUSH_AUTH).status_code == 429
    assert client.get("/v3/files", auth=("otherapp", "othersecret")).status_code == 200


def test_limits_can_be_switched_off(tmp_path):
    from fastapi.testclient import TestClient

    from emulator.app import create_app
    from emulator.settings import Settings

    app = create_app(Settings(database_url="sqlite://", rate_limits=False))
    with TestClient(app) as c:
        answers = [c.get("/v3/files", auth=JPUSH_AUTH) for _ in range(30)]
    assert {r.status_code for r in answers} == {200}
    assert answers[-1].headers["X-Rate-Limit-Remaining"] == "0"


# -- evidence and journal -------------------------------------------------------------


def test_uploaded_lines_can_be_read_back(client):
    file_id = upload(client, b"  alice \n\n bob\r\n\t\ncarol").json()["file_id"]
    evidence = client.get(f"/_emulator/jpush/files/{file_id}").json()
    assert evidence["lines"] == ["alice", "bob", "carol"]
    assert evidence["app_key"] == JPUSH_KEY
    everything = client.get("/_emulator/jpush/files", params={"app_key": JPUSH_KEY}).json()
    assert [f["file_id"] for f in everything] == [file_id]
    assert client.get("/_emulator/jpush/files/nope").status_code == 404


def test_journal_records_codes_and_redacts_secrets(client):
    upload(client)
    client.get("/v3/files", auth=(JPUSH_KEY, "wrong"))
    entries = client.get("/_emulator/requests", params={"api": "jpush"}).json()
    assert [(e["method"], e["path"], e["status"], e["code"]) for e in entries] == [
        ("POST", "/v3/files/registration_id", 200, None),
        ("GET", "/v3/files", 400, 1101),
    ]
    assert entries[0]["tenant"] == JPUSH_KEY
    assert "master secret" in entries[1]["reason"]
    assert entries[1]["headers"]["authorization"] == f"Basic {JPUSH_KEY}:***"
    dump = client.get("/_emulator/requests").text
    assert "testjpushmastersecret001" not in dump and "wrong" not in dump.replace("wrong-", "")


def test_unexpected_failure_is_1100_in_the_vendor_envelope(client, emu, monkeypatch):
    def broken(app_key):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(emu.service("jpush"), "list_files", broken)
    assert error_of(client.get("/v3/files", auth=JPUSH_AUTH))[:2] == (500, 1100)
    assert client.get("/_emulator/requests", params={"status": "500"}).json()[0]["code"] == 1100


def test_utf8_file_names_are_kept(client):
    file_id = upload(client, name="中文名单.txt").json()["file_id"]
    assert client.get(f"/v3/files/{file_id}", auth=JPUSH_AUTH).json()["file_name"] == "中文名单.txt"
