"""WeChat Cloud Base storage on the core: access tokens, upload links and the COS form
POST they lead to, download links, batch delete. No HTTP types here."""

from __future__ import annotations

import base64
import math
import mimetypes
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ...core.blobs import Blob, BlobTooLarge, StagedBlob
from ...core.contract import ServiceBase
from ...core.errors import VendorError
from ...core.guards import drop, hold
from ...core.preload import PreloadError, refusal, segments, where
from . import auth
from .errors import CosError, WeChatError
from .models import WeChatFile, WeChatUploadGrant
from .naming import bucket_of, file_id_of, names_bucket, parse_file_id
from .tenant import Tenant

if TYPE_CHECKING:
    from ...core.runtime import Emulator

GRANT_TTL = 900  # the document's authorization spans q-sign-time 1557307130;1557308030
MAX_BATCH = 50  # getTempFileURL / deleteFile: "一次最多 50 个"
MAX_AGE_MIN, MAX_AGE_MAX = 1, 86400  # "默认一天且最大不超过一天"
MAX_KEY_BYTES = 850  # COS object key limit
MAX_OBJECT_BYTES = 5 * 1024**3  # COS form POST limit
MISSING_STATUS, MISSING_ERRMSG = -503003, "STORAGE_FILE_NONEXIST"  # cloud errcode: 文件不存在
OK = {"errcode": 0, "errmsg": "ok"}
COS_PREFIX = "/_cos"
DOWNLOAD_PREFIX = "/_tcb"
_MIME = mimetypes.MimeTypes()  # built-in table only: the same answer on every machine


@dataclass(frozen=True)
class StoredObject:
    key: str
    file_id: str
    md5: str
    size: int


@dataclass(frozen=True)
class Download:
    row: WeChatFile
    blob_id: int


# -- request fields ---------------------------------------------------------------------
def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _fields(body: dict[str, Any], spec: list[tuple[str, Callable[[Any], bool], str]], where: str = "") -> None:
    """Required fields: every absent one first (40101), then every wrong one (40097).
    An empty string counts as absent."""
    for name, _, _ in spec:
        if body.get(name) is None or body.get(name) == "":
            raise WeChatError.MISSING_PARAMETER(f"{where}{name} is required")
    for name, check, what in spec:
        if not check(body[name]):
            raise WeChatError.INVALID_ARGS(f"{where}{name} must be {what}, not {type(body[name]).__name__}")


def _batch(body: dict[str, Any], name: str) -> list[Any]:
    items: list[Any] = body[name]
    if not items:
        raise WeChatError.INVALID_ARGS(f"{name} is empty")
    if len(items) > MAX_BATCH:
        raise WeChatError.INVALID_ARGS(f"{name} has {len(items)} items; at most {MAX_BATCH}")
    return items


class WeChatService(ServiceBase):
    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator

    # -- access tokens -------------------------------------------------------------
    def issue_token(
        self, grant_type: str | None, appid: str | None, secret: str | None
    ) -> tuple[Tenant, dict[str, Any]]:
        tenant = auth.check_client(self.emu, grant_type, appid, secret)
        return tenant, {"access_token": auth.issue_token(self.emu, tenant.appid), "expires_in": auth.TOKEN_TTL}

    def is_tenant(self, appid: str | None) -> bool:
        return appid is not None and appid != "" and self.emu.tenants.get("wechat", appid) is not None

    def authenticate(self, token: str | None) -> Tenant:
        return auth.authenticate(self.emu, token)

    @staticmethod
    def check_env(tenant: Tenant, env: str) -> None:
        if not tenant.envs:
            raise WeChatError.CLOUD_NOT_OPEN(reason=f"appid {tenant.appid} has no cloud environment")
        if env not in tenant.envs:
            raise WeChatError.ENV_NOT_FOUND(f"env {env!r}", reason=f"appid {tenant.appid} has no environment {env!r}")

    # -- uploadfile ----------------------------------------------------------------
    def upload_link(self, tenant: Tenant, body: dict[str, Any], base: str) -> dict[str, Any]:
        _fields(body, [("env", _is_str, "a string"), ("path", _is_str, "a string")])
        env, path = body["env"], body["path"]
        self.check_env(tenant, env)
        self._check_path(path)
        now = self.emu.clock.now()
        bucket = bucket_of(tenant.appid, env)
        start, end = math.floor(now), math.floor(now) + GRANT_TTL
        grant = WeChatUploadGrant(
            token=self.emu.ids.token(192),
            appid=tenant.appid,
            env=env,
            bucket=bucket,
            key=path,
            authorization=(
                f"q-sign-algorithm=sha1&q-ak=AKID{self.emu.ids.token(48)}&q-sign-time={start};{end}"
                f"&q-key-time={start};{end}&q-header-list=&q-url-param-list=&q-signature={self.emu.ids.hex(20)}"
            ),
            cos_file_id=self._new_cos_file_id(),
            expires_at=now + GRANT_TTL,
        )
        with self.emu.db.session() as s:
            s.execute(delete(WeChatUploadGrant).where(WeChatUploadGrant.expires_at <= now - auth.KEEP))
            s.add(grant)
        return {
            **OK,
            "url": f"{base}{COS_PREFIX}/{bucket}/{quote(path, safe='/')}",
            "token": grant.token,
            "authorization": grant.authorization,
            "file_id": file_id_of(env, bucket, path),
            "cos_file_id": grant.cos_file_id,
        }

    def _new_cos_file_id(self) -> str:
        return base64.b64encode(self.emu.ids.bytes(120)).decode()

    @staticmethod
    def _check_path(path: str) -> None:
        problem = None
        if path.startswith("/"):
            problem = "it starts with '/'"
        elif len(path.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            problem = f"it is longer than {MAX_KEY_BYTES} bytes"
        elif any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
            problem = "it contains control characters"
        elif any(segment in (".", "..") for segment in path.split("/")):
            # Every HTTP client removes dot segments from a URL's path (RFC 3986 5.2.4), so
            # the download link of such a path could never reach the object.
            problem = "it has a '.' or '..' segment"
        if problem:
            raise WeChatError.INVALID_PARAMETERS("cloud path is invalid", reason=f"path {path!r}: {problem}")

    # -- the COS form POST ---------------------------------------------------------
    def bucket_owner(self, bucket: str) -> tuple[Tenant, str]:
        for tenant in self.emu.tenants.all("wechat"):
            for env in tenant.envs:
                if bucket_of(tenant.appid, env) == bucket:
                    return tenant, env
        raise CosError.NO_SUCH_BUCKET(reason=f"no app environment has bucket {bucket!r}")

    async def stage(self, chunks: AsyncIterator[bytes]) -> StagedBlob:
        try:
            return await self.emu.blobs.stage(chunks, max_size=MAX_OBJECT_BYTES)
        except BlobTooLarge:
            raise CosError.ENTITY_TOO_LARGE(reason=f"object larger than {MAX_OBJECT_BYTES} bytes") from None

    def discard(self, staged: StagedBlob) -> None:
        self.emu.blobs.discard(staged)

    def precheck(self, bucket: str, fields: dict[str, str]) -> None:
        """The checks the fields read so far allow, made before the file is written: with
        the documented order (file last) bad credentials are refused before any byte is
        stored. Raises what :meth:`store` would raise; silent when fields are still to come."""
        if "key" in fields and not fields["key"]:
            raise CosError.INVALID_ARGUMENT("the key field is missing", reason="empty key field")
        with self.emu.db.session() as s:
            auth.check_upload(s, self.emu.clock.now(), bucket, fields, complete=False)

    def store(self, bucket: str, fields: dict[str, str], staged: StagedBlob | None,
              content_type: str | None) -> StoredObject:
        """Verify the form's credentials, then keep the object (the same key overwrites).
        Raises before anything is kept; the caller discards ``staged`` then."""
        if not fields.get("key"):
            raise CosError.INVALID_ARGUMENT("the key field is missing", reason="no key field")
        now = self.emu.clock.now()
        with self.emu.db.session() as s:
            grant = auth.check_upload(s, now, bucket, fields)
            assert grant is not None  # a complete check returns the grant or raises
            if staged is None:
                raise CosError.INVALID_ARGUMENT("the file field is missing", reason="no file field")
            if content_type is not None and any(ord(c) < 0x20 or ord(c) == 0x7F for c in content_type):
                # it is served back as a header of the download links: CR/LF there would break them
                raise CosError.INVALID_ARGUMENT("Content-Type is invalid", reason=f"Content-Type {content_type[:80]!r}")
            self._keep(s, grant.appid, grant.env, bucket, grant.key, grant.cos_file_id, staged, content_type, now)
        return StoredObject(grant.key, file_id_of(grant.env, bucket, grant.key), staged.md5, staged.size)

    def _keep(self, s: Session, appid: str, env: str, bucket: str, key: str, cos_file_id: str,
              staged: StagedBlob, content_type: str | None, now: float) -> None:
        """The COS POST's commit (shared with :meth:`preload`): the object at ``key``,
        overwriting one already there."""
        hold(s, "wechat.object", bucket, key)  # concurrent POSTs of one key: one after the other
        blob_id = self.emu.blobs.commit(s, staged)
        row = self._row(s, bucket, key)
        values = {"cos_file_id": cos_file_id, "content_type": content_type or "application/octet-stream",
                  "size": staged.size, "md5": staged.md5, "created_at": now, "blob_id": blob_id}
        if row is None:
            s.add(WeChatFile(appid=appid, env=env, bucket=bucket, key=key, **values))
        else:
            old = row.blob_id
            for name, value in values.items():
                setattr(row, name, value)
            s.flush()
            self.emu.blobs.release(s, old)

    # -- preloading ----------------------------------------------------------------
    async def preload(self, tenant_id: str, path: str, chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """``<env>/<cloud path>`` of app ``tenant_id``: the file an upload link for that
        env and path plus its COS form POST would keep (a new cos_file_id; Content-Type
        from the file name's extension, as a browser or mini program sends it). A file at
        that path with the same bytes stays; other bytes overwrite it as a POST does."""
        file = where("wechat", tenant_id, path)
        tenant: Tenant | None = self.emu.tenants.get("wechat", tenant_id)
        if tenant is None:
            raise PreloadError(f"no wechat tenant with appid {tenant_id!r}", file=file)
        parts = segments("wechat", tenant_id, path)
        if len(parts) < 2:
            raise PreloadError("WeChat files go in <env>/<cloud path>", file=file)
        env, key = parts[0], "/".join(parts[1:])
        try:
            self.check_env(tenant, env)
            self._check_path(key)
            staged = await self.stage(chunks)
        except VendorError as err:
            raise refusal(err, file) from None
        bucket = bucket_of(tenant.appid, env)
        content_type = _MIME.guess_type(key, strict=False)[0]
        unchanged = False
        try:
            with self.emu.db.session() as s:
                hold(s, "wechat.object", bucket, key)
                row = self._row(s, bucket, key)
                if row is not None:
                    held = s.get(Blob, row.blob_id)
                    unchanged = held is not None and (held.size, held.md5, held.sha1) == (
                        staged.size, staged.md5, staged.sha1)
                if not unchanged:
                    self._keep(s, tenant.appid, env, bucket, key, self._new_cos_file_id(), staged, content_type,
                               self.emu.clock.now())
        except BaseException:
            self.discard(staged)
            raise
        if unchanged:
            self.discard(staged)
        result = "unchanged" if unchanged else "replaced" if row is not None else "created"
        return {"api": "wechat", "tenant": tenant.appid, "path": path, "id": file_id_of(env, bucket, key),
                "size": staged.size, "result": result}

    @staticmethod
    def _row(s: Session, bucket: str, key: str) -> WeChatFile | None:
        query = select(WeChatFile).where(WeChatFile.bucket == bucket, WeChatFile.key == key)
        return s.execute(query).scalar_one_or_none()

    # -- batchdownloadfile ---------------------------------------------------------
    def download_links(self, tenant: Tenant, body: dict[str, Any], base: str) -> dict[str, Any]:
        _fields(body, [("env", _is_str, "a string"), ("file_list", lambda v: isinstance(v, list), "an array")])
        entries = _batch(body, "file_list")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise WeChatError.INVALID_ARGS(f"file_list[{i}] must be an object")
            _fields(entry, [("fileid", _is_str, "a string"), ("max_age", _is_int, "an integer")], f"file_list[{i}].")
            if not MAX_AGE_MIN <= entry["max_age"] <= MAX_AGE_MAX:
                raise WeChatError.INVALID_ARGS(
                    f"file_list[{i}].max_age must be within [{MAX_AGE_MIN}, {MAX_AGE_MAX}] seconds")
        env = body["env"]
        self.check_env(tenant, env)
        now = self.emu.clock.now()
        out = []
        with self.emu.db.session() as s:
            for entry in entries:
                row = self._find(s, tenant.appid, env, entry["fileid"])
                if row is None:
                    out.append({"fileid": entry["fileid"], "download_url": "", "status": MISSING_STATUS,
                                "errmsg": MISSING_ERRMSG})
                    continue
                t = auth.link_time(now + entry["max_age"])  # the link dies exactly max_age from now
                sign = auth.download_sign(tenant.secret, row.bucket, row.key, t)
                url = f"{base}{DOWNLOAD_PREFIX}/{row.bucket}/{quote(row.key, safe='/')}?sign={sign}&t={t}"
                out.append({"fileid": entry["fileid"], "download_url": url, "status": 0, "errmsg": "ok"})
        return {**OK, "file_list": out}

    def _find(self, s: Session, appid: str, env: str, file_id: str) -> WeChatFile | None:
        ref = parse_file_id(file_id)
        if ref is None or not names_bucket(ref, appid, env):
            return None
        return self._row(s, bucket_of(appid, env), ref.key)

    def open_download(self, tenant: Tenant, bucket: str, key: str, sign: str | None, t: str | None) -> Download:
        auth.check_download(self.emu.clock.now(), tenant, bucket, key, sign, t)
        with self.emu.db.session() as s:
            row = self._row(s, bucket, key)
        if row is None:
            raise CosError.NO_SUCH_KEY(reason=f"no object {key!r} in bucket {bucket}")
        return Download(row, row.blob_id)

    def read(self, blob_id: int, start: int, end: int) -> AsyncIterator[bytes]:
        return self.emu.blobs.read(blob_id, start, end)

    # -- batchdeletefile -----------------------------------------------------------
    def delete_files(self, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
        _fields(body, [("env", _is_str, "a string"), ("fileid_list", lambda v: isinstance(v, list), "an array")])
        ids = _batch(body, "fileid_list")
        for i, file_id in enumerate(ids):
            if not _is_str(file_id):
                raise WeChatError.INVALID_ARGS(f"fileid_list[{i}] must be a string")
        env = body["env"]
        self.check_env(tenant, env)
        out = []
        with self.emu.db.session() as s:
            for file_id in ids:
                row = self._find(s, tenant.appid, env, file_id)
                if row is None:
                    out.append({"fileid": file_id, "status": MISSING_STATUS, "errmsg": MISSING_ERRMSG})
                    continue
                blob_id = row.blob_id
                if drop(s, row):  # else deleted meanwhile by another process, which released it
                    self.emu.blobs.release(s, blob_id)
                out.append({"fileid": file_id, "status": 0, "errmsg": "ok"})
        return {**OK, "delete_list": out}

    # -- evidence for tests --------------------------------------------------------
    def files(self, appid: str | None = None, env: str | None = None) -> list[dict[str, Any]]:
        q = select(WeChatFile).order_by(WeChatFile.appid, WeChatFile.env, WeChatFile.key)
        if appid is not None:
            q = q.where(WeChatFile.appid == appid)
        if env is not None:
            q = q.where(WeChatFile.env == env)
        with self.emu.db.session() as s:
            rows = s.execute(q).scalars().all()
        return [
            {"appid": r.appid, "env": r.env, "bucket": r.bucket, "key": r.key,
             "file_id": file_id_of(r.env, r.bucket, r.key), "size": r.size, "md5": r.md5,
             "content_type": r.content_type, "created_at": r.created_at}
            for r in rows
        ]
