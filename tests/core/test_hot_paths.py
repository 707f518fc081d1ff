"""What the hot paths cost the database (issue 17): how many statements a call runs on a file
database, counted, not timed (timings are the benchmarks' job, bench/vs_moto.py). A call that
goes back to the ORM, opens a transaction per lookup or reads a shared switch once per look
shows up here as more statements."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from helpers import pan123_slice_url

from emulator.app import create_app
from emulator.core.db import Database
from emulator.settings import Settings
from emulator.testing.handle import EmulatorHandle


class Statements:
    """Every statement any connection of this test runs (sqlite3's trace callback)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, sql: str) -> None:
        with self.lock:
            self.seen.append(" ".join(sql.split())[:120])

    def during(self, call):
        with self.lock:
            self.seen.clear()
        result = call()
        with self.lock:
            return result, [s for s in self.seen if not s.startswith("PRAGMA")]


@pytest.fixture
def traced(tmp_path: Path, monkeypatch):
    statements = Statements()
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(statements)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", connect)  # what SQLAlchemy's pool calls
    app = create_app(Settings(data_dir=tmp_path / "data", rate_limits=False))
    with TestClient(app) as c:
        yield EmulatorHandle(c, "http://testserver"), statements
    app.state.emulator.close()


def test_a_detail_call_reads_without_a_transaction_of_its_own(traced):
    emu, statements = traced
    data = os.urandom(3000)
    h, pre, url = pan123_slice_url(emu, data)
    parts = urlsplit(url)
    assert emu.client.put(parts.path + "?" + parts.query, content=data).status_code == 200
    file_id = emu.client.post("/upload/v1/oss/file/upload_complete", headers=h,
                              json={"preuploadID": pre}).json()["data"]["fileID"]

    def detail():
        return emu.client.get("/api/v1/oss/file/detail", params={"fileID": file_id}, headers=h).json()

    detail()
    answer, seen = statements.during(detail)
    assert answer["code"] == 0 and answer["data"]["fileId"] == file_id
    # the switches' view, the token with the config, the due uploads, the file, the journal entry
    assert len(seen) <= 6, seen
    assert not [s for s in seen if s.startswith(("BEGIN", "SAVEPOINT"))], seen
    assert sum("emulator_live" in s for s in seen) == 1, seen  # clock and versions read once
    assert sum("emulator_values" in s and "clock" in s for s in seen) <= 1, seen


def test_a_presigned_put_and_a_download_run_few_statements(traced):
    emu, statements = traced
    data = os.urandom(5000)
    h, pre, url = pan123_slice_url(emu, data)
    parts = urlsplit(url)

    response, seen = statements.during(lambda: emu.client.put(parts.path + "?" + parts.query, content=data))
    assert response.status_code == 200
    # the view, the upload twice (owner, then the checks), the chunk with the blob's row (one
    # transaction), the slice's commit (one transaction: state, dedupe, ready, part), the journal
    assert sum(s.startswith("BEGIN") for s in seen) == 2, seen
    assert len(seen) <= 20, seen

    done = emu.client.post("/upload/v1/oss/file/upload_complete", headers=h, json={"preuploadID": pre}).json()
    link = emu.client.get("/api/v1/oss/file/detail", params={"fileID": done["data"]["fileID"]},
                          headers=h).json()["data"]["downloadURL"]
    got, seen = statements.during(lambda: emu.client.get(urlsplit(link).path))
    assert got.status_code == 200 and got.content == data
    # the view, the file, its parts, the blob, its one chunk, the traffic counter, the journal entry
    assert len(seen) <= 8, seen
    assert not [s for s in seen if s.startswith("BEGIN")], seen


def test_each_thread_reads_on_its_own_connection_until_the_database_is_disposed(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.create_schema()
    with db.connection() as first, db.connection() as again:
        assert first is again  # kept for the thread's next call
        assert first.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # the engine's settings
    other: list[object] = []

    def elsewhere():
        with db.connection() as conn:
            other.append(conn)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert other and other[0] is not first
    db.dispose()
    with pytest.raises(sqlite3.ProgrammingError):  # closed with the database
        first.execute("SELECT 1")
    with db.connection() as fresh:  # a disposed database reconnects, as its engine does
        assert fresh is not first
        assert fresh.execute("SELECT 1").fetchone() == (1,)
    db.dispose()


def test_a_forked_process_opens_its_own_connection(tmp_path: Path, monkeypatch):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.create_schema()
    with db.connection() as parent:
        pass
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as in a worker forked after the parent read
    with db.connection() as child:
        assert child is not parent
    db.dispose()
