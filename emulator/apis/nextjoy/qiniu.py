"""Qiniu (七牛) formats the NextJoy service hands out and accepts: upload tokens
(``AccessKey:EncodedSign:EncodedPutPolicy``), the put policy's scope rules, the etag,
and listing markers. Pure functions; no HTTP, no storage."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

from ...core import jsonbody
from ...core.numbers import quoted

BLOCK_SIZE = 4 << 20  # the etag's block: 4 MiB
SMALL_PREFIX = b"\x16"  # etag of a body of at most one block
LARGE_PREFIX = b"\x96"  # etag of a body of several blocks


def b64encode(data: bytes) -> str:
    """URL-safe base64 with padding, as Qiniu's SDKs write it."""
    return base64.urlsafe_b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """URL-safe base64, padding optional; raises ValueError on anything else."""
    if not text or any(c not in _B64_ALPHABET for c in text.rstrip("=")):
        raise ValueError("not URL-safe base64")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not URL-safe base64: {exc}") from None


_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


# -- upload tokens ---------------------------------------------------------------------


def sign(secret_key: str, data: str) -> str:
    """EncodedSign: URL-safe base64 of HMAC-SHA1(SecretKey, data)."""
    return b64encode(hmac.new(secret_key.encode(), data.encode(), hashlib.sha1).digest())


def encode_policy(policy: dict[str, Any]) -> str:
    return b64encode(json.dumps(policy, separators=(",", ":"), ensure_ascii=False).encode())


def mint_token(access_key: str, secret_key: str, policy: dict[str, Any]) -> str:
    encoded = encode_policy(policy)
    return f"{access_key}:{sign(secret_key, encoded)}:{encoded}"


def split_token(token: str) -> tuple[str, str, str]:
    """(access_key, encoded_sign, encoded_policy); ValueError if not three parts."""
    parts = token.strip().split(":")
    if len(parts) != 3 or not all(parts):
        raise ValueError("an upload token is AccessKey:EncodedSign:EncodedPutPolicy")
    return parts[0], parts[1], parts[2]


@dataclass(frozen=True)
class PutPolicy:
    scope: str
    deadline: int
    bucket: str
    scope_key: str | None  # the part after "bucket:", if any
    prefixal: bool  # isPrefixalScope = 1: scope_key is a key prefix
    insert_only: bool  # insertOnly != 0
    fsize_limit: int | None = None  # fsizeLimit: most bytes an upload may have (413 beyond)
    fsize_min: int | None = None  # fsizeMin: fewest bytes (403 below)
    mime_limit: str | None = None  # mimeLimit: "image/*;video/mp4" allowed, "!a/b;c/d" refused
    return_body: str | None = None  # returnBody: template of the success answer
    save_key: str | None = None  # saveKey: template of the key when the upload names none
    force_save_key: bool = False  # forceSaveKey: saveKey even when the upload names a key
    end_user: str | None = None  # endUser: $(endUser) in the templates

    @classmethod
    def decode(cls, encoded: str) -> PutPolicy:
        """Parse an EncodedPutPolicy; ValueError naming what is wrong."""
        try:
            raw = jsonbody.loads(b64decode(encoded))
        except ValueError as exc:
            raise ValueError(f"put policy is not base64-encoded JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ValueError("put policy is not a JSON object")
        scope = raw.get("scope")
        if not isinstance(scope, str) or not scope:
            raise ValueError("put policy has no scope")
        deadline = raw.get("deadline")
        if isinstance(deadline, bool) or not isinstance(deadline, int):
            raise ValueError("put policy has no integer deadline")
        bucket, sep, key = scope.partition(":")
        return cls(
            scope=scope,
            deadline=deadline,
            bucket=bucket,
            scope_key=key if sep else None,
            prefixal=_flag(raw.get("isPrefixalScope")),
            insert_only=_flag(raw.get("insertOnly")),
            fsize_limit=_size(raw, "fsizeLimit"),
            fsize_min=_size(raw, "fsizeMin"),
            mime_limit=_text(raw, "mimeLimit"),
            return_body=_text(raw, "returnBody"),
            save_key=_text(raw, "saveKey"),
            force_save_key=raw.get("forceSaveKey") is True,
            end_user=_text(raw, "endUser"),
        )

    def mime_allowed(self, mime: str) -> bool:
        """mimeLimit: ``;``-separated types, ``*`` for any subtype (``image/*``); a leading
        ``!`` makes the list the types refused."""
        if not self.mime_limit:
            return True
        text = self.mime_limit.strip()
        refuse = text.startswith("!")
        patterns = [p.strip().lower() for p in text.lstrip("!").split(";") if p.strip()]
        base = mime.split(";")[0].strip().lower()
        hit = any(fnmatch.fnmatchcase(base, p) for p in patterns)
        return not hit if refuse else hit

    def key_allowed(self, key: str | None) -> bool:
        """Scope rule: ``bucket`` allows any key (or none); ``bucket:key`` exactly that
        key; ``bucket:prefix`` with isPrefixalScope keys starting with the prefix."""
        if self.scope_key is None:
            return True
        if key is None:
            return False
        return key.startswith(self.scope_key) if self.prefixal else key == self.scope_key

    @property
    def may_overwrite(self) -> bool:
        """Only an exact-key scope without insertOnly replaces an existing object."""
        return self.scope_key is not None and not self.prefixal and not self.insert_only


def _size(raw: dict[str, Any], name: str) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"put policy {name} must be a non-negative integer")
    return value


def _text(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"put policy {name} must be a string")
    return value


_MAGIC = re.compile(r"\$\(([A-Za-z0-9_:.\-]+)\)")


def render(template: str, values: dict[str, Any], *, json_strings: bool) -> str:
    """A put policy template (``returnBody``, ``saveKey``) with its ``$(name)`` magic
    variables replaced. ``values`` maps names to str or int; an ``x:`` variable the upload
    did not set is empty; any other unknown name stays as written. ``json_strings``: string
    values are escaped for use inside a JSON string (returnBody)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return "" if name.startswith("x:") else match.group(0)
        value = values[name]
        if isinstance(value, str) and json_strings:
            return json.dumps(value, ensure_ascii=False)[1:-1]
        return str(value)

    return _MAGIC.sub(one, template)


def _flag(value: Any) -> bool:
    return value is True or (type(value) is int and value != 0)


# -- etag and crc32, computed while the body streams ------------------------------------


class UploadDigest:
    """Feeds on every piece of an upload (``BlobStore.stage(observe=...)``): CRC32 and
    the Qiniu etag's per-4-MiB-block SHA-1s, in the one pass over the stream."""

    def __init__(self) -> None:
        self.size = 0
        self.crc32 = 0
        self._block = hashlib.sha1()
        self._in_block = 0
        self._blocks: list[bytes] = []

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        self.crc32 = zlib.crc32(data, self.crc32)
        view = memoryview(data)
        while view:
            room = BLOCK_SIZE - self._in_block
            piece, view = view[:room], view[room:]
            self._block.update(piece)
            self._in_block += len(piece)
            if self._in_block == BLOCK_SIZE:
                self._blocks.append(self._block.digest())
                self._block = hashlib.sha1()
                self._in_block = 0

    def etag(self) -> str:
        blocks = list(self._blocks)
        if self._in_block or not blocks:
            blocks.append(self._block.digest())
        if len(blocks) == 1:
            return b64encode(SMALL_PREFIX + blocks[0])
        return b64encode(LARGE_PREFIX + hashlib.sha1(b"".join(blocks)).digest())


    def v1_digest(self) -> bytes:
        """The 20 bytes an etag is built on: the SHA-1 of a body of at most one block,
        else the SHA-1 of its blocks' SHA-1s (what :meth:`etag` prefixes and encodes)."""
        blocks = list(self._blocks)
        if self._in_block or not blocks:
            blocks.append(self._block.digest())
        return blocks[0] if len(blocks) == 1 else hashlib.sha1(b"".join(blocks)).digest()


V2_PREFIX = b"\x9e"  # etag of a multipart upload whose parts are not all 4 MiB


def multipart_etag(whole: UploadDigest, parts: list[UploadDigest]) -> str:
    """The etag of a v2 upload: the plain etag when every part but the last is exactly
    4 MiB; otherwise urlsafe_b64(0x9e ‖ sha1(each part's 20-byte v1 digest, in order))."""
    if all(p.size == BLOCK_SIZE for p in parts[:-1]):
        return whole.etag()
    return b64encode(V2_PREFIX + hashlib.sha1(b"".join(p.v1_digest() for p in parts)).digest())


def etag_of(data: bytes) -> str:
    digest = UploadDigest()
    digest.feed(data)
    return digest.etag()


# -- listing markers ---------------------------------------------------------------------


def encode_marker(last_key: str) -> str:
    """Opaque to clients; shaped like Qiniu's (base64 of ``{"c":0,"k":<last key>}``)."""
    return b64encode(json.dumps({"c": 0, "k": last_key}, separators=(",", ":"), ensure_ascii=False).encode())


def decode_marker(marker: str) -> str:
    """The key a marker continues after; ValueError for a marker this service never gave
    (jsonbody: not UTF-8, or a lone surrogate such as ``"\\ud800"`` that no stored key holds)."""
    try:
        raw = jsonbody.loads(b64decode(marker))
    except ValueError:
        raise ValueError(f"invalid marker {quoted(marker)}") from None
    key = raw.get("k") if isinstance(raw, dict) else None
    if not isinstance(key, str):
        raise ValueError(f"invalid marker {quoted(marker)}")
    return key
