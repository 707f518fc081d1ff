"""The NextJoy upload-token service's behaviour on the core, and the Qiniu bucket it
fronts: minting tokens, listing, batch stat/delete, CDN refresh evidence, and storing
what the emulated Qiniu upload host receives. No HTTP types here."""

from __future__ import annotations

import json
import mimetypes
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select

from ...core.blobs import BlobTooLarge, StagedBlob
from ...core.clock import BEIJING
from ...core.contract import ServiceBase
from ...core.errors import VendorError
from ...core.guards import drop, hold
from ...core.numbers import decimal, quoted
from ...core.preload import PreloadError, refusal, segments, where
from ...core.reads import Read
from . import auth, qiniu
from .errors import NextJoyError, QiniuError
from .models import NextJoyRefresh, QiniuObject
from .tenant import Tenant

if TYPE_CHECKING:
    from ...core.runtime import Emulator

TOKEN_LIFETIME = 3600  # seconds: deadline = now + 1 h
PAGE_SIZE = 1000  # "上限为1000条"
MAX_STAT_KEYS = 1000  # Qiniu's batch limit
MAX_DELETE_KEYS = 500  # "文件上限为500条"
MAX_REFRESH = {"file": 100, "dir": 10}  # "上限100条" / "上限10条"
MAX_FORM_UPLOAD = 1 << 30  # Qiniu's form upload takes files up to 1 GiB
QUERY_TTL = 60  # seconds a client may cache the region answer (short: SDKs cache it on disk by host:port)
NO_SUCH_FILE = "no such file or directory"
DEFAULT_MIME = "application/octet-stream"
_MIME = mimetypes.MimeTypes()  # built-in table only: the same answer on every machine


def _listing(prefix: bool, after: bool) -> Read:
    """A page of a bucket's listing (one more than a page: is there a next?), in key order:
    read without the ORM (a page is up to 1,000 rows, core/reads.py)."""
    q = select(QiniuObject.key, QiniuObject.hash, QiniuObject.fsize, QiniuObject.mime_type, QiniuObject.put_time,
               QiniuObject.md5).where(QiniuObject.access_key == bindparam("access_key"),
                                      QiniuObject.bucket == bindparam("bucket"))
    if prefix:
        q = q.where(func.substr(QiniuObject.key, 1, bindparam("prefix_length")) == bindparam("prefix"))
    if after:
        q = q.where(QiniuObject.key > bindparam("after"))
    return Read(q.order_by(QiniuObject.key).limit(PAGE_SIZE + 1))


def _item(key: str, etag: str, fsize: int, mime_type: str, put_time: int, md5: str) -> dict[str, Any]:
    """Qiniu's listing item (the listing's columns, in :func:`_listing`'s order)."""
    return {"key": key, "hash": etag, "fsize": fsize, "mimeType": mime_type, "putTime": put_time, "type": 0,
            "status": 0, "md5": md5}


_LISTINGS = {(prefix, after): _listing(prefix, after) for prefix in (False, True) for after in (False, True)}


@dataclass(frozen=True)
class Received:
    blob: StagedBlob
    digest: qiniu.UploadDigest
    filename: str | None
    content_type: str | None
    etag_override: str | None = None  # a v2 upload's etag when its parts are not all 4 MiB

    @property
    def etag(self) -> str:
        return self.etag_override or self.digest.etag()


def guess_mime(content_type: str | None, key: str, filename: str | None) -> str:
    """The part's own type unless it is absent or the generic octet-stream (which the
    SDKs send by default); then Qiniu detects it: here from the key's extension, then
    the file name's."""
    if content_type and content_type.split(";")[0].strip().lower() not in ("", DEFAULT_MIME):
        return content_type.strip()
    for name in (key, filename or ""):
        guessed, _ = _MIME.guess_type(name, strict=False)
        if guessed:
            return guessed
    return DEFAULT_MIME


def split_keys(keystr: str) -> list[str]:
    """Keys as the caller listed them: split on ',' and nothing else (a key may hold spaces)."""
    return keystr.split(",")


class NextJoyService(ServiceBase):
    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    # -- access --------------------------------------------------------------------
    def authenticate(self, params: Mapping[str, str]) -> Tenant:
        return auth.authenticate(self.emu.tenants, params, self.emu.clock.now())

    @staticmethod
    def require(params: Mapping[str, str], *names: str) -> list[str]:
        missing = [n for n in names if n not in params]
        if missing:
            raise NextJoyError.REQUEST_CHECK_FAILED(reason=f"missing parameter(s): {', '.join(missing)}")
        return [params[n] for n in names]

    # -- upload_token/get ----------------------------------------------------------
    def upload_token(self, tenant: Tenant) -> dict[str, str]:
        deadline = int(self.emu.clock.now()) + TOKEN_LIFETIME
        policy = {"scope": tenant.bucket, "deadline": deadline}
        token = qiniu.mint_token(tenant.qiniu_access_key, tenant.qiniu_secret_key, policy)
        return {"upload_token": token, "bucket_name": tenant.bucket}

    # -- upload_token/get_file_list ------------------------------------------------
    @staticmethod
    def describe_item(row: QiniuObject) -> dict[str, Any]:
        """Qiniu's listing item."""
        return _item(row.key, row.hash, row.fsize, row.mime_type, row.put_time, row.md5)

    @staticmethod
    def describe_stat(row: QiniuObject) -> dict[str, Any]:
        """Qiniu's stat result."""
        return {
            "fsize": row.fsize,
            "hash": row.hash,
            "md5": row.md5,
            "mimeType": row.mime_type,
            "putTime": row.put_time,
            "type": 0,
        }

    def list_files(self, tenant: Tenant, marker: str, prefix: str) -> dict[str, Any]:
        after: str | None = None
        if marker:
            try:
                after = qiniu.decode_marker(marker)
            except ValueError as exc:
                raise NextJoyError.GET_TOKEN_FAILED(reason=f"Qiniu list refused: 640 {exc}") from None
        read = _LISTINGS[(bool(prefix), after is not None)]
        rows = read.all(self.emu.db, access_key=tenant.qiniu_access_key, bucket=tenant.bucket,
                        prefix=prefix, prefix_length=len(prefix), after=after)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        return {
            "marker": qiniu.encode_marker(rows[-1][0]) if more else "",
            "data": [_item(*row) for row in rows],
        }

    # -- upload_token/batch_get_file_info ------------------------------------------
    def file_info(self, tenant: Tenant, keystr: str) -> dict[str, Any]:
        keys = split_keys(keystr)
        if len(keys) > MAX_STAT_KEYS:
            raise NextJoyError.GET_TOKEN_FAILED(
                reason=f"{len(keys)} keys: Qiniu's batch takes at most {MAX_STAT_KEYS} operations"
            )
        results: list[dict[str, Any]] = []
        with self.emu.db.session() as s:
            for key in keys:
                row = s.get(QiniuObject, (tenant.qiniu_access_key, tenant.bucket, key))
                if row is None:
                    results.append({"code": 612, "data": {"error": NO_SUCH_FILE}})
                else:
                    results.append({"code": 200, "data": self.describe_stat(row)})
        return {"data": results}

    # -- upload_token/batch_del_file -----------------------------------------------
    def delete_files(self, tenant: Tenant, keystr: str) -> dict[str, Any]:
        """Qiniu's batch delete: each key on its own (a missing key does not stop the
        others). Any key not deleted makes the call 18008, with the per-key results."""
        keys = split_keys(keystr)
        if len(keys) > MAX_DELETE_KEYS:
            raise NextJoyError.TOO_MANY_TO_DELETE(
                reason=f"{len(keys)} keys; at most {MAX_DELETE_KEYS} a call; nothing deleted"
            )
        results: list[dict[str, Any]] = []
        with self.emu.db.session() as s:
            for key in keys:
                row = s.get(QiniuObject, (tenant.qiniu_access_key, tenant.bucket, key))
                if row is None:
                    results.append({"code": 612, "data": {"error": NO_SUCH_FILE}})
                    continue
                blob_id = row.blob_id
                if drop(s, row):  # else deleted meanwhile by another process, which released it
                    self.emu.blobs.release(s, blob_id)
                results.append({"code": 200})
        failed = [k for k, r in zip(keys, results, strict=True) if r["code"] != 200]
        if failed:
            raise NextJoyError.DELETE_FAILED(
                reason=f"{len(failed)} of {len(keys)} keys not found: {', '.join(repr(k) for k in failed[:10])}",
                data={"data": results},
            )
        return {}

    # -- upload_token/batch_refresh_file, batch_refresh_dir ------------------------
    def refresh(self, tenant: Tenant, kind: str, listed: str) -> None:
        entries = [e for e in listed.split(",") if e.strip()]
        limit = MAX_REFRESH[kind]
        what = "urls" if kind == "file" else "dirs"
        if not entries:
            raise NextJoyError.GET_TOKEN_FAILED(reason=f"{what} lists nothing to refresh")
        if len(entries) > limit:
            raise NextJoyError.GET_TOKEN_FAILED(reason=f"{len(entries)} {what}; at most {limit} a call")
        with self.emu.db.session() as s:
            s.add(
                NextJoyRefresh(
                    tenant=tenant.identity(),
                    kind=kind,
                    entries=json.dumps(entries, ensure_ascii=False),
                    at=self.emu.clock.now(),
                )
            )

    # -- the Qiniu upload host -----------------------------------------------------
    def check_token(self, token: str | None) -> auth.UploadGrant:
        return auth.verify_upload_token(self.emu.tenants, token, self.emu.clock.now())

    async def receive(
        self, chunks: AsyncIterator[bytes], filename: str | None, content_type: str | None,
        limit: int | None = None,
    ) -> Received:
        """Stream a form upload's file into the store, computing CRC32 and the etag in
        the same pass; 413 as soon as it passes 1 GiB or ``limit`` (fsizeLimit)."""
        digest = qiniu.UploadDigest()
        most = MAX_FORM_UPLOAD if limit is None else min(limit, MAX_FORM_UPLOAD)
        try:
            blob = await self.emu.blobs.stage(chunks, max_size=most, observe=digest.feed)
        except BlobTooLarge:
            why = "the put policy's fsizeLimit" if most != MAX_FORM_UPLOAD else "the form upload's limit"
            raise QiniuError.TOO_LARGE(reason=f"the file exceeds {most} bytes, {why}") from None
        return Received(blob, digest, filename, content_type)

    def discard(self, received: Received) -> None:
        self.emu.blobs.discard(received.blob)

    def check_upload(self, grant: auth.UploadGrant, key: str | None, crc32: str | None, received: Received,
                     variables: Mapping[str, str] | None = None) -> str:
        """The key a form upload is stored under, after Qiniu's crc32 and put policy checks."""
        if crc32 is not None:
            value = decimal(crc32.strip(), limit=0xFFFFFFFF)
            if value is None or value > 0xFFFFFFFF:
                raise QiniuError.BAD_REQUEST(reason=f"crc32 must be an unsigned 32-bit decimal, not {quoted(crc32)}")
            if value != received.digest.crc32:
                raise QiniuError.CRC32_MISMATCH(
                    reason=f"crc32 field {value} but the file's CRC32 is {received.digest.crc32}"
                )
        return self.check_policy(grant, key, received, variables or {})

    def template_values(self, grant: auth.UploadGrant, key: str | None, received: Received,
                        variables: Mapping[str, str]) -> dict[str, Any]:
        """The magic variables of saveKey and returnBody templates."""
        fname = received.filename or ""
        ext = "." + fname.rsplit(".", 1)[1] if "." in fname else ""
        if not ext and key and "." in key.rsplit("/", 1)[-1]:
            ext = "." + key.rsplit(".", 1)[1]
        at = self.emu.clock.datetime(BEIJING)
        values: dict[str, Any] = {
            "bucket": grant.policy.bucket, "etag": received.etag, "fname": fname, "ext": ext,
            "fsize": received.blob.size, "mimeType": guess_mime(received.content_type, key or "", received.filename),
            "endUser": grant.policy.end_user or "", "year": f"{at.year:04d}", "mon": f"{at.month:02d}",
            "day": f"{at.day:02d}", "hour": f"{at.hour:02d}", "min": f"{at.minute:02d}", "sec": f"{at.second:02d}",
        }
        if key is not None:
            values["key"] = key
        values.update({k: v for k, v in variables.items() if k.startswith("x:")})
        return values

    def check_policy(self, grant: auth.UploadGrant, key: str | None, received: Received,
                     variables: Mapping[str, str]) -> str:
        """The key the object is stored under (the upload's, else the policy's saveKey, else
        the etag; forceSaveKey puts saveKey first), after the scope (403), fsizeLimit (413),
        fsizeMin (403) and mimeLimit (403) checks of the put policy."""
        policy = grant.policy
        if policy.save_key and (key is None or policy.force_save_key):
            key = qiniu.render(policy.save_key, self.template_values(grant, key, received, variables),
                               json_strings=False)
        if key is None:
            key = received.etag
        if not policy.key_allowed(key):
            raise QiniuError.KEY_SCOPE(
                reason=f"key {key!r} against scope {policy.scope!r}" + (" (isPrefixalScope)" if policy.prefixal else "")
            )
        size = received.blob.size
        if policy.fsize_limit is not None and size > policy.fsize_limit:
            raise QiniuError.TOO_LARGE(reason=f"{size} bytes; the put policy's fsizeLimit is {policy.fsize_limit}")
        if policy.fsize_min is not None and size < policy.fsize_min:
            raise QiniuError.TOO_SMALL(reason=f"{size} bytes; the put policy's fsizeMin is {policy.fsize_min}")
        mime = guess_mime(received.content_type, key, received.filename)
        if not policy.mime_allowed(mime):
            raise QiniuError.MIME_LIMIT(
                reason=f"mimeType {mime!r}; the put policy's mimeLimit is {policy.mime_limit!r}")
        return key

    def answer(self, grant: auth.UploadGrant, stored: dict[str, str], received: Received,
               variables: Mapping[str, str]) -> dict[str, Any] | str:
        """The success answer: ``{"hash", "key"}``, or the policy's returnBody rendered
        (text, sent as it came out)."""
        if grant.policy.return_body is None:
            return stored
        values = self.template_values(grant, stored["key"], received, variables)
        values["etag"] = stored["hash"]
        return qiniu.render(grant.policy.return_body, values, json_strings=True)

    def store(self, grant: auth.UploadGrant, key: str, received: Received) -> dict[str, str]:
        """Put the object in the grant's bucket. Without an exact-key scope (or with
        insertOnly) an existing key is 614 unless its content is identical, which Qiniu
        answers as a success without change."""
        return self.put(grant.tenant, key, received, may_overwrite=grant.policy.may_overwrite)[0]

    def put(self, tenant: Tenant, key: str, received: Received, *, may_overwrite: bool,
            keep_identical: bool = False) -> tuple[dict[str, str], str]:
        """The upload host's commit (shared with :meth:`preload`). ``keep_identical``: an
        object with the same etag stays as it is even where overwriting is allowed. Returns
        the answer and what happened (created, replaced, unchanged)."""
        etag = received.etag
        mime = guess_mime(received.content_type, key, received.filename)
        put_time = round(self.emu.clock.now() * 10_000_000)
        with self.emu.db.session() as s:
            hold(s, "nextjoy.object", tenant.qiniu_access_key, tenant.bucket, key)  # one writer of a key at a time
            row = s.get(QiniuObject, (tenant.qiniu_access_key, tenant.bucket, key))
            existed = row is not None
            if row is not None and (not may_overwrite or (keep_identical and row.hash == etag)):
                if row.hash != etag:
                    raise QiniuError.FILE_EXISTS(reason=f"{key!r} exists in {tenant.bucket!r} with other content")
                unchanged = True
            else:
                unchanged = False
                blob_id = self.emu.blobs.commit(s, received.blob)
                if row is None:
                    s.add(
                        QiniuObject(
                            access_key=tenant.qiniu_access_key,
                            bucket=tenant.bucket,
                            key=key,
                            hash=etag,
                            md5=received.blob.md5,
                            fsize=received.blob.size,
                            mime_type=mime,
                            put_time=put_time,
                            blob_id=blob_id,
                        )
                    )
                else:
                    old_blob = row.blob_id
                    row.hash, row.md5, row.fsize = etag, received.blob.md5, received.blob.size
                    row.mime_type, row.put_time, row.blob_id = mime, put_time, blob_id
                    s.flush()
                    self.emu.blobs.release(s, old_blob)
        if unchanged:
            self.discard(received)
        return {"hash": etag, "key": key}, "unchanged" if unchanged else "replaced" if existed else "created"

    # -- preloading ----------------------------------------------------------------
    def preload_tenant(self, tenant_id: str) -> Tenant | None:
        """A tenant folder: the identity ``appid:child_id``, or a bucket name when the
        bucket is one Qiniu bucket (one access key) — then its first tenant."""
        tenant: Tenant | None = self.emu.tenants.get("nextjoy", tenant_id)
        if tenant is not None:
            return tenant
        owners = [t for t in self.emu.tenants.all("nextjoy") if t.bucket == tenant_id]
        accounts = sorted({t.qiniu_access_key for t in owners})
        if len(accounts) > 1:
            names = ", ".join(t.identity() for t in owners)
            raise PreloadError(f"bucket {tenant_id!r} exists under {len(accounts)} Qiniu accounts (tenants {names});"
                               " name the tenant folder appid:child_id")
        return owners[0] if owners else None

    async def preload(self, tenant_id: str, path: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """``<key>`` into the tenant's bucket as a form upload with an exact-key token
        (which may overwrite) would put it: Qiniu etag, MD5, size, MIME type detected from
        the key, putTime now. An object with the same etag stays."""
        file = where("nextjoy", tenant_id, path)
        try:
            tenant = self.preload_tenant(tenant_id)
        except PreloadError as exc:
            raise PreloadError(exc.reason, file=file) from None
        if tenant is None:
            raise PreloadError(f"no nextjoy tenant {tenant_id!r} (appid:child_id or a bucket name)", file=file)
        segments("nextjoy", tenant_id, path)
        try:
            received = await self.receive(chunks, path.rsplit("/", 1)[-1], None)
        except VendorError as err:
            raise refusal(err, file) from None
        try:
            answer, result = self.put(tenant, path, received, may_overwrite=True, keep_identical=True)
        except VendorError as err:
            self.discard(received)
            raise refusal(err, file) from None
        return {"api": "nextjoy", "tenant": tenant.identity(), "path": path, "id": answer["key"],
                "size": received.blob.size, "result": result}

    def query_regions(self, access_key: str, bucket: str, host: str) -> dict[str, Any]:
        """The region answer of Qiniu's ``/v4/query``: the upload and query domains are
        the emulator's (``host`` = host[:port] of the public base, no scheme)."""
        owners = [t for t in self.emu.tenants.all("nextjoy") if t.qiniu_access_key == access_key]
        if not any(t.bucket == bucket for t in owners):
            raise QiniuError.NO_SUCH_BUCKET(reason=f"no bucket {bucket!r} under access key {access_key!r}")
        return {
            "hosts": [
                {
                    "region": "z0",
                    "ttl": QUERY_TTL,
                    "up": {"domains": [f"{host}{UP_PATH}"], "old": [], "acc_domains": []},
                    "uc": {"domains": [f"{host}{UC_PATH}"]},
                    "io": {"domains": []},
                    "rs": {"domains": []},
                    "rsf": {"domains": []},
                    "api": {"domains": []},
                    "s3": {"domains": [], "region_alias": "cn-east-1"},
                }
            ]
        }

    def query_regions_v2(self, access_key: str, bucket: str, host: str) -> dict[str, Any]:
        """The older ``/v2/query`` answer (npm ``qiniu`` <= 7.4 reads ``ttl``,
        ``up.src.main``/``backup``, ``up.acc.main``/``backup`` and ``io.src.main[0]``)."""
        self.query_regions(access_key, bucket, host)  # the same 631 refusals
        up = {"main": [f"{host}{UP_PATH}"], "backup": []}
        return {"ttl": QUERY_TTL, "up": {"src": up, "acc": up}, "io": {"src": {"main": [host]}}}

    # -- evidence for tests --------------------------------------------------------
    def objects(self, bucket: str | None = None) -> list[dict[str, Any]]:
        q = select(QiniuObject).order_by(QiniuObject.access_key, QiniuObject.bucket, QiniuObject.key)
        if bucket is not None:
            q = q.where(QiniuObject.bucket == bucket)
        with self.emu.db.session() as s:
            rows = list(s.execute(q).scalars().all())
        return [{"access_key": r.access_key, "bucket": r.bucket, **self.describe_item(r)} for r in rows]

    def find_object(self, bucket: str, key: str) -> QiniuObject | None:
        with self.emu.db.session() as s:
            return s.execute(
                select(QiniuObject).where(QiniuObject.bucket == bucket, QiniuObject.key == key).limit(1)
            ).scalar_one_or_none()

    def refreshes(self, tenant: str | None = None) -> list[dict[str, Any]]:
        q = select(NextJoyRefresh).order_by(NextJoyRefresh.id)
        if tenant is not None:
            q = q.where(NextJoyRefresh.tenant == tenant)
        with self.emu.db.session() as s:
            rows = list(s.execute(q).scalars().all())
        return [{"tenant": r.tenant, "kind": r.kind, "entries": json.loads(r.entries), "time": r.at} for r in rows]


UP_PATH = "/_qiniu/up"  # the emulated Qiniu upload host (form upload)
UC_PATH = "/_qiniu/uc"  # the emulated Qiniu region query host (/v4/query, /v3/query)
