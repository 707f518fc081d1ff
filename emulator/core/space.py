"""Disk space: the free-space reserve below which new bytes are refused, and how a full
store is told apart from every other failure.

The content store asks :meth:`SpaceGuard.check` before each chunk it writes. Free space is
what the file system has left plus the pages the database itself holds free (objects
deleted earlier leave their pages in SQLite's free list, where new bytes go first), so a
delete makes room at once. Refusing before the disk is full keeps the reserve for what must
always work: deletes, the write-ahead log's checkpoints, tokens and other small rows, and a
restart.

A full store answers each API's own error (see ``core/routing.py``) with the journal's
``reason`` saying so, and is logged once when it fills up and once when it has room again,
never as a traceback per request.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from .db import Raw

log = logging.getLogger("emulator")

class StoreFull(Exception):
    """New bytes cannot be stored: the free-space reserve is reached or the disk is full.
    Nothing of the refused request is kept."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_disk_full(exc: BaseException | None) -> bool:
    """True when ``exc`` (or what it wraps) is SQLite's ``SQLITE_FULL`` or the OS's ENOSPC/EDQUOT."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, StoreFull):
            return True
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        if isinstance(exc, sqlite3.Error) and "database or disk is full" in str(exc):
            return True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
        seen += 1
    return False


def is_space_error(exc: BaseException | None) -> bool:
    """A disk-full failure, or the I/O error SQLite gives when it cannot even lay out its
    write-ahead log index (``-shm``) on a disk with no byte left."""
    if is_disk_full(exc):
        return True
    return exc is not None and "disk I/O error" in str(exc)


def as_store_full(exc: BaseException) -> StoreFull:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, StoreFull):
            return seen
        seen = seen.__cause__ or seen.__context__
    return StoreFull("the emulator's store is full: the disk holding its database has no space left")


def _directory(url: str) -> Path | None:
    """The folder of a SQLite database file; None for memory and other databases."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:") or "mode=memory" in url:
        return None
    return Path(u.database).expanduser().resolve().parent


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value: object) -> int:
    """Bytes from ``16777216``, ``16M``, ``16MiB``, ``1.5G``, ``512k``, ``0`` (binary units)."""
    if isinstance(value, bool):
        raise ValueError("a size in bytes, e.g. 16MiB, 512k, 0")
    match = _SIZE.match(str(value)) if isinstance(value, (int, str)) else None
    if match is None:
        raise ValueError("a size in bytes, e.g. 16MiB, 512k, 0")
    if len(match.group(1)) > 20:
        raise ValueError("a size up to 1 TiB")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size > 1 << 40:
        raise ValueError("a size up to 1 TiB")
    return size


BALLAST_NAME = "emulator.db-ballast"
BALLAST_MAX = 8 << 20


class SpaceGuard:
    """The reserve, measured before each chunk. Part of the reserve (half, at most 8 MiB) is
    held as a ballast file next to the database: when something else fills the disk to
    the last byte, releasing it gives SQLite room for its write-ahead log and index at a
    restart and for deletes; it comes back once there is room again."""

    def __init__(self, database_url: str, reserve: int) -> None:
        self.directory = _directory(database_url)
        self.reserve = reserve
        self.ballast_size = min(reserve // 2, BALLAST_MAX)
        self.ballast = self.directory / BALLAST_NAME if self.directory is not None else None
        self._full = False
        self._lock = threading.Lock()
        self._page_size: int | None = None

    # -- the ballast ---------------------------------------------------------------------
    def _ballast_bytes(self) -> int:
        try:
            return os.stat(self.ballast).st_size if self.ballast is not None else 0
        except OSError:
            return 0

    def keep_ballast(self) -> None:
        """Lay the ballast down (again) when it is missing and the disk has room for it."""
        if not self.active or self.directory is None or self.ballast is None or self.ballast_size <= 0:
            return
        if self._ballast_bytes() >= self.ballast_size:
            return
        try:
            st = os.statvfs(self.directory)
            if st.f_bavail * st.f_frsize < self.ballast_size + self.reserve // 2:
                return
            fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.ballast_size)
            finally:
                os.close(fd)
        except OSError:
            self.release_ballast(quiet=True)

    def release_ballast(self, quiet: bool = False) -> bool:
        """Give the ballast's space back to the file system; True when there was one."""
        size = self._ballast_bytes()
        if self.ballast is None or not self.ballast.exists():
            return False
        try:
            self.ballast.unlink()
        except OSError:
            return False
        if not quiet and size:
            log.warning("disk full: released the %d-byte ballast %s so the database can work", size, self.ballast)
        return size > 0

    @property
    def active(self) -> bool:
        return self.directory is not None and self.reserve > 0

    def free(self, session: Session | Raw | None = None) -> int | None:
        """Bytes new data can take: the file system's free space plus the database's free
        pages; None where the database is not a local file."""
        if self.directory is None:
            return None
        try:
            st = os.statvfs(self.directory)
        except OSError:
            return None
        free = st.f_bavail * st.f_frsize + self._ballast_bytes()
        if session is not None:
            if self._page_size is None:
                self._page_size = _pragma(session, "page_size")
            free += _pragma(session, "freelist_count") * self._page_size
        return free

    def check(self, session: Session | Raw, incoming: int) -> None:
        """Raise :class:`StoreFull` when writing ``incoming`` more bytes would eat into the reserve
        (``session``: the transaction's, or its driver-level runner, see ``Database.raw``)."""
        if not self.active:
            return
        free = self.free(session)
        if free is None:
            return
        if free - incoming < self.reserve:
            raise self.refuse(
                f"the emulator's store is full: {free} bytes free, {incoming} more would go below "
                f"the reserve of {self.reserve} bytes (--min-free-space); delete objects to make room"
            )
        if self._full:
            with self._lock:
                if self._full:
                    self._full = False
                    log.info("store has room again: %d bytes free (reserve %d)", free, self.reserve)
            self.keep_ballast()

    def refuse(self, reason: str) -> StoreFull:
        """The exception to raise for a full store; logs one line when the store fills up."""
        self.note_full(reason)
        return StoreFull(reason)

    def note_full(self, reason: str, disk: bool = False) -> None:
        """Log that the store is full (once until it has room again); ``disk``: the disk
        itself is full (SQLite failed), so the ballast goes, for deletes to work."""
        if disk:
            self.release_ballast()
        with self._lock:
            if self._full:
                return
            self._full = True
        log.warning("store full, refusing new bytes until objects are deleted: %s", reason)


BOOKKEEPING_ROOM = 4 << 20  # below this much left on the disk, bookkeeping rows are not written


def no_room(space: SpaceGuard | None) -> bool:
    """Whether the disk holding a file database is (nearly) out of space (under 4 MiB left,
    whatever the store's reserve): bookkeeping rows (the shared journal, limit windows) are
    then not written, as a write the database cannot checkpoint into a larger file wedges
    every later write, deletes included."""
    if space is None or space.directory is None:
        return False
    try:
        st = os.statvfs(space.directory)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < BOOKKEEPING_ROOM


def _pragma(session: Session | Raw, name: str) -> int:
    """A SQLite pragma's number, read in ``session`` (or through a ``Database.raw`` runner)."""
    if isinstance(session, Session):
        return int(session.execute(text(f"PRAGMA {name}")).scalar_one())
    return int(session(f"PRAGMA {name}")[0][0])
