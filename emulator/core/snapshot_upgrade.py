"""Snapshot files written by an older release, brought to today's schema before they are
checked and restored. A snapshot is a SQLite database holding the emulator's tables, so the
same Alembic revisions that upgrade a data dir upgrade it: on a copy (or on a file this
emulator owns, in place), then the revision table is dropped again so the file looks like a
snapshot saved today. Only a file holding every table of a known release is upgraded;
anything else goes to the checker as it is (core/snapshot_check.py says what is wrong)."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .contract import ApiSpec
from .db import Base, Database
from .snapshot_format import META, SnapshotError

# The tables of release 0.1.0 (the first one; its snapshots carry no schema version).
RELEASE_010_TABLES = frozenset({
    "tenants", "blobs", "blob_chunks",
    "pan123_files", "pan123_file_parts", "pan123_file_meta", "pan123_tokens", "pan123_uploads", "pan123_upload_parts",
    "antelope_objects", "antelope_events",
    "nextjoy_objects", "nextjoy_refreshes", "nextjoy_uploads", "nextjoy_upload_parts",
    "jpush_files",
    "wechat_files", "wechat_tokens", "wechat_upload_grants",
})


def _is_old(conn: sqlite3.Connection) -> bool:
    try:
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:
        return False
    if META not in have or not have >= RELEASE_010_TABLES:
        return False
    return bool(set(Base.metadata.tables) - have)


def is_old(path: Path) -> bool:
    """Whether ``path`` is a snapshot of release 0.1.0's schema (every table of it, and
    some table of today's missing)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        return _is_old(conn)
    finally:
        conn.close()


def upgrade_in_place(path: Path, apis: Sequence[ApiSpec]) -> bool:
    """Upgrade an old snapshot file (one this emulator owns) to today's schema; False when
    it was not old. Raises SnapshotError when the upgrade fails."""
    if not is_old(path):
        return False
    from ..migrations import upgrade  # the migrations package imports core: not at module load

    db = Database(f"sqlite:///{path}")
    try:
        upgrade(db, apis)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            conn.exec_driver_sql("PRAGMA journal_mode=DELETE")  # one file again, as saved
    except Exception as exc:  # noqa: BLE001 - whatever Alembic met in a foreign file
        raise SnapshotError(f"cannot bring the snapshot's schema up to date: {str(exc).splitlines()[0]}") from None
    finally:
        db.dispose()
    return True


@contextmanager
def current_file(path: Path, apis: Sequence[ApiSpec]) -> Iterator[Path]:
    """``path`` itself when its schema is today's, else an upgraded temporary copy (the
    caller's file, e.g. ``--import``'s, is never changed)."""
    if not is_old(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="snapshot-upgrade-") as tmp:
        copy = Path(tmp) / path.name
        shutil.copyfile(path, copy)
        upgrade_in_place(copy, apis)
        yield copy


def current_image(data: bytes, apis: Sequence[ApiSpec]) -> bytes:
    """A snapshot file's bytes with today's schema: the same bytes when already so (told
    from the bytes in memory), else upgraded through a temporary file."""
    if not data.startswith(b"SQLite format 3\x00"):
        return data  # not a database: the checker says what is wrong with it
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(data)
        old = _is_old(conn)
    except sqlite3.Error:
        old = False  # not a database: the checker says what is wrong with it
    finally:
        conn.close()
    if not old:
        return data
    with tempfile.TemporaryDirectory(prefix="snapshot-upgrade-") as tmp:
        path = Path(tmp) / "image.snapshot"
        path.write_bytes(data)
        upgrade_in_place(path, apis)
        return path.read_bytes()
