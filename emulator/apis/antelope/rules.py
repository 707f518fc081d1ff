"""What the Antelope object storage accepts, as the document states it: numbers in the query,
keys (absolute paths, completed with the file name), user metadata, obj_ids, expiry types,
and the parameters of upload2 and of the queries. Pure functions: no state, no HTTP types;
a broken rule is :attr:`AntelopeError.BAD_REQUEST` with the reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ...core import jsonbody
from ...core.errors import VendorError
from ...core.numbers import decimal, quoted, shown
from .errors import AntelopeError

MAX_UPLOAD2_BYTES = 1 << 30  # "size大于1G"
MAX_ATTACHMENT_BYTES = 50 << 20  # "每个子对象文件的最大大小为50M"
MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 1024
EXPIRY_DAYS = {0: None, 1: 7, 2: 30, 3: 90}
CHANNELS = range(16)
MAX_EVENTS = 100
MAX_LIST = 200
MAX_OFFSET = (1 << 63) - 1  # Kafka offsets are signed 64-bit
FILENAME_SLOT = "${filename}"
_OBJ_ID = re.compile(r"[0-9a-fA-F]{24}")  # fullmatch: no trailing newline
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

bad = AntelopeError.BAD_REQUEST


# -- numbers -----------------------------------------------------------------------------
# Every number of the API is at most MAX_OFFSET: a larger one reads as MAX_OFFSET + 1
# (core/numbers.py), refused by each parameter's bound; messages quote the client's text.
def parse_uint(raw: str | None, name: str, *, required: bool = True) -> int | None:
    if raw is None or raw == "":
        if required:
            raise bad(f"{name} is required")
        return None
    value = decimal(raw, limit=MAX_OFFSET)
    if value is None:
        raise bad(f"{name} must be an unsigned integer, not {quoted(raw)}")
    return value


def parse_int(raw: str | None, name: str) -> int | None:
    """A signed decimal integer (so a negative value gets a range error, not a type error)."""
    if raw is None or raw == "":
        return None
    value = decimal(raw, limit=MAX_OFFSET, signed=True)
    if value is None:
        raise bad(f"{name} must be an integer, not {quoted(raw)}")
    return value


def required_int(raw: str | None, name: str) -> int:
    value = parse_int(raw, name)
    if value is None:
        raise bad(f"{name} is required")
    return value


def is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_expire_type(raw: str | None) -> int:
    if raw is None:
        return 0
    if raw not in ("0", "1", "2", "3"):
        raise bad(f"expiretype must be 0, 1, 2 or 3, not {raw!r}")
    return int(raw)


# -- keys, metadata, ids -------------------------------------------------------------------
def check_key(raw: str | None) -> str | None:
    """A client's key as given: an absolute path (or one with a trailing ``/`` or
    ``/${filename}`` that the file name completes). Empty means none."""
    if raw is None or raw == "":
        return None
    if len(raw.encode("utf-8")) > MAX_KEY_BYTES:
        raise bad(f"key is longer than {MAX_KEY_BYTES} bytes")
    if not raw.startswith("/"):
        raise bad(f"key must be an absolute path starting with '/', not {raw!r}")
    if "//" in raw:
        raise bad(f"key has an empty path segment: {raw!r}")
    if any(seg in (".", "..") for seg in raw.split("/")):
        raise bad(f"key has a '.' or '..' path segment: {raw!r}")
    if _CONTROL.search(raw):
        raise bad("key contains control characters")
    return raw


def complete_key(raw: str | None, file_name: str, obj_id: str) -> str:
    """The final key: ``/1/`` and ``/1/${filename}`` take the file name; none gives
    ``<obj_id>_<file name>``; anything else is kept as given."""
    if raw is None:
        return f"{obj_id}_{file_name}"
    if raw.endswith("/"):
        base = raw
    elif raw.rsplit("/", 1)[1] == FILENAME_SLOT:
        base = raw[: -len(FILENAME_SLOT)]
    else:
        return raw
    if not file_name:
        raise bad(f"key {raw!r} is completed with the file name, but the upload has none")
    key = base + file_name
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise bad(f"key {key!r} is longer than {MAX_KEY_BYTES} bytes once completed with the file name")
    if _CONTROL.search(key):
        raise bad("the file name completing the key contains control characters")
    try:  # the completed key obeys the same format ("/1/" + "../x" is no absolute path)
        checked = check_key(key)
    except VendorError as err:
        raise bad(f"key {raw!r} completed with the file name {file_name!r}: {err.detail}") from None
    assert checked is not None
    return checked


def parse_metadata(raw: str | None) -> Any:
    """User metadata: JSON of at most 1024 bytes; absent or blank is ``{}``."""
    if raw is None or raw.strip() == "":
        return {}
    if len(raw.encode("utf-8")) > MAX_METADATA_BYTES:
        raise bad(f"metadata is longer than {MAX_METADATA_BYTES} bytes")
    try:
        return jsonbody.loads(raw)
    except ValueError:
        raise bad("metadata is not valid JSON") from None


def check_obj_id(raw: str) -> str:
    if not _OBJ_ID.fullmatch(raw):
        raise bad(f"obj_id must be 24 hexadecimal digits, not {raw!r}")
    return raw.lower()


# -- parameters of the calls ----------------------------------------------------------------
@dataclass(frozen=True)
class Upload2Params:
    size: int
    expire_type: int
    url_key: str | None


def upload2_params(size: str | None, expiretype: str | None, key: str | None) -> Upload2Params:
    """upload2's query: the declared ``size`` (at most 1G), ``expiretype`` and ``key``."""
    declared = parse_uint(size, "size")
    assert declared is not None
    if declared > MAX_UPLOAD2_BYTES:
        raise bad(f"size {shown(declared, size, MAX_OFFSET)} is over the {MAX_UPLOAD2_BYTES}-byte (1G) limit")
    return Upload2Params(declared, parse_expire_type(expiretype), check_key(key))


@dataclass(frozen=True)
class EventQuery:
    channel: int
    size: int
    offset: int | None  # None: from the earliest event kept


def event_query(channel_raw: str | None, size_raw: str | None, offset_raw: str | None) -> EventQuery:
    """``/v2/events``: ``channel_id`` within 0-15, ``size`` 1-100 (over 100: its own
    status), ``offset`` a non-negative 64-bit Kafka offset if given."""
    channel = required_int(channel_raw, "channel_id")
    if channel not in CHANNELS:
        raise bad(f"channel_id must be within 0-15, not {shown(channel, channel_raw, MAX_OFFSET)}")
    size = required_int(size_raw, "size")
    if size > MAX_EVENTS:
        raise AntelopeError.SIZE_OVER_LIMIT(f"size {shown(size, size_raw, MAX_OFFSET)} is over {MAX_EVENTS}")
    if size < 1:
        raise bad(f"size must be at least 1, not {shown(size, size_raw, MAX_OFFSET)}")
    offset = parse_int(offset_raw, "offset")
    if offset is not None and offset < 0:
        raise bad(f"offset must not be negative, not {shown(offset, offset_raw, MAX_OFFSET)}")
    if offset is not None and offset > MAX_OFFSET:
        raise bad(f"offset must be at most {MAX_OFFSET} (a 64-bit Kafka offset), "
                  f"not {shown(offset, offset_raw, MAX_OFFSET)}")
    return EventQuery(channel, size, offset)


def list_count(raw: str | None) -> int:
    """``listbysort``'s ``count``: 1-200."""
    count = required_int(raw, "count")
    if not 1 <= count <= MAX_LIST:
        raise bad(f"count must be within 1-{MAX_LIST}, not {shown(count, raw, MAX_OFFSET)}")
    return count


def permanent_type(raw: str | None) -> bool:
    """``cidsbyappid``'s ``obj_type``: 1 permanent (True), 2 cyclic (False)."""
    if raw not in ("1", "2"):
        raise bad(f"obj_type must be 1 (permanent) or 2 (cyclic), not {raw!r}")
    return raw == "1"
