"""What the 123pan platform accepts and how it writes things, shared by image hosting, the
cloud disk and the uploads: the two spaces and their roots, the URL prefixes the emulator
serves, the checks of names, sizes, etags and ``type``, and ids and times on the wire."""

from __future__ import annotations

import re
from datetime import datetime

from ...core.clock import BEIJING
from .errors import Pan123Error
from .models import Pan123File
from .tenant import Tenant

OSS, DISK = "oss", "disk"
ROOT_NAME = "img_oss"  # the image-hosting root's name, as the document's list example shows
DISK_ROOT = "0"
FORBIDDEN = set('"/:*?|><')
MAX_NAME = 255  # "文件名要小于255个字符"
ETAG = re.compile(r"^[0-9a-fA-F]{32}$")
S3_PREFIX = "/_pan123/s3"
DOWNLOAD_PREFIX = "/_pan123/vip"
SELF_PREFIX = "/_pan123/self"
STORAGE_NODE = "m1"
FILE_STATUS = 2  # the document's example of an accepted (审核通过) image
TAKEN = "该目录下已经有同名文件,无法进行创建"  # a new file's name is taken in its folder


def format_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return ext if dot and stem else ""


def wire_id(space: str, fid: str | None) -> str | int:
    """A file id as its space answers it: a number on the cloud disk (0: none), a string
    in image hosting ("": none)."""
    if space == DISK:
        return int(fid) if fid else 0
    return fid or ""


def download_url(base: str, prefix: str, tenant: Tenant, row: Pan123File) -> str:
    ext = extension(row.name)
    return f"{base}{prefix}/{tenant.uid}/{row.id}" + (f".{ext}" if ext else "")


def check_name(name: str, what: str = "文件名") -> str:
    if not name.strip():
        raise Pan123Error.FAILED(f"{what}不能为空", reason="empty name")
    if len(name) >= MAX_NAME:
        raise Pan123Error.FAILED(f"{what}要小于{MAX_NAME}个字符", reason=f"name has {len(name)} characters")
    bad = sorted(set(name) & FORBIDDEN)
    if bad:
        raise Pan123Error.FAILED(
            f'{what}不能包含以下任何字符："/:*?|><', reason=f"name contains {''.join(bad)!r}"
        )
    return name


def check_type(type_: int | None) -> None:
    if type_ != 1:
        raise Pan123Error.FAILED("type固定为1", reason=f"type is {type_!r}")


def check_size(size: int) -> None:
    if size <= 0:
        raise Pan123Error.FAILED("size必须大于0", reason=f"size {size}")


def check_etag(etag: str) -> str:
    """A whole-file MD5 as ``create`` takes it, lower-cased."""
    if not ETAG.match(etag):
        raise Pan123Error.FAILED("etag必须是32位十六进制的文件md5", reason=f"etag {etag!r}")
    return etag.lower()


def check_duplicate(duplicate: int) -> None:
    if duplicate not in (0, 1, 2):
        raise Pan123Error.FAILED("duplicate只能是1或2", reason=f"duplicate {duplicate}")
