"""upload3 (antelope-object-storage.md §2.1) and the event feed /v2/events (§2.2)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from antelope_kit import APP_ID, APP_KEY, DOC_MESSAGE, Antelope, make_token, multipart

from emulator.app import create_app
from emulator.settings import Settings

GUISTUB = b"MZ guistub " * 100
LASTRITES = b"MZ lastrites " * 77


def doc_event(ant: Antelope) -> None:
    """The document's upload3 example, with real files in its two parts."""
    r = ant.upload3(
        DOC_MESSAGE, [("first_object", "guistub.exe", GUISTUB), ("second_object", "lastrites.exe", LASTRITES)]
    )
    assert r.status_code == 200, r.text
    assert r.content == b""


def simple(channel: int = 0, **attachment) -> dict:
    return {"channel_id": channel, "subject": "s", "body": {"n": 1},
            "attachments": [{"form_field": "f", "expiretype": 0, **attachment}]}


# -- the document's example and the round trip ------------------------------------------------


def test_document_example_is_rewritten_and_queued(ant):
    doc_event(ant)
    feed = ant.ok(ant.events(channel_id=0, size=10))
    assert feed["offset"] == 0
    assert re.fullmatch(r"[0-9a-f]{32}", feed["request_id"])
    [event] = feed["events"]
    second = event["attachments"][1]
    second_obj = second["key"].split("_", 1)[0]
    assert re.fullmatch(r"[0-9a-f]{24}", second_obj)
    assert second["key"] == f"{second_obj}_lastrites.exe"
    assert event == {
        "channelid": 0,
        "subject": "",
        "body": {},
        "attachments": [
            {
                "form_field": "first_object",
                "key": "/1/upload.txt",
                "area_id": 1,
                "metadata": {},
                "url": f"http://testserver/files?KeyID=/1/upload.txt&access_token={ant.token}",
                "file_name": "guistub.exe",
                "expiretype": 1,
            },
            {
                "form_field": "second_object",
                "key": second["key"],
                "area_id": 1,
                "metadata": {},
                "url": f"http://testserver/files?KeyID={second['key']}&access_token={ant.token}",
                "file_name": "lastrites.exe",
                "expiretype": 0,
            },
        ],
    }
    # the attachments are ordinary objects of the app
    objects = {o["key"]: o for o in ant.objects()}
    assert objects["/1/upload.txt"]["expire_type"] == 1
    assert objects["/1/upload.txt"]["file_id"] == hashlib.sha1(GUISTUB).hexdigest()
    assert objects[second["key"]]["obj_id"] == second_obj
    assert objects[second["key"]]["name"] == "lastrites.exe"


def test_round_trip_upload3_events_download_through_the_event_url(ant, client):
    doc_event(ant)
    event = ant.ok(ant.events(channel_id=0, size=1))["events"][0]
    for attachment, content in zip(event["attachments"], (GUISTUB, LASTRITES), strict=True):
        r = client.get(attachment["url"])
        assert r.status_code == 200
        assert r.content == content
        assert attachment["file_name"] in r.headers["content-disposition"]


def test_attachment_of_the_event_expires_with_its_cycle(ant, client):
    doc_event(ant)
    first, second = ant.ok(ant.events())["events"][0]["attachments"]
    ant.advance(7 * 86400)
    assert client.get(first["url"]).status_code == 404  # expiretype 1: 7 days
    assert client.get(second["url"]).status_code == 200
    assert len(ant.ok(ant.events())["events"]) == 1  # the event itself stays in the channel


def test_live_server_round_trip(live_server):
    import httpx

    with httpx.Client(base_url=live_server.url) as http:
        ant = Antelope(http, token=make_token(expire=2**32 - 1))
        assert ant.upload3(simple(3), [("f", "cam.jpg", b"\xff\xd8jpeg")]).status_code == 200
        event = ant.ok(ant.events(channel_id=3, size=5))["events"][0]
        url = event["attachments"][0]["url"]
        assert url.startswith(live_server.url + "/files?KeyID=")
        r = http.get(url)
        assert (r.status_code, r.content, r.headers["content-type"]) == (200, b"\xff\xd8jpeg", "image/jpeg")


def test_urls_use_the_public_url_setting(tmp_path):
    from fastapi.testclient import TestClient

    app = create_app(Settings(database_url="sqlite://", public_url="http://emulator:8080"))
    with TestClient(app) as c:
        ant = Antelope(c, token=make_token(expire=2**32 - 1))
        assert ant.upload3(simple(key="/k/${filename}"), [("f", "a b&c.txt", b"x")]).status_code == 200
        url = ant.ok(ant.events())["events"][0]["attachments"][0]["url"]
        assert url == f"http://emulator:8080/files?KeyID=/k/a%20b%26c.txt&access_token={ant.token}"
        assert c.get(url.replace("http://emulator:8080", "")).content == b"x"
    app.state.emulator.close()


# -- the message ---------------------------------------------------------------------------------


def test_message_must_be_the_first_form_field(ant, state):
    before = state()
    body, ctype = multipart([("f", "a.txt", b"x"), ("message", None, json.dumps(simple()))])
    r = ant.http.post("/upload3", params={"access_token": ant.token}, content=body, headers={"content-type": ctype})
    assert r.status_code == 400
    assert "first form field must be message" in r.json()["message"]
    r = ant.upload3(simple(), [("f", "a.txt", b"x")], before=[("note", None, "hi")])
    assert r.status_code == 400
    assert state() == before


def test_message_missing_is_400(ant, state):
    before = state()
    body, ctype = multipart([])
    r = ant.http.post("/upload3", params={"access_token": ant.token}, content=body, headers={"content-type": ctype})
    assert r.status_code == 400
    assert state() == before


def test_message_may_be_sent_as_a_file_part(ant):
    """requests' files={"message": json.dumps(...)} gives the part a file name."""
    body, ctype = multipart([("message", "message", json.dumps(simple())), ("f", "a.txt", b"x")])
    r = ant.http.post("/upload3", params={"access_token": ant.token}, content=body, headers={"content-type": ctype})
    assert r.status_code == 200, r.text


def test_message_of_4k_is_accepted_and_over_4k_is_400(ant, state):
    message = simple()
    message["subject"] = ""
    base = len(json.dumps(message).encode())
    message["subject"] = "s" * (4096 - base)
    assert len(json.dumps(message).encode()) == 4096
    assert ant.upload3(message, [("f", "a.txt", b"x")]).status_code == 200
    before = state()
    message["subject"] += "s"
    r = ant.upload3(message, [("f", "a.txt", b"x")])
    assert r.status_code == 400
    assert state() == before


@pytest.mark.parametrize(("message", "words"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ({"subject": "no channel"}, "channel_id is required"),
    ({"channel_id": 16}, "0-15"),
    ({"channel_id": -1}, "0-15"),
    ({"channel_id": "1"}, "0-15"),
    ({"channel_id": 1.5}, "0-15"),
    ({"channel_id": True}, "0-15"),
    ({"channel_id": 0, "attachments": {}}, "array"),
    ({"channel_id": 0, "attachments": ["f"]}, "must be an object"),
    ({"channel_id": 0, "attachments": [{"key": "/k"}]}, "form_field"),
    ({"channel_id": 0, "attachments": [{"form_field": "f"}, {"form_field": "f"}]}, "used twice"),
    ({"channel_id": 0, "attachments": [{"form_field": "f", "expiretype": 4}]}, "expiretype"),
    ({"channel_id": 0, "attachments": [{"form_field": "f", "expiretype": "1"}]}, "expiretype"),
    ({"channel_id": 0, "attachments": [{"form_field": "f", "key": "relative/key"}]}, "absolute path"),
    ({"channel_id": 0, "attachments": [{"form_field": "f", "key": "/" + "k" * 1024}]}, "1024"),
    ({"channel_id": 0, "attachments": [{"form_field": "f", "key": 5}]}, "key must be a string"),
    ({"channel_id": 0, "attachments": [{"form_field": "f", "metadata": {"k": "v" * 1020}}]}, "1024"),
    ({"channel_id": 0, "attachments": [{"form_field": "f", "file_name": 3}]}, "file_name"),
    ({"channel_id": 0, "attachments": [{"form_field": "g"}]}, "no form field holds attachment 'g'"),
])
def test_bad_messages_are_400_with_no_state_change(ant, state, message, words):
    before = state()
    r = ant.upload3(message, [("f", "a.txt", b"x")])
    assert r.status_code == 400, r.text
    assert words in r.json()["message"]
    assert state() == before


def test_attachment_part_twice_is_400(ant, state):
    before = state()
    r = ant.upload3(simple(), [("f", "a.txt", b"x"), ("f", "b.txt", b"y")])
    assert r.status_code == 400
    assert state() == before


def test_two_attachments_resolving_to_one_key_are_400(ant, state):
    before = state()
    message = {"channel_id": 0, "attachments": [{"form_field": "a", "key": "/d/"}, {"form_field": "b", "key": "/d/"}]}
    r = ant.upload3(message, [("a", "same.txt", b"1"), ("b", "same.txt", b"2")])
    assert r.status_code == 400
    assert state() == before


def test_attachment_over_50_mib_is_400_and_50_mib_is_accepted(ant, state):
    limit = 50 * 1024 * 1024
    message = {"channel_id": 0, "attachments": [{"form_field": "small"}, {"form_field": "big"}]}
    before = state()
    r = ant.upload3(message, [("small", "s.txt", b"s"), ("big", "big.bin", b"\0" * (limit + 1))])
    assert r.status_code == 400
    assert "larger than 52428800" in r.json()["message"]
    assert state() == before  # the first attachment, already received, is not kept either
    assert ant.upload3(message, [("small", "s.txt", b"s"), ("big", "big.bin", b"\0" * limit)]).status_code == 200
    sizes = sorted(o["file_size"] for o in ant.objects())
    assert sizes == [1, limit]


def test_attachment_keys_follow_upload2_rules(ant):
    message = {"channel_id": 2, "attachments": [
        {"form_field": "a", "key": "/1/"},
        {"form_field": "b", "key": "/1/${filename}"},
        {"form_field": "c", "key": "/1"},
        {"form_field": "d"},
        {"form_field": "e", "key": "/x/", "file_name": "given.jpg"},
    ]}
    files = [("a", "a.txt", b"a"), ("b", "b.txt", b"b"), ("c", "c.txt", b"c"), ("d", "d.txt", b"d"),
             ("e", "upload.bin", b"e")]
    assert ant.upload3(message, files).status_code == 200
    got = ant.ok(ant.events(channel_id=2))["events"][0]["attachments"]
    keys = [a["key"] for a in got]
    assert keys[:3] == ["/1/a.txt", "/1/b.txt", "/1"]
    assert re.fullmatch(r"[0-9a-f]{24}_d\.txt", keys[3])
    assert keys[4] == "/x/given.jpg"  # the client's file_name names the object
    assert [a["file_name"] for a in got] == ["a.txt", "b.txt", "c.txt", "d.txt", "given.jpg"]
    assert [a["expiretype"] for a in got] == [0] * 5  # default when omitted


def test_metadata_and_extra_fields_are_kept(ant):
    message = {"channel_id": 1, "topic_id": 9, "subject": "motion", "body": {"camera": "front"},
               "attachments": [{"form_field": "f", "metadata": {"K1": "V1"}, "note": "x", "url": "ignored",
                                "area_id": 99}]}
    assert ant.upload3(message, [("f", "p.jpg", b"jpg")]).status_code == 200
    event = ant.ok(ant.events(channel_id=1))["events"][0]
    assert event["topic_id"] == 9 and "channel_id" not in event
    assert (event["channelid"], event["subject"], event["body"]) == (1, "motion", {"camera": "front"})
    a = event["attachments"][0]
    assert (a["metadata"], a["note"], a["area_id"]) == ({"K1": "V1"}, "x", 1)
    assert a["url"].startswith("http://testserver/files?KeyID=")
    obj = ant.ok(ant.get("/fileinfo/infos", key=a["key"]))
    assert obj["metadata"] == {"K1": "V1"}


def test_event_without_attachments_is_queued(ant):
    assert ant.upload3({"channel_id": 4, "subject": "ping"}).status_code == 200
    assert ant.ok(ant.events(channel_id=4))["events"] == [{"channelid": 4, "subject": "ping", "body": {},
                                                            "attachments": []}]


def test_form_fields_no_attachment_names_are_ignored(ant):
    r = ant.upload3(simple(), [("stray", "s.txt", b"s"), ("f", "a.txt", b"x"), ("after", None, "z")])
    assert r.status_code == 200
    assert [o["name"] for o in ant.objects()] == ["a.txt"]


# -- /v2/events ------------------------------------------------------------------------------------


def test_document_request_example(ant, client):
    """GET /v2/events?channel_id=1&size=10&offset=42 with the document's headers answers the
    events from offset 42 and "offset": 45 when the channel holds 46 events."""
    client.post(
        "/_emulator/fixtures", json={"antelope": [{"app_id": "Test", "app_key": "mock-app-key-use-your-own-pls"}]}
    )
    token = make_token(key="mock-app-key-use-your-own-pls")
    other = Antelope(client, token=token)
    for i in range(46):
        assert other.upload3({"channel_id": 1, "subject": str(i)}).status_code == 200
    r = client.get("/v2/events?channel_id=1&size=10&offset=42",
                   headers={"X-APP-ID": "Test", "X-APP-Key": "mock-app-key-use-your-own-pls",
                            "Cache-Control": "no-cache"})
    body = ant.ok(r)
    assert [e["subject"] for e in body["events"]] == ["42", "43", "44", "45"]
    assert body["offset"] == 45
    assert all(e["channelid"] == 1 for e in body["events"])


def test_paging_with_offset_plus_one(ant):
    for i in range(5):
        assert ant.upload3({"channel_id": 7, "subject": str(i)}).status_code == 200
    seen, offset = [], None
    for _ in range(3):
        page = ant.ok(ant.events(channel_id=7, size=2, offset=offset))
        seen += [e["subject"] for e in page["events"]]
        offset = page["offset"] + 1
    assert seen == ["0", "1", "2", "3", "4"]
    empty = ant.ok(ant.events(channel_id=7, size=2, offset=offset))
    assert empty["events"] == [] and empty["offset"] == offset - 1  # asking offset+1 again waits for the next
    assert ant.upload3({"channel_id": 7, "subject": "5"}).status_code == 200
    after = ant.ok(ant.events(channel_id=7, size=2, offset=empty["offset"] + 1))["events"]
    assert [e["subject"] for e in after] == ["5"]


def test_default_offset_is_the_earliest(ant):
    assert ant.ok(ant.events(channel_id=5)) | {"request_id": None} == {"events": [], "offset": -1, "request_id": None}
    for i in range(3):
        ant.upload3({"channel_id": 5, "subject": str(i)})
    page = ant.ok(ant.events(channel_id=5, size=100))
    assert [e["subject"] for e in page["events"]] == ["0", "1", "2"] and page["offset"] == 2


def test_channels_and_apps_are_separate_queues(ant, client):
    client.post("/_emulator/fixtures", json={"antelope": [{"app_id": "Other", "app_key": "other-key"}]})
    other = Antelope(client, token=make_token(key="other-key"))
    ant.upload3({"channel_id": 0, "subject": "test-0"})
    ant.upload3({"channel_id": 15, "subject": "test-15"})
    other.upload3({"channel_id": 0, "subject": "other-0"})
    assert [e["subject"] for e in ant.ok(ant.events(channel_id=0))["events"]] == ["test-0"]
    assert [e["subject"] for e in ant.ok(ant.events(channel_id=15))["events"]] == ["test-15"]
    page = ant.ok(ant.events(channel_id=0, app=("Other", "other-key")))
    assert ([e["subject"] for e in page["events"]], page["offset"]) == (["other-0"], 0)


def test_request_ids_differ(ant):
    assert ant.ok(ant.events())["request_id"] != ant.ok(ant.events())["request_id"]


@pytest.mark.parametrize("creds", [(APP_ID, "wrong"), ("Nope", APP_KEY), ("", ""), (APP_ID, "")])
def test_wrong_app_credentials_are_401(ant, creds):
    r = ant.events(app=creds)
    assert r.status_code == 401
    assert r.json()["code"] == 401


def test_missing_app_headers_are_401(ant, client):
    assert client.get("/v2/events", params={"channel_id": 0, "size": 1}).status_code == 401
    r = client.get("/v2/events", params={"channel_id": 0, "size": 1}, headers={"X-APP-ID": APP_ID})
    assert r.status_code == 401


@pytest.mark.parametrize(("params", "expected"), [
    ({"size": 10}, 400),  # channel_id missing
    ({"channel_id": 16, "size": 10}, 400),
    ({"channel_id": -1, "size": 10}, 400),
    ({"channel_id": "a", "size": 10}, 400),
    ({"channel_id": 0}, 400),  # size missing
    ({"channel_id": 0, "size": 0}, 400),
    ({"channel_id": 0, "size": "x"}, 400),
    ({"channel_id": 0, "size": 101}, 406),
    ({"channel_id": 0, "size": 1000}, 406),
    ({"channel_id": 0, "size": 10, "offset": -1}, 400),
    ({"channel_id": 0, "size": 10, "offset": "z"}, 400),
    ({"channel_id": 0, "size": 10, "offset": 2**63}, 400),  # past a 64-bit Kafka offset (was a 500)
    ({"channel_id": 0, "size": 10, "offset": "9" * 30}, 400),
])
def test_bad_feed_parameters(ant, client, params, expected):
    r = client.get("/v2/events", params=params, headers={"X-APP-ID": APP_ID, "X-APP-Key": APP_KEY})
    assert r.status_code == expected
    assert r.json()["code"] == expected


@pytest.mark.parametrize(("params", "expected", "words"), [
    ({"channel_id": 0, "size": 10, "offset": "9" * 4301}, 400, "at most 9223372036854775807"),
    ({"channel_id": 0, "size": 10, "offset": "-" + "9" * 4301}, 400, "must not be negative"),
    ({"channel_id": 0, "size": "9" * 4301}, 406, "is over 100"),  # as any other size over 100
    ({"channel_id": 0, "size": "-" + "9" * 4301}, 400, "at least 1"),
    ({"channel_id": "9" * 4301, "size": 10}, 400, "within 0-15"),
    ({"channel_id": 0, "size": 10, "offset": "0" * 4400 + "1"}, 200, None),  # the number 1
    ({"channel_id": 0, "size": 10, "offset": "--1"}, 400, "must be an integer"),
    ({"channel_id": 0, "size": 10, "offset": "\u00b2"}, 400, "must be an integer"),
])
def test_feed_numbers_of_thousands_of_digits_get_the_parameter_error_not_a_500(ant, client, state, params,
                                                                              expected, words):
    ant.upload3(simple())
    before = state()
    r = client.get("/v2/events", params=params, headers={"X-APP-ID": APP_ID, "X-APP-Key": APP_KEY})
    assert r.status_code == expected, r.text
    if words is None:
        assert r.json()["offset"] == 0  # one event at offset 0, none from offset 1 on
    else:
        assert r.json()["code"] == expected and words in r.json()["message"]
        assert len(r.json()["message"]) < 300
    assert state() == before


def test_size_100_is_the_maximum_page(ant):
    for i in range(101):
        ant.upload3({"channel_id": 9, "subject": str(i)})
    page = ant.ok(ant.events(channel_id=9, size=100))
    assert len(page["events"]) == 100 and page["offset"] == 99


def test_journal_tags_the_feed_with_the_app(ant, client):
    client.delete("/_emulator/requests")
    ant.events()
    ant.events(app=(APP_ID, "wrong"))
    ok, refused = client.get("/_emulator/requests", params={"api": "antelope"}).json()
    assert ok["tenant"] == "Test"
    assert "does not match" in refused["reason"]
    assert "wrong" not in json.dumps(refused)


def test_largest_64_bit_offset_answers_no_events(ant):
    ant.upload3({"channel_id": 0, "subject": "x"})
    page = ant.ok(ant.events(channel_id=0, size=10, offset=2**63 - 1))
    assert (page["events"], page["offset"]) == ([], 2**63 - 2)
