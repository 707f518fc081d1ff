"""The versioned schema (emulator/migrations): a 0.1.0 data dir opens and upgrades, the
migrations make exactly the models' schema (SQLite and PostgreSQL), replicas starting at
once on a fresh database all come up, and the wheel carries the revisions."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import REPO, basic
from sqlalchemy import inspect

from emulator.apis import ALL_APIS
from emulator.app import create_app
from emulator.core.db import Database
from emulator.migrations import config, current, heads, upgrade
from emulator.migrations.__main__ import diff, upgrade_only
from emulator.settings import Settings

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "datadir-0.1.0"
MADE_AT = 1796337049  # emulator-clock time the fixture was written (its README)
COUNTS = {"pan123": 6, "jpush": 2, "antelope": 2, "nextjoy": 2, "wechat": 2}


def _data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(FIXTURE, data, ignore=shutil.ignore_patterns("*.py", "*.md"))
    return data


def _at_heads(db: Database) -> bool:
    with db.engine.connect() as conn:
        return current(conn) == heads(config(conn, ALL_APIS))


def test_a_0_1_0_data_dir_opens_upgrades_and_serves_its_data(tmp_path: Path) -> None:
    data = _data_dir(tmp_path)
    with TestClient(create_app(Settings(data_dir=data))) as c:
        emu = c.app.state.emulator  # type: ignore[attr-defined]
        assert _at_heads(emu.db)
        emu.clock.set(MADE_AT + 60)
        jpush = [t["app_key"] for t in c.get("/_emulator/credentials").json()["jpush"]]
        assert jpush == ["testjpushappkey000000001", "upgradejpushappkey000001"]  # the run-time tenant too
        for api, total in COUNTS.items():
            assert c.get("/_emulator/objects", params={"api": api}).json()["total"] == total, api
        r = c.get("/v3/files", headers={"Authorization": basic("testjpushappkey000000001", "testjpushmastersecret001")})
        assert r.status_code == 200 and sorted(f["file_name"] for f in r.json()["files"]) == ["devices.txt", "vip.txt"]
        items = c.get("/_emulator/objects", params={"api": "nextjoy"}).json()["items"]
        slot = next(i for i in items if i["name"] == "saves/slot1.dat")
        assert c.get(slot["download"]).content == b"save game slot one"
        pan = c.get("/_emulator/objects", params={"api": "pan123", "q": "readme"}).json()["items"]
        assert [i["md5"] for i in pan] == ["2a7c8086dfb20b5c2f5e2f7adb94ef24"]
        assert c.get(pan[0]["download"]).content == b"hello from 0.1.0\n"
        # New writes go on after the upgrade.
        up = c.put("/_emulator/preload/jpush/upgradejpushappkey000001/alias/new.txt", content=b"carol\n")
        assert up.status_code == 201, up.text
    # The upgraded database matches the models exactly, and a second start changes nothing.
    db = Database(f"sqlite:///{data / 'emulator.db'}")
    try:
        assert diff(db, ALL_APIS) == []
    finally:
        db.dispose()
    with TestClient(create_app(Settings(data_dir=data))) as c:
        assert c.get("/_emulator/objects", params={"api": "jpush"}).json()["total"] == 3


@pytest.mark.xfail(reason="core/snapshot_check.py wants exactly today's tables: a 0.1.0 snapshot lacks "
                   "core/shared.py's (snapshots carry no schema version yet)", strict=False)
def test_a_snapshot_saved_by_0_1_0_restores_after_the_upgrade(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=_data_dir(tmp_path)))) as c:
        c.post("/_emulator/reset").raise_for_status()
        r = c.post("/_emulator/snapshots/before-upgrade/restore")
        assert r.status_code == 200, r.text
        assert c.get("/_emulator/objects", params={"api": "pan123"}).json()["total"] == COUNTS["pan123"]


def test_the_migrations_make_the_models_schema_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        upgrade_only(db, ALL_APIS)
        assert _at_heads(db)
        assert diff(db, ALL_APIS) == []
    finally:
        db.dispose()


def test_the_migrations_make_the_models_schema_on_postgresql(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        upgrade_only(db, ALL_APIS)
        assert _at_heads(db)
        assert diff(db, ALL_APIS) == []
        upgrade(db, ALL_APIS)  # a second start: nothing to do
        assert _at_heads(db)
    finally:
        db.dispose()


def test_a_database_made_by_create_all_of_todays_models_is_stamped_at_heads(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'data' / 'emulator.db'}")
    try:
        db.create_schema()
        upgrade(db, ALL_APIS)
        assert _at_heads(db) and diff(db, ALL_APIS) == []
    finally:
        db.dispose()


def test_unversioned_0_1_0_tables_on_postgresql_are_stamped_and_upgraded(pg_url: str) -> None:
    """0.1.0 made its tables with create_all on PostgreSQL too: the baselines, without a
    version table, stand for such a database."""
    from alembic import command

    db = Database(pg_url)
    try:
        with db.engine.connect() as conn, conn.begin():
            cfg = config(conn, ALL_APIS)
            command.upgrade(cfg, [f"{spec.name}_0001" for spec in ALL_APIS])  # core_0001 with them
            conn.exec_driver_sql("DROP TABLE alembic_version")
            assert "emulator_values" not in inspect(conn).get_table_names()
        upgrade(db, ALL_APIS)
        assert _at_heads(db) and diff(db, ALL_APIS) == []
    finally:
        db.dispose()


def test_an_in_memory_database_is_made_from_the_models_unversioned() -> None:
    db = Database("sqlite://")
    db.create_schema()
    with db.engine.connect() as conn:
        assert "alembic_version" not in inspect(conn).get_table_names()
    assert diff(db, ALL_APIS) == []


STARTER = """
import sys, time
from emulator.apis import ALL_APIS
from emulator.core.runtime import Emulator
from emulator.settings import Settings
go = float(sys.argv[2])
while time.time() < go:
    time.sleep(0.002)
url = sys.argv[1]
# On PostgreSQL no fixture file: what is under test is the schema upgrade under the lock
# (seeding the same tenants from several processes at once is core/tenants.py's business).
pg = url.startswith("postgresql")
settings = Settings(database_url=url, fixtures=[]) if pg else Settings(data_dir=url)
emu = Emulator(settings, ALL_APIS)
emu.start()
print("up", 1 if pg else len(emu.tenants.all("pan123")))
emu.close()
"""


def _start_at_once(target: str, n: int = 3) -> None:
    go = time.time() + 3  # every process imported and waiting: they start within milliseconds
    procs = [subprocess.Popen([sys.executable, "-c", STARTER, target, str(go)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0 and out.strip() == "up 1", err[-3000:]


def test_processes_starting_at_once_on_a_fresh_sqlite_database_all_come_up(tmp_path: Path) -> None:
    _start_at_once(str(tmp_path / "data"))
    db = Database(f"sqlite:///{tmp_path / 'data' / 'emulator.db'}")
    try:
        assert _at_heads(db)
    finally:
        db.dispose()


def test_processes_starting_at_once_on_a_fresh_postgresql_database_all_come_up(pg_url: str) -> None:
    _start_at_once(pg_url)
    db = Database(pg_url)
    try:
        assert _at_heads(db) and diff(db, ALL_APIS) == []
    finally:
        db.dispose()


def test_processes_upgrading_one_0_1_0_data_dir_at_once_all_come_up(tmp_path: Path) -> None:
    _start_at_once(str(_data_dir(tmp_path)))


def test_the_wheel_ships_every_migration(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("storage_emulator-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {p.relative_to(REPO).as_posix() for p in (REPO / "emulator").rglob("migrations/**/*")
            if p.is_file() and "__pycache__" not in p.parts}
    assert want and want <= names, sorted(want - names)
    assert any(n.startswith("emulator/apis/pan123/migrations/versions/") for n in names)
    assert "emulator/migrations/script.py.mako" in names and "emulator/migrations/env.py" in names


def test_every_location_has_a_0_1_0_baseline() -> None:
    cfg = config(None, ALL_APIS)
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(cfg)
    bases = {script.get_revision(b).branch_labels.copy().pop(): b for b in script.get_bases()}  # type: ignore[union-attr]
    assert sorted(bases) == sorted(["core", *(spec.name for spec in ALL_APIS)])
    assert all(rev == f"{label}_0001" for label, rev in bases.items())
