"""Several test workers sharing one emulator (issue 7, "Parallel test workers"): reset and
the journal scoped to the tenants a worker owns leave every other tenant alone."""

from __future__ import annotations

import pytest
from snapshot_kit import APIS, DEFAULT, SECOND, T0, Kit, add_tenants, assert_refcounts_exact, identity, ok, scope_of


@pytest.fixture
def two(client):
    """A second tenant of every API, added at run time as a worker would."""
    ok(client.post("/_emulator/clock", json={"freeze": True, "set": T0}))
    add_tenants(client)
    return Kit(client), Kit(client, SECOND)


def reset(client, tenants=None):
    return client.post("/_emulator/reset", json=None if tenants is None else {"tenants": tenants})


def journal(client, *scope: str, **filters):
    params = [("scope", s) for s in scope] + list(filters.items())
    return ok(client.get("/_emulator/requests", params=params))


@pytest.mark.parametrize("api", APIS)
def test_scoped_reset_drops_one_tenants_objects_and_keeps_the_others(client, emu, two, api):
    a, b = two
    a.fill("one", (api,))
    b.fill("one", (api,))
    kept = a.evidence((api,))
    assert ok(reset(client, {api: [identity(api, SECOND[api])]})) == {"status": "ok"}
    assert a.evidence((api,)) == kept
    gone = b.evidence((api,))[api]
    objects = {
        "jpush": lambda e: e,
        "pan123": lambda e: [f for f in e[0] if not f["is_root"]] + e[2],
        "wechat": lambda e: e,
        "antelope": lambda e: e[0] + e[1],
        "nextjoy": lambda e: e[0] + e[1] + e[2],
    }[api](gone)
    assert objects == []
    assert_refcounts_exact(emu)


def test_scoped_reset_of_every_api_at_once_reclaims_only_unshared_bytes(client, emu, two):
    a, b = two
    a.fill("one")
    b.fill("one")
    shared = b"the same bytes for both\n"
    a.jpush(shared)
    b.jpush(shared)
    kept = a.evidence()
    before = ok(client.get("/_emulator/store"))
    ok(reset(client, scope_of(SECOND)))
    after = ok(client.get("/_emulator/store"))
    assert after["blobs"] < before["blobs"]
    assert a.evidence() == kept  # the shared bytes are still a's
    assert_refcounts_exact(emu)
    ok(reset(client, scope_of(DEFAULT)))
    assert ok(client.get("/_emulator/store")) == {"blobs": 0, "bytes": 0}


def test_scoped_reset_forgets_the_tenants_journal_entries_limit_windows_and_faults(client, two):
    ta, tb = DEFAULT["jpush"], SECOND["jpush"]
    rule_a = ok(client.post("/_emulator/faults", json={"api": "jpush", "tenant": ta["app_key"], "status": 503,
                                                       "path": "/nowhere", "times": 5}), 201)
    rule_b = ok(client.post("/_emulator/faults", json={"api": "jpush", "tenant": tb["app_key"], "status": 503,
                                                       "path": "/nowhere", "times": 5}), 201)
    for t in (ta, tb):  # 20 calls a minute per app key: both windows full
        for _ in range(20):
            client.get("/v3/files", auth=(t["app_key"], t["master_secret"]))
        assert client.get("/v3/files", auth=(t["app_key"], t["master_secret"])).status_code == 429
    a_entries = journal(client, f"jpush:{ta['app_key']}")
    assert len(a_entries) == 21 and len(journal(client, f"jpush:{tb['app_key']}")) == 21

    ok(reset(client, {"jpush": [tb["app_key"]]}))
    assert journal(client, f"jpush:{tb['app_key']}") == []
    assert journal(client, f"jpush:{ta['app_key']}") == a_entries
    assert client.get("/v3/files", auth=(tb["app_key"], tb["master_secret"])).status_code == 200
    assert client.get("/v3/files", auth=(ta["app_key"], ta["master_secret"])).status_code == 429
    assert [r["id"] for r in ok(client.get("/_emulator/faults"))] == [rule_a["id"]]
    assert rule_b["id"] != rule_a["id"]


def test_a_reset_without_a_body_still_drops_everything(client, two):
    a, b = two
    a.fill("one")
    b.fill("one")
    ok(client.post("/_emulator/faults", json={"api": "jpush", "status": 503, "path": "/nowhere"}), 201)
    for body in (None, {}, {"tenants": None}):
        assert ok(client.post("/_emulator/reset", json=body)) == {"status": "ok"}
    assert ok(client.get("/_emulator/store")) == {"blobs": 0, "bytes": 0}
    assert ok(client.get("/_emulator/faults")) == []
    assert ok(client.get("/_emulator/requests")) == []
    assert len(ok(client.get("/_emulator/credentials"))["jpush"]) == 2  # tenants stay


BAD_RESET_BODIES = [
    b"not json",
    b"[]",
    b'{"bogus": 1}',
    b'{"tenants": []}',
    b'{"tenants": {}}',
    b'{"tenants": {"jpush": []}}',
    b'{"tenants": {"nosuchapi": ["x"]}}',
    b'{"tenants": {"jpush": ["no-such-app"]}}',
    b'{"tenants": {"jpush": "testjpushappkey000000001"}}',
    b'{"tenants": {"jpush": ["testjpushappkey000000001"], "pan123": ["nobody"]}}',
]


def test_bad_reset_bodies_are_400_and_change_nothing(client, two):
    a, b = two
    a.fill("one")
    b.fill("one")
    before = a.evidence(), b.evidence(), ok(client.get("/_emulator/store"))
    entries = len(ok(client.get("/_emulator/requests")))
    for body in BAD_RESET_BODIES:
        r = client.post("/_emulator/reset", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"], (body, r.text)
        assert len(ok(client.get("/_emulator/requests"))) == entries  # the journal neither
    assert (a.evidence(), b.evidence(), ok(client.get("/_emulator/store"))) == before


def test_journal_scope_reads_and_clears_only_those_tenants(client, two):
    a, b = two
    a.fill("one", ("jpush", "nextjoy"))
    b.fill("one", ("jpush", "nextjoy"))
    everything = journal(client)
    a_scope = (f"jpush:{DEFAULT['jpush']['app_key']}", "nextjoy:1001:1000")
    mine = journal(client, *a_scope)
    assert mine and mine == [e for e in everything if (e["api"], e["tenant"]) in {
        ("jpush", DEFAULT["jpush"]["app_key"]), ("nextjoy", "1001:1000")}]
    assert {e["api"] for e in mine} == {"jpush", "nextjoy"}
    # Other filters still apply on top of the scope.
    assert journal(client, *a_scope, api="jpush") == [e for e in mine if e["api"] == "jpush"]
    assert journal(client, *a_scope, limit=1) == mine[-1:]

    r = client.delete("/_emulator/requests", params=[("scope", s) for s in a_scope])
    assert r.status_code == 200 and r.json()["cleared"] == len(mine)
    assert journal(client, *a_scope) == []
    assert journal(client) == [e for e in everything if e not in mine]


@pytest.mark.parametrize("scope", ["jpush", "nosuchapi:x", ":x", "jpush:"])
def test_bad_journal_scopes_are_400(client, scope):
    Kit(client).jpush(b"x\n")
    before = journal(client)
    for method in ("GET", "DELETE"):
        r = client.request(method, "/_emulator/requests", params={"scope": scope})
        assert r.status_code == 400 and r.json()["error"], r.text
    assert journal(client) == before


def test_a_journal_scope_may_name_a_tenant_not_loaded(client):
    Kit(client).jpush(b"x\n")
    assert journal(client, "jpush:never-loaded") == []
