"""A full store (issue 14 §1), in process on a database file: the bounded write-ahead log,
the free-space reserve answered as each API's own error with the journal's reason, one log
line, nothing kept, and a 123pan download whose bookkeeping fails still delivered whole.
The real small-disk run is tests/test_disk_full_live.py."""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from antelope_kit import DOC_TIME, Antelope
from fastapi.testclient import TestClient
from helpers import JPUSH_AUTH, pan123_slice_url
from sqlalchemy import text

from emulator.app import create_app
from emulator.core.db import WAL_LIMIT
from emulator.settings import Settings
from emulator.testing.handle import EmulatorHandle


def _app(tmp_path: Path, **settings):
    return create_app(Settings(data_dir=tmp_path / "data", rate_limits=False, **settings))


@pytest.fixture
def full(tmp_path: Path):
    """An emulator on a database file whose reserve no disk can meet: every new byte is refused."""
    app = _app(tmp_path, min_free_space="1T")
    with TestClient(app) as c:
        yield app.state.emulator, c
    app.state.emulator.close()


def _lines(n: int) -> bytes:
    return b"".join(secrets.token_hex(16).encode() + b"\n" for _ in range(n))


def _reasons(emu, api: str) -> list[str]:
    return [e.get("reason") or "" for e in emu.journal.query(api=api)]


def test_the_write_ahead_log_stays_bounded(tmp_path: Path):
    app = _app(tmp_path, min_free_space=0)
    emu = app.state.emulator
    with TestClient(app) as c:
        for _ in range(6):  # 6 x ~5 MiB of distinct bytes through JPush
            r = c.post("/v3/files/alias", files={"filename": ("a.txt", _lines(150_000), "text/plain")}, auth=JPUSH_AUTH)
            assert r.status_code == 200, r.text
        wal = tmp_path / "data" / "emulator.db-wal"
        assert wal.stat().st_size <= WAL_LIMIT + (1 << 20), wal.stat().st_size  # one chunk transaction over at most
    emu.close()


def test_each_api_answers_its_own_error_for_a_full_store(full, caplog):
    emu, c = full
    handle = EmulatorHandle(c, "http://testserver")
    data = secrets.token_bytes(3000)
    caplog.set_level(logging.INFO, logger="emulator")

    # JPush: 1100, HTTP 500
    r = c.post("/v3/files/alias", files={"filename": ("a.txt", _lines(100), "text/plain")}, auth=JPUSH_AUTH)
    assert r.status_code == 500 and r.json()["error"]["code"] == 1100
    assert "store is full" in r.json()["error"]["message"]

    # 123pan: the presigned PUT answers S3's InternalError (XML, 500)
    _, _, url = pan123_slice_url(handle, data)
    parts = urlsplit(url)
    r = c.put(parts.path + "?" + parts.query, content=data)
    assert r.status_code == 500 and "<Code>InternalError</Code>" in r.text and "store is full" in r.text

    # Antelope: 500
    c.post("/_emulator/clock", json={"freeze": True, "set": DOC_TIME})
    r = Antelope(c).upload2(data)
    assert r.status_code == 500 and r.json()["code"] == 500, r.text
    c.post("/_emulator/clock", json={"real": True})

    # WeChat: the COS form POST answers COS's InternalError (XML, 500)
    wx = handle.credentials.wechat
    link = c.post("/tcb/uploadfile", params={"access_token": handle.wechat_token()},
                  json={"env": wx.envs[0], "path": "a/b.bin"}).json()
    assert link["errcode"] == 0, link
    form = {"key": "a/b.bin", "Signature": link["authorization"], "x-cos-security-token": link["token"],
            "x-cos-meta-fileid": link["cos_file_id"]}
    cos = urlsplit(link["url"])
    r = c.post(cos.path + ("?" + cos.query if cos.query else ""), data=form,
               files={"file": ("b.bin", data, "application/octet-stream")})
    assert r.status_code == 500 and "<Code>InternalError</Code>" in r.text, r.text

    # NextJoy's Qiniu upload host: 599 server failure
    got = c.post("/upload_token/get", data=handle.nextjoy_params()).json()
    assert got["status"] == 200, got
    r = c.post("/_qiniu/up", data={"token": got["data"]["upload_token"], "key": "k.bin"},
               files={"file": ("k.bin", data, "application/octet-stream")})
    assert r.status_code == 599 and r.json() == {"error": "server error"}, r.text

    for api in ("jpush", "pan123", "antelope", "wechat", "nextjoy"):
        assert any("store is full" in reason and "--min-free-space" in reason for reason in _reasons(emu, api)), api
    # nothing of a refused upload is kept
    assert emu.blobs.stats() == {"blobs": 0, "bytes": 0}
    with emu.db.session() as s:
        from sqlalchemy import func, select

        from emulator.core.blobs import Blob

        assert s.execute(select(func.count(Blob.id))).scalar_one() == 0
    # one log line for the whole episode, no traceback
    full_lines = [r for r in caplog.records if "store full" in r.getMessage()]
    assert len(full_lines) == 1 and full_lines[0].exc_info is None
    assert not [r for r in caplog.records if r.exc_info]


def test_deletes_free_the_reserve_and_uploads_resume(tmp_path: Path):
    """Below the reserve a delete still works and its pages count as free again at once
    (uploads resuming after it: tests/test_disk_full_live.py)."""
    app = _app(tmp_path, min_free_space=0)
    emu = app.state.emulator
    with TestClient(app) as c:
        ids = []
        for _ in range(3):
            r = c.post("/v3/files/alias", files={"filename": ("a.txt", _lines(60_000), "text/plain")}, auth=JPUSH_AUTH)
            ids.append(r.json()["file_id"])
        with emu.db.session() as s:
            before = emu.space.free(s)
        # the reserve: just what is free now, so the next upload is refused
        emu.space.reserve = before
        r = c.post("/v3/files/alias", files={"filename": ("a.txt", _lines(60_000), "text/plain")}, auth=JPUSH_AUTH)
        assert r.status_code == 500 and r.json()["error"]["code"] == 1100
        assert c.delete(f"/v3/files/{ids[0]}", auth=JPUSH_AUTH).status_code == 200
        assert c.delete(f"/v3/files/{ids[1]}", auth=JPUSH_AUTH).status_code == 200
        with emu.db.session() as s:  # the deleted objects' pages are free space again
            freed = int(s.execute(text("PRAGMA freelist_count")).scalar_one()) * int(
                s.execute(text("PRAGMA page_size")).scalar_one())
            assert freed >= 3_500_000
            fs = os.statvfs(tmp_path / "data")
            assert emu.space.free(s) >= fs.f_bavail * fs.f_frsize + freed - (64 << 20)  # counted (others write too)
    emu.close()
    db = sqlite3.connect(tmp_path / "data" / "emulator.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_a_123pan_download_is_whole_when_its_counter_cannot_be_written(tmp_path: Path, caplog, monkeypatch):
    """The traffic counter is written after the body: on a full disk that write fails, and
    the client still gets every byte and a finished response."""
    app = _app(tmp_path, min_free_space=0)
    emu = app.state.emulator
    with TestClient(app) as c:
        handle = EmulatorHandle(c, "http://testserver")
        data = os.urandom(300_000)
        h, pre, url = pan123_slice_url(handle, data)
        parts = urlsplit(url)
        assert c.put(parts.path + "?" + parts.query, content=data).status_code == 200
        done = c.post("/upload/v1/oss/file/upload_complete", headers=h, json={"preuploadID": pre}).json()["data"]
        detail = c.get("/api/v1/oss/file/detail", params={"fileID": done["fileID"]}, headers=h).json()
        link = detail["data"]["downloadURL"]

        from emulator.apis.pan123 import downloads

        real_execute = downloads.execute

        def execute(db, sql, params):  # the write of the counter fails as on a full disk
            if "pan123_files" in sql:
                raise sqlite3.OperationalError("database or disk is full")
            return real_execute(db, sql, params)

        monkeypatch.setattr(downloads, "execute", execute)
        caplog.set_level(logging.WARNING, logger="emulator")
        r = c.get(urlsplit(link).path)
        assert r.status_code == 200
        assert r.content == data
        assert [rec.getMessage() for rec in caplog.records if "download counter" in rec.getMessage()]
        assert not [rec for rec in caplog.records if rec.exc_info]
    emu.close()
