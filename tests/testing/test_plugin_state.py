"""The plugin's state helpers: snapshots (save, restore, export, import), preloading, and
several workers sharing one emulator (each scoped to tenants of its own)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from cli_process import clean_env

from emulator.testing import AdminError, InProcessEmulator, LiveEmulator, SharedEmulator


def jpush_upload(emu, name: str, body: bytes = b"x\n", kind: str = "alias") -> str:
    r = emu.client.post(f"{emu.url}/v3/files/{kind}", headers={"Authorization": emu.jpush_auth()},
                        files={"filename": (name, body)})
    assert r.status_code == 200, r.text
    return r.json()["file_id"]


def test_snapshot_restore_export_import_between_emulators(emulator, tmp_path):
    first = jpush_upload(emulator, "a.txt", b"alice\n")
    emulator.snapshot("one")
    jpush_upload(emulator, "b.txt", b"bob\n")
    emulator.restore("one")
    assert [f["file_id"] for f in emulator.jpush_files()] == [first]
    assert [s["name"] for s in emulator.snapshots()] == ["one"]
    exported = emulator.export_snapshot("one", tmp_path / "one.snapshot")
    assert exported.stat().st_size > 0
    with InProcessEmulator() as other:
        other.import_snapshot("copy", exported)
        other.restore("copy")
        assert [(f["file_id"], f["lines"]) for f in other.jpush_files()] == [(first, ["alice"])]
    with pytest.raises(AdminError):
        emulator.restore("never-saved")


def test_preload_in_process_and_live(emulator, emulator_server, tmp_path):
    tree = tmp_path / "tree"
    (tree / "jpush" / "testjpushappkey000000001" / "alias").mkdir(parents=True)
    (tree / "jpush" / "testjpushappkey000000001" / "alias" / "vip.txt").write_bytes(b"alice\nbob\n")
    (tree / "nextjoy" / "1001:1000" / "img").mkdir(parents=True)
    (tree / "nextjoy" / "1001:1000" / "img" / "a.png").write_bytes(b"png bytes")
    for emu in (emulator, emulator_server):
        summary = emu.preload(tree)
        assert (summary["files"], summary["bytes"]) == (2, 19)
        assert [f["lines"] for f in emu.jpush_files()] == [["alice", "bob"]]
        assert emu.object_bytes("nextjoy", "img/a.png") == b"png bytes"
    (tree / "jpush" / "nobody").mkdir()
    (tree / "jpush" / "nobody" / "x.txt").write_bytes(b"x\n")
    with pytest.raises(AdminError, match="nobody"):
        emulator.preload(tree)


def test_shared_workers_touch_only_their_own_tenants():
    with LiveEmulator() as server:
        a, b = SharedEmulator(server.url, "gw0"), SharedEmulator(server.url, "gw1")
        try:
            assert a.credentials.jpush.app_key != b.credentials.jpush.app_key != "testjpushappkey000000001"
            for h in (a, b):
                jpush_upload(h, "mine.txt")
            b.faults.add(api="jpush", method="POST", status=503, times=None)  # bound to b's tenant
            jpush_upload(a, "still-fine.txt")
            r = b.client.post(f"{b.url}/v3/files/alias", headers={"Authorization": b.jpush_auth()},
                              files={"filename": ("no.txt", b"x\n")})
            assert r.status_code == 503
            a.snapshot("a-two-files")
            a.reset()  # a's reset: b's objects, journal and fault rule stay
            assert a.jpush_files() == [] and len(b.jpush_files()) == 1
            assert a.requests() == [] and len(b.requests()) == 2
            assert len(b.faults.list()) == 1
            a.faults.clear()  # a's clear leaves b's rule
            assert len(b.faults.list()) == 1
            b.faults.clear()
            assert b.faults.list() == []
            a.restore("a-two-files")
            assert len(a.jpush_files()) == 2 and len(b.jpush_files()) == 1
            # every worker's objects are in the server, under their own tenants
            owners = sorted(f["app_key"] for f in server.jpush_files())
            assert owners == sorted([a.credentials.jpush.app_key] * 2 + [b.credentials.jpush.app_key])
        finally:
            a.close()
            b.close()
        assert server.jpush_files() == []  # closing a worker resets its tenants


MODULE = textwrap.dedent('''
    import os, time
    from pathlib import Path
    import requests

    SYNC = Path(os.environ["SYNC_DIR"])

    def wait_for(name):
        deadline = time.monotonic() + 60
        while not (SYNC / name).exists():
            assert time.monotonic() < deadline, f"{name} never appeared"
            time.sleep(0.05)

    def test_uploads_survive_the_other_workers_resets(emulator_server):
        me, other = os.environ["ROLE"], {"one": "two", "two": "one"}[os.environ["ROLE"]]
        jp = emulator_server.credentials.jpush
        assert jp.app_key.startswith("testjpushappkey000000001-")
        for i in range(3):
            r = requests.post(emulator_server.url + "/v3/files/alias", auth=(jp.app_key, jp.master_secret),
                              files={"filename": (f"{i}.txt", b"x")})
            r.raise_for_status()
        (SYNC / f"{me}-uploaded").touch()
        wait_for(f"{other}-uploaded")
        emulator_server.reset()  # my reset ...
        (SYNC / f"{me}-reset").touch()
        wait_for(f"{other}-reset")
        assert emulator_server.jpush_files() == []
        assert emulator_server.requests() == []

    def test_the_other_worker_saw_only_its_own(emulator_server):
        jp = emulator_server.credentials.jpush
        requests.post(emulator_server.url + "/v3/files/alias", auth=(jp.app_key, jp.master_secret),
                      files={"filename": ("z.txt", b"z")}).raise_for_status()
        (SYNC / f"{os.environ['ROLE']}-last").touch()
        wait_for({"one": "two", "two": "one"}[os.environ["ROLE"]] + "-last")
        assert len(emulator_server.jpush_files()) == 1
''')


def test_two_pytest_runs_share_one_emulator_url(tmp_path):
    """As pytest-xdist workers or CI jobs would: two pytest processes, --emulator-url."""
    with LiveEmulator() as server:
        (tmp_path / "test_shared_worker.py").write_text(MODULE)
        sync = tmp_path / "sync"
        sync.mkdir()
        base = clean_env()
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--emulator-url", server.url,
                 "test_shared_worker.py"],
                cwd=tmp_path, env={**base, "ROLE": role, "SYNC_DIR": str(sync)},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for role in ("one", "two")
        ]
        outs = [p.communicate(timeout=180)[0] for p in procs]
        for p, out in zip(procs, outs, strict=True):
            assert p.returncode == 0, out
            assert "2 passed" in out, out
        # both workers cleaned up after themselves; the default tenant was never touched
        assert server.jpush_files() == []
        keys = [t.app_key for t in server.tenants("jpush")]
        assert len(keys) == 3 and keys[0] == "testjpushappkey000000001"
