"""Antelope object storage (羚羊云 ADFS): token-signed uploads (upload2), event uploads
(upload3) and their feed (/v2/events), downloads and object queries."""

import secrets
from typing import Any

from ...core.contract import ApiSpec, ErrorFamily
from . import (
    models,  # noqa: F401  (registers the tables)
    routes,
)
from .admin import router as admin_router
from .errors import AntelopeError
from .listing import LISTING
from .routes import router
from .service import AntelopeService
from .tenant import Tenant


def worker_tenant(record: dict[str, Any], tag: str) -> dict[str, Any]:
    """A copy of a tenant record with an app id and key of its own (testing/server.py)."""
    return {**record, "app_id": f"{record['app_id']}-{tag}", "app_key": secrets.token_hex(16)}


API = ApiSpec(
    name="antelope",
    title="Antelope object storage (ADFS)",
    router=router,
    tenant_model=Tenant,
    worker_tenant=worker_tenant,
    service_factory=AntelopeService,
    admin_router=admin_router,
    objects=LISTING,
    endpoints=lambda base: {"antelope": base},
    errors=(ErrorFamily(AntelopeError, routes.render),),
)
