"""Names Cloud Base derives from an app and an environment: the storage bucket, file ids.

A real bucket id looks like ``7465-test2-4a89da-1258717764``: the hex of the env id's
first two characters, the env id, then the owner's 10-digit Tencent Cloud APPID. The
emulator derives that APPID from the WeChat appid, so a bucket is stable across runs and
two apps never share one even when they name an environment alike.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

FILE_ID_SCHEME = "cloud://"


def cloud_appid(appid: str) -> int:
    """A plausible 10-digit Tencent Cloud APPID, fixed for a WeChat appid."""
    return 1250000000 + int(hashlib.sha256(appid.encode()).hexdigest()[:8], 16) % 100_000_000


def bucket_prefix(env: str) -> str:
    """The bucket id without its APPID suffix (the form the document's fileid examples use)."""
    return f"{env[:2].encode().hex()}-{env}"


def bucket_of(appid: str, env: str) -> str:
    return f"{bucket_prefix(env)}-{cloud_appid(appid)}"


def file_id_of(env: str, bucket: str, key: str) -> str:
    return f"{FILE_ID_SCHEME}{env}.{bucket}/{key}"


@dataclass(frozen=True)
class FileRef:
    env: str
    bucket: str
    key: str


def parse_file_id(file_id: str) -> FileRef | None:
    """``cloud://<env>.<bucket>/<key>`` -> its parts; None when it is not of that shape."""
    if not file_id.startswith(FILE_ID_SCHEME):
        return None
    host, sep, key = file_id[len(FILE_ID_SCHEME) :].partition("/")
    env, dot, bucket = host.partition(".")
    if not (sep and dot and env and bucket and key):
        return None
    return FileRef(env, bucket, key)


def names_bucket(ref: FileRef, appid: str, env: str) -> bool:
    """Whether a file id's env and bucket name this app's environment (full bucket id, or
    the bucket id without its APPID suffix as in the document's examples)."""
    return ref.env == env and ref.bucket in (bucket_of(appid, env), bucket_prefix(env))
