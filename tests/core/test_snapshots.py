"""Snapshots (issue 7, "Snapshots"): whole and scoped save/restore over data of all five
APIs made through their vendor endpoints; exact reference counts; the clock, ids and
service settings; export/import between emulators; files that survive a restart and are
written atomically; refusals that change nothing."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from snapshot_kit import DEFAULT, SECOND, T0, Kit, add_tenants, assert_refcounts_exact, ok, path_of, scope_of
from sqlalchemy import select

from emulator.apis.pan123.models import Pan123File
from emulator.apis.wechat.models import WeChatFile
from emulator.core import snapshot_store
from emulator.core.blobs import Blob


@pytest.fixture(params=["memory", "file"])
def world(app_at, request, tmp_path):
    """A frozen-clock emulator (in-memory or file-backed) with a second tenant of every API."""
    app = app_at(request.param == "memory")
    with TestClient(app) as client:
        ok(client.post("/_emulator/clock", json={"freeze": True, "set": T0}))
        add_tenants(client)
        yield client, app.state.emulator, Kit(client), Kit(client, SECOND)


@pytest.fixture
def mem(client, emu):
    ok(client.post("/_emulator/clock", json={"freeze": True, "set": T0}))
    add_tenants(client)
    return client, emu, Kit(client), Kit(client, SECOND)


# A scoped restore runs on SQLite only; on PostgreSQL it answers 400
# (test_a_scoped_restore_on_postgresql_is_refused_and_changes_nothing).
SCOPED_RESTORE_NEEDS_SQLITE = pytest.mark.sqlite_only("a scoped restore runs on SQLite only")


def save(client, name, tenants=None):
    body = {"name": name} if tenants is None else {"name": name, "tenants": tenants}
    return ok(client.post("/_emulator/snapshots", json=body), 201)


def restore(client, name):
    return ok(client.post(f"/_emulator/snapshots/{name}/restore"))


def store(client):
    return ok(client.get("/_emulator/store"))


# -- whole snapshots ---------------------------------------------------------------------------
def test_whole_snapshot_brings_back_every_api_exactly(world):
    client, emu, a, b = world
    a.fill("one")
    b.fill("one")
    saved_a, saved_b, saved_store = a.evidence(), b.evidence(), store(client)
    described = save(client, "base")
    assert described["name"] == "base" and described["scope"] is None
    assert described["rows"] > 0 and described["bytes"] == saved_store["bytes"]

    a.fill("two")
    b.fill("two")
    ok(client.post("/_emulator/fixtures", json={"jpush": [{"app_key": "later", "master_secret": "later-secret"}]}))
    assert a.evidence() != saved_a

    assert restore(client, "base") == described
    assert a.evidence() == saved_a
    assert b.evidence() == saved_b
    assert store(client) == saved_store
    assert_refcounts_exact(emu)
    # Tenants are state too: the one added after the save is gone.
    assert "later" not in [t["app_key"] for t in ok(client.get("/_emulator/credentials"))["jpush"]]
    # And the restored state keeps working: new objects on top of it.
    a.fill("three")
    assert_refcounts_exact(emu)


def test_whole_restore_brings_back_the_clock(world):
    client, _emu, _a, _b = world
    save(client, "frozen")
    ok(client.post("/_emulator/clock", json={"advance": 3600, "freeze": False}))
    restore(client, "frozen")
    assert ok(client.get("/_emulator/clock")) == {"now": T0, "frozen": True}

    ok(client.post("/_emulator/clock", json={"set": T0 + 86400, "freeze": False}))
    save(client, "running")
    ok(client.post("/_emulator/clock", json={"freeze": True, "set": 5}))
    restore(client, "running")
    clock = ok(client.get("/_emulator/clock"))
    assert clock["frozen"] is False and T0 + 86400 <= clock["now"] < T0 + 86400 + 60


def test_whole_restore_brings_back_service_settings_and_clears_limit_windows(mem):
    client, _emu, _a, _ = mem
    ok(client.post("/_emulator/pan123/config", json={"slice_size": 4096, "async_seconds": 3}))
    save(client, "tuned")
    ok(client.post("/_emulator/pan123/config", json={"reset": True}))
    t = DEFAULT["jpush"]
    for _ in range(20):
        client.get("/v3/files", auth=(t["app_key"], t["master_secret"]))
    assert client.get("/v3/files", auth=(t["app_key"], t["master_secret"])).status_code == 429
    restore(client, "tuned")
    config = ok(client.get("/_emulator/pan123/config"))
    assert config["slice_size"] == 4096 and config["async_seconds"] == 3
    assert client.get("/v3/files", auth=(t["app_key"], t["master_secret"])).status_code == 200


def test_seeded_ids_continue_from_the_saved_position(app_at, tmp_path):
    app = app_at(True, seed=7)
    with TestClient(app) as client:
        kit = Kit(client)
        save(client, "s")
        first = kit.jpush(b"one\n")
        restore(client, "s")
        assert kit.jpush(b"one\n") == first


def test_a_multi_slice_upload_continues_across_save_and_restore(world):
    client, emu, a, _ = world
    ok(client.post("/_emulator/pan123/config", json={"slice_size": 1000, "async_seconds": 0}))
    data = os.urandom(2500)
    token = a.pan123_token()
    pre = a.pan123_create(data, "big.bin", token)["preuploadID"]
    assert client.put(path_of(a.pan123_url(pre, 1, token)), content=data[:1000]).status_code == 200
    url2, url3 = a.pan123_url(pre, 2, token), a.pan123_url(pre, 3, token)
    save(client, "mid-upload")

    # Finish it, then go back to the middle of the upload.
    for n, url in ((2, url2), (3, url3)):
        assert client.put(path_of(url), content=data[(n - 1) * 1000:n * 1000]).status_code == 200
    a.pan123_call("/upload/v1/oss/file/upload_complete", {"preuploadID": pre}, token)
    restore(client, "mid-upload")
    uploads = ok(client.get("/_emulator/pan123/uploads"))
    assert [(u["state"], [p["partNumber"] for p in u["parts"]]) for u in uploads] == [("open", [1])]

    # The presigned URLs handed out before the save are still valid (same signature, same time).
    for n, url in ((2, url2), (3, url3)):
        assert client.put(path_of(url), content=data[(n - 1) * 1000:n * 1000]).status_code == 200
    a.pan123_call("/upload/v1/oss/file/upload_complete", {"preuploadID": pre}, token)
    done = a.pan123_call("/upload/v1/oss/file/upload_async_result", {"preuploadID": pre}, token)
    assert done["completed"] is True
    assert client.get(f"/_emulator/pan123/files/{done['fileID']}/content").content == data
    assert_refcounts_exact(emu)


def test_uploads_streaming_during_a_whole_restore_keep_their_bytes(mem):
    """A restore replaces rows, but bytes still streaming in (pending blobs) stay; a saved
    blob whose id such an upload holds is renumbered rather than mixed with it."""
    client, emu, a, _ = mem
    file_id = a.jpush(b"saved\n")
    save(client, "s")
    ok(client.post("/_emulator/reset"))
    pending = emu.blobs._new_pending()  # as BlobStore.stage() starts an upload
    emu.blobs._write_chunk(pending, 0, b"half an upload")
    with emu.db.session() as s:
        assert s.get(Blob, pending) is not None
    restore(client, "s")
    assert ok(client.get(f"/_emulator/jpush/files/{file_id}"))["lines"] == ["saved"]
    with emu.db.session() as s:
        row = s.get(Blob, pending)
        assert row is not None and row.state == "pending"
        saved_blob = s.execute(select(Blob.id).where(Blob.state == "ready")).scalar_one()
    assert saved_blob != pending
    assert_refcounts_exact(emu)


# -- scoped snapshots -----------------------------------------------------------------------------
def test_scoped_snapshot_restores_its_tenants_and_leaves_the_others(world):
    client, emu, a, b = world
    a.fill("one")
    b.fill("one")
    saved_b = b.evidence()
    described = save(client, "b-only", scope_of(SECOND))
    assert described["scope"] == scope_of(SECOND)

    a.fill("two")
    b.fill("two")
    ok(client.post("/_emulator/clock", json={"advance": 60}))
    now_a = a.evidence()
    clock = ok(client.get("/_emulator/clock"))

    restore(client, "b-only")
    assert b.evidence() == saved_b
    assert a.evidence() == now_a  # the other tenants' objects are untouched
    assert ok(client.get("/_emulator/clock")) == clock  # and so is the clock
    assert_refcounts_exact(emu)


def test_scoped_restore_after_a_scoped_reset_brings_the_bytes_back(world):
    client, emu, a, b = world
    a.fill("one")
    b.fill("one")
    before_store = store(client)
    saved_b = b.evidence()
    save(client, "b", scope_of(SECOND))
    ok(client.post("/_emulator/reset", json={"tenants": scope_of(SECOND)}))
    assert store(client)["bytes"] < before_store["bytes"]  # b's bytes were reclaimed
    restore(client, "b")
    assert b.evidence() == saved_b
    assert store(client) == before_store
    assert_refcounts_exact(emu)


@SCOPED_RESTORE_NEEDS_SQLITE
def test_scoped_restore_shares_bytes_other_tenants_hold(mem):
    client, emu, a, b = mem
    same = b"the same line\n"
    a.jpush(same)
    b.jpush(same)
    assert store(client)["blobs"] == 1
    save(client, "b", {"jpush": [SECOND["jpush"]["app_key"]]})
    ok(client.post("/_emulator/reset", json={"tenants": {"jpush": [SECOND["jpush"]["app_key"]]}}))
    assert store(client) == {"blobs": 1, "bytes": len(same)}  # a still holds it
    restore(client, "b")
    assert store(client) == {"blobs": 1, "bytes": len(same)}  # matched by content, not copied
    with emu.db.session() as s:
        assert s.execute(select(Blob.refcount)).scalar_one() == 2
    assert_refcounts_exact(emu)


def test_scoped_restore_renumbers_ids_that_other_tenants_took_and_keeps_listing_order(world):
    client, emu, a, b = world
    a.pan123(b"a-first" * 5, "a1.jpg")
    a.wechat(b"a-first", "a1.bin")
    b.pan123(b"b-first" * 5, "b1.jpg")
    b.pan123(b"b-second" * 5, "b2.jpg")
    b.wechat(b"b-first", "b1.bin")
    b.wechat(b"b-second", "b2.bin")
    saved_b = b.evidence()
    save(client, "b", scope_of(SECOND, ("pan123", "wechat")))
    ok(client.post("/_emulator/reset", json={"tenants": scope_of(SECOND, ("pan123", "wechat"))}))
    # a's new rows take the sequence numbers and row ids b's rows had.
    a.pan123(b"a-second" * 5, "a2.jpg")
    a.wechat(b"a-second", "a2.bin")
    with emu.db.session() as s:
        a_seqs = set(s.execute(select(Pan123File.seq).where(Pan123File.client_id == DEFAULT["pan123"]["client_id"]))
                     .scalars())
        a_ids = set(s.execute(select(WeChatFile.id).where(WeChatFile.appid == DEFAULT["wechat"]["appid"])).scalars())
    saved_a = a.evidence()

    restore(client, "b")
    assert b.evidence() == saved_b  # same objects, same (newest first) listing order
    assert a.evidence() == saved_a
    with emu.db.session() as s:
        b_seqs = set(s.execute(select(Pan123File.seq).where(Pan123File.client_id == SECOND["pan123"]["client_id"]))
                     .scalars())
        b_ids = set(s.execute(select(WeChatFile.id).where(WeChatFile.appid == SECOND["wechat"]["appid"])).scalars())
    assert not (a_seqs & b_seqs) and not (a_ids & b_ids)
    # New uploads after the restore still get fresh numbers.
    b.pan123(b"b-third" * 5, "b3.jpg")
    assert [f["filename"] for f in b.pan123_list()] == ["b3.jpg", "b2.jpg", "b1.jpg"]
    assert_refcounts_exact(emu)


@SCOPED_RESTORE_NEEDS_SQLITE
def test_scoped_snapshot_of_one_nextjoy_tenant_covers_its_bucket_only(mem):
    client, _emu, a, b = mem
    a.nextjoy("k.txt", b"a's object")
    b.nextjoy("k.txt", b"b's object")
    save(client, "a", {"nextjoy": ["1001:1000"]})
    a.nextjoy("later.txt", b"later")
    b.nextjoy("later.txt", b"b later")
    restore(client, "a")
    assert [o["key"] for o in ok(client.get("/_emulator/nextjoy/objects", params={"bucket": "game-hddzz"}))] == [
        "k.txt"
    ]
    assert [o["key"] for o in ok(client.get("/_emulator/nextjoy/objects", params={"bucket": "game-second"}))] == [
        "k.txt", "later.txt"
    ]


@SCOPED_RESTORE_NEEDS_SQLITE
def test_scoped_restore_brings_back_a_tenant_that_was_replaced(mem):
    client, _emu, _a, b = mem
    b.jpush(b"x\n")
    save(client, "b", {"jpush": [SECOND["jpush"]["app_key"]]})
    changed = {**SECOND["jpush"], "master_secret": "a-new-secret"}
    ok(client.post("/_emulator/fixtures", json={"jpush": [changed]}))
    restore(client, "b")
    jpush = {t["app_key"]: t for t in ok(client.get("/_emulator/credentials"))["jpush"]}
    assert jpush[SECOND["jpush"]["app_key"]]["master_secret"] == SECOND["jpush"]["master_secret"]
    assert list(jpush) == [DEFAULT["jpush"]["app_key"], SECOND["jpush"]["app_key"]]  # its place kept


# -- listing, deleting, refusals --------------------------------------------------------------------
def test_list_get_delete(mem):
    client, _emu, _a, _ = mem
    s1 = save(client, "one")
    s2 = save(client, "two", {"jpush": [DEFAULT["jpush"]["app_key"]]})
    assert ok(client.get("/_emulator/snapshots")) == [s1, s2]
    assert ok(client.get("/_emulator/snapshots/two")) == s2
    again = save(client, "one")  # same name: replaced
    assert ok(client.get("/_emulator/snapshots")) == [again, s2]
    assert ok(client.delete("/_emulator/snapshots/one"))["deleted"] == "one"
    assert ok(client.get("/_emulator/snapshots")) == [s2]
    for method, path in (("DELETE", "/_emulator/snapshots/one"), ("POST", "/_emulator/snapshots/one/restore"),
                         ("GET", "/_emulator/snapshots/one/export"), ("GET", "/_emulator/snapshots/one")):
        r = client.request(method, path)
        assert r.status_code == 404 and "one" in r.json()["error"]


BAD_SAVE_BODIES = [
    b"not json",
    b"[1]",
    b'"name"',
    b"",
    b'{"tenants": {"jpush": ["testjpushappkey000000001"]}}',
    b'{"name": "ok", "bogus": 1}',
    b'{"name": ""}',
    b'{"name": "a/b"}',
    b'{"name": "' + b"x" * 65 + b'"}',
    '{"name": "é"}'.encode(),
    b'{"name": 5}',
    b'{"name": "ok", "tenants": []}',
    b'{"name": "ok", "tenants": {"nosuchapi": ["x"]}}',
    b'{"name": "ok", "tenants": {"jpush": ["no-such-app"]}}',
    b'{"name": "ok", "tenants": {"jpush": "testjpushappkey000000001"}}',
    b'{"name": "ok", "tenants": {"jpush": [1]}}',
    b'{"name": "ok", "tenants": {}}',
]


@pytest.mark.parametrize("memory", [True, False], ids=["memory", "file"])
def test_bad_save_requests_are_400_and_store_nothing(app_at, tmp_path, memory):
    with TestClient(app_at(memory)) as client:
        kit = Kit(client)
        kit.fill("x")
        save(client, "ok")
        before = ok(client.get("/_emulator/snapshots")), kit.evidence(), store(client)
        for body in BAD_SAVE_BODIES:
            r = client.post("/_emulator/snapshots", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400 and r.json()["error"], (body, r.text)
        assert (ok(client.get("/_emulator/snapshots")), kit.evidence(), store(client)) == before
        if not memory:
            assert [p.name for p in (tmp_path / "data" / "snapshots").iterdir()] == ["ok.snapshot"]


@pytest.mark.parametrize("name", ["a%20b", "x" * 65, "%C3%A9", "a:b"])
def test_bad_names_in_paths_are_400(client, name):
    for method, path in (("POST", f"/_emulator/snapshots/{name}/restore"), ("DELETE", f"/_emulator/snapshots/{name}"),
                         ("GET", f"/_emulator/snapshots/{name}/export"), ("PUT", f"/_emulator/snapshots/{name}")):
        r = client.request(method, path, content=b"")
        assert r.status_code == 400 and "name" in r.json()["error"], (method, r.text)
    assert ok(client.get("/_emulator/snapshots")) == []


def test_dots_dashes_and_underscores_are_fine_names(client):
    for name in ("v1.2", "worker_3-a", "...", "A" * 64):
        assert save(client, name)["name"] == name
        restore(client, name)


# -- export and import -----------------------------------------------------------------------------
@pytest.mark.parametrize(("src", "dst"), [("memory", "file"), ("file", "memory"), ("file", "file")])
def test_export_then_import_into_another_emulator_gives_the_same_state(app_at, tmp_path, src, dst):
    one = app_at(src == "memory", "one")
    with TestClient(one) as c1:
        ok(c1.post("/_emulator/clock", json={"freeze": True, "set": T0}))
        add_tenants(c1)
        Kit(c1).fill("one")
        Kit(c1, SECOND).fill("one")
        saved = Kit(c1).evidence(), Kit(c1, SECOND).evidence(), store(c1)
        described = save(c1, "shared")
        r = c1.get("/_emulator/snapshots/shared/export")
        assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
        assert 'filename="shared.snapshot"' in r.headers["content-disposition"]
        exported = r.content
        assert int(r.headers["content-length"]) == len(exported)
    (tmp_path / "shared.snapshot").write_bytes(exported)
    with sqlite3.connect(tmp_path / "shared.snapshot") as db:  # one ordinary SQLite file
        assert dict(db.execute("SELECT key, value FROM _snapshot_meta"))["format"] == '"storage-emulator-snapshot"'

    two = app_at(dst == "memory", "two")
    with TestClient(two) as c2:
        imported = ok(c2.put("/_emulator/snapshots/copied", content=exported), 201)
        assert imported == {**described, "name": "copied"}
        assert ok(c2.get("/_emulator/snapshots")) == [imported]
        restore(c2, "copied")
        assert (Kit(c2).evidence(), Kit(c2, SECOND).evidence(), store(c2)) == saved
        assert ok(c2.get("/_emulator/clock")) == {"now": T0, "frozen": True}
        assert_refcounts_exact(two.state.emulator)
        # The imported file exports as the same bytes.
        assert c2.get("/_emulator/snapshots/copied/export").content == exported


def test_a_scoped_export_imports_as_a_scoped_snapshot(app_at, tmp_path, mem):
    client, _emu, _a, b = mem
    b.fill("one")
    saved_b = b.evidence()
    save(client, "b", scope_of(SECOND))
    exported = client.get("/_emulator/snapshots/b/export").content
    other = app_at(False, "other")
    with TestClient(other) as c2:
        ok(c2.post("/_emulator/clock", json={"freeze": True, "set": T0}))
        Kit(c2).jpush(b"the other emulator's own file\n")
        own = Kit(c2).evidence(("jpush",))
        ok(c2.put("/_emulator/snapshots/b", content=exported), 201)
        restore(c2, "b")  # brings b's tenants and rows; the default tenants' rows stay
        assert Kit(c2, SECOND).evidence() == saved_b
        assert Kit(c2).evidence(("jpush",)) == own


def _exported(client) -> bytes:
    save(client, "good")
    return client.get("/_emulator/snapshots/good/export").content


def _edit_meta(data: bytes, tmp_path: Path, sql: str) -> bytes:
    path = tmp_path / "edit.snapshot"
    path.write_bytes(data)
    with sqlite3.connect(path) as db:
        db.execute(sql)
    db.close()
    return path.read_bytes()


@pytest.mark.parametrize("memory", [True, False])
def test_import_refuses_what_is_not_a_snapshot_and_stores_nothing(app_at, tmp_path, memory):
    app = app_at(memory)
    with TestClient(app) as client:
        good = _exported(client)
        plain = tmp_path / "plain.db"
        with sqlite3.connect(plain) as db:
            db.execute("CREATE TABLE t (x)")
        db.close()
        cases = {
            "empty": b"",
            "text": b"hello, not a database at all" * 100,
            "plain sqlite": plain.read_bytes(),
            "truncated": good[: len(good) // 2],
            "version 2": _edit_meta(good, tmp_path, "UPDATE _snapshot_meta SET value = '2' WHERE key = 'version'"),
            "other format": _edit_meta(good, tmp_path,
                                       "UPDATE _snapshot_meta SET value = '\"x\"' WHERE key = 'format'"),
            "other schema": _edit_meta(good, tmp_path, "DROP TABLE jpush_files"),
            "bad scope": _edit_meta(good, tmp_path,
                                    "UPDATE _snapshot_meta SET value = '{\"nosuchapi\": [\"x\"]}' WHERE key = 'scope'"),
        }
        before = ok(client.get("/_emulator/snapshots"))
        for label, data in cases.items():
            r = client.put("/_emulator/snapshots/bad", content=data)
            assert r.status_code == 400 and r.json()["error"], (label, r.text)
        assert ok(client.get("/_emulator/snapshots")) == before
        if not memory:
            assert sorted(p.name for p in (tmp_path / "data" / "snapshots").iterdir()) == ["good.snapshot"]


# -- files: on request, atomic, surviving a restart --------------------------------------------------
def test_snapshot_files_are_written_at_once_and_survive_a_restart(app_at, tmp_path):
    app = app_at(False)
    with TestClient(app) as client:
        ok(client.post("/_emulator/clock", json={"freeze": True, "set": T0}))
        Kit(client).fill("one")
        saved = Kit(client).evidence()
        described = save(client, "kept")
        path = tmp_path / "data" / "snapshots" / "kept.snapshot"
        assert path.is_file()  # written on request, not at shutdown
        assert not list(path.parent.glob("*.tmp"))
        Kit(client).fill("two")
    app2 = app_at(False)
    with TestClient(app2) as client:
        assert ok(client.get("/_emulator/snapshots")) == [described]
        restore(client, "kept")
        assert Kit(client).evidence() == saved


def test_a_failed_write_leaves_no_partial_file_and_the_old_snapshot_intact(app_at, tmp_path, monkeypatch):
    app = app_at(False)
    folder = tmp_path / "data" / "snapshots"
    with TestClient(app) as client:
        Kit(client).jpush(b"first\n")
        first = save(client, "s")
        old_bytes = (folder / "s.snapshot").read_bytes()
        Kit(client).jpush(b"second\n")

        def disk_full(fd):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(snapshot_store.os, "fsync", disk_full)
        for name in ("s", "t"):
            r = client.post("/_emulator/snapshots", json={"name": name})
            assert r.status_code == 507 and "No space left" in r.json()["error"], r.text
        r = client.put("/_emulator/snapshots/u", content=old_bytes)
        assert r.status_code == 507 and "No space left" in r.json()["error"], r.text
        monkeypatch.undo()
        assert sorted(p.name for p in folder.iterdir()) == ["s.snapshot"]
        assert (folder / "s.snapshot").read_bytes() == old_bytes
        assert ok(client.get("/_emulator/snapshots")) == [first]


def test_snapshots_need_sqlite_and_in_memory_ones_live_in_memory(tmp_path, client):
    save(client, "m")
    assert not (tmp_path / "data" / "snapshots").exists()
    assert [s["name"] for s in ok(client.get("/_emulator/snapshots"))] == ["m"]


def test_a_scoped_restore_on_postgresql_is_refused_and_changes_nothing(pg_url):
    """On PostgreSQL a snapshot of some tenants saves, and its restore answers 400 naming
    the limit (whole snapshots restore there; a scoped one needs SQLite): no row changes."""
    from emulator.app import create_app
    from emulator.settings import Settings

    with TestClient(create_app(Settings(database_url=pg_url))) as client:
        ok(client.post("/_emulator/clock", json={"freeze": True, "set": T0}))
        add_tenants(client)
        b = Kit(client, SECOND)
        b.jpush(b"saved line\n")
        save(client, "b", {"jpush": [SECOND["jpush"]["app_key"]]})
        b.jpush(b"after the save\n", "later.txt")
        b.evidence()  # a first look makes 123pan's image-hosting root: not a change under test
        before = (store(client), b.evidence())
        r = client.post("/_emulator/snapshots/b/restore")
        assert r.status_code == 400 and "PostgreSQL" in r.json()["error"], r.text
        assert (store(client), b.evidence()) == before
