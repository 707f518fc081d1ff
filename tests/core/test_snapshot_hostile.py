"""Snapshot files from elsewhere (issue 7, "Snapshots": "imported on another machine"):
a damaged or hand-made file is refused with a 400 when it is imported, restored from the
snapshots folder or given to ``serve --import``, before anything changes; an imported
file never replaces the live schema; a restore refused at COMMIT leaves the database
usable."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import cli_process
import pytest
from fastapi.testclient import TestClient
from snapshot_kit import SECOND, T0, Kit, add_tenants, ok
from sqlalchemy.exc import IntegrityError

from emulator.core import snapshot_copy


def edited(data: bytes, tmp_path: Path, sql: str) -> bytes:
    path = tmp_path / "edit.snapshot"
    path.write_bytes(data)
    db = sqlite3.connect(path)
    try:
        db.executescript(sql)
        db.commit()
    finally:
        db.close()
    return path.read_bytes()


def meta(key: str, value) -> str:
    return f"UPDATE _snapshot_meta SET value = '{json.dumps(value)}' WHERE key = '{key}';"


def rebuilt_without_constraints(table: str) -> str:
    """SQL that re-creates ``table`` with the same columns but no types or constraints."""
    return (f"ALTER TABLE {table} RENAME TO old_{table};"
            f"CREATE TABLE {table} AS SELECT * FROM old_{table};"
            f"DROP TABLE old_{table};")


# Each makes a good export into one this emulator must refuse, and says what the refusal names.
HOSTILE = {
    "clock offset not a number": (meta("clock", {"offset": "soon", "frozen_at": None}), "clock"),
    "clock not an object": (meta("clock", [1, 2]), "clock"),
    "clock frozen at infinity": ("UPDATE _snapshot_meta SET value = '{\"offset\": 0, \"frozen_at\": 1e999}' "
                                 "WHERE key = 'clock';", "clock"),
    "ids not a generator position": (meta("ids", [3, [1, 2], None]), "ids"),
    "pan123 setting unknown": (meta("services", {"pan123": {"config": {"bogus": 1}}}), "pan123"),
    "pan123 slice size zero": (meta("services", {"pan123": {"config": {"slice_size": 0}}}), "slice_size"),
    "antelope counter not a number": (meta("services", {"antelope": {"instance": "0011aabb", "counter": "x"}}),
                                      "antelope"),
    "antelope instance not hex": (meta("services", {"antelope": {"instance": "zz", "counter": 1}}), "antelope"),
    "services not an object": (meta("services", [1]), "services"),
    "rows infinite": ("UPDATE _snapshot_meta SET value = '1e999' WHERE key = 'rows';", "rows"),
    "created_at not a number": (meta("created_at", "yesterday"), "created_at"),
    "tenant record invalid": ("UPDATE tenants SET data = '{\"x\": 1}' WHERE api = 'jpush';", "tenant"),
    "tenant record not JSON": ("UPDATE tenants SET data = 'nope' WHERE api = 'jpush';", "tenants.data"),
    "tenant stored under another key": ("UPDATE tenants SET key = 'someone-else' WHERE api = 'jpush' "
                                        "AND key = 'testjpushappkey000000001';",
                                        "someone-else"),
    "tenant of an unknown API": ("INSERT INTO tenants (api, key, position, data) VALUES ('s3', 'x', 99, '{}');",
                                 "unknown API"),
    "a trigger": ("CREATE TRIGGER wipe AFTER INSERT ON jpush_files BEGIN DELETE FROM jpush_files; END;",
                  "trigger"),
    "a view": ("CREATE VIEW v AS SELECT 1;", "view"),
    "reference to a missing blob": ("UPDATE jpush_files SET blob_id = 99999;", "jpush_files.blob_id"),
    "missing reference, constraint dropped": (rebuilt_without_constraints("wechat_files")
                                              + "UPDATE wechat_files SET blob_id = 99999;", "wechat_files.blob_id"),
    "text in an integer column": ("UPDATE blobs SET size = 'big';", "blobs.size"),
    "text in a float column": ("UPDATE jpush_files SET expire_at = 'later';", "jpush_files.expire_at"),
    "null in a required column": (rebuilt_without_constraints("antelope_objects")
                                  + "UPDATE antelope_objects SET key = NULL;", "antelope_objects.key"),
    "metadata not JSON": ("UPDATE antelope_objects SET metadata = '{oops';", "antelope_objects.metadata"),
    "metadata nested too deep": ("UPDATE antelope_objects SET metadata = "
                                 f"'{'[' * 100_000}{']' * 100_000}';", "antelope_objects.metadata"),
    "meta nested too deep": (f"UPDATE _snapshot_meta SET value = '{'[' * 100_000}{']' * 100_000}' "
                             "WHERE key = 'services';", "meta"),
    "chunks missing": ("DELETE FROM blob_chunks;", "blob"),
    "bytes altered": ("UPDATE blob_chunks SET data = randomblob(length(data));", "hashes"),
    "wrong reference count": ("UPDATE blobs SET refcount = refcount + 1;", "reference count"),
    "an unfinished blob": ("UPDATE blobs SET state = 'pending' WHERE id = (SELECT min(id) FROM blobs);",
                           "unfinished"),
}


@pytest.fixture(params=["memory", "file"])
def filled(app_at, request, tmp_path):
    """An emulator with one object (and event, refresh) per API of two tenants, its whole
    state exported as ``good``, and what a client can observe of it."""
    app = app_at(request.param == "memory")
    with TestClient(app) as client:
        ok(client.post("/_emulator/clock", json={"freeze": True, "set": T0}))
        ok(client.post("/_emulator/limits", json={"enabled": False}))  # evidence is read many times
        add_tenants(client)
        Kit(client).fill("one")
        Kit(client, SECOND).fill("one")
        ok(client.post("/_emulator/snapshots", json={"name": "good"}), 201)
        good = client.get("/_emulator/snapshots/good/export").content
        yield client, app.state.emulator, good, request.param == "memory"


def observed(client):
    return (Kit(client).evidence(), Kit(client, SECOND).evidence(), ok(client.get("/_emulator/store")),
            ok(client.get("/_emulator/clock")), ok(client.get("/_emulator/credentials")),
            ok(client.get("/_emulator/pan123/config")), ok(client.get("/_emulator/snapshots")))


def test_every_hostile_file_is_refused_at_import_and_changes_nothing(filled, tmp_path):
    client, _, good, _ = filled
    before = observed(client)
    for label, (sql, words) in HOSTILE.items():
        r = client.put("/_emulator/snapshots/bad", content=edited(good, tmp_path, sql))
        assert r.status_code == 400, (label, r.text)
        assert words in r.json()["error"] and "\n" not in r.json()["error"], (label, r.text)
    assert observed(client) == before
    # The untouched export still imports and restores.
    assert ok(client.put("/_emulator/snapshots/copy", content=good), 201)["name"] == "copy"
    ok(client.post("/_emulator/snapshots/copy/restore"))
    assert observed(client)[:-1] == before[:-1]


def test_a_hostile_file_put_in_the_snapshots_folder_is_refused_on_restore(app_at, tmp_path):
    app = app_at(False)
    folder = tmp_path / "data" / "snapshots"
    with TestClient(app) as client:
        ok(client.post("/_emulator/clock", json={"freeze": True, "set": T0}))
        ok(client.post("/_emulator/limits", json={"enabled": False}))  # evidence is read many times
        add_tenants(client)
        Kit(client).fill("one")
        ok(client.post("/_emulator/snapshots", json={"name": "good"}), 201)
        good = (folder / "good.snapshot").read_bytes()
        Kit(client).fill("two")
        observed(client)  # a first look makes the second tenant's 123pan root folder
        before = observed(client)
        for label, (sql, words) in HOSTILE.items():
            (folder / "dropped.snapshot").write_bytes(edited(good, tmp_path, sql))
            r = client.post("/_emulator/snapshots/dropped/restore")
            assert r.status_code == 400 and words in r.json()["error"], (label, r.text)
            assert observed(client)[:-1] == before[:-1], label
        # A good file copied in by hand restores (checked once, then known good).
        (folder / "dropped.snapshot").write_bytes(good)
        ok(client.post("/_emulator/snapshots/dropped/restore"))
        ok(client.post("/_emulator/snapshots/good/restore"))
        # Replacing a checked file by a damaged one is noticed.
        (folder / "good.snapshot").write_bytes(edited(good, tmp_path, HOSTILE["bytes altered"][0]))
        r = client.post("/_emulator/snapshots/good/restore")
        assert r.status_code == 400 and "hashes" in r.json()["error"], r.text


@pytest.mark.parametrize("label", ["clock offset not a number", "pan123 slice size zero", "tenant record invalid",
                                   "bytes altered"])
def test_serve_import_of_a_hostile_file_is_one_line_and_exit_2(app_at, tmp_path, label):
    app = app_at(True)
    with TestClient(app) as client:
        Kit(client).jpush(b"a\n")
        ok(client.post("/_emulator/snapshots", json={"name": "good"}), 201)
        good = client.get("/_emulator/snapshots/good/export").content
    path = tmp_path / "bad.snapshot"
    path.write_bytes(edited(good, tmp_path, HOSTILE[label][0]))
    run = cli_process.run(["serve", "--database-url", "sqlite://", "--port", "0", "--import", str(path)],
                          timeout=60)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "--import" in lines[0] and HOSTILE[label][1] in lines[0], run.stderr


def test_an_imported_snapshot_never_replaces_the_live_schema(app_at, tmp_path):
    """In memory, a whole snapshot saved here may become the database image at once; an
    imported one is copied row by row into the live tables, whose constraints stay."""
    app = app_at(True)
    with TestClient(app) as client:
        Kit(client).jpush(b"a\n")
        ok(client.post("/_emulator/snapshots", json={"name": "good"}), 201)
        good = client.get("/_emulator/snapshots/good/export").content
        loose = edited(good, tmp_path, rebuilt_without_constraints("jpush_files"))
        ok(client.put("/_emulator/snapshots/loose", content=loose), 201)
        ok(client.post("/_emulator/snapshots/loose/restore"))
        emu = app.state.emulator
        with emu.db.engine.connect() as conn:
            ddl = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'jpush_files'").scalar_one()
        assert "REFERENCES" in ddl and "PRIMARY KEY" in ddl, ddl
        assert [f["lines"] for f in ok(client.get("/_emulator/jpush/files"))] == [["a"]]
        # Saving it again here makes it this emulator's own snapshot.
        ok(client.post("/_emulator/snapshots", json={"name": "loose"}), 201)
        ok(client.post("/_emulator/snapshots/loose/restore"))
        assert [f["lines"] for f in ok(client.get("/_emulator/jpush/files"))] == [["a"]]


@pytest.mark.parametrize("memory", [True, False], ids=["memory", "file"])
def test_a_restore_refused_at_commit_leaves_the_database_usable(app_at, tmp_path, memory):
    """A deferred foreign key fails at COMMIT; the transaction must still be rolled back
    and the snapshot detached, or the pooled connection keeps both."""
    app = app_at(memory)
    with TestClient(app) as client:
        emu = app.state.emulator
        Kit(client).jpush(b"kept\n")
        ok(client.post("/_emulator/snapshots", json={"name": "s"}), 201)
        target = ":memory:" if memory else str(tmp_path / "data" / "snapshots" / "s.snapshot")
        image = emu.snapshots.store.image("s")[0] if memory else None
        with (
            pytest.raises(IntegrityError),
            emu.snapshots.copier.attach(target, image=image) as conn,
            snapshot_copy.transaction(conn),
        ):
            conn.exec_driver_sql("UPDATE main.jpush_files SET blob_id = 99999")
        assert [f["lines"] for f in ok(client.get("/_emulator/jpush/files"))] == [["kept"]]
        Kit(client).jpush(b"second\n")
        ok(client.post("/_emulator/snapshots", json={"name": "t"}), 201)
        ok(client.post("/_emulator/snapshots/s/restore"))
        assert [f["lines"] for f in ok(client.get("/_emulator/jpush/files"))] == [["kept"]]
        ok(client.post("/_emulator/snapshots/t/restore"))
        assert sorted(f["lines"][0] for f in ok(client.get("/_emulator/jpush/files"))) == ["kept", "second"]


def test_checking_a_large_file_keeps_memory_flat(app_at, tmp_path):
    """The full check of a file from elsewhere streams the object bytes (one chunk at a
    time) through the hashes: 40 MiB of objects, a few MiB of memory at most."""
    import tracemalloc

    app = app_at(False)
    with TestClient(app) as client:
        piece = bytes(range(256)) * 4096  # 1 MiB

        def body():
            for n in range(40):
                yield piece[n:] + piece[:n]

        r = client.put("/_emulator/preload/wechat/wxtest0000000000001/test-1a2b3c/big.bin", content=body())
        assert r.status_code == 201 and r.json()["size"] == 40 << 20, r.text
        ok(client.post("/_emulator/snapshots", json={"name": "big"}), 201)
        path = tmp_path / "data" / "snapshots" / "big.snapshot"
        emu = app.state.emulator
        tracemalloc.start()
        try:
            meta = emu.snapshots.checker.validate_file(path)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert meta.bytes == 40 << 20
        assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB while checking 40 MiB"


def test_a_scoped_file_without_its_tenants_record_is_refused(app_at, tmp_path):
    """Restoring it would delete the live tenant and bring nothing back."""
    app = app_at(True)
    with TestClient(app) as client:
        ok(client.post("/_emulator/clock", json={"freeze": True, "set": T0}))
        add_tenants(client)
        Kit(client, SECOND).jpush(b"second\n")
        scope = {"jpush": [SECOND["jpush"]["app_key"]]}
        ok(client.post("/_emulator/snapshots", json={"name": "b", "tenants": scope}), 201)
        good = client.get("/_emulator/snapshots/b/export").content
        ok(client.post("/_emulator/limits", json={"enabled": False}))
        observed(client)  # a first look makes the 123pan root folders
        before = observed(client)
        bad = edited(good, tmp_path, "DELETE FROM tenants;")
        r = client.put("/_emulator/snapshots/bad", content=bad)
        assert r.status_code == 400 and "second-jpush-app" in r.json()["error"], r.text
        assert observed(client) == before
        ok(client.put("/_emulator/snapshots/copy", content=good), 201)
        ok(client.post("/_emulator/snapshots/copy/restore"))
        assert [f["lines"] for f in ok(client.get("/_emulator/jpush/files", params={"app_key": "second-jpush-app"}))] \
            == [["second"]]
