"""Content store: object bytes as 1 MiB chunk rows in the database, content-addressed.

Writing is two-phase so that an object and its bytes commit atomically:

1. :meth:`BlobStore.stage` streams an async byte iterator into a *pending* blob, one
   short transaction per chunk, computing MD5 and SHA-1 in the same pass (see
   :class:`_Pipeline`: hashing and writing overlap each other and the socket).
2. :meth:`BlobStore.commit` runs inside the caller's transaction (the one that inserts
   the object row): if identical bytes are already stored, the staged copy is dropped
   and the existing blob gains a reference; otherwise the staged blob becomes ready.

A blob carries a reference count; :meth:`release` drops one and reclaims the blob
at zero. Pending blobs left by a crash are swept at start.

Several processes may share the database (replicas, ``--workers``): at most one *ready*
blob holds given bytes (a partial unique index on ``(sha1, md5, size)`` where ``state =
'ready'``), so two concurrent commits of identical bytes end with one blob whose reference
count counts both (the loser of the race takes the winner's blob, see :meth:`commit`);
reference counts change only in single ``UPDATE ... RETURNING`` statements.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import journal
from .clock import Clock
from .db import Base, Database, Raw
from .reads import Read, Sql
from .space import SpaceGuard

CHUNK_SIZE = 1 << 20
# A pending blob younger than this (wall-clock seconds since staging began) may be an upload
# another process is still streaming: the sweep at start leaves it alone.
PENDING_GRACE = 3600.0
_READY = text("state = 'ready'")


class Blob(Base):
    __tablename__ = "blobs"
    __table_args__ = (
        # Instant-upload checks look bytes up by MD5 and size (find); the unique index below
        # serves lookups by all three digests (commit, retain).
        Index("ix_blobs_md5", "md5", "size"),
        # One ready blob per content, whichever process commits it (see BlobStore.commit).
        Index("uq_blobs_ready_content", "sha1", "md5", "size", unique=True,
              sqlite_where=_READY, postgresql_where=_READY),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(8), default="pending")  # pending | ready
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    md5: Mapped[str | None] = mapped_column(String(32))
    sha1: Mapped[str | None] = mapped_column(String(40))
    refcount: Mapped[int] = mapped_column(Integer, default=0)
    # pending: wall-clock time staging began (see PENDING_GRACE); ready: the emulator clock's
    created_at: Mapped[float] = mapped_column(Float)


class BlobChunk(Base):
    __tablename__ = "blob_chunks"

    blob_id: Mapped[int] = mapped_column(ForeignKey("blobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class BlobTooLarge(Exception):
    """The stream exceeded the caller's limit; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body exceeds {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StagedBlob:
    id: int
    size: int
    md5: str
    sha1: str


@dataclass(frozen=True)
class BlobInfo:
    id: int
    size: int
    md5: str
    sha1: str


def _pools() -> tuple[ThreadPoolExecutor, ThreadPoolExecutor, ThreadPoolExecutor]:
    """The process's three pipeline threads (MD5, SHA-1, database writes), made on first use
    (after a worker process has started) and kept: making threads per upload cost more than
    a 1 MiB upload's hashing. Uploads share them; each is a FIFO queue, so every upload's
    pieces are hashed and written in order."""
    pid = os.getpid()
    pools = _POOLS.get(pid)
    if pools is None:
        with _POOLS_LOCK:
            pools = _POOLS.get(pid)
            if pools is None:
                made = tuple(ThreadPoolExecutor(1, thread_name_prefix=f"blob-{n}") for n in ("md5", "sha1", "db"))
                pools = _POOLS[pid] = (made[0], made[1], made[2])
    return pools


_POOLS: dict[int, tuple[ThreadPoolExecutor, ThreadPoolExecutor, ThreadPoolExecutor]] = {}
_POOLS_LOCK = threading.Lock()
# Downloads read the next chunk row while the socket sends the current one (see BlobStore.read).
_READERS = ThreadPoolExecutor(4, thread_name_prefix="blob-read")


class _Pipeline:
    """Overlaps the three costs of a chunk: MD5, SHA-1 and the database write each run on
    a thread of their own (all three release the GIL), in submission order, with at most
    ``DEPTH`` chunks in flight so memory stays bounded while the socket keeps flowing.
    The blob's row is inserted with its first chunk, in the same transaction."""

    DEPTH = 4

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.blob_id: int | None = None
        self.md5 = hashlib.md5()
        self.sha1 = hashlib.sha1()
        self.seq = 0
        self.inflight: deque[asyncio.Future[tuple[None, None, None]]] = deque()

    async def submit(self, pieces: list[bytes]) -> None:
        """One chunk, as the pieces it arrived in (never joined on the event loop)."""
        loop = asyncio.get_running_loop()
        md5_pool, sha1_pool, db_pool = _pools()
        self.inflight.append(
            asyncio.gather(
                loop.run_in_executor(md5_pool, _update, self.md5, pieces),
                loop.run_in_executor(sha1_pool, _update, self.sha1, pieces),
                loop.run_in_executor(db_pool, self._write, self.seq, pieces),
            )
        )
        self.seq += 1
        while len(self.inflight) >= self.DEPTH:
            await self.inflight.popleft()

    def _write(self, seq: int, pieces: list[bytes]) -> None:
        with self.store.db.raw() as run:
            if self.blob_id is None:
                self.blob_id = self.store.new_pending(run)
            self.store.put_chunk(run, self.blob_id, seq, pieces)

    async def finish(self) -> tuple[int, str, str]:
        """Wait for every piece; answers (blob id, MD5, SHA-1)."""
        while self.inflight:
            await self.inflight.popleft()
        if self.blob_id is None:  # an empty body: the row alone
            self.blob_id = await asyncio.to_thread(self.store._new_pending)
        return self.blob_id, self.md5.hexdigest(), self.sha1.hexdigest()

    async def abort(self) -> int | None:
        """Wait for the pieces in flight (their rows go with the blob's); answers the blob's id."""
        if self.inflight:
            await asyncio.gather(*self.inflight, return_exceptions=True)
            self.inflight.clear()
        return self.blob_id


# The statements of the hot paths (uploads, downloads), compiled once (core/reads.py).
_INSERT_BLOB = Sql(insert(Blob).values(state="pending", size=0, refcount=0, created_at=bindparam("at"))
                   .returning(Blob.id))
_INSERT_CHUNK = Sql(insert(BlobChunk).values(blob_id=bindparam("blob_id"), seq=bindparam("seq"),
                                             data=bindparam("data")))
_INSERT_SIZED_CHUNK = Sql(insert(BlobChunk).values(blob_id=bindparam("blob_id"), seq=bindparam("seq"),
                                                   data=func.zeroblob(bindparam("size")))
                          .returning(literal_column("rowid")))
_SAME_CONTENT = (Blob.state == "ready") & (Blob.sha1 == bindparam("sha1")) & (Blob.md5 == bindparam("md5")) & (
    Blob.size == bindparam("size"))
# One more reference on the ready blob holding these bytes (none at zero: being reclaimed).
_ADD_REFERENCE = Sql(update(Blob).where(_SAME_CONTENT, Blob.refcount > 0).values(refcount=Blob.refcount + 1)
                     .returning(Blob.id))
_MAKE_READY = Sql(update(Blob).where(Blob.id == bindparam("blob_id")).values(
    state="ready", refcount=1, created_at=bindparam("at"), size=bindparam("new_size"), md5=bindparam("new_md5"),
    sha1=bindparam("new_sha1")))
_RETAIN = Sql(update(Blob).where(Blob.id == bindparam("blob_id"), Blob.state == "ready", Blob.refcount > 0)
              .values(refcount=Blob.refcount + 1).returning(Blob.id))
_RELEASE = Sql(update(Blob).where(Blob.id == bindparam("blob_id")).values(refcount=Blob.refcount - 1)
               .returning(Blob.refcount))
_DROP_CHUNKS = Sql(delete(BlobChunk).where(BlobChunk.blob_id == bindparam("blob_id")))
_DROP_UNREFERENCED = Sql(delete(Blob).where(Blob.id == bindparam("blob_id"), Blob.refcount <= 0))
_DROP_STAGED = Sql(delete(Blob).where(Blob.id == bindparam("blob_id")))
_CHUNK = Read(select(BlobChunk.data).where(BlobChunk.blob_id == bindparam("blob_id"),
                                           BlobChunk.seq == bindparam("seq")))
_INFO = Read(select(Blob.id, Blob.size, Blob.md5, Blob.sha1).where(Blob.id == bindparam("blob_id"),
                                                                   Blob.state == "ready"))


def _update(digest: Any, pieces: list[bytes]) -> None:
    for piece in pieces:
        digest.update(piece)


class BlobStore:
    def __init__(
        self, db: Database, clock: Clock, chunk_size: int = CHUNK_SIZE, space: SpaceGuard | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.chunk_size = chunk_size
        self.space = space  # the free-space reserve each chunk is checked against (StoreFull)

    # -- writing -----------------------------------------------------------------
    async def stage(
        self,
        chunks: AsyncIterator[bytes],
        *,
        max_size: int | None = None,
        observe: Callable[[bytes], None] | None = None,
    ) -> StagedBlob:
        """Stream ``chunks`` into a pending blob. ``observe`` sees every piece in order
        (for an API's own streaming checks); an exception from it, or exceeding
        ``max_size`` (:class:`BlobTooLarge`), discards what was written and propagates.
        """
        pipeline = _Pipeline(self)
        size = 0
        parts: list[bytes] = []
        buffered = 0
        try:
            async for data in chunks:
                if not data:
                    continue
                size += len(data)
                if max_size is not None and size > max_size:
                    raise BlobTooLarge(max_size)
                if observe is not None:
                    observe(data)
                parts.append(data)
                buffered += len(data)
                while buffered >= self.chunk_size:
                    # Exactly one chunk's pieces: only the piece that straddles the chunk's end
                    # is cut (its own bytes copied); the rest go as they came.
                    over = buffered - self.chunk_size
                    last = parts[-1]
                    if over:
                        head, tail = last[: len(last) - over], last[len(last) - over :]
                        await pipeline.submit([*parts[:-1], head])
                        parts, buffered = [tail], over
                    else:
                        await pipeline.submit(parts)
                        parts, buffered = [], 0
            if buffered:
                await pipeline.submit(parts)
            blob_id, md5, sha1 = await pipeline.finish()
        except BaseException:
            written = await pipeline.abort()
            if written is not None:
                await asyncio.to_thread(self._delete_blob_rows, written)
            raise
        staged = StagedBlob(blob_id, size, md5, sha1)
        journal.info().stored.append({"size": size, "md5": md5})  # the request's journal entry
        return staged

    @staticmethod
    def new_pending(run: Raw) -> int:
        """A pending blob's row (its size and digests are written when it is committed)."""
        return int(run.run(_INSERT_BLOB, at=time.time())[0][0])

    def put_chunk(self, run: Raw, blob_id: int, seq: int, piece: bytes | list[bytes]) -> None:
        """One chunk row of a pending blob (refused when the store is full: ``StoreFull``), from
        one piece or the pieces it arrived in. On a SQLite file the row is made at its size
        (``zeroblob``) and the pieces written into it in place (incremental blob I/O): no join,
        and no copy of the whole chunk as a bound parameter (measured ~10% faster per chunk)."""
        pieces = [piece] if isinstance(piece, bytes) else piece
        size = sum(len(p) for p in pieces)
        if self.space is not None:
            self.space.check(run, size)
        conn = run.sqlite_connection()
        if conn is None:
            run.run(_INSERT_CHUNK, blob_id=blob_id, seq=seq, data=pieces[0] if len(pieces) == 1 else b"".join(pieces))
            return
        rowid = run.run(_INSERT_SIZED_CHUNK, blob_id=blob_id, seq=seq, size=size)[0][0]
        with conn.blobopen("blob_chunks", "data", rowid) as blob:
            for p in pieces:
                blob.write(p)

    def _new_pending(self) -> int:
        """A pending blob on its own (as :meth:`stage` starts an upload: tests and tools)."""
        with self.db.raw() as run:
            return self.new_pending(run)

    def _write_chunk(self, blob_id: int, seq: int, piece: bytes) -> None:
        with self.db.raw() as run:
            self.put_chunk(run, blob_id, seq, piece)

    def commit(self, session: Session | Raw, staged: StagedBlob) -> int:
        """Make a staged blob durable inside ``session`` (or a ``Database.raw`` transaction);
        returns the blob id that now holds one reference for the caller (an existing one if
        the bytes were known).

        Safe against a concurrent commit of the same bytes by another process: the staged
        blob becomes ready in a savepoint; if the unique index says identical bytes became
        ready meanwhile, that blob gains the reference instead (on PostgreSQL the index
        makes the second committer wait for the first one's transaction to end)."""
        run = Raw.of(session)
        content = {"sha1": staged.sha1, "md5": staged.md5, "size": staged.size}
        for attempt in range(100):
            existing = run.run(_ADD_REFERENCE, **content)
            if existing:
                run.run(_DROP_CHUNKS, blob_id=staged.id)
                run.run(_DROP_STAGED, blob_id=staged.id)
                return int(existing[0][0])
            savepoint = f"blob_{staged.id}_{attempt}"
            run(f"SAVEPOINT {savepoint}")
            try:
                run.run(_MAKE_READY, blob_id=staged.id, at=self.clock.now(), new_size=staged.size,
                        new_md5=staged.md5, new_sha1=staged.sha1)
            except IntegrityError:
                run(f"ROLLBACK TO SAVEPOINT {savepoint}")
                continue  # identical bytes became ready in another transaction: take that blob
            run(f"RELEASE SAVEPOINT {savepoint}")
            return staged.id
        raise RuntimeError(f"blob {staged.id}: could not settle its content against concurrent commits")

    def discard(self, staged: StagedBlob) -> None:
        """Drop a staged blob that will not be committed (validation failed)."""
        self._delete_blob_rows(staged.id)

    def _delete_blob_rows(self, blob_id: int) -> None:
        with self.db.session() as s:
            s.execute(delete(BlobChunk).where(BlobChunk.blob_id == blob_id))
            s.execute(delete(Blob).where(Blob.id == blob_id, Blob.state == "pending"))

    # -- references ----------------------------------------------------------------
    def retain(self, session: Session | Raw, blob_id: int) -> bool:
        """One more reference on a ready blob still referenced; False (nothing changed) when
        it is gone or being reclaimed, so a caller reusing bytes it looked up earlier never
        points at a blob another transaction has just freed."""
        return bool(Raw.of(session).run(_RETAIN, blob_id=blob_id))

    def release(self, session: Session | Raw, blob_id: int) -> None:
        """Drop one reference; the blob and its chunks go when none is left. The count is
        read back from the ``UPDATE`` itself (``RETURNING``), never by a second query."""
        run = Raw.of(session)
        left = run.run(_RELEASE, blob_id=blob_id)
        if left and left[0][0] <= 0:
            run.run(_DROP_CHUNKS, blob_id=blob_id)
            run.run(_DROP_UNREFERENCED, blob_id=blob_id)

    # -- reading -------------------------------------------------------------------
    def info(self, blob_id: int) -> BlobInfo | None:
        row = _INFO.first(self.db, blob_id=blob_id)
        return None if row is None else BlobInfo(row[0], row[1], row[2] or "", row[3] or "")

    def find(self, *, md5: str, size: int) -> BlobInfo | None:
        """A ready blob with these bytes, if any (for instant-upload checks)."""
        with self.db.session() as s:
            row = s.execute(
                select(Blob).where(Blob.state == "ready", Blob.md5 == md5, Blob.size == size).limit(1)
            ).scalar_one_or_none()
            return None if row is None else BlobInfo(row.id, row.size, row.md5 or "", row.sha1 or "")

    async def read(self, blob_id: int, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes ``[start, end)`` of a blob, one chunk row at a time: the next row is
        read on a thread while the current one is being sent (at most two in memory)."""
        info = self.info(blob_id)
        if info is None:
            return
        end = info.size if end is None else min(end, info.size)
        if start >= end:
            return
        loop = asyncio.get_running_loop()
        seq = start // self.chunk_size
        last = (end - 1) // self.chunk_size
        offset = start - seq * self.chunk_size
        remaining = end - start
        ahead = loop.run_in_executor(_READERS, self._chunk, blob_id, seq)
        try:
            while remaining > 0:
                data = await ahead
                if data is None:
                    return
                seq += 1
                if seq <= last:
                    ahead = loop.run_in_executor(_READERS, self._chunk, blob_id, seq)
                piece = data[offset : offset + remaining] if offset or remaining < len(data) else data
                remaining -= len(piece)
                offset = 0
                yield piece
        finally:
            ahead.cancel()

    def _chunk(self, blob_id: int, seq: int) -> bytes | None:
        row = _CHUNK.first(self.db, blob_id=blob_id, seq=seq)
        return None if row is None else bytes(row[0])

    async def read_all(self, blob_id: int, limit: int) -> bytes:
        out = bytearray()
        async for piece in self.read(blob_id, 0, limit):
            out += piece
        return bytes(out)

    # -- housekeeping --------------------------------------------------------------
    def sweep(self, grace: float = 0.0) -> int:
        """Reclaim pending leftovers and unreferenced blobs; returns how many went.
        ``grace``: pending blobs staged less than that many seconds ago stay (another
        process sharing the database may still be streaming them; the start passes
        :data:`PENDING_GRACE`)."""
        with self.db.session() as s:
            stale = (Blob.state == "pending") & (Blob.created_at <= time.time() - grace)
            ids = s.execute(select(Blob.id).where(stale | ((Blob.state == "ready") & (Blob.refcount <= 0)))
                            ).scalars().all()
            if ids:
                s.execute(delete(BlobChunk).where(BlobChunk.blob_id.in_(ids)))
                s.execute(delete(Blob).where(Blob.id.in_(ids)))
            return len(ids)

    def reset(self, session: Session) -> None:
        """Drop every ready blob; uploads still streaming keep their pending rows."""
        ready = select(Blob.id).where(Blob.state == "ready")
        session.execute(delete(BlobChunk).where(BlobChunk.blob_id.in_(ready)))
        session.execute(delete(Blob).where(Blob.state == "ready"))

    def stats(self) -> dict[str, int]:
        with self.db.session() as s:
            count, total = s.execute(
                select(func.count(Blob.id), func.coalesce(func.sum(Blob.size), 0)).where(Blob.state == "ready")
            ).one()
            return {"blobs": int(count), "bytes": int(total)}
