"""Content store: object bytes as 1 MiB chunk rows in the database, content-addressed.

Writing is two-phase so that an object and its bytes commit atomically:

1. :meth:`BlobStore.stage` streams an async byte iterator into a *pending* blob, one
   short transaction per chunk, computing MD5 and SHA-1 in the same pass (hashing runs
   in one thread while the previous chunk is written in another: both release the GIL).
2. :meth:`BlobStore.commit` runs inside the caller's transaction (the one that inserts
   the object row): if identical bytes are already stored, the staged copy is dropped
   and the existing blob gains a reference; otherwise the staged blob becomes ready.

A blob carries a reference count; :meth:`release` drops one and reclaims the blob
at zero. Pending blobs left by a crash are swept at start.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, delete, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from .clock import Clock
from .db import Base, Database

CHUNK_SIZE = 1 << 20


class Blob(Base):
    __tablename__ = "blobs"
    __table_args__ = (Index("ix_blobs_content", "sha1", "md5", "size"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(8), default="pending")  # pending | ready
    size: Mapped[int] = mapped_column(Integer, default=0)
    md5: Mapped[str | None] = mapped_column(String(32))
    sha1: Mapped[str | None] = mapped_column(String(40))
    refcount: Mapped[int] = mapped_column(Integer, default=0)
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


class BlobStore:
    def __init__(self, db: Database, clock: Clock, chunk_size: int = CHUNK_SIZE) -> None:
        self.db = db
        self.clock = clock
        self.chunk_size = chunk_size

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
        with self.db.session() as s:
            blob_id = s.execute(
                insert(Blob).values(state="pending", created_at=self.clock.now()).returning(Blob.id)
            ).scalar_one()
        md5, sha1 = hashlib.md5(), hashlib.sha1()
        size = 0
        seq = 0
        buf = bytearray()
        inflight: asyncio.Future | None = None

        def hash_piece(piece: bytes) -> None:
            md5.update(piece)
            sha1.update(piece)

        def write_piece(n: int, piece: bytes) -> None:
            with self.db.session() as s:
                s.execute(insert(BlobChunk).values(blob_id=blob_id, seq=n, data=piece))

        async def flush(piece: bytes) -> None:
            nonlocal inflight, seq
            if inflight is not None:
                await inflight
            n, seq = seq, seq + 1
            inflight = asyncio.gather(asyncio.to_thread(hash_piece, piece), asyncio.to_thread(write_piece, n, piece))

        try:
            async for data in chunks:
                if not data:
                    continue
                size += len(data)
                if max_size is not None and size > max_size:
                    raise BlobTooLarge(max_size)
                if observe is not None:
                    observe(data)
                buf += data
                while len(buf) >= self.chunk_size:
                    piece = bytes(buf[: self.chunk_size])
                    del buf[: self.chunk_size]
                    await flush(piece)
            if buf:
                await flush(bytes(buf))
            if inflight is not None:
                await inflight
        except BaseException:
            if inflight is not None:
                await asyncio.gather(inflight, return_exceptions=True)
            await asyncio.to_thread(self._delete_blob_rows, blob_id)
            raise
        staged = StagedBlob(blob_id, size, md5.hexdigest(), sha1.hexdigest())
        with self.db.session() as s:
            s.execute(update(Blob).where(Blob.id == blob_id).values(size=size, md5=staged.md5, sha1=staged.sha1))
        return staged

    def commit(self, session: Session, staged: StagedBlob) -> int:
        """Make a staged blob durable inside ``session``; returns the blob id that now
        holds one reference for the caller (an existing one if the bytes were known)."""
        existing = session.execute(
            select(Blob.id)
            .where(Blob.state == "ready", Blob.sha1 == staged.sha1, Blob.md5 == staged.md5, Blob.size == staged.size)
            .limit(1)
        ).scalar_one_or_none()
        if existing is not None:
            session.execute(update(Blob).where(Blob.id == existing).values(refcount=Blob.refcount + 1))
            session.execute(delete(BlobChunk).where(BlobChunk.blob_id == staged.id))
            session.execute(delete(Blob).where(Blob.id == staged.id))
            return existing
        session.execute(update(Blob).where(Blob.id == staged.id).values(state="ready", refcount=1))
        return staged.id

    def discard(self, staged: StagedBlob) -> None:
        """Drop a staged blob that will not be committed (validation failed)."""
        self._delete_blob_rows(staged.id)

    def _delete_blob_rows(self, blob_id: int) -> None:
        with self.db.session() as s:
            s.execute(delete(BlobChunk).where(BlobChunk.blob_id == blob_id))
            s.execute(delete(Blob).where(Blob.id == blob_id, Blob.state == "pending"))

    # -- references ----------------------------------------------------------------
    def retain(self, session: Session, blob_id: int) -> None:
        session.execute(update(Blob).where(Blob.id == blob_id).values(refcount=Blob.refcount + 1))

    def release(self, session: Session, blob_id: int) -> None:
        """Drop one reference; the blob and its chunks go when none is left."""
        session.execute(update(Blob).where(Blob.id == blob_id).values(refcount=Blob.refcount - 1))
        if session.execute(select(Blob.refcount).where(Blob.id == blob_id)).scalar_one_or_none() == 0:
            session.execute(delete(BlobChunk).where(BlobChunk.blob_id == blob_id))
            session.execute(delete(Blob).where(Blob.id == blob_id))

    # -- reading -------------------------------------------------------------------
    def info(self, blob_id: int) -> BlobInfo | None:
        with self.db.session() as s:
            row = s.get(Blob, blob_id)
            if row is None or row.state != "ready":
                return None
            return BlobInfo(row.id, row.size, row.md5 or "", row.sha1 or "")

    def find(self, *, md5: str, size: int) -> BlobInfo | None:
        """A ready blob with these bytes, if any (for instant-upload checks)."""
        with self.db.session() as s:
            row = s.execute(
                select(Blob).where(Blob.state == "ready", Blob.md5 == md5, Blob.size == size).limit(1)
            ).scalar_one_or_none()
            return None if row is None else BlobInfo(row.id, row.size, row.md5 or "", row.sha1 or "")

    async def read(self, blob_id: int, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes ``[start, end)`` of a blob, one chunk row at a time."""
        info = self.info(blob_id)
        if info is None:
            return
        end = info.size if end is None else min(end, info.size)
        if start >= end:
            return
        seq = start // self.chunk_size
        offset = start - seq * self.chunk_size
        remaining = end - start
        while remaining > 0:
            with self.db.session() as s:
                data = s.execute(
                    select(BlobChunk.data).where(BlobChunk.blob_id == blob_id, BlobChunk.seq == seq)
                ).scalar_one_or_none()
            if data is None:
                return
            piece = data[offset : offset + remaining] if offset or remaining < len(data) else data
            remaining -= len(piece)
            offset = 0
            seq += 1
            yield bytes(piece)

    async def read_all(self, blob_id: int, limit: int) -> bytes:
        out = bytearray()
        async for piece in self.read(blob_id, 0, limit):
            out += piece
        return bytes(out)

    # -- housekeeping --------------------------------------------------------------
    def sweep(self) -> int:
        """Reclaim pending leftovers and unreferenced blobs; returns how many went."""
        with self.db.session() as s:
            ids = s.execute(select(Blob.id).where((Blob.state == "pending") | (Blob.refcount <= 0))).scalars().all()
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
        from sqlalchemy import func

        with self.db.session() as s:
            count, total = s.execute(
                select(func.count(Blob.id), func.coalesce(func.sum(Blob.size), 0)).where(Blob.state == "ready")
            ).one()
            return {"blobs": int(count), "bytes": int(total)}
