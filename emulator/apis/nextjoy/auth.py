"""The two credentials of this API: NextJoy's request ``sign`` (MD5 over the sorted
``name|value#`` string plus the app secret) and the Qiniu upload token it mints, checked
again by the emulated Qiniu upload host."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from ...core import journal
from ...core.numbers import decimal, quoted
from ...core.tenants import Tenants
from . import qiniu
from .errors import NextJoyError, QiniuError
from .tenant import Tenant

REQUIRED = ("appid", "child_id", "timestamp", "sign")
TIMESTAMP_WINDOW = 300  # seconds either side of the emulator clock
SECRET_PLACEHOLDER = "<app_secret>"
PHP_INT_MAX = (1 << 63) - 1  # the service is PHP: its integers are 64-bit


# -- NextJoy request signature -----------------------------------------------------------


def string_to_sign(params: Mapping[str, str]) -> str:
    """Every parameter but ``sign``, sorted by name (byte order), as ``name|value#``."""
    names = sorted((n for n in params if n != "sign"), key=lambda n: n.encode("utf-8"))
    return "".join(f"{name}|{params[name]}#" for name in names)


def compute_sign(params: Mapping[str, str], app_secret: str) -> str:
    return hashlib.md5((string_to_sign(params) + app_secret).encode("utf-8")).hexdigest().upper()


def _integer(params: Mapping[str, str], name: str) -> int:
    """A documented ``int``: decimal digits, at most PHP's (64-bit) integer."""
    value = decimal(params[name], limit=PHP_INT_MAX)
    if value is None or value > PHP_INT_MAX:
        raise NextJoyError.REQUEST_CHECK_FAILED(
            reason=f"{name} must be an integer of at most {PHP_INT_MAX}, not {quoted(params[name])}"
        )
    return value


def authenticate(tenants: Tenants, params: Mapping[str, str], now: float) -> Tenant:
    """The tenant a signed request speaks for. Checks, in order: the four common
    parameters are present (18007), appid/child_id/timestamp are integers (18007), the
    appid/child_id pair exists (18000), the sign verifies (18007), the timestamp is within
    the window of the emulator clock (18006)."""
    missing = [name for name in REQUIRED if name not in params]
    if missing:
        raise NextJoyError.REQUEST_CHECK_FAILED(reason=f"missing parameter(s): {', '.join(missing)}")
    appid = _integer(params, "appid")
    child_id = _integer(params, "child_id")
    timestamp = _integer(params, "timestamp")

    tenant: Tenant | None = tenants.get("nextjoy", f"{appid}:{child_id}")
    if tenant is None:
        raise NextJoyError.TOKEN_CHECK_FAILED(reason=f"no app with appid {appid} and child_id {child_id}")
    journal.info().identify_tenant(tenant.identity())

    expected = string_to_sign(params) + SECRET_PLACEHOLDER
    given = params["sign"]
    computed = compute_sign(params, tenant.app_secret)
    if not hmac.compare_digest(given.encode("utf-8"), computed.encode("utf-8")):
        hint = " (it is lower-case hex: sign must be upper-case)" if given.upper() == computed else ""
        raise NextJoyError.REQUEST_CHECK_FAILED(
            reason=f"sign does not match the MD5 of the expected string{hint}", expected=expected
        )

    skew = timestamp - now
    if abs(skew) > TIMESTAMP_WINDOW:
        hint = " (it looks like milliseconds: timestamp is in seconds)" if timestamp > 10**11 else ""
        raise NextJoyError.REQUEST_TIMEOUT(
            reason=f"timestamp {timestamp} is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the "
            f"emulator clock ({now:.0f}); at most {TIMESTAMP_WINDOW} s either way{hint}"
        )
    return tenant


# -- Qiniu upload token ------------------------------------------------------------------


@dataclass(frozen=True)
class UploadGrant:
    tenant: Tenant
    policy: qiniu.PutPolicy


def verify_upload_token(tenants: Tenants, token: str | None, now: float) -> UploadGrant:
    """What an upload token allows, checked as Qiniu's upload host does: its form, the
    signature under the access key's secret, the deadline, and that the scope's bucket
    belongs to that access key. The key against the scope is checked by the caller."""
    if token is None or not token.strip():
        raise QiniuError.NO_TOKEN(reason="the form has no token field")
    try:
        access_key, given_sign, encoded_policy = qiniu.split_token(token)
    except ValueError as exc:
        raise QiniuError.BAD_TOKEN(reason=str(exc)) from None

    accounts: list[Tenant] = [t for t in tenants.all("nextjoy") if t.qiniu_access_key == access_key]
    if not accounts:
        raise QiniuError.BAD_TOKEN(reason=f"no tenant has the Qiniu access key {access_key!r}")
    journal.info().identify_tenant(accounts[0].identity())
    signers = [t for t in accounts if hmac.compare_digest(qiniu.sign(t.qiniu_secret_key, encoded_policy), given_sign)]
    if not signers:
        raise QiniuError.BAD_TOKEN(
            reason="the token's sign does not match its put policy",
            expected=f"urlsafe_base64(hmac_sha1(<qiniu_secret_key of {access_key}>, {encoded_policy!r}))",
        )
    try:
        policy = qiniu.PutPolicy.decode(encoded_policy)
    except ValueError as exc:
        raise QiniuError.BAD_TOKEN(reason=str(exc)) from None

    owner = next((t for t in signers if t.bucket == policy.bucket), None)
    if owner is None:
        raise QiniuError.NO_SUCH_BUCKET(
            reason=f"access key {access_key!r} has no bucket {policy.bucket!r} "
            f"(its buckets: {', '.join(sorted({t.bucket for t in signers}))})"
        )
    journal.info().identify_tenant(owner.identity())
    if now > policy.deadline:
        raise QiniuError.EXPIRED_TOKEN(
            reason=f"deadline {policy.deadline} is {now - policy.deadline:.0f} s before the emulator clock ({now:.0f})"
        )
    return UploadGrant(owner, policy)
