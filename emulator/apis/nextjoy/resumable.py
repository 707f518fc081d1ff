"""Qiniu's resumable uploads on the emulated upload host, with NextJoy's upload tokens:
v1 (``mkblk`` / ``bput`` / ``mkfile``: 4 MiB blocks chained by ``ctx``) and v2 (multipart:
initiate, upload part, complete, abort, list parts). Every piece streams into the content
store as it arrives and is held by a :class:`~.models.QiniuPart` row; the finished object
is streamed together from those pieces and committed like a form upload. An upload that is
never finished is released at reset or once its expiry passes on the emulator clock.
No HTTP types here."""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from ...core.blobs import BlobTooLarge, StagedBlob
from . import auth, qiniu
from .errors import QiniuError
from .models import QiniuPart, QiniuUpload
from .service import Received

if TYPE_CHECKING:
    from .service import NextJoyService

CTX_LIFETIME = 7 * 86400  # a v1 ctx's expired_at: 7 days (as long as a v2 uploadId)
UPLOAD_LIFETIME = 7 * 86400  # a v2 uploadId: "7 天" (KODO)
BLOCK_SIZE = qiniu.BLOCK_SIZE  # a v1 block: 4 MiB at most
MIN_PART, MAX_PART = 1 << 20, 1 << 30  # a v2 part: 1 MiB (all but the last) .. 1 GiB
MAX_PART_NUMBER = 10000
MAX_CTX_LIST = 1 << 20  # mkfile's body: the comma-joined ctxs


class Resumable:
    def __init__(self, service: NextJoyService) -> None:
        self.service = service
        self.emu = service.emu

    # -- housekeeping ------------------------------------------------------------------
    def expire(self) -> int:
        """Drop every upload whose expiry has passed on the emulator clock, releasing its
        pieces' bytes; returns how many went. Run before each resumable call."""
        now = self.emu.clock.now()
        with self.emu.db.session() as s:
            ids = list(s.execute(select(QiniuUpload.id).where(QiniuUpload.expires_at <= now)).scalars())
            for upload_id in ids:
                self._drop(s, upload_id)
        return len(ids)

    def _drop(self, s: Any, upload_id: str) -> None:
        """The upload and its pieces go and their bytes are released, by the one transaction
        that finds the row (it is locked first: another process dropping it too finds none)."""
        if s.get(QiniuUpload, upload_id, with_for_update=True) is None:
            return
        parts = list(s.execute(select(QiniuPart.blob_id).where(QiniuPart.upload_id == upload_id)).scalars())
        s.execute(delete(QiniuPart).where(QiniuPart.upload_id == upload_id))
        s.execute(delete(QiniuUpload).where(QiniuUpload.id == upload_id))
        s.flush()
        for blob_id in parts:
            self.emu.blobs.release(s, blob_id)

    def pending(self) -> list[dict[str, Any]]:
        """Uploads under way (test evidence): id, kind, bucket, key, expiry, pieces, bytes."""
        self.expire()
        with self.emu.db.session() as s:
            uploads = list(s.execute(select(QiniuUpload).order_by(QiniuUpload.created_at, QiniuUpload.id)).scalars())
            out = []
            for up in uploads:
                parts = list(s.execute(select(QiniuPart).where(QiniuPart.upload_id == up.id)).scalars())
                out.append({"id": up.id, "kind": up.kind, "bucket": up.bucket, "key": up.key,
                            "expires_at": up.expires_at, "parts": len(parts), "bytes": sum(p.size for p in parts)})
            return out

    # -- receiving a piece ---------------------------------------------------------------
    async def _stage(self, chunks: AsyncIterator[bytes], limit: int, too_large: str) -> tuple[StagedBlob, Any]:
        digest = qiniu.UploadDigest()
        try:
            staged = await self.emu.blobs.stage(chunks, max_size=limit, observe=digest.feed)
        except BlobTooLarge:
            raise QiniuError.BAD_REQUEST(reason=too_large) from None
        return staged, digest

    def _new_ctx(self) -> str:
        return self.emu.ids.token(36)

    def _block_answer(self, row: QiniuUpload, crc32: int, checksum: str, host: str) -> dict[str, Any]:
        return {"ctx": row.ctx, "checksum": checksum, "crc32": crc32, "offset": row.filled,
                "host": host, "expired_at": int(row.expires_at)}

    # -- v1 --------------------------------------------------------------------------------
    async def make_block(self, grant: auth.UploadGrant, block_size: str, chunks: AsyncIterator[bytes],
                         host: str) -> dict[str, Any]:
        """``mkblk``: a new block of ``block_size`` bytes with its first chunk."""
        size = _integer(block_size, "blockSize")
        if not 0 < size <= BLOCK_SIZE:
            raise QiniuError.BAD_REQUEST(reason=f"blockSize {size}: a block is 1 .. {BLOCK_SIZE} bytes")
        staged, digest = await self._stage(chunks, size, f"the chunk is larger than the block ({size} bytes)")
        now = self.emu.clock.now()
        try:
            with self.emu.db.session() as s:
                row = QiniuUpload(id=self.emu.ids.hex(16), kind="v1", access_key=grant.tenant.qiniu_access_key,
                                  bucket=grant.policy.bucket, ctx=self._new_ctx(), size=size, filled=staged.size,
                                  created_at=now, expires_at=int(now) + CTX_LIFETIME)
                s.add(row)
                s.flush()
                self._add_part(s, row, 1, staged, digest, now)
                answer = self._block_answer(row, digest.crc32, qiniu.b64encode(bytes.fromhex(staged.sha1)), host)
        except BaseException:
            self.emu.blobs.discard(staged)
            raise
        return answer

    async def put_chunk(self, grant: auth.UploadGrant, ctx: str, offset: str, chunks: AsyncIterator[bytes],
                        host: str) -> dict[str, Any]:
        """``bput``: the next chunk of the block whose latest ctx is ``ctx``, at ``offset``."""
        at = _integer(offset, "nextChunkOffset")
        row = self._block(grant, ctx)
        if at != row.filled:
            raise QiniuError.BAD_CTX(reason=f"nextChunkOffset {at}, but the block has {row.filled} bytes so far")
        room = row.size - row.filled
        if room <= 0:
            raise QiniuError.BAD_REQUEST(reason=f"the block is complete ({row.size} bytes)")
        staged, digest = await self._stage(chunks, room, f"the chunk passes the block's end ({row.size} bytes)")
        now = self.emu.clock.now()
        try:
            with self.emu.db.session() as s:
                current = s.get(QiniuUpload, row.id, with_for_update=True)  # one bput at a time
                if current is None or current.ctx != ctx or current.filled != at:  # a concurrent bput won
                    raise QiniuError.BAD_CTX(reason="the ctx was used by another bput meanwhile")
                number = len(list(s.execute(select(QiniuPart.number).where(QiniuPart.upload_id == row.id))))
                self._add_part(s, current, number + 1, staged, digest, now)
                current.filled += staged.size
                current.ctx = self._new_ctx()
                current.expires_at = int(now) + CTX_LIFETIME
                s.flush()
                blob_ids = [p.blob_id for p in self._parts(s, current.id)]
                answer = self._block_answer(current, digest.crc32, "", host)
        except BaseException:
            self.emu.blobs.discard(staged)
            raise
        sha1 = hashlib.sha1()
        for blob_id in blob_ids:
            async for piece in self.emu.blobs.read(blob_id):
                sha1.update(piece)
        answer["checksum"] = qiniu.b64encode(sha1.digest())
        return answer

    def _block(self, grant: auth.UploadGrant, ctx: str, *, expire: bool = True) -> QiniuUpload:
        if expire:
            self.expire()
        with self.emu.db.session() as s:
            row = s.execute(
                select(QiniuUpload).where(QiniuUpload.ctx == ctx, QiniuUpload.kind == "v1")
            ).scalar_one_or_none()
            if row is None or (row.access_key, row.bucket) != (grant.tenant.qiniu_access_key, grant.policy.bucket):
                raise QiniuError.BAD_CTX(reason=f"ctx {ctx[:48]!r} is not the latest ctx of a block of this bucket "
                                         "(unknown, superseded by a later bput, used by mkfile, or expired)")
            s.expunge(row)
            return row

    async def make_file(self, grant: auth.UploadGrant, file_size: str, pairs: str, ctx_list: bytes) -> Any:
        """``mkfile``: the object from the blocks whose latest ctxs are listed, in order."""
        size = _integer(file_size, "fileSize")
        fields = _pairs(pairs)
        try:
            text = ctx_list.decode("ascii")
        except UnicodeDecodeError:
            raise QiniuError.BAD_REQUEST(reason="the body is not a comma-separated list of ctx") from None
        ctxs = [c.strip() for c in text.split(",")] if text.strip() else []
        if not ctxs:
            raise QiniuError.BAD_REQUEST(reason="the body lists no ctx")
        if len(set(ctxs)) != len(ctxs):
            raise QiniuError.BAD_CTX(reason="a ctx is listed twice")
        self.expire()
        blocks = [self._block(grant, c, expire=False) for c in ctxs]
        for i, block in enumerate(blocks):
            if block.filled != block.size:
                raise QiniuError.BAD_CTX(reason=f"block {i + 1} has {block.filled} of its {block.size} bytes")
        total = sum(b.size for b in blocks)
        if total != size:
            raise QiniuError.BAD_REQUEST(reason=f"fileSize {size}, but the blocks hold {total} bytes")
        with self.emu.db.session() as s:
            pieces = [[(p.blob_id, p.size) for p in self._parts(s, b.id)] for b in blocks]
        received, _ = await self._assemble([p for block in pieces for p in block], fields.get("fname"),
                                           fields.get("mimeType"), limit=grant.policy.fsize_limit)
        key = fields.get("key")
        answer = self._commit(grant, key, received, fields, [b.id for b in blocks])
        return answer

    # -- v2 --------------------------------------------------------------------------------
    def _object(self, grant: auth.UploadGrant, bucket: str, encoded: str) -> str | None:
        if bucket != grant.policy.bucket:
            raise QiniuError.KEY_SCOPE(reason=f"bucket {bucket!r} in the path, but the token's scope is "
                                       f"{grant.policy.scope!r}")
        if encoded == "~":
            return None
        try:
            return qiniu.b64decode(encoded).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise QiniuError.BAD_REQUEST(reason=f"object name {encoded!r} is not URL-safe base64 of a UTF-8 key, "
                                         "nor ~") from None

    def initiate(self, grant: auth.UploadGrant, bucket: str, encoded: str) -> dict[str, Any]:
        key = self._object(grant, bucket, encoded)
        if key is not None and not grant.policy.save_key and not grant.policy.key_allowed(key):
            raise QiniuError.KEY_SCOPE(reason=f"key {key!r} against scope {grant.policy.scope!r}")
        self.expire()
        now = self.emu.clock.now()
        upload_id = self.emu.ids.hex(16) + format(int(now), "x")
        with self.emu.db.session() as s:
            s.add(QiniuUpload(id=upload_id, kind="v2", access_key=grant.tenant.qiniu_access_key,
                              bucket=grant.policy.bucket, key=key, created_at=now,
                              expires_at=int(now) + UPLOAD_LIFETIME))
        return {"uploadId": upload_id, "expireAt": int(now) + UPLOAD_LIFETIME}

    def _upload(self, grant: auth.UploadGrant, bucket: str, encoded: str, upload_id: str) -> QiniuUpload:
        key = self._object(grant, bucket, encoded)
        self.expire()
        with self.emu.db.session() as s:
            row = s.get(QiniuUpload, upload_id)
            if (row is None or row.kind != "v2" or row.key != key
                    or (row.access_key, row.bucket) != (grant.tenant.qiniu_access_key, grant.policy.bucket)):
                raise QiniuError.NO_SUCH_UPLOAD(reason=f"no upload {upload_id!r} for this object "
                                                "(unknown, completed, aborted or expired)")
            s.expunge(row)
            return row

    async def upload_part(self, grant: auth.UploadGrant, bucket: str, encoded: str, upload_id: str,
                          part_number: str, content_md5: str | None, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        number = _integer(part_number, "partNumber")
        if not 1 <= number <= MAX_PART_NUMBER:
            raise QiniuError.BAD_REQUEST(reason=f"partNumber {number}: 1 .. {MAX_PART_NUMBER}")
        want = _md5_header(content_md5)
        row = self._upload(grant, bucket, encoded, upload_id)
        staged, digest = await self._stage(chunks, MAX_PART, f"a part is at most {MAX_PART} bytes")
        now = self.emu.clock.now()
        try:
            if want is not None and want != staged.md5:
                raise QiniuError.BAD_MD5(reason=f"Content-MD5 {content_md5!r}, but the part's MD5 is {staged.md5}")
            with self.emu.db.session() as s:
                if s.get(QiniuUpload, row.id, with_for_update=True) is None:  # completed or aborted meanwhile
                    raise QiniuError.NO_SUCH_UPLOAD(reason=f"upload {upload_id!r} ended while the part arrived")
                old = s.get(QiniuPart, (row.id, number))
                if old is not None:
                    old_blob = old.blob_id
                    s.delete(old)
                    s.flush()
                    self.emu.blobs.release(s, old_blob)
                part = self._add_part(s, row, number, staged, digest, now)
                answer = {"etag": part.etag, "md5": part.md5}
        except BaseException:
            self.emu.blobs.discard(staged)
            raise
        return answer

    async def complete(self, grant: auth.UploadGrant, bucket: str, encoded: str, upload_id: str,
                       body: Any) -> Any:
        row = self._upload(grant, bucket, encoded, upload_id)
        if not isinstance(body, dict):
            raise QiniuError.BAD_REQUEST(reason="the body is not a JSON object")
        listed = body.get("parts")
        if not isinstance(listed, list) or not listed:
            raise QiniuError.BAD_REQUEST(reason="parts must be a non-empty list")
        numbers: list[int] = []
        etags: list[str] = []
        for item in listed:
            n = item.get("partNumber") if isinstance(item, dict) else None
            e = item.get("etag") if isinstance(item, dict) else None
            if isinstance(n, bool) or not isinstance(n, int) or not isinstance(e, str):
                raise QiniuError.BAD_REQUEST(
                    reason=f"each part is {{\"etag\": str, \"partNumber\": int}}, not {item!r}")
            numbers.append(n)
            etags.append(e)
        if any(b <= a for a, b in itertools.pairwise(numbers)):
            raise QiniuError.BAD_REQUEST(reason="parts must be in ascending partNumber order, each once")
        fields: dict[str, str] = {}
        for name in ("fname", "mimeType"):
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                raise QiniuError.BAD_REQUEST(reason=f"{name} must be a string or null")
            if value:
                fields[name] = value
        for name, prefix in (("customVars", "x:"), ("metadata", "x-qn-meta-")):
            value = body.get(name)
            if value is None:
                continue
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise QiniuError.BAD_REQUEST(reason=f"{name} must be an object of strings or null")
            for k, v in value.items():
                if not k.startswith(prefix):
                    raise QiniuError.BAD_REQUEST(reason=f"{name} names start with {prefix!r}, not {k!r}")
                fields[k] = v
        with self.emu.db.session() as s:
            stored = {p.number: p for p in self._parts(s, row.id)}
            for expunged in stored.values():
                s.expunge(expunged)
        pieces = []
        for i, (n, e) in enumerate(zip(numbers, etags, strict=True)):
            part = stored.get(n)
            if part is None:
                raise QiniuError.BAD_PART(reason=f"part {n} was never uploaded to {upload_id!r}")
            if part.etag != e:
                raise QiniuError.BAD_PART(reason=f"part {n}'s etag is {part.etag!r}, not {e!r}")
            if i < len(numbers) - 1 and part.size < MIN_PART:
                raise QiniuError.BAD_PART_SIZE(reason=f"part {n} has {part.size} bytes; every part but the last "
                                               f"needs at least {MIN_PART}")
            pieces.append((part.blob_id, part.size))
        received, _ = await self._assemble(pieces, fields.get("fname"), fields.get("mimeType"),
                                           limit=grant.policy.fsize_limit, parts_etag=True)
        return self._commit(grant, row.key, received, fields, [row.id])

    def abort(self, grant: auth.UploadGrant, bucket: str, encoded: str, upload_id: str) -> dict[str, Any]:
        row = self._upload(grant, bucket, encoded, upload_id)
        with self.emu.db.session() as s:
            self._drop(s, row.id)
        return {}

    def list_parts(self, grant: auth.UploadGrant, bucket: str, encoded: str, upload_id: str,
                   max_parts: str | None, marker: str | None) -> dict[str, Any]:
        most = 1000 if max_parts in (None, "") else _integer(max_parts, "max-parts")
        after = 0 if marker in (None, "") else _integer(marker, "part-number-marker")
        most = min(max(most, 1), 1000)
        row = self._upload(grant, bucket, encoded, upload_id)
        with self.emu.db.session() as s:
            parts = [p for p in self._parts(s, row.id) if p.number > after]
            page, more = parts[:most], len(parts) > most
            return {
                "uploadId": row.id,
                "expireAt": int(row.expires_at),
                "partNumberMarker": page[-1].number if more else 0,
                "parts": [{"partNumber": p.number, "etag": p.etag, "size": p.size, "putTime": int(p.put_time)}
                          for p in page],
            }

    # -- shared ----------------------------------------------------------------------------
    def _add_part(self, s: Any, row: QiniuUpload, number: int, staged: StagedBlob, digest: qiniu.UploadDigest,
                  now: float) -> QiniuPart:
        blob_id = self.emu.blobs.commit(s, staged)
        part = QiniuPart(upload_id=row.id, number=number, access_key=row.access_key, bucket=row.bucket,
                         blob_id=blob_id, size=staged.size, md5=staged.md5, etag=digest.etag(), put_time=now)
        s.add(part)
        s.flush()
        return part

    @staticmethod
    def _parts(s: Any, upload_id: str) -> list[QiniuPart]:
        return list(s.execute(select(QiniuPart).where(QiniuPart.upload_id == upload_id).order_by(QiniuPart.number))
                    .scalars())

    async def _assemble(self, pieces: list[tuple[int, int]], fname: str | None, mime: str | None, *,
                        limit: int | None, parts_etag: bool = False) -> tuple[Received, list[qiniu.UploadDigest]]:
        """Stream the pieces, in order, into one new staged blob, with the whole body's and
        each piece's digests computed on the way."""
        total = sum(size for _, size in pieces)
        if limit is not None and total > limit:
            raise QiniuError.TOO_LARGE(reason=f"{total} bytes; the put policy's fsizeLimit is {limit}")
        whole = qiniu.UploadDigest()
        per_part: list[qiniu.UploadDigest] = []
        blobs = self.emu.blobs

        async def joined() -> AsyncIterator[bytes]:
            for blob_id, _ in pieces:
                digest = qiniu.UploadDigest()
                per_part.append(digest)
                async for piece in blobs.read(blob_id):
                    digest.feed(piece)
                    yield piece

        staged = await blobs.stage(joined(), observe=whole.feed)
        if staged.size != total:  # a piece's bytes went missing under us (reset or expiry meanwhile)
            blobs.discard(staged)
            gone = QiniuError.NO_SUCH_UPLOAD if parts_etag else QiniuError.BAD_CTX
            raise gone(reason="the upload's pieces were released while it was being finished")
        etag = qiniu.multipart_etag(whole, per_part) if parts_etag else None
        return Received(staged, whole, fname, mime, etag), per_part

    def _commit(self, grant: auth.UploadGrant, key: str | None, received: Received, fields: Mapping[str, str],
                upload_ids: list[str]) -> Any:
        """Checks of the put policy, then the object; the upload(s) go once it is stored."""
        service = self.service
        try:
            final = service.check_policy(grant, key, received, fields)
            stored = service.store(grant, final, received)
        except BaseException:
            service.discard(received)
            raise
        with self.emu.db.session() as s:
            for upload_id in upload_ids:
                self._drop(s, upload_id)
        return service.answer(grant, stored, received, fields)


# -- parsing ---------------------------------------------------------------------------------


def _integer(text: str, name: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise QiniuError.BAD_REQUEST(reason=f"{name} must be a non-negative integer, not {text[:40]!r}")
    return int(text)


MKFILE_NAMES = ("key", "fname", "mimeType")


def _pairs(path: str) -> dict[str, str]:
    """mkfile's ``/name/<urlsafe b64 value>`` pairs, in any order."""
    segments = path.split("/") if path else []  # "key/" is the pair key = "" (an empty key is a key)
    if len(segments) % 2:
        raise QiniuError.BAD_REQUEST(reason=f"mkfile path pairs: {len(segments)} segments, not name/value pairs")
    out: dict[str, str] = {}
    for name, value in zip(segments[::2], segments[1::2], strict=True):
        try:
            decoded = qiniu.b64decode(value).decode("utf-8") if value else ""
        except (ValueError, UnicodeDecodeError):
            raise QiniuError.BAD_REQUEST(
                reason=f"mkfile {name}: {value[:40]!r} is not URL-safe base64 of UTF-8") from None
        if name in out:
            raise QiniuError.BAD_REQUEST(reason=f"mkfile names {name!r} twice")
        if name in MKFILE_NAMES or name.startswith(("x:", "x-qn-meta-")):
            out[name] = decoded
        # other names (deleteAfterDays, ...) are accepted and not acted on
    return out


def _md5_header(value: str | None) -> str | None:
    """Content-MD5 as the SDKs send it (hex), or as HTTP defines it (base64); lower hex."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if len(text) == 32 and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise QiniuError.BAD_REQUEST(
            reason=f"Content-MD5 {text[:40]!r} is neither 32 hex digits nor base64 of 16 bytes")
    return raw.hex()
