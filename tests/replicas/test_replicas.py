"""Issue 16's cross-replica proof: two processes on one database behave as one emulator.

Each test runs on every deployment of cluster.py (two replicas on SQLite, two on PostgreSQL,
``serve --workers 2`` on SQLite), through a client that sends each request to the other
process than the one before (``c``; ``c.on(i)`` for one that must go to process ``i``)."""

from __future__ import annotations

import threading
import uuid

import httpx
from cluster import Alternating, Cluster, pid_of
from helpers import JPUSH_AUTH

PAN_PLATFORM = {"Platform": "open_platform"}
PAN_CLIENT = {"clientID": "test-pan123-client", "clientSecret": "test-pan123-secret"}


def pan_token(c: Alternating | httpx.Client) -> dict[str, object]:
    body = c.post("/api/v1/access_token", headers=PAN_PLATFORM, json=PAN_CLIENT).json()
    assert body["code"] == 0, body
    data: dict[str, object] = body["data"]
    return data


def pan_user(c: Alternating | httpx.Client, token: object) -> dict[str, object]:
    r = c.get("/api/v1/user/info", headers={**PAN_PLATFORM, "Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def upload_alias(c: Alternating | httpx.Client, data: bytes, auth: tuple[str, str] = JPUSH_AUTH) -> str:
    r = c.post("/v3/files/alias", auth=auth, files={"filename": ("aliases.txt", data)})
    assert r.status_code == 200, r.text
    file_id: str = r.json()["file_id"]
    return file_id


def test_requests_alternate_between_two_processes(c: Alternating) -> None:
    pids = [pid_of(c) for _ in range(6)]  # type: ignore[arg-type]
    assert pids[0] != pids[1], pids
    assert pids == [pids[0], pids[1]] * 3


def test_health_says_how_many_workers(cluster: Cluster, c: Alternating) -> None:
    workers = c.get("/_emulator/health").json()["workers"]
    assert workers == (2 if cluster.kind == "sqlite-workers" else 1)


def test_a_123pan_token_minted_on_one_works_on_the_other(c: Alternating) -> None:
    token = pan_token(c)["accessToken"]  # on process 0
    for _ in range(2):  # process 1, then 0 again
        body = pan_user(c, token)
        assert body["code"] == 0, body
        c.post("/_emulator/clock", json={"advance": 1.1})  # the endpoint's QPS of 1


def test_a_tenant_posted_to_one_is_known_to_the_other(c: Alternating) -> None:
    app_key, secret = f"k{uuid.uuid4().hex[:20]}", "s" + uuid.uuid4().hex
    added = c.on(0).post("/_emulator/fixtures", json={"jpush": [{"app_key": app_key, "master_secret": secret}]})
    assert added.status_code == 200, added.text
    c.n = 1  # the next request goes to process 1
    for _ in range(4):
        r = c.get("/v3/files", auth=(app_key, secret))
        assert r.status_code == 200, r.text
        assert r.json()["files"] == []
    assert app_key in [t["app_key"] for t in c.on(1).get("/_emulator/credentials").json()["jpush"]]
    # ... and a wrong secret is refused by both (JPush's 1101, on HTTP 400)
    for _ in range(2):
        assert c.get("/v3/files", auth=(app_key, "wrong")).json()["error"]["code"] == 1101


def test_the_clock_moved_on_one_applies_on_both(c: Alternating) -> None:
    token = pan_token(c.on(0))
    now = c.on(0).get("/_emulator/clock").json()["now"]
    frozen = c.on(1).post("/_emulator/clock", json={"freeze": True, "set": now + 100}).json()
    assert frozen == {"now": now + 100, "frozen": True}
    for i in (0, 1):
        assert c.on(i).get("/_emulator/clock").json() == frozen
    c.on(0).post("/_emulator/clock", json={"advance": 50})
    assert c.on(1).get("/_emulator/clock").json()["now"] == now + 150
    # an expiry follows it on both: the token (30 days) has expired after 31 days moved on process 1
    c.on(1).post("/_emulator/clock", json={"advance": 31 * 86400})
    for i in (0, 1):
        assert pan_user(c.on(i), token["accessToken"])["code"] == 401


def test_a_qps_limit_of_one_holds_across_both(c: Alternating) -> None:
    c.on(0).post("/_emulator/clock", json={"freeze": True})  # one window of one second for all calls below
    codes = [c.post("/api/v1/access_token", headers=PAN_PLATFORM, json=PAN_CLIENT).json()["code"] for _ in range(6)]
    assert codes == [0, 429, 429, 429, 429, 429]
    c.on(1).post("/_emulator/clock", json={"advance": 1.0})
    codes = [c.post("/api/v1/access_token", headers=PAN_PLATFORM, json=PAN_CLIENT).json()["code"] for _ in range(2)]
    assert codes == [0, 429]


def test_a_fault_skip_2_times_1_fires_exactly_once_across_both(c: Alternating) -> None:
    rule = {"api": "jpush", "method": "GET", "path": "/v3/files", "status": 503, "skip": 2, "times": 1}
    stored = c.on(1).post("/_emulator/faults", json=rule)
    assert stored.status_code == 201, stored.text
    c.n = 0
    statuses = [c.get("/v3/files", auth=JPUSH_AUTH).status_code for _ in range(8)]
    assert statuses == [200, 200, 503, 200, 200, 200, 200, 200]
    for i in (0, 1):
        listed = c.on(i).get("/_emulator/faults").json()
        # matched: every request it matched (8), fired: once, then spent
        assert [(r["matched"], r["fired"], r["active"]) for r in listed] == [(8, 1, False)], listed


def test_the_journal_is_complete_from_either(c: Alternating) -> None:
    c.on(0).delete("/_emulator/requests")
    paths = [f"/v3/files/missing-{i}" for i in range(10)]
    for path in paths:
        c.get(path, auth=JPUSH_AUTH)
    for i in (0, 1):
        entries = c.on(i).get("/_emulator/requests", params={"api": "jpush"}).json()
        assert [e["path"] for e in entries] == paths, (i, entries)
    cleared = c.on(1).delete("/_emulator/requests")
    assert cleared.status_code == 200
    assert c.on(0).get("/_emulator/requests", params={"api": "jpush"}).json() == []


def test_a_snapshot_saved_on_one_restores_on_the_other(c: Alternating) -> None:
    name = f"replicas-{uuid.uuid4().hex[:8]}"
    kept = upload_alias(c.on(0), b"alice\nbob\n")
    saved = c.on(0).post("/_emulator/snapshots", json={"name": name})
    assert saved.status_code == 201, saved.text
    try:
        assert name in [s["name"] for s in c.on(1).get("/_emulator/snapshots").json()]
        later = upload_alias(c.on(1), b"carol\n")
        assert c.on(0).delete(f"/v3/files/{kept}", auth=JPUSH_AUTH).status_code == 200
        restored = c.on(1).post(f"/_emulator/snapshots/{name}/restore")
        assert restored.status_code == 200, restored.text
        for i in (0, 1):
            files = c.on(i).get("/v3/files", auth=JPUSH_AUTH).json()["files"]
            assert [f["file_id"] for f in files] == [kept], (i, files)
            assert c.on(i).get(f"/v3/files/{later}", auth=JPUSH_AUTH).json()["error"]["code"] == 1104
    finally:
        c.on(1).delete(f"/_emulator/snapshots/{name}")


def test_concurrent_uploads_of_the_same_bytes_leave_one_blob(cluster: Cluster, c: Alternating) -> None:
    data = f"same-{uuid.uuid4().hex}\n".encode() * 1000
    clients = cluster.fresh_clients(8)
    barrier = threading.Barrier(len(clients))
    ids: list[str] = []
    errors: list[BaseException] = []

    def upload(client: httpx.Client) -> None:
        try:
            barrier.wait(timeout=30)
            ids.append(upload_alias(client, data))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(client,)) for client in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for client in clients:
        client.close()
    assert not errors, errors
    assert len(set(ids)) == 8
    assert c.on(0).get("/_emulator/store").json()["blobs"] == 1
    assert cluster.rows("SELECT refcount FROM blobs WHERE state = 'ready'") == [(8,)]
    for file_id in ids[:3]:
        assert c.delete(f"/v3/files/{file_id}", auth=JPUSH_AUTH).status_code == 200
    assert cluster.rows("SELECT refcount FROM blobs WHERE state = 'ready'") == [(5,)]
    assert c.on(1).get("/_emulator/store").json()["blobs"] == 1


def test_123pan_tunables_set_on_one_apply_on_the_other(c: Alternating) -> None:
    changed = c.on(0).post("/_emulator/pan123/config", json={"slice_size": 65536, "token_lifetime": 60})
    assert changed.status_code == 200, changed.text
    config = c.on(1).get("/_emulator/pan123/config").json()
    assert (config["slice_size"], config["token_lifetime"]) == (65536, 60)
