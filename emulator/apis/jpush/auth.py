"""JPush HTTP Basic auth: base64(appKey:masterSecret), or base64(devKey:devSecret) for
developers with the VIP file permission."""

from __future__ import annotations

import base64
import hmac

from ...core.tenants import Tenants
from .errors import JPushError
from .tenant import Tenant

EXPECTED = "Authorization: Basic base64(app_key:master_secret) or base64(dev_key:dev_secret)"


def authenticate(tenants: Tenants, authorization: str | None) -> Tenant:
    if not authorization:
        raise JPushError.AUTH_FAILED(reason="no Authorization header", expected=EXPECTED)
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not credentials.strip():
        raise JPushError.AUTH_FAILED(reason=f"Authorization scheme is {scheme!r}, not Basic", expected=EXPECTED)
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, a non-ASCII character (the header is read as Latin-1), not UTF-8
        raise JPushError.AUTH_FAILED(reason="Basic credentials are not valid base64", expected=EXPECTED) from None
    user, sep, secret = decoded.partition(":")
    if not sep:
        raise JPushError.AUTH_FAILED(reason="Basic credentials have no ':' separator", expected=EXPECTED)

    tenant: Tenant | None = tenants.get("jpush", user)
    if tenant is not None:
        if hmac.compare_digest(secret.encode(), tenant.master_secret.encode()):
            return tenant
        raise JPushError.AUTH_FAILED(reason=f"master secret does not match app key {user}", expected=EXPECTED)

    dev: Tenant | None = tenants.find("jpush", lambda t: t.dev_key == user)
    if dev is not None and dev.dev_secret is not None:
        if not hmac.compare_digest(secret.encode(), dev.dev_secret.encode()):
            raise JPushError.AUTH_FAILED(reason=f"dev secret does not match dev key {user}", expected=EXPECTED)
        if not dev.file_vip:
            raise JPushError.NO_PERMISSION(
                "dev_key access to the file API needs the VIP file permission",
                reason=f"dev key {user} has no file_vip permission",
            )
        return dev
    raise JPushError.AUTH_FAILED(reason=f"unknown app key or dev key {user!r}", expected=EXPECTED)
