"""upload2: every rule of antelope-object-storage.md §1 ("细节分析") over HTTP."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from antelope_kit import BOUNDARY, DOC_CID, DOC_METADATA, DOC_TIME, make_token, multipart

OBJ_ID = re.compile(r"^[0-9a-f]{24}$")
FIELDS = ["obj_id", "key", "name", "c_id", "app_id", "file_id", "timestamp", "file_size", "metadata",
          "expire_type", "area_id"]


def status(r) -> int:
    return r.status_code


# -- the document's example ------------------------------------------------------------------


def test_document_example_answers_exactly_the_documented_fields(ant):
    content = bytes(range(256)) * 566  # 144896 bytes, the example's file_size
    r = ant.upload2(content, name="guimain.exe", expiretype=0, key="/1/upload.txt",
                    before=[("metadata", None, DOC_METADATA)])
    body = ant.ok(r)
    assert list(body) == FIELDS
    assert OBJ_ID.match(body["obj_id"])
    assert body["obj_id"][:8] == f"{DOC_TIME:08x}" == "59251953"  # as the example's 59251953000f50ff01001a7a
    assert body | {"obj_id": None} == {
        "obj_id": None,
        "key": "/1/upload.txt",
        "name": "guimain.exe",
        "c_id": DOC_CID,
        "app_id": "Test",
        "file_id": hashlib.sha1(content).hexdigest(),
        "timestamp": DOC_TIME,
        "file_size": 144896,
        "metadata": {"K1": "V1", "K2": 2, "K3": {"K3_1": "K3_1", "K3_2": 32}},
        "expire_type": 0,
        "area_id": 1,
    }


def test_document_wire_example_verbatim(ant, client):
    """The postman body as printed: metadata part, then a file part with an empty file name
    and an empty Content-Type header (and therefore size 0)."""
    body = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{DOC_METADATA}\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\"\r\nContent-Type: \r\n\r\n\r\n"
        f"--{BOUNDARY}--\r\n"
    ).encode()
    r = client.post("/upload2", params={"size": 0, "access_token": ant.token, "expiretype": 0, "key": "/1/upload.txt"},
                    content=body, headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"})
    answer = ant.ok(r)
    assert (answer["key"], answer["name"], answer["file_size"]) == ("/1/upload.txt", "", 0)
    assert answer["file_id"] == hashlib.sha1(b"").hexdigest()
    assert answer["metadata"]["K3"] == {"K3_1": "K3_1", "K3_2": 32}


def test_file_id_is_the_sha1_of_the_content(ant):
    a = ant.ok(ant.upload2(b"same bytes", key="/a"))
    b = ant.ok(ant.upload2(b"same bytes", key="/b", name="other.bin"))
    c = ant.ok(ant.upload2(b"other bytes", key="/c"))
    assert a["file_id"] == b["file_id"] == hashlib.sha1(b"same bytes").hexdigest()
    assert c["file_id"] != a["file_id"]
    assert a["obj_id"] != b["obj_id"]


def test_obj_ids_are_object_id_like_and_increase_with_time(ant):
    ids = []
    for i in range(3):
        ids.append(ant.ok(ant.upload2(f"{i}".encode(), key=f"/k{i}"))["obj_id"])
    ant.advance(1)
    ids.append(ant.ok(ant.upload2(b"later", key="/later"))["obj_id"])
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert {i[:8] for i in ids[:3]} == {f"{DOC_TIME:08x}"}
    assert ids[3][:8] == f"{DOC_TIME + 1:08x}"
    assert all(i[16:18] == "01" for i in ids)  # the area id byte, as in the examples


# -- size --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "words"), [
    (None, "size is required"),
    ("", "size is required"),
    ("abc", "unsigned integer"),
    ("-1", "unsigned integer"),
    ("1.5", "unsigned integer"),
    (1073741825, "1G"),
    (13, "larger than the declared size"),  # real size 14
    (15, "not the declared size"),
    (1073741824, "not the declared size"),  # exactly 1G is allowed; then it must match
])
def test_size_missing_over_1g_or_not_the_real_size_is_400(ant, state, size, words):
    before = state()
    r = ant.upload2(b"hello antelope", size=size, key="/1/x")
    assert status(r) == 400
    assert words in r.json()["message"]
    assert state() == before


@pytest.mark.parametrize(("size", "words"), [
    ("9" * 4301, "1G"),  # past Python's 4300-digit int() limit (was a 500)
    ("0" * 4400 + "15", "not the declared size"),  # leading zeros: the number 15, the real size is 14
    ("\u00b2", "unsigned integer"),  # "²": str.isdigit() says yes, int() refuses it
    ("\u0661\u0664", "unsigned integer"),  # Arabic-Indic "14": int() reads it, the document's digits do not
])
def test_size_of_any_length_or_digit_script_is_400_not_500(ant, state, size, words):
    before = state()
    r = ant.upload2(b"hello antelope", size=size, key="/1/x")
    assert status(r) == 400, r.text
    assert words in r.json()["message"]
    assert len(r.json()["message"]) < 300  # the 4301 digits are quoted cut short
    assert state() == before


def test_size_with_thousands_of_leading_zeros_is_the_number(ant):
    assert ant.ok(ant.upload2(b"hello antelope", size="0" * 4400 + "14", key="/1/x"))["file_size"] == 14


def test_size_zero_with_an_empty_file_is_accepted(ant):
    assert ant.ok(ant.upload2(b"", key="/empty"))["file_size"] == 0


# -- key ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "final"), [
    ("/1", "/1"),
    ("/1/upload.txt", "/1/upload.txt"),
    ("/1/", "/1/2.txt"),
    ("/1/${filename}", "/1/2.txt"),
    ("/", "/2.txt"),
    ("/a/b/${filename}", "/a/b/2.txt"),
    ("/1/${filename}.bak", "/1/${filename}.bak"),  # only a whole last segment is completed
    ("/目录/文件.txt", "/目录/文件.txt"),
])
def test_key_completion(ant, given, final):
    assert ant.ok(ant.upload2(b"x", name="2.txt", key=given))["key"] == final


def test_no_key_gives_obj_id_underscore_file_name(ant):
    body = ant.ok(ant.upload2(b"x", name="upload.txt"))
    assert body["key"] == f"{body['obj_id']}_upload.txt"


def test_key_priority_url_then_header_then_form(ant):
    form = [("key", None, "/from/form")]
    answer = ant.ok(ant.upload2(b"1", key="/from/url", headers={"key": "/from/header"}, before=form))
    assert answer["key"] == "/from/url"
    assert ant.ok(ant.upload2(b"2", headers={"key": "/from/header"}, before=form))["key"] == "/from/header"
    assert ant.ok(ant.upload2(b"3", before=form))["key"] == "/from/form"


def test_header_key_is_completed_too(ant):
    assert ant.ok(ant.upload2(b"x", name="a.jpg", headers={"key": "/cam/"}))["key"] == "/cam/a.jpg"


def test_unused_lower_priority_key_is_not_consulted(ant):
    r = ant.upload2(b"x", key="/url", before=[("key", None, "not-absolute")])
    assert ant.ok(r)["key"] == "/url"


BAD_KEYS = ["upload.txt", "1/upload.txt", "//1", "/1//x", "/1/../x", "/./x", "/" + "k" * 1024]


@pytest.mark.parametrize(("where", "key"), [
    *((where, key) for where in ("url", "header", "form") for key in BAD_KEYS),
    ("url", "/a\tb"),  # control characters (an HTTP header cannot carry them)
    ("form", "/a\x01b"),
])
def test_malformed_or_too_long_key_is_400(ant, state, key, where):
    before = state()
    kwargs = {"url": {"key": key}, "header": {"headers": {"key": key}},
              "form": {"before": [("key", None, key)]}}[where]
    r = ant.upload2(b"x", **kwargs)
    assert status(r) == 400, r.text
    assert "key" in r.json()["message"]
    assert state() == before


def test_key_of_1024_bytes_is_accepted(ant):
    key = "/" + "k" * 1023
    assert ant.ok(ant.upload2(b"x", key=key))["key"] == key


def test_completed_key_over_1024_bytes_is_400(ant, state):
    before = state()
    r = ant.upload2(b"x", name="abc.txt", key="/" + "k" * 1018 + "/")  # 1020 + 7 > 1024
    assert status(r) == 400
    assert state() == before


def test_completion_needs_a_file_name(ant, state):
    before = state()
    r = ant.upload2(b"x", name="", key="/1/")
    assert status(r) == 400
    assert "file name" in r.json()["message"]
    assert state() == before


def test_key_form_field_after_the_file_is_400(ant, state):
    before = state()
    r = ant.upload2(b"x", after=[("key", None, "/1/late.txt")])
    assert status(r) == 400
    assert "must come before the file" in r.json()["message"]
    assert state() == before


# -- metadata ------------------------------------------------------------------------------------


def test_metadata_header_wins_over_form_field(ant):
    r = ant.upload2(b"x", key="/m", headers={"metadata": '{"from": "header"}'},
                    before=[("metadata", None, '{"from": "form"}')])
    assert ant.ok(r)["metadata"] == {"from": "header"}


def test_metadata_from_form_field(ant):
    assert ant.ok(ant.upload2(b"x", key="/m", before=[("metadata", None, '[1, "two"]')]))["metadata"] == [1, "two"]


def test_metadata_absent_is_an_empty_object(ant):
    assert ant.ok(ant.upload2(b"x", key="/m"))["metadata"] == {}


def test_metadata_form_field_after_the_file_is_400(ant, state):
    before = state()
    r = ant.upload2(b"x", key="/m", after=[("metadata", None, DOC_METADATA)])
    assert status(r) == 400
    assert "metadata form field must come before" in r.json()["message"]
    assert state() == before


@pytest.mark.parametrize("where", ["header", "form"])
@pytest.mark.parametrize(("value", "words"), [
    ("{not json", "not valid JSON"),
    (json.dumps({"k": "v" * 1020}), "longer than 1024"),
])
def test_bad_metadata_is_400(ant, state, where, value, words):
    before = state()
    kwargs = {"headers": {"metadata": value}} if where == "header" else {"before": [("metadata", None, value)]}
    r = ant.upload2(b"x", key="/m", **kwargs)
    assert status(r) == 400
    assert words in r.json()["message"]
    assert state() == before


def test_metadata_of_1024_bytes_is_accepted(ant):
    value = json.dumps({"k": "v" * (1024 - 9)})
    assert len(value) == 1024
    assert ant.ok(ant.upload2(b"x", key="/m", before=[("metadata", None, value)]))["metadata"]["k"].startswith("v")


def test_utf8_metadata_counts_bytes(ant, state):
    value = json.dumps({"k": "元" * 400}, ensure_ascii=False)  # 400 chars, 1200 bytes
    before = state()
    assert status(ant.upload2(b"x", key="/m", before=[("metadata", None, value)])) == 400
    assert state() == before


# -- expiretype ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 2, 3])
def test_expiretype_values(ant, value):
    assert ant.ok(ant.upload2(b"x", key="/e", expiretype=value))["expire_type"] == value


def test_expiretype_defaults_to_permanent(ant):
    assert ant.ok(ant.upload2(b"x", key="/e"))["expire_type"] == 0


@pytest.mark.parametrize("value", ["4", "-1", "a", "", "01", "1.0"])
def test_other_expiretype_is_400(ant, state, value):
    before = state()
    r = ant.upload2(b"x", key="/e", expiretype=value)
    assert status(r) == 400
    assert "expiretype" in r.json()["message"]
    assert state() == before


@pytest.mark.parametrize(("expiretype", "days"), [(1, 7), (2, 30), (3, 90)])
def test_cyclic_objects_expire_on_the_clock_and_are_gone_everywhere(ant, emu, expiretype, days):
    anchor = ant.ok(ant.upload2(b"anchor", key="/anchor"))
    obj = ant.ok(ant.upload2(b"cyclic", key="/cyc", expiretype=expiretype))
    ant.advance(days * 86400 - 1)
    assert ant.get("/files", obj_id=obj["obj_id"]).content == b"cyclic"
    assert ant.ok(ant.get("/fileinfo/cidsbyappid", obj_type=2)) == {"c_ids": [DOC_CID]}
    ant.advance(1)
    assert status(ant.get("/files", obj_id=obj["obj_id"])) == 404
    assert status(ant.get("/files", key="/cyc")) == 404
    assert status(ant.get("/fileinfo/infos", obj_id=obj["obj_id"])) == 404
    assert status(ant.get("/fileinfo/delete", key="/cyc")) == 404
    assert ant.ok(ant.get("/fileinfo/listbysort", obj_id=anchor["obj_id"], count=10)) == []
    assert ant.ok(ant.get("/fileinfo/cidsbyappid", obj_type=2)) == {"c_ids": []}
    assert [o["key"] for o in ant.objects()] == ["/anchor"]
    assert emu.blobs.stats()["blobs"] == 1  # the expired bytes are reclaimed


def test_permanent_objects_do_not_expire(ant):
    obj = ant.ok(ant.upload2(b"forever", key="/p"))
    ant.advance(400 * 86400)
    assert ant.get("/files", obj_id=obj["obj_id"]).content == b"forever"


# -- the same key again --------------------------------------------------------------------------


def test_upload_to_an_existing_key_replaces_the_object(ant, emu):
    first = ant.ok(ant.upload2(b"first version", key="/1/upload.txt"))
    ant.advance(60)
    second = ant.ok(ant.upload2(b"second version", key="/1/upload.txt", expiretype=1))
    assert second["obj_id"] > first["obj_id"]
    assert ant.get("/files", key="/1/upload.txt").content == b"second version"
    assert status(ant.get("/files", obj_id=first["obj_id"])) == 404
    assert ant.ok(ant.get("/fileinfo/infos", key="/1/upload.txt")) == second
    assert [o["obj_id"] for o in ant.objects()] == [second["obj_id"]]
    assert emu.blobs.stats()["blobs"] == 1  # the replaced bytes are released


# -- the multipart body --------------------------------------------------------------------------


def test_missing_file_is_400(ant, client, state):
    before = state()
    body, ctype = multipart([("metadata", None, "{}")])
    r = client.post("/upload2", params={"size": 0, "access_token": ant.token}, content=body,
                    headers={"content-type": ctype})
    assert status(r) == 400
    assert "file form field is missing" in r.json()["message"]
    assert state() == before


def test_two_file_parts_are_400(ant, state):
    before = state()
    r = ant.upload2(b"x", key="/two", after=[("file", "b.txt", b"x")])
    assert status(r) == 400
    assert state() == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_body_that_is_not_multipart_is_400(ant, client, state, content_type):
    before = state()
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/upload2", params={"size": 3, "access_token": ant.token}, content=b"abc", headers=headers)
    assert status(r) == 400
    assert state() == before


def test_truncated_multipart_body_is_400(ant, client, state):
    before = state()
    body, ctype = multipart([("file", "a.txt", b"abcdef")])
    r = client.post("/upload2", params={"size": 6, "access_token": ant.token}, content=body[:-30],
                    headers={"content-type": ctype})
    assert status(r) == 400
    assert state() == before


def test_unrelated_form_fields_are_ignored_in_any_position(ant):
    r = ant.upload2(b"x", key="/u", before=[("note", None, "a")], after=[("other", None, "b")])
    assert ant.ok(r)["key"] == "/u"


def test_file_sent_as_plain_field_has_an_empty_name(ant):
    body = ant.ok(ant.upload2(b"x", name=None, key="/plain"))
    assert body["name"] == ""


def test_multi_chunk_upload_streams_back_intact(ant):
    content = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32 + 7)  # > 3 chunks of 1 MiB
    obj = ant.ok(ant.upload2(content, key="/big.bin"))
    assert obj["file_size"] == len(content)
    r = ant.get("/files", obj_id=obj["obj_id"])
    assert r.content == content
    assert r.headers["content-length"] == str(len(content))


def test_other_token_cid_is_the_objects_c_id(ant):
    r = ant.upload2(b"x", key="/c", token=make_token(cid=42))
    assert ant.ok(r)["c_id"] == 42


# -- review additions ----------------------------------------------------------------------------


def test_final_key_serves_download_infos_and_delete(ant):
    """细节分析 5: the key the answer gives (completed or generated) is the one to use."""
    completed = ant.ok(ant.upload2(b"completed", name="2.txt", key="/1/"))
    generated = ant.ok(ant.upload2(b"generated", name="upload.txt"))
    for obj, content in ((completed, b"completed"), (generated, b"generated")):
        assert ant.get("/files", key=obj["key"]).content == content
        assert ant.ok(ant.get("/fileinfo/infos", key=obj["key"])) == obj
        assert ant.ok(ant.get("/fileinfo/delete", key=obj["key"]))["obj_id"] == obj["obj_id"]
    assert ant.objects() == []


@pytest.mark.parametrize("name", ["..", ".", "/abs.txt", "a//b.txt"])
def test_completion_that_breaks_the_key_format_is_400(ant, state, name):
    """A completed key obeys the key format too: "/1/" + ".." is no absolute path name."""
    before = state()
    for key in ("/1/", "/1/${filename}"):
        r = ant.upload2(b"x", name=name, key=key)
        assert status(r) == 400, r.text
        assert "completed with the file name" in r.json()["message"]
    assert state() == before


def test_file_name_with_a_path_completes_to_a_deeper_key(ant):
    assert ant.ok(ant.upload2(b"x", name="a/b.txt", key="/1/"))["key"] == "/1/a/b.txt"


def test_cycle_counts_from_the_answers_timestamp_on_a_fractional_clock(ant, client):
    """Gone at exactly timestamp + 7 days, even when the upload happened at .75 of a second."""
    client.post("/_emulator/clock", json={"set": DOC_TIME + 0.75})
    obj = ant.ok(ant.upload2(b"cyclic", key="/cyc", expiretype=1))
    assert obj["timestamp"] == DOC_TIME
    client.post("/_emulator/clock", json={"set": DOC_TIME + 7 * 86400 - 0.5})
    assert ant.get("/files", obj_id=obj["obj_id"]).content == b"cyclic"
    client.post("/_emulator/clock", json={"set": DOC_TIME + 7 * 86400})
    assert status(ant.get("/files", obj_id=obj["obj_id"])) == 404
    assert ant.objects() == []


def test_upload_is_streamed_with_the_declared_size_as_ceiling(client, app, emu, ant, state, monkeypatch):
    """The file is cut off while streaming once it passes the declared size (itself at most
    1 GiB): the store has seen at most one chunk past the limit when it refuses, not the body."""
    import asyncio

    import httpx

    stage = emu.blobs.stage
    seen: dict = {}
    sent = 0

    async def spy(chunks, *, max_size=None, observe=None):
        seen["max_size"] = max_size
        try:
            return await stage(chunks, max_size=max_size, observe=observe)
        except Exception:
            seen["sent_at_refusal"] = sent
            raise

    monkeypatch.setattr(emu.blobs, "stage", spy)
    chunk, total = 64 * 1024, 16 * 1024 * 1024
    body, ctype = multipart([("file", "big.bin", b"\0" * total)])

    async def pieces():
        nonlocal sent
        for i in range(0, len(body), chunk):
            sent += len(body[i:i + chunk])
            yield body[i:i + chunk]

    async def call(size):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            return await http.post("/upload2", params={"size": size, "access_token": ant.token, "key": "/s"},
                                   content=pieces(), headers={"content-type": ctype})

    before = state()
    r = asyncio.run(call(1000))
    assert status(r) == 400 and "larger than the declared size" in r.json()["message"]
    assert seen["max_size"] == 1000
    assert seen["sent_at_refusal"] <= 1000 + 1024 + 2 * chunk  # declared + multipart head + read-ahead
    assert sent == len(body)  # the rest was drained so the client got its answer
    assert state() == before
    sent = 0
    r = asyncio.run(call(1 << 30))  # 1 GiB declared: the ceiling handed to the store is 1 GiB
    assert status(r) == 400 and seen["max_size"] == 1 << 30
    assert state() == before


def test_unexpected_failure_is_500_in_the_envelope_and_changes_nothing(ant, state, emu, monkeypatch):
    ant.ok(ant.upload2(b"kept", key="/k"))
    before = state()

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(emu.blobs, "commit", boom)
    r = ant.upload2(b"new", key="/n")
    assert (status(r), r.json()) == (500, {"code": 500, "message": "系统内部错误"})
    r = ant.upload3({"channel_id": 0, "attachments": [{"form_field": "f"}]}, [("f", "f.txt", b"new")])
    assert (status(r), r.json()) == (500, {"code": 500, "message": "系统内部错误"})
    monkeypatch.undo()
    assert state() == before
    assert pending_blobs(emu) == 0  # the received bytes were discarded, not left staged


def pending_blobs(emu) -> int:
    from sqlalchemy import func, select

    from emulator.core.blobs import Blob

    with emu.db.session() as s:
        return s.execute(select(func.count(Blob.id)).where(Blob.state == "pending")).scalar_one()
