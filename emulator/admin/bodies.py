"""The one reader of admin request bodies: JSON, refused as :class:`AdminError` 400 when it
is not (bytes that are not UTF-8, a lone surrogate, nesting too deep, numbers out of range:
core/jsonbody.py); and the tenant an admin call names in its body."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request

from ..core import jsonbody
from ..core.tenants import TenantModel, Tenants
from .errors import AdminError

_NOTHING: Any = object()
T = TypeVar("T", bound=TenantModel)


async def read_json(request: Request, empty: Any = _NOTHING) -> Any:
    """The body, parsed. An empty (or blank) body is ``empty`` when given, else refused as
    not JSON. Raises :class:`AdminError` 400 ``body is not JSON: ...``."""
    raw = await request.body()
    if not raw.strip() and empty is not _NOTHING:
        return empty
    try:
        return jsonbody.loads(raw)
    except json.JSONDecodeError as exc:
        raise AdminError(400, f"body is not JSON: {exc.msg}") from None


async def admin_tenant(request: Request, api: str, field: str, kind: type[T]) -> T:
    """The tenant an admin call names in its optional JSON body ``{field: identity}``
    (default: the API's first tenant), as the API's tenant model ``kind``. Raises
    :class:`AdminError` (400 bad body, 404 no such tenant)."""
    body = await read_json(request, empty={})
    if not isinstance(body, dict) or set(body) - {field}:
        raise AdminError(400, f'bad body: expected {{"{field}": ...}} (optional)')
    tenants: Tenants = request.app.state.emulator.tenants
    ident = body.get(field)
    if ident is None:
        found = tenants.all(api)
        tenant = found[0] if found else None
    else:
        tenant = tenants.get(api, str(ident))
    if tenant is None:
        raise AdminError(404, f"no {api} tenant {ident!r}")
    assert isinstance(tenant, kind)
    return tenant
