"""Inputs at the edges a fuzzer found: integers of thousands of digits in form and lenient
bodies, a page past any int64 offset, a search longer than SQLite's LIKE pattern limit.
Each is the vendor's answer (code 1 with the field's message, or an empty page) and leaves
the state as it was, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from pan123_support import md5

from emulator.apis.pan123.wire import INT64_MAX, INT64_MIN, int64

HUGE = "9" * 4301  # one digit more than Python's int() takes from a string
DATA = b"edge"
LIMITED = ("upload/v1/file/mkdir", "upload/v1/file/create", "api/v1/file/list")


@pytest.fixture(autouse=True)
def unlimited(pan):
    pan.config(qps=dict.fromkeys(LIMITED, 0), v2_slice_size=1000)


def test_int64_reads_ascii_digits_without_int_of_thousands_of_digits():
    assert int64(" 42 ") == 42 and int64("-7") == -7 and int64("+7") == 7 and int64("0" * 5000 + "7") == 7
    assert int64(str(INT64_MAX)) == INT64_MAX and int64(str(INT64_MIN)) == INT64_MIN
    for outside in (HUGE, "-" + HUGE, str(INT64_MAX + 1), str(INT64_MIN - 1)):
        assert not INT64_MIN <= int64(outside) <= INT64_MAX, outside
    for text in ("", "-", "1.5", "1e3", "1_000", "٣", "²", "0x10", "- 1"):
        assert int64(text) is None, text


def _v2_upload(pan) -> str:
    body = {"parentFileID": 0, "filename": "v.bin", "etag": md5(DATA * 300), "size": len(DATA) * 300}
    return pan.ok("/upload/v2/file/create", body)["preuploadID"]


# (method, path, fields with a HUGE number, the field): form/query/multipart fields are text.
FORM_CASES = [
    ("POST", "/upload/v1/oss/file/mkdir", {"name": "x", "parentID": "", "type": HUGE}, "type"),
    ("POST", "/upload/v1/oss/file/create",
     {"parentFileID": "", "filename": "a.jpg", "etag": md5(DATA), "size": HUGE, "type": "1"}, "size"),
    ("POST", "/upload/v1/oss/file/get_upload_url", {"preuploadID": "x", "sliceNo": HUGE}, "sliceNo"),
    ("POST", "/api/v1/oss/file/list", {"parentFileId": "", "limit": HUGE, "type": "1"}, "limit"),
    ("POST", "/upload/v1/file/create", {"parentFileID": "0", "filename": "a.bin", "etag": md5(DATA), "size": HUGE},
     "size"),
    ("POST", "/upload/v1/file/get_upload_url", {"preuploadID": "x", "sliceNo": HUGE}, "sliceNo"),
    ("GET", "/api/v2/file/list", {"parentFileId": "0", "limit": HUGE}, "limit"),
    ("GET", "/api/v1/file/list",
     {"parentFileId": "0", "page": HUGE, "limit": "10", "orderBy": "file_name", "orderDirection": "asc"}, "page"),
    ("POST", "/upload/v2/file/create", {"parentFileID": "0", "filename": "a.bin", "etag": md5(DATA), "size": HUGE},
     "size"),
    ("POST", "/upload/v2/file/sha1_reuse", {"parentFileID": "0", "filename": "a.bin", "sha1": "0" * 40,
                                            "size": HUGE}, "size"),
]


@pytest.mark.parametrize("sign", ["", "-"])
@pytest.mark.parametrize(("method", "path", "fields", "field"), FORM_CASES, ids=[c[1] for c in FORM_CASES])
def test_thousands_of_digits_in_a_form_field_are_out_of_range(client, pan, method, path, fields, field, sign):
    fields = {k: sign + v if v == HUGE else v for k, v in fields.items()}
    before = pan.state()
    if method == "GET":
        assert pan.err(path, method="GET", params=fields) == (1, f"{field}超出范围")
    else:  # a form body, and the same numbers as JSON strings (lenient bodies read them as text)
        assert pan.err(path, data=fields) == (1, f"{field}超出范围")
        if path.startswith("/upload/v2/"):
            assert pan.err(path, fields) == (1, f"{field}超出范围")
    assert pan.state() == before


def test_thousands_of_digits_in_multipart_fields_are_out_of_range(client, pan):
    pre = _v2_upload(pan)
    before = pan.state()
    piece = DATA * 250
    r = client.post("/upload/v2/file/slice", headers=pan.headers(),
                    data={"preuploadID": pre, "sliceNo": HUGE, "sliceMD5": md5(piece)},
                    files={"slice": ("v.bin.part1", piece, "application/octet-stream")})
    assert r.status_code == 200 and (r.json()["code"], r.json()["message"]) == (1, "sliceNo超出范围")
    r = client.post("/upload/v2/file/single/create", headers=pan.headers(),
                    data={"parentFileID": "0", "filename": "s.bin", "etag": md5(DATA), "size": HUGE},
                    files={"file": ("upload", DATA)})
    assert r.status_code == 200 and (r.json()["code"], r.json()["message"]) == (1, "size超出范围")
    assert pan.state() == before


def test_leading_zeros_and_a_form_index_of_thousands_of_digits(client, pan):
    """Go reads ``000…07`` as 7; a PHP-style index of any length only orders the list."""
    a = pan.ok("/upload/v1/file/mkdir", {"name": "a", "parentID": 0})["dirID"]
    b = pan.ok("/upload/v1/file/mkdir", {"name": "b", "parentID": 0})["dirID"]
    listed = pan.ok("/api/v2/file/list", method="GET", params={"parentFileId": "0", "limit": "0" * 5000 + "7"})
    assert [f["fileId"] for f in listed["fileList"]] == [a, b]
    got = pan.ok("/api/v1/file/infos", content=f"fileIds[{HUGE}]={a}&fileIds[0]={b}",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert [f["fileId"] for f in got["fileList"]] == [b, a]


@pytest.mark.parametrize(("page", "limit"), [(2**62, 10), (INT64_MAX, 100), (INT64_MAX // 100 + 2, 100), (3, 2)])
def test_v1_list_page_past_the_end_is_empty_whatever_its_offset(client, pan, page, limit):
    for name in ("a", "b", "c"):
        pan.ok("/upload/v1/file/mkdir", {"name": name, "parentID": 0})
    before = pan.state()
    body = {"parentFileId": 0, "page": page, "limit": limit, "orderBy": "file_name", "orderDirection": "asc"}
    assert pan.ok("/api/v1/file/list", body, method="GET") == {"total": 3, "fileList": []}
    assert pan.state() == before
    assert len(pan.ok("/api/v1/file/list", {**body, "page": 2, "limit": 2}, method="GET")["fileList"]) == 1


def _v1(pan, search: str) -> list[str]:
    body = {"parentFileId": 0, "page": 1, "limit": 100, "orderBy": "file_name", "orderDirection": "asc",
            "searchData": search}
    return [f["filename"] for f in pan.ok("/api/v1/file/list", body, method="GET")["fileList"]]


def _v2(pan, search: str, mode: int = 0) -> list[str]:
    body = {"parentFileId": 0, "limit": 100, "searchData": search, "searchMode": mode}
    return [f["filename"] for f in pan.ok("/api/v2/file/list", body, method="GET")["fileList"]]


def test_search_longer_than_sqlites_like_limit_matches_nothing(client, pan):
    for name in ("a_b", "axb", "Report 100%"):
        pan.ok("/upload/v1/file/mkdir", {"name": name, "parentID": 0})
    before = pan.state()
    for long in ("a" * 70_000, "é" * 30_000):  # characters, and bytes, past SQLite's 50,000-byte pattern
        assert _v1(pan, long) == [] and _v2(pan, long) == [] and _v2(pan, long, mode=1) == []
    assert pan.state() == before
    # a search is a substring, case aside; ``_`` and ``%`` are characters to find, not wildcards
    assert _v1(pan, "A") == ["a_b", "axb"] and _v2(pan, "X") == ["axb"] and _v2(pan, "report") == ["Report 100%"]
    assert _v1(pan, "_") == ["a_b"] and _v2(pan, "_") == ["a_b"]
    assert _v1(pan, "0%") == ["Report 100%"] and _v2(pan, "%") == ["Report 100%"]
    assert _v2(pan, "a_b", mode=1) == ["a_b"] and _v2(pan, "a", mode=1) == []
