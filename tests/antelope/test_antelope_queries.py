"""Download (§3), delete (§4), infos (§5), listbysort (§6), cidsbyappid (§7) and who sees what."""

from __future__ import annotations

import json

import pytest
from antelope_kit import DOC_CID, DOC_METADATA, Antelope, make_token

UNKNOWN_OBJ = "59243ae1000f50ff01002827"  # the document's example obj_id


def status(r) -> int:
    return r.status_code


# -- /files -------------------------------------------------------------------------------------


def test_download_by_obj_id_key_and_keyid(ant):
    obj = ant.ok(ant.upload2(b"content", name="guimain.exe", key="/1/upload.txt",
                             before=[("metadata", None, DOC_METADATA)]))
    for params in ({"obj_id": obj["obj_id"]}, {"key": "/1/upload.txt"}, {"KeyID": "/1/upload.txt"}):
        r = ant.get("/files", **params)
        assert (r.status_code, r.content) == (200, b"content")
        assert r.headers["content-length"] == "7"
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"] == "inline; filename=\"guimain.exe\"; filename*=UTF-8''guimain.exe"
        assert json.loads(r.headers["metadata"]) == {"K1": "V1", "K2": 2, "K3": {"K3_1": "K3_1", "K3_2": 32}}


def test_document_download_example_obj_id_wins_over_key(ant):
    a = ant.ok(ant.upload2(b"object a", key="/1/upload.txt"))
    ant.ok(ant.upload2(b"object b", key="/1/other.txt"))
    r = ant.get("/files", key="/1/other.txt", obj_id=a["obj_id"])
    assert r.content == b"object a"
    # an unknown obj_id is not rescued by a good key
    assert status(ant.get("/files", key="/1/other.txt", obj_id=UNKNOWN_OBJ)) == 404


def test_content_type_and_disposition_follow_the_name(ant):
    ant.ok(ant.upload2(b"\x89PNG", name="图片 1.png", key="/p"))
    r = ant.get("/files", key="/p")
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"] == (
        "inline; filename=\"__ 1.png\"; filename*=UTF-8''%E5%9B%BE%E7%89%87%201.png")
    ant.ok(ant.upload2(b"?", name="", key="/dir/data"))
    r = ant.get("/files", key="/dir/data")
    assert r.headers["content-type"] == "application/octet-stream"
    assert "filename=\"data\"" in r.headers["content-disposition"]


@pytest.mark.parametrize(("params", "expected"), [
    ({"obj_id": UNKNOWN_OBJ}, 404),
    ({"key": "/no/such"}, 404),
    ({"KeyID": "/no/such"}, 404),
    ({"obj_id": "xyz"}, 400),
    ({"obj_id": "59243ae1000f50ff0100282"}, 400),  # 23 digits
    ({"obj_id": UNKNOWN_OBJ + "\n"}, 400),  # 24 hex digits and nothing after them
    ({}, 400),
    ({"obj_id": "", "key": ""}, 400),
])
def test_download_errors(ant, state, params, expected):
    ant.ok(ant.upload2(b"x", key="/exists"))
    before = state()
    r = ant.get("/files", **params)
    assert status(r) == expected
    assert r.json()["code"] == expected
    assert state() == before


# -- /fileinfo/delete ------------------------------------------------------------------------------


def test_delete_permanent_object_answers_the_documented_shape(ant, emu):
    obj = ant.ok(ant.upload2(b"x", key="/1/upload.txt"))
    r = ant.get("/fileinfo/delete", key="/1/upload.txt1", obj_id=obj["obj_id"])  # the example's query; obj_id wins
    assert ant.ok(r) == {"c_id": DOC_CID, "deleted": True, "key": "/1/upload.txt", "obj_id": obj["obj_id"]}
    assert status(ant.get("/files", obj_id=obj["obj_id"])) == 404
    assert status(ant.get("/fileinfo/delete", obj_id=obj["obj_id"])) == 404
    assert emu.blobs.stats()["blobs"] == 0


def test_delete_by_key(ant):
    obj = ant.ok(ant.upload2(b"x", key="/k"))
    assert ant.ok(ant.get("/fileinfo/delete", key="/k"))["obj_id"] == obj["obj_id"]
    assert ant.objects() == []


@pytest.mark.parametrize("expiretype", [1, 2, 3])
def test_delete_of_a_cyclic_object_answers_deleted_false_and_keeps_it(ant, state, expiretype):
    obj = ant.ok(ant.upload2(b"cyclic", key="/c", expiretype=expiretype, token=make_token(cid=77)))
    before = state()
    r = ant.get("/fileinfo/delete", obj_id=obj["obj_id"])
    assert ant.ok(r) == {"c_id": 77, "deleted": False, "key": "/c", "obj_id": obj["obj_id"]}
    assert state() == before
    assert ant.get("/files", key="/c").content == b"cyclic"


@pytest.mark.parametrize(("params", "expected"), [
    ({"obj_id": UNKNOWN_OBJ}, 404), ({"key": "/nope"}, 404), ({"obj_id": "bad"}, 400), ({}, 400)])
def test_delete_errors(ant, state, params, expected):
    ant.ok(ant.upload2(b"x", key="/exists"))
    before = state()
    assert status(ant.get("/fileinfo/delete", **params)) == expected
    assert state() == before


# -- /fileinfo/infos -------------------------------------------------------------------------------


def test_infos_is_the_upload_answer(ant):
    obj = ant.ok(ant.upload2(b"x" * 10, key="/1/upload.txt", expiretype=1, before=[("metadata", None, DOC_METADATA)]))
    assert ant.ok(ant.get("/fileinfo/infos", obj_id=obj["obj_id"], key="/1/upload.txt")) == obj
    assert ant.ok(ant.get("/fileinfo/infos", key="/1/upload.txt")) == obj
    other = ant.ok(ant.upload2(b"y", key="/other"))
    assert ant.ok(ant.get("/fileinfo/infos", obj_id=other["obj_id"], key="/1/upload.txt")) == other


@pytest.mark.parametrize(("params", "expected"), [
    ({"obj_id": UNKNOWN_OBJ}, 404), ({"key": "/nope"}, 404), ({"obj_id": "bad"}, 400), ({}, 400)])
def test_infos_errors(ant, params, expected):
    assert status(ant.get("/fileinfo/infos", **params)) == expected


# -- /fileinfo/listbysort ---------------------------------------------------------------------------


def uploads(ant: Antelope, keys: list[str]) -> list[dict]:
    out = []
    for key in keys:
        out.append(ant.ok(ant.upload2(key.encode(), key=key, before=[("metadata", None, DOC_METADATA)])))
        ant.advance(9)
    return out


def test_document_listbysort_example(ant):
    first, one, two = uploads(ant, ["/1/upload.txt", "/1/upload1.txt", "/1/upload2.txt"])
    r = ant.get("/fileinfo/listbysort", obj_id=first["obj_id"], key="/1/upload.txt", count=10)
    assert ant.ok(r) == [one, two]


def test_listbysort_is_exclusive_ordered_and_counted(ant):
    objs = uploads(ant, [f"/{i}" for i in range(6)])
    assert ant.ok(ant.get("/fileinfo/listbysort", obj_id=objs[1]["obj_id"], count=2)) == objs[2:4]
    assert ant.ok(ant.get("/fileinfo/listbysort", key="/3", count=200)) == objs[4:]
    assert ant.ok(ant.get("/fileinfo/listbysort", key="/5", count=1)) == []


def test_listbysort_anchor_obj_id_need_not_exist_any_more(ant):
    objs = uploads(ant, ["/a", "/b", "/c"])
    ant.ok(ant.get("/fileinfo/delete", obj_id=objs[0]["obj_id"]))
    assert ant.ok(ant.get("/fileinfo/listbysort", obj_id=objs[0]["obj_id"], count=5)) == objs[1:]
    assert ant.ok(ant.get("/fileinfo/listbysort", obj_id="0" * 24, count=5)) == objs[1:]


@pytest.mark.parametrize(("params", "expected"), [
    ({"key": "/a", "count": 0}, 400),
    ({"key": "/a", "count": 201}, 400),
    ({"key": "/a", "count": -1}, 400),
    ({"key": "/a", "count": "x"}, 400),
    ({"key": "/a"}, 400),
    ({"count": 5}, 400),
    ({"obj_id": "nothex", "count": 5}, 400),
    ({"key": "/nope", "count": 5}, 404),
])
def test_listbysort_errors(ant, params, expected):
    uploads(ant, ["/a"])
    assert status(ant.get("/fileinfo/listbysort", **params)) == expected


@pytest.mark.parametrize("count", ["9" * 4301, "-" + "9" * 4301, "\u00b2"])
def test_listbysort_count_of_thousands_of_digits_is_400_not_500(ant, state, count):
    uploads(ant, ["/a"])
    before = state()
    r = ant.get("/fileinfo/listbysort", key="/a", count=count)
    assert status(r) == 400, r.text
    assert "count" in r.json()["message"]
    assert state() == before


# -- /fileinfo/cidsbyappid --------------------------------------------------------------------------


def test_cids_holding_permanent_and_cyclic_objects(ant):
    ant.ok(ant.upload2(b"1", key="/a", token=make_token(cid=1003775)))
    ant.ok(ant.upload2(b"2", key="/b", token=make_token(cid=1003776)))
    ant.ok(ant.upload2(b"3", key="/c", token=make_token(cid=1003776), expiretype=2))
    ant.ok(ant.upload2(b"4", key="/d", token=make_token(cid=1003777), expiretype=1))
    ant.ok(ant.upload2(b"5", key="/e", token=make_token(cid=1003775)))
    assert ant.ok(ant.get("/fileinfo/cidsbyappid", obj_type=1)) == {"c_ids": [1003775, 1003776]}
    assert ant.ok(ant.get("/fileinfo/cidsbyappid", obj_type=2)) == {"c_ids": [1003776, 1003777]}
    ant.advance(7 * 86400)
    assert ant.ok(ant.get("/fileinfo/cidsbyappid", obj_type=2)) == {"c_ids": [1003776]}


@pytest.mark.parametrize("obj_type", [None, "0", "3", "a", ""])
def test_cidsbyappid_needs_obj_type_1_or_2(ant, obj_type):
    params = {} if obj_type is None else {"obj_type": obj_type}
    assert status(ant.get("/fileinfo/cidsbyappid", **params)) == 400


# -- visibility ------------------------------------------------------------------------------------


def test_objects_are_visible_to_every_cid_of_the_app(ant):
    obj = ant.ok(ant.upload2(b"shared", key="/s", token=make_token(cid=1)))
    other_cid = make_token(cid=2)
    assert ant.get("/files", token=other_cid, obj_id=obj["obj_id"]).content == b"shared"
    assert ant.ok(ant.get("/fileinfo/infos", token=other_cid, key="/s"))["c_id"] == 1


def test_apps_never_see_each_others_objects(ant, client):
    client.post("/_emulator/fixtures", json={"antelope": [{"app_id": "Other", "app_key": "other-key"}]})
    other = make_token(key="other-key")
    obj = ant.ok(ant.upload2(b"mine", key="/1/upload.txt"))
    anchor = "0" * 24
    assert status(ant.get("/files", token=other, obj_id=obj["obj_id"])) == 404
    assert status(ant.get("/files", token=other, key="/1/upload.txt")) == 404
    assert status(ant.get("/fileinfo/infos", token=other, obj_id=obj["obj_id"])) == 404
    assert status(ant.get("/fileinfo/delete", token=other, obj_id=obj["obj_id"])) == 404
    assert ant.ok(ant.get("/fileinfo/listbysort", token=other, obj_id=anchor, count=10)) == []
    assert ant.ok(ant.get("/fileinfo/cidsbyappid", token=other, obj_type=1)) == {"c_ids": []}
    # the same key in another app is another object
    theirs = ant.ok(ant.upload2(b"theirs", key="/1/upload.txt", token=other))
    assert theirs["app_id"] == "Other"
    assert ant.get("/files", key="/1/upload.txt").content == b"mine"
    assert ant.get("/files", token=other, key="/1/upload.txt").content == b"theirs"


def test_reset_drops_objects_and_events(ant, client, emu):
    ant.ok(ant.upload2(b"x", key="/r"))
    ant.upload3({"channel_id": 0})
    client.post("/_emulator/reset")
    assert ant.objects() == [] and ant.all_events() == []
    assert emu.blobs.stats()["blobs"] == 0
