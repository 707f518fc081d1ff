"""WeChat credentials: access tokens from /cgi-bin/token, the COS credentials that
tcb/uploadfile issues for one key, and the signed download links of batchdownloadfile."""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from ...core.guards import hold
from ...core.journal import mask
from .errors import CosError, WeChatError
from .models import WeChatToken, WeChatUploadGrant
from .tenant import Tenant

if TYPE_CHECKING:
    from ...core.runtime import Emulator

GRANT_TYPE = "client_credential"
TOKEN_TTL = 7200  # seconds, "expires_in": 7200
OVERLAP = 300  # a superseded token keeps working for 5 minutes
KEEP = 86400  # dead tokens and grants are remembered this long, to say why they fail
TOKEN_EXPECTED = (
    "access_token from GET /cgi-bin/token: issued by this emulator, younger than 7200 s, "
    "and not superseded by a newer token of the same app for more than 300 s"
)


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# -- access tokens ----------------------------------------------------------------------
def check_client(emu: Emulator, grant_type: str | None, appid: str | None, secret: str | None) -> Tenant:
    """The tenant asking for a token, or the errcode /cgi-bin/token answers."""
    if grant_type != GRANT_TYPE:
        raise WeChatError.INVALID_GRANT_TYPE(reason=f"grant_type is {grant_type!r}, not {GRANT_TYPE!r}")
    if not appid:
        raise WeChatError.APPID_MISSING(reason="no appid")
    tenant: Tenant | None = emu.tenants.get("wechat", appid)
    if tenant is None:
        raise WeChatError.INVALID_APPID(reason=f"unknown appid {appid!r}")
    if not secret:
        raise WeChatError.SECRET_MISSING(reason="no secret")
    if not same(secret, tenant.secret):
        raise WeChatError.INVALID_CREDENTIAL(
            reason=f"secret does not match appid {appid}", expected=f"secret of {appid} ({mask(tenant.secret)})"
        )
    return tenant


def issue_token(emu: Emulator, appid: str) -> str:
    """A new token; the app's earlier tokens keep working for OVERLAP seconds more."""
    now = emu.clock.now()
    token = emu.ids.token(96)
    with emu.db.session() as s:
        hold(s, "wechat.token", appid)  # one current token per app, whichever process issues
        s.execute(
            update(WeChatToken)
            .where(WeChatToken.appid == appid, WeChatToken.superseded_at.is_(None))
            .values(superseded_at=now)
        )
        s.execute(
            delete(WeChatToken).where(
                WeChatToken.appid == appid,
                (WeChatToken.expires_at <= now - KEEP) | (WeChatToken.superseded_at <= now - OVERLAP - KEEP),
            )
        )
        s.add(WeChatToken(token=token, appid=appid, issued_at=now, expires_at=now + TOKEN_TTL, superseded_at=None))
    return token


def authenticate(emu: Emulator, token: str | None) -> Tenant:
    if not token:
        raise WeChatError.TOKEN_MISSING(reason="no access_token in the query string", expected=TOKEN_EXPECTED)
    now = emu.clock.now()
    with emu.db.session() as s:
        row = s.get(WeChatToken, token)
    if row is None:
        raise WeChatError.INVALID_TOKEN(reason="access_token was never issued (or was dropped by reset)",
                                        expected=TOKEN_EXPECTED)
    if now >= row.expires_at:
        raise WeChatError.TOKEN_EXPIRED(reason=f"access_token of {row.appid} expired {now - row.expires_at:.0f} s ago",
                                        expected=TOKEN_EXPECTED)
    if row.superseded_at is not None and now >= row.superseded_at + OVERLAP:
        raise WeChatError.INVALID_CREDENTIAL(
            reason=f"access_token of {row.appid} was superseded by a newer one {now - row.superseded_at:.0f} s ago",
            expected=TOKEN_EXPECTED,
        )
    tenant: Tenant | None = emu.tenants.get("wechat", row.appid)
    if tenant is None:
        raise WeChatError.INVALID_TOKEN(reason=f"appid {row.appid} is no longer a tenant", expected=TOKEN_EXPECTED)
    return tenant


# -- COS form POST credentials ----------------------------------------------------------
def check_upload(session: Session, now: float, bucket: str, fields: dict[str, str],
                 complete: bool = True) -> WeChatUploadGrant | None:
    """The grant whose three credentials the form carries, for its key, unexpired.

    ``complete=False`` is the early check made when the form reaches ``file``: the checks
    run in the same order but stop (returning None) at the first field that has not
    arrived yet, so every refusal it raises is the one the full check would raise."""
    key = fields.get("key", "")
    token = fields.get("x-cos-security-token")
    if not complete and ("key" not in fields or token is None):
        return None
    expected = f"the token, authorization and cos_file_id that tcb/uploadfile returned for key {key!r}"
    if not token:
        raise CosError.ACCESS_DENIED("x-cos-security-token is missing", reason="no x-cos-security-token field",
                                     expected=expected)
    grant = session.get(WeChatUploadGrant, token)
    if grant is None:
        raise CosError.ACCESS_DENIED(
            "the security token is invalid",
            reason="x-cos-security-token was not issued by tcb/uploadfile (or reset dropped it)",
            expected=expected,
        )
    if grant.bucket != bucket:
        raise CosError.ACCESS_DENIED(reason=f"credentials were issued for bucket {grant.bucket}, not {bucket}",
                                     expected=f"POST to the url tcb/uploadfile returned (bucket {grant.bucket})")
    if grant.key != key:
        raise CosError.ACCESS_DENIED(reason=f"credentials were issued for key {grant.key!r}, not {key!r}",
                                     expected=f"key = {grant.key!r}, the path given to tcb/uploadfile")
    signature = fields.get("signature")
    if signature is None and not complete:
        return None
    if signature is None or not same(signature, grant.authorization):
        raise CosError.SIGNATURE_MISMATCH(
            reason=(
                "Signature is missing" if signature is None
                else "Signature is not the authorization issued with this token"
            ),
            expected=(
                f"Signature = authorization returned with this token ({mask(grant.authorization, 24)}) "
                f"for key {grant.key!r}"
            ),
        )
    file_id = fields.get("x-cos-meta-fileid")
    if file_id is None and not complete:
        return None
    if file_id is None or not same(file_id, grant.cos_file_id):
        raise CosError.ACCESS_DENIED(
            reason=(
                "x-cos-meta-fileid is missing" if file_id is None
                else "x-cos-meta-fileid is not the cos_file_id issued with this token"
            ),
            expected=f"x-cos-meta-fileid = cos_file_id returned with this token ({mask(grant.cos_file_id)})",
        )
    if now >= grant.expires_at:
        raise CosError.REQUEST_EXPIRED(reason=f"upload credentials expired {now - grant.expires_at:.0f} s ago",
                                       expected="a form POST within 900 s of tcb/uploadfile")
    return grant


# -- download links ---------------------------------------------------------------------
LINK_TIME = re.compile(r"[0-9]{1,15}(\.[0-9]{1,20})?")  # unix seconds, with a fraction if issued mid-second


def link_time(expires: float) -> str:
    """``t`` of a download link: the exact expiry instant, in whole seconds when it is
    whole (always, on a clock set to whole seconds), else with its exact fraction."""
    return str(int(expires)) if expires.is_integer() else format(Decimal(repr(expires)), "f")


def download_sign(secret: str, bucket: str, key: str, t: str) -> str:
    return hmac.new(secret.encode(), f"{bucket}/{key}\n{t}".encode(), hashlib.md5).hexdigest()


def check_download(now: float, tenant: Tenant, bucket: str, key: str, sign: str | None, t: str | None) -> None:
    expected = "sign = HMAC-MD5(app secret, '<bucket>/<key>\\n<t>') and t (unix seconds) still ahead"
    if not sign or not t:
        raise CosError.ACCESS_DENIED("the link carries no sign or t", reason="no sign or t", expected=expected)
    if not LINK_TIME.fullmatch(t):
        raise CosError.ACCESS_DENIED(reason=f"t is not unix seconds: {t[:40]!r}", expected=expected)
    if not same(sign, download_sign(tenant.secret, bucket, key, t)):
        raise CosError.ACCESS_DENIED("the link's sign is invalid", reason="sign does not match bucket, key and t",
                                     expected=f"{expected}; bucket {bucket}, key {key!r}, t {t}")
    if now >= float(t):
        raise CosError.REQUEST_EXPIRED(reason=f"download link expired {now - float(t):.3f} s ago (max_age passed)",
                                       expected="a download before t")
