"""A full disk, for real (issue 14 §1): a live server with its data on a small tmpfs that this
test mounts (root only, as CI runs; skipped with the reason otherwise)."""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest
from helpers import JPUSH_AUTH, start_server

DISK_MIB = 48


@pytest.fixture
def small_disk(tmp_path: Path):
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _content() -> bytes:
    return b"".join(secrets.token_hex(16).encode() + b"\n" for _ in range(150_000))  # ~4.7 MiB, distinct


def _upload(url: str, data: bytes) -> httpx.Response:
    return httpx.post(f"{url}/v3/files/alias", files={"filename": ("ids.txt", data, "text/plain")},
                      auth=JPUSH_AUTH, timeout=60)


def _fill(path: Path) -> None:
    """Write until the file system has no byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 65536, 4096, 512, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    st = os.statvfs(path.parent)
    assert st.f_bavail == 0


def test_a_full_disk_never_wedges_the_emulator(tmp_path: Path, small_disk: Path):
    data_dir = small_disk / "data"
    server = start_server(tmp_path, "--data-dir", str(data_dir), "--no-rate-limits")
    kept: dict[str, str] = {}  # acknowledged file id -> md5 of its bytes
    try:
        refused = None
        for _ in range(20):
            data = _content()
            r = _upload(server.url, data)
            if r.status_code != 200:
                refused = r
                break
            kept[r.json()["file_id"]] = hashlib.md5(data).hexdigest()
        # the default reserve still lets a small disk hold objects, then refuses with JPush's own error
        assert len(kept) >= 4, len(kept)
        assert refused is not None and refused.status_code == 500
        assert refused.json()["error"]["code"] == 1100 and "store is full" in refused.json()["error"]["message"]
        journal = httpx.get(f"{server.url}/_emulator/requests", params={"status": "500"}).json()
        assert journal and "store is full" in journal[-1]["reason"]
        wal = data_dir / "emulator.db-wal"
        assert not wal.exists() or wal.stat().st_size <= 6 << 20  # the log stays bounded

        # deletes work and make room: uploads resume. Two go, not one: the refusal came with
        # the free space already a little under the reserve (the last object's bookkeeping
        # rows: journal, versions), so one object's worth of room is not always enough for
        # another as large plus the reserve.
        for gone in list(kept)[:2]:
            assert httpx.delete(f"{server.url}/v3/files/{gone}", auth=JPUSH_AUTH).status_code == 200
            del kept[gone]
        data = _content()
        r = _upload(server.url, data)
        assert r.status_code == 200, r.text
        kept[r.json()["file_id"]] = hashlib.md5(data).hexdigest()

        # something else fills the disk to the last byte: deletes still work
        _fill(small_disk / "filler")
        gone = next(iter(kept))
        assert httpx.delete(f"{server.url}/v3/files/{gone}", auth=JPUSH_AUTH).status_code == 200
        del kept[gone]
    finally:
        server.stop()
    log = server.proc.stderr.read()
    assert "Traceback" not in log, log
    assert log.count("store full") == 1, log

    # a restart on the full disk comes up and serves reads and deletes
    server = start_server(tmp_path, "--data-dir", str(data_dir), "--no-rate-limits")
    try:
        listed = httpx.get(f"{server.url}/v3/files", auth=JPUSH_AUTH).json()["files"]
        assert {f["file_id"] for f in listed} == set(kept)
        for file_id in kept:
            assert httpx.get(f"{server.url}/v3/files/{file_id}", auth=JPUSH_AUTH).status_code == 200
        gone = next(iter(kept))
        assert httpx.delete(f"{server.url}/v3/files/{gone}", auth=JPUSH_AUTH).status_code == 200
        del kept[gone]
        (small_disk / "filler").unlink()
        data = _content()
        r = _upload(server.url, data)
        assert r.status_code == 200, r.text
        kept[r.json()["file_id"]] = hashlib.md5(data).hexdigest()
    finally:
        server.stop()
    assert "Traceback" not in server.proc.stderr.read()

    # nothing acknowledged was lost or corrupted
    db = sqlite3.connect(data_dir / "emulator.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = dict(db.execute(
            "SELECT f.file_id, b.md5 FROM jpush_files f JOIN blobs b ON b.id = f.blob_id"
        ).fetchall())
        assert stored == kept
    finally:
        db.close()
