"""The PostgreSQL server of the suite's second run (tests/pg_server.py), and what differs
between the two backends kept out of the answers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import psycopg
from helpers import JPUSH_AUTH
from pg_server import find_bin, running_server
from sqlalchemy import text

from emulator.core.db import Database


def test_a_server_starts_on_a_free_port_unprivileged_and_is_removed_after():
    with running_server() as server:
        root = server.root
        assert server.socket_dir == root and (root / "data" / "PG_VERSION").exists()
        first = server.create_database()
        second = server.create_database()
        assert first != second and first.startswith("postgresql+psycopg://postgres@127.0.0.1:")
        with psycopg.connect(host=server.host, port=server.port, user=server.user, dbname="postgres") as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
        if os.geteuid() == 0:  # postgres refuses root: the server runs as nobody
            owner = subprocess.run(["stat", "-c", "%U", str(root / "data")], capture_output=True, text=True)
            assert owner.stdout.strip() == "nobody"
        server.drop_database(first.rsplit("/", 1)[1])
    assert not root.exists()
    assert find_bin("initdb").endswith("initdb")


def test_string_lengths_are_not_enforced_on_either_backend(database, tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}" if database == "sqlite://" else database
    db = Database(url)
    db.create_schema()
    with db.session() as s:
        s.execute(text("INSERT INTO tenants (api, key, position, data) VALUES (:api, :key, 0, '{}')"),
                  {"api": "x" * 100, "key": "k" * 1000})
    db.dispose()


def test_long_content_types_and_file_names_are_stored_as_on_sqlite(client):
    r = client.post("/v3/files/registration_id", files={"filename": ("n" * 2000 + ".txt", b"id-1\n", "text/plain")},
                    auth=JPUSH_AUTH)
    assert r.status_code == 200, r.text
    file_id = r.json()["file_id"]
    assert client.get(f"/v3/files/{file_id}", auth=JPUSH_AUTH).json()["file_name"] == "n" * 2000 + ".txt"


def test_keys_list_in_byte_order_on_both_backends(client):
    """Qiniu lists keys byte-wise; the test databases sort text as en-US would."""
    def signed(**extra: object) -> dict[str, str]:  # as tests/nextjoy/conftest.py signs
        now = client.get("/_emulator/clock").json()["now"]
        params = {"appid": "1001", "child_id": "1000", "timestamp": str(int(now))}
        params.update({k: str(v) for k, v in extra.items()})
        text = "".join(f"{k}|{params[k]}#" for k in sorted(params)) + "test-nextjoy-app-secret"
        return {**params, "sign": hashlib.md5(text.encode()).hexdigest().upper()}

    keys = ["b", "A", "a", "_z", "B", "a-b", "ab", "Z~", "é"]
    for key in keys:
        token = client.post("/upload_token/get", data=signed()).json()["data"]["upload_token"]
        r = client.post("/_qiniu/up", data={"token": token, "key": key}, files={"file": ("f", key.encode())})
        assert r.status_code == 200, r.text
    listed = client.post("/upload_token/get_file_list", data=signed(marker="", prefix="")).json()["data"]
    assert [item["key"] for item in listed["data"]] == sorted(keys)


def test_pan123_search_ignores_ascii_case_on_both_backends(client):
    """SQLite's LIKE ignores ASCII case; PostgreSQL's would not (the search uses ILIKE there)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "pan123"))  # as tests/pan123/conftest.py does
    from pan123_support import Pan

    pan = Pan(client)
    for name in ("Report-2024", "notes"):
        pan.ok("/upload/v1/file/mkdir", {"name": name, "parentID": 0})

    def search(**q):
        page = pan.ok("/api/v2/file/list", method="GET", params={"parentFileId": 0, "limit": 100, **q})
        return [f["filename"] for f in page["fileList"]]

    assert search(searchData="report") == ["Report-2024"]
    assert search(searchData="REPORT", searchMode=1) == []
