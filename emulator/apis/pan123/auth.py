"""123pan access: the Platform header, Bearer access tokens, and the SigV4-style presigned
URLs of the storage host (one slice each, limited validity on the emulator clock)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from ...core.clock import BEIJING
from ...core.journal import mask
from .errors import Pan123Error, S3Error
from .tenant import Tenant

PLATFORM = "open_platform"
ALGORITHM = "AWS4-HMAC-SHA256"
REGION = "us-east-1"
SERVICE = "s3"
UNSIGNED = "UNSIGNED-PAYLOAD"
SIGNED_HEADERS = "host"
AMZ_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
              "X-Amz-Signature")


def check_platform(value: str | None) -> None:
    if value is None:
        raise Pan123Error.FAILED("缺少请求头platform", reason="no Platform header", expected=f"Platform: {PLATFORM}")
    if value.strip() != PLATFORM:
        raise Pan123Error.FAILED(
            f"请求头platform无效，应为{PLATFORM}", reason=f"Platform is {value!r}", expected=f"Platform: {PLATFORM}"
        )


def bearer(authorization: str | None) -> str:
    """The token of ``Authorization: Bearer <token>``; anything else is 401."""
    if not authorization or not authorization.strip():
        raise Pan123Error.INVALID_TOKEN(reason="no Authorization header",
                                        expected="Authorization: Bearer <accessToken>")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Pan123Error.INVALID_TOKEN(
            reason="Authorization is not 'Bearer <accessToken>'", expected="Authorization: Bearer <accessToken>"
        )
    return token.strip()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_token(tenant: Tenant, expires_at: float, nonce: str) -> str:
    """A JWT-shaped token like the real ones (eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...), HMAC-signed
    with the client secret; the emulator still looks every token up in its table."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(
        json.dumps(
            {"exp": int(expires_at), "id": tenant.uid, "client_id": tenant.client_id, "iss": "123pan", "jti": nonce},
            separators=(",", ":"),
        ).encode()
    )
    sig = hmac.new(tenant.client_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(sig)}"


def iso_beijing(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), BEIJING).isoformat(timespec="seconds")


# -- presigned URLs ---------------------------------------------------------------------
def access_key(tenant: Tenant) -> str:
    return "AK" + hashlib.sha256(f"pan123-ak:{tenant.client_id}".encode()).hexdigest()[:18].upper()


def _secret_key(tenant: Tenant) -> str:
    return hmac.new(tenant.client_secret.encode(), b"pan123-storage-secret", hashlib.sha256).hexdigest()


def _enc(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(pairs) if k != "X-Amz-Signature")


@dataclass(frozen=True)
class Canonical:
    request: str
    string_to_sign: str


def _canonical(method: str, path: str, pairs: list[tuple[str, str]], host: str, amz_date: str) -> Canonical:
    request = "\n".join([method, path, canonical_query(pairs), f"host:{host.strip()}", "", SIGNED_HEADERS, UNSIGNED])
    scope = f"{amz_date[:8]}/{REGION}/{SERVICE}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    return Canonical(request, string_to_sign)


def _signature(tenant: Tenant, amz_date: str, string_to_sign: str) -> str:
    key = ("AWS4" + _secret_key(tenant)).encode()
    for part in (amz_date[:8], REGION, SERVICE, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def amz_date(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y%m%dT%H%M%SZ")


def presign(tenant: Tenant, base: str, path: str, host: str, params: dict[str, str], now: float, expires: int) -> str:
    """``base + path`` signed for one PUT: ``params`` (uploadId, partNumber) ride in the query."""
    date = amz_date(now)
    pairs = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{access_key(tenant)}/{date[:8]}/{REGION}/{SERVICE}/aws4_request"),
        ("X-Amz-Date", date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", SIGNED_HEADERS),
        *params.items(),
    ]
    canon = _canonical("PUT", path, pairs, host, date)
    query = canonical_query(pairs) + "&X-Amz-Signature=" + _signature(tenant, date, canon.string_to_sign)
    return f"{base}{path}?{query}"


def parse_query(raw: str) -> list[tuple[str, str]]:
    pairs = []
    for item in raw.split("&"):
        if not item:
            continue
        k, _, v = item.partition("=")
        pairs.append((unquote(k.replace("+", " ")), unquote(v.replace("+", " "))))
    return pairs


def _expected(canon: Canonical) -> str:
    return (f"canonical request:\n{canon.request}\nstring to sign:\n{canon.string_to_sign}\n"
            "(key: AWS4 signing key of the tenant's storage secret ***)")


def verify(tenant: Tenant, method: str, path: str, raw_query: str, host: str, now: float) -> None:
    """Refuse (S3 XML 403) a URL that was not signed by us as it stands, or has expired."""
    pairs = parse_query(raw_query)
    given = dict(pairs)
    missing = [p for p in AMZ_PARAMS if not given.get(p)]
    if missing:
        raise S3Error.ACCESS_DENIED(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            reason=f"presigned URL lacks {', '.join(missing)}",
        )
    date = given["X-Amz-Date"]
    canon = _canonical(method, path, pairs, host, date)
    if given["X-Amz-Algorithm"] != ALGORITHM or given["X-Amz-SignedHeaders"] != SIGNED_HEADERS:
        raise S3Error.SIGNATURE(reason="algorithm or signed headers changed", expected=_expected(canon))
    cred = given["X-Amz-Credential"].split("/")
    if cred[0] != access_key(tenant):
        raise S3Error.SIGNATURE(
            reason=f"credential access key {mask(cred[0])} is not the upload's", expected=_expected(canon)
        )
    try:
        signed_at = datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        expires = int(given["X-Amz-Expires"])
    except ValueError:
        raise S3Error.SIGNATURE(reason="X-Amz-Date or X-Amz-Expires malformed", expected=_expected(canon)) from None
    want = _signature(tenant, date, canon.string_to_sign)
    # As bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, not a mismatch).
    if not hmac.compare_digest(want.encode(), given["X-Amz-Signature"].encode("utf-8", "surrogatepass")):
        raise S3Error.SIGNATURE(
            reason="signature does not match the canonical request (URL tampered, other slice, or other host)",
            expected=_expected(canon),
        )
    if now >= signed_at + expires:
        raise S3Error.EXPIRED(
            f"Request has expired (X-Amz-Date {date} + {expires} s)",
            reason=f"presigned URL expired {now - signed_at - expires:.0f} s ago",
        )
