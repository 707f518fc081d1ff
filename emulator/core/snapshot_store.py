"""Where named snapshots are kept: the files of a file-backed emulator
(``<data dir>/snapshots/<name>.snapshot``, written to a temporary file in that folder,
fsynced, then renamed over the old one), or the database images of an in-memory one.
Listing, describing, deleting and streaming them out; which files are known good. The
overview: core/snapshots.py."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from .db import Database
from .snapshot_format import NAME, SUFFIX, Meta, SnapshotError, SnapshotNotFound, read_meta_file

READ_CHUNK = 1 << 20


class SnapshotStore:
    """The named snapshots of one emulator: files under ``directory``, or (when ``db`` is
    in memory) images in memory. ``lock`` guards them (held across a whole save or
    restore by core/snapshots.py)."""

    def __init__(self, db: Database, directory: Path) -> None:
        self.db = db
        self.directory = directory
        self.lock = threading.RLock()
        self._memory: dict[str, tuple[bytes, Meta]] = {}  # in-memory emulator: name -> (image, meta)
        # In-memory snapshots that came from an import: restored row by row into the live
        # schema, never swapped in as the database image (their schema is the file's).
        self._imported: set[str] = set()
        # Snapshot files checked in full (SnapshotChecker.validate_file), by path: (inode,
        # size, mtime). A file this emulator wrote is known good; one put in the folder by
        # hand is checked on its first restore.
        self._checked: dict[str, tuple[int, int, int]] = {}

    @property
    def in_memory(self) -> bool:
        return self.db.memory

    # -- in memory ------------------------------------------------------------------------
    def image(self, name: str) -> tuple[bytes, Meta]:
        try:
            return self._memory[name]
        except KeyError:
            raise SnapshotNotFound(f"no snapshot named {name!r}") from None

    def put_image(self, name: str, data: bytes, meta: Meta, *, imported: bool) -> None:
        """Keep ``data`` under ``name``; ``imported``: it came from elsewhere (see
        :meth:`is_imported`)."""
        with self.lock:
            self._memory[name] = (data, meta)
            if imported:
                self._imported.add(name)
            else:
                self._imported.discard(name)

    def is_imported(self, name: str) -> bool:
        return name in self._imported

    # -- files ----------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        return self.directory / f"{name}{SUFFIX}"

    def file(self, name: str) -> Path:
        """The existing file of snapshot ``name``; SnapshotNotFound if none."""
        path = self.path(name)
        if not path.is_file():
            raise SnapshotNotFound(f"no snapshot named {name!r}")
        return path

    def temporary(self, name: str) -> Path:
        """A fresh temporary path in the snapshots folder (made if missing) to write
        snapshot ``name`` to before :meth:`publish`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.directory / f".{name}.{secrets.token_hex(6)}.tmp"

    def publish(self, tmp: Path, name: str) -> None:
        """Make the written ``tmp`` durable and atomically the (known good) file of ``name``."""
        with self.lock:
            final = self.path(name)
            _publish(tmp, final)
            self.known_good(final)

    def known_good(self, path: Path) -> None:
        self._checked[str(path)] = _stamp(path)

    def is_known_good(self, path: Path) -> bool:
        """Whether ``path`` is a file checked in full (or written here) and unchanged since."""
        return self._checked.get(str(path)) == _stamp(path)

    @staticmethod
    async def write(tmp: Path, body: AsyncIterator[bytes]) -> None:
        """Write a streamed body to ``tmp`` (file work off the event loop)."""
        handle = await asyncio.to_thread(open, tmp, "wb")
        try:
            async for piece in body:
                await asyncio.to_thread(handle.write, piece)
        finally:
            await asyncio.to_thread(handle.close)

    # -- the admin's views ----------------------------------------------------------------
    def listing(self) -> list[dict[str, Any]]:
        """Every snapshot, described, by name (files that are not snapshots are left out)."""
        with self.lock:
            if self.in_memory:
                return [meta.describe(name) for name, (_, meta) in sorted(self._memory.items())]
            if not self.directory.is_dir():
                return []
            out = []
            for path in sorted(self.directory.glob(f"*{SUFFIX}")):
                name = path.name[: -len(SUFFIX)]
                if not NAME.match(name):
                    continue
                try:
                    out.append(read_meta_file(path).describe(name))
                except SnapshotError:
                    continue  # not a snapshot (a file someone put there): not listed
            return out

    def describe(self, name: str) -> dict[str, Any]:
        with self.lock:
            if self.in_memory:
                return self.image(name)[1].describe(name)
            return read_meta_file(self.file(name)).describe(name)

    def delete(self, name: str) -> None:
        with self.lock:
            if self.in_memory:
                self.image(name)
                del self._memory[name]
                self._imported.discard(name)
                return
            try:
                self.path(name).unlink()
            except FileNotFoundError:
                raise SnapshotNotFound(f"no snapshot named {name!r}") from None

    def export(self, name: str) -> tuple[int, Iterator[bytes]]:
        """The snapshot file as (size, chunks); the chunks are read as they are sent."""
        with self.lock:
            if self.in_memory:
                data = self.image(name)[0]
                return len(data), (data[i : i + READ_CHUNK] for i in range(0, len(data), READ_CHUNK))
            try:
                handle = open(self.path(name), "rb")  # noqa: SIM115 - closed by the generator
            except FileNotFoundError:
                raise SnapshotNotFound(f"no snapshot named {name!r}") from None
        size = os.fstat(handle.fileno()).st_size

        def chunks() -> Iterator[bytes]:
            with handle:
                while piece := handle.read(READ_CHUNK):
                    yield piece

        return size, chunks()


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def _publish(tmp: Path, final: Path) -> None:
    """Make ``tmp`` durable and atomically the file at ``final``."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    try:
        dfd = os.open(final.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
