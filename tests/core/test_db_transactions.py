"""core/db.py across processes: sessions on a SQLite file hold the write lock from their first
statement (BEGIN IMMEDIATE), and Database.retrying reruns a transaction lost to a race."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from emulator.core.db import Database, is_transient


def _table(db: Database) -> None:
    with db.session() as s:
        s.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY, u VARCHAR(8) UNIQUE, v INTEGER NOT NULL)"))
        s.execute(text("INSERT INTO t VALUES (1, 'a', 1)"))


def test_a_session_on_a_sqlite_file_holds_the_write_lock_from_its_first_read(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        _table(db)
        assert db.dialect == "sqlite"
        with db.session() as s:
            assert s.execute(text("SELECT count(*) FROM t")).scalar() == 1
            other = sqlite3.connect(tmp_path / "x.db", timeout=0, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
        # A connection of its own (snapshots) gets no automatic BEGIN: ATTACH stays possible.
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ATTACH DATABASE ':memory:' AS snap")
            conn.exec_driver_sql("DETACH DATABASE snap")
            conn.commit()
    finally:
        db.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "pg"])
def test_retrying_reruns_a_lost_unique_race_and_nothing_else(kind: str, tmp_path: Path,
                                                             request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}" if kind == "sqlite" else request.getfixturevalue("pg_url")
    db = Database(url)
    try:
        _table(db)
        runs: list[int] = []

        def insert_once(session: Session) -> int:
            runs.append(1)
            if len(runs) == 1:
                with db.session() as rival:  # another transaction takes key 'b' first
                    rival.execute(text("INSERT INTO t VALUES (2, 'b', 1)"))
                session.execute(text("INSERT INTO t VALUES (3, 'b', 1)"))  # lost: rolled back, run again
            return len(runs)

        assert db.retrying(insert_once) == 2
        with pytest.raises(IntegrityError) as caught, db.session() as s:
            s.execute(text("INSERT INTO t VALUES (4, 'c', NULL)"))
        assert not is_transient(caught.value)
    finally:
        db.dispose()
