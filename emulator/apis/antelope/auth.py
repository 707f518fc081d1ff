"""Antelope access tokens and app credentials.

``access_token`` = ``cid_control_expire_digest``: three unsigned 32-bit integers in decimal
and the lower-case hex HMAC-MD5, keyed with the app's ``app_key``, of the 12 bytes that
pack cid, control and expire as little-endian uint32. The token names no app: the app is
the tenant whose key verifies the digest.

:func:`mint_token` makes one (tests, users' scripts, ``POST /_emulator/antelope/tokens``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
from dataclasses import dataclass

from ...core import journal
from ...core.journal import mask
from ...core.tenants import Tenants
from .errors import AntelopeError
from .tenant import Tenant

UINT32_MAX = 0xFFFFFFFF
_TOKEN = re.compile(r"([0-9]{1,10})_([0-9]{1,10})_([0-9]{1,10})_([0-9a-fA-F]{32})")  # ASCII digits, whole string
FORMAT = "access_token = cid_control_expire_digest, digest = hex(HMAC-MD5(app_key, pack('<III', cid, control, expire)))"


def signed_bytes(cid: int, control: int, expire: int) -> bytes:
    """The 12 bytes a token's digest covers."""
    return struct.pack("<III", cid, control, expire)


def token_digest(app_key: str, cid: int, control: int, expire: int) -> str:
    return hmac.new(app_key.encode("utf-8"), signed_bytes(cid, control, expire), hashlib.md5).hexdigest()


def mint_token(app_key: str, cid: int, control: int, expire: int) -> str:
    """An access_token for ``cid`` signed with ``app_key``, valid until unix second ``expire``."""
    for name, value in (("cid", cid), ("control", control), ("expire", expire)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= UINT32_MAX:
            raise ValueError(f"{name} must be an unsigned 32-bit integer, not {value!r}")
    return f"{cid}_{control}_{expire}_{token_digest(app_key, cid, control, expire)}"


@dataclass(frozen=True)
class Grant:
    """A verified token: who it was issued to and by which app."""

    tenant: Tenant
    cid: int
    control: int
    expire: int
    token: str


def _expected(cid: int, control: int, expire: int, tenants: list[Tenant]) -> str:
    keys = ", ".join(f"{t.app_id}:{mask(t.app_key)}" for t in tenants) or "no antelope tenants"
    return (
        f"hex HMAC-MD5 keyed with an app's app_key over pack('<III', cid={cid}, control={control}, "
        f"expire={expire}) = {signed_bytes(cid, control, expire).hex()}; app keys tried: {keys}"
    )


def verify_token(tenants: Tenants, token: str | None, now: float) -> Grant:
    """Missing → 400; malformed, unverifiable or expired → 401 (reason and expectation journaled)."""
    if token is None or token == "":
        raise AntelopeError.BAD_REQUEST("access_token is required", reason="no access_token", expected=FORMAT)
    m = _TOKEN.fullmatch(token)
    if m is None:
        raise AntelopeError.UNAUTHORIZED(
            "malformed access_token", reason="access_token is not cid_control_expire_digest", expected=FORMAT
        )
    cid, control, expire = (int(g) for g in m.groups()[:3])
    digest = m.group(4)
    if max(cid, control, expire) > UINT32_MAX:
        raise AntelopeError.UNAUTHORIZED(
            "malformed access_token", reason="cid, control or expire exceeds an unsigned 32-bit integer",
            expected=FORMAT,
        )
    candidates: list[Tenant] = tenants.all("antelope")
    tenant = next(
        (t for t in candidates if hmac.compare_digest(token_digest(t.app_key, cid, control, expire), digest)), None
    )
    if tenant is None:
        raise AntelopeError.UNAUTHORIZED(
            "access_token does not verify",
            reason="digest verifies with no app's app_key (wrong digest or unknown key)",
            expected=_expected(cid, control, expire, candidates),
        )
    if now > expire:
        journal.info().identify_tenant(tenant.app_id)
        raise AntelopeError.UNAUTHORIZED(
            "access_token has expired",
            reason=f"token of app {tenant.app_id} expired at {expire}, emulator clock is {int(now)}",
            expected=f"expire >= now ({int(now)})",
        )
    return Grant(tenant, cid, control, expire, token)


def verify_app(tenants: Tenants, app_id: str | None, app_key: str | None) -> Tenant:
    """/v2/events credentials: X-APP-ID names the app, X-APP-Key is its app_key."""
    expected = "headers X-APP-ID: <app_id> and X-APP-Key: <that app's app_key>"
    if not app_id or not app_key:
        raise AntelopeError.FORBIDDEN_APP(
            "X-APP-ID and X-APP-Key are required", reason="missing X-APP-ID or X-APP-Key", expected=expected
        )
    tenant: Tenant | None = tenants.get("antelope", app_id)
    if tenant is None:
        raise AntelopeError.FORBIDDEN_APP(reason=f"unknown app id {app_id!r}", expected=expected)
    if not hmac.compare_digest(app_key.encode("utf-8"), tenant.app_key.encode("utf-8")):
        raise AntelopeError.FORBIDDEN_APP(
            reason=f"X-APP-Key does not match app {app_id}", expected=f"{expected} ({mask(tenant.app_key)})"
        )
    return tenant
