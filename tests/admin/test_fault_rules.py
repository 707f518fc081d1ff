"""GET/POST/DELETE /_emulator/faults: shapes, counters, validation (400, nothing stored),
and that admin paths are never faulted. What the rules do: tests/core/test_faults.py."""

from __future__ import annotations

import pytest
from fault_kit import Kit, jpush_auth


def rules(client) -> list[dict]:
    r = client.get("/_emulator/faults")
    assert r.status_code == 200
    return r.json()


def test_post_one_rule_answers_it_stored_with_id_and_counters(client):
    r = client.post("/_emulator/faults", json={"api": "jpush", "method": "GET", "path": "/v3/files",
                                                "skip": 2, "times": 1, "error": 1100, "message": "down"})
    assert r.status_code == 201
    assert r.json() == {
        "id": 1, "api": "jpush", "method": "GET", "path": "/v3/files", "tenant": None, "skip": 2, "times": 1,
        "action": "error", "error": 1100, "message": "down", "matched": 0, "fired": 0, "active": True,
    }
    assert rules(client) == [r.json()]


def test_post_a_list_answers_a_list_with_increasing_ids(client):
    r = client.post("/_emulator/faults", json=[
        {"api": "pan123", "path": "/_pan123/s3/*", "cut_after": 1024},
        {"drop": True, "latency_ms": 20, "times": None},
        {"tenant": "test-pan123-client", "latency_ms": 1.5},
        {"api": "nextjoy", "status": 614, "body": "x"},
    ])
    assert r.status_code == 201
    stored = r.json()
    assert [s["id"] for s in stored] == [1, 2, 3, 4]
    assert [s["action"] for s in stored] == ["cut", "drop", "latency", "status"]
    assert stored[0]["cut_after"] == 1024 and stored[1]["drop"] is True and stored[1]["latency_ms"] == 20
    assert stored[1]["times"] is None and stored[3]["body"] == "x"
    r = client.post("/_emulator/faults", json={"status": 500})
    assert r.json()["id"] == 5


def test_null_means_not_given_and_times_null_means_forever(client):
    r = client.post("/_emulator/faults", json={"api": None, "method": None, "path": None, "tenant": None,
                                                "skip": None, "status": 500, "body": None, "error": None,
                                                "message": None, "drop": False, "cut_after": None,
                                                "latency_ms": None, "times": None})
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["api"], got["path"], got["skip"], got["times"], got["action"]) == (None, "*", 0, None, "status")


def test_get_shows_live_counters_and_keeps_exhausted_rules(client):
    kit = Kit(client)
    kit.fault(api="jpush", skip=1, times=1, status=503)
    for _ in range(3):
        client.get("/v3/files", headers={"Authorization": jpush_auth()})
    [rule] = rules(client)
    assert (rule["matched"], rule["fired"], rule["active"]) == (3, 1, False)
    assert client.get(f"/_emulator/faults/{rule['id']}").json() == rule


def test_a_rule_without_times_fires_on_every_match_until_removed(client):
    r = client.post("/_emulator/faults", json={"api": "jpush", "skip": 1, "status": 503})
    assert r.status_code == 201
    rule = r.json()
    codes = [client.get("/v3/files", headers={"Authorization": jpush_auth()}).status_code for _ in range(5)]
    assert codes == [200, 503, 503, 503, 503]
    [listed] = rules(client)
    assert (listed["times"], listed["matched"], listed["fired"], listed["active"]) == (None, 5, 4, True)
    assert client.delete(f"/_emulator/faults/{rule['id']}").status_code in (200, 204)
    assert client.get("/v3/files", headers={"Authorization": jpush_auth()}).status_code == 200


def test_delete_one_then_404(client):
    kit = Kit(client)
    a, b = kit.fault(status=500), kit.fault(status=502)
    r = client.delete(f"/_emulator/faults/{a['id']}")
    assert r.status_code == 200 and r.json() == {"status": "ok", "removed": a}
    assert [x["id"] for x in rules(client)] == [b["id"]]
    r = client.delete(f"/_emulator/faults/{a['id']}")
    assert r.status_code == 404 and "no fault rule" in r.json()["error"]
    assert client.get(f"/_emulator/faults/{a['id']}").status_code == 404
    assert client.delete("/_emulator/faults/abc").status_code == 400
    assert client.get("/_emulator/faults/-1").status_code == 400


def test_delete_all(client):
    kit = Kit(client)
    kit.fault(status=500)
    kit.fault(drop=True)
    r = client.delete("/_emulator/faults")
    assert r.status_code == 200 and r.json() == {"status": "ok", "removed": 2}
    assert rules(client) == []
    assert Kit(client).fault(status=500)["id"] == 3  # ids are never reused


@pytest.mark.parametrize("body,words", [
    ({"api": "jpush", "status": 500, "colour": "red"}, "unknown field(s): colour"),
    ({"api": "s3", "status": 500}, "unknown api 's3'"),
    ({"error": 1100}, "error needs api"),
    ({"api": "jpush", "error": 4242}, "jpush has no business code 4242"),
    ({"api": "jpush", "error": True}, "error must be a business code"),
    ({"api": "jpush", "status": 500, "error": 1100}, "one action, not status and error"),
    ({"drop": True, "cut_after": 3}, "one action, not drop and cut_after"),
    ({"status": 500, "skip": -1}, "skip must be an integer >= 0"),
    ({"status": 500, "times": 0}, "times must be an integer >= 1"),
    ({"status": 500, "times": 1.5}, "times must be an integer >= 1"),
    ({"cut_after": -5}, "cut_after must be an integer >= 0"),
    ({"latency_ms": -1}, "latency_ms must be >= 0"),
    ({"latency_ms": "slow"}, "latency_ms must be a number"),
    ({"status": 99}, "status must be a final HTTP status"),
    ({"status": 150}, "status must be a final HTTP status"),
    ({"status": 1000}, "status must be a final HTTP status"),
    ({"status": "503"}, "status must be an HTTP status code"),
    ({"status": 204, "body": "x"}, "carries no body"),
    ({"status": 500, "body": 7}, "body must be a string"),
    ({"body": "x", "latency_ms": 1}, "body goes with status"),
    ({"api": "jpush", "error": 1100, "message": 5}, "message must be a non-empty string"),
    ({"message": "x", "status": 500}, "message goes with error"),
    ({"drop": "yes"}, "drop must be true"),
    ({"method": "GET /x", "status": 500}, "method must be an HTTP method name"),
    ({"path": "v3/files", "status": 500}, "starts with '/'"),
    ({"api": "jpush"}, "a rule needs an action"),
    ({}, "a rule needs an action"),
    ([], "the list holds no rule"),
    ("status", "a rule must be a JSON object"),
    ([{"status": 500}, {"status": 500, "bogus": 1}], "rule 2: unknown field(s): bogus"),
])
def test_a_bad_rule_is_400_and_nothing_is_stored(client, body, words):
    Kit(client).fault(status=500, path="/keep")
    before = rules(client)
    r = client.post("/_emulator/faults", json=body)
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"error"} and words in r.json()["error"], r.json()
    assert rules(client) == before


@pytest.mark.parametrize("raw", [b"{not json", b"", b"null", b"\xff\xfe"])
def test_a_body_that_is_not_a_rule_is_400(client, raw):
    r = client.post("/_emulator/faults", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "error" in r.json()
    assert rules(client) == []


def test_admin_paths_are_never_faulted(client):
    kit = Kit(client)
    kit.fault(times=None, status=503)
    kit.fault(times=None, drop=True)
    kit.fault(method="GET", times=None, latency_ms=5000)
    assert client.get("/_emulator/health").status_code == 200
    assert client.get("/_emulator/requests").status_code == 200
    assert client.get("/_emulator/jpush/files").status_code == 200
    assert client.post("/_emulator/clock", json={"advance": 1}).status_code == 200
    assert all(rule["matched"] == 0 for rule in rules(client))
    assert client.delete("/_emulator/faults").status_code == 200
    assert rules(client) == []



def test_a_scoped_reset_removes_only_the_rules_of_those_tenants(client):
    r = client.post("/_emulator/fixtures", json={"jpush": [{"app_key": "otherapp", "master_secret": "othersecret"}]})
    assert r.status_code == 200
    kit = Kit(client)
    mine = kit.fault(api="jpush", tenant="testjpushappkey000000001", status=500)
    theirs = kit.fault(api="jpush", tenant="otherapp", status=500)
    unbound = kit.fault(api="jpush", status=500)
    r = client.post("/_emulator/reset", json={"tenants": {"jpush": ["testjpushappkey000000001"]}})
    assert r.status_code == 200, r.text
    assert [rule["id"] for rule in rules(client)] == [theirs["id"], unbound["id"]]
    assert mine["id"] not in [rule["id"] for rule in rules(client)]
