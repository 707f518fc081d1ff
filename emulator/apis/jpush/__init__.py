"""JPush (极光) file API: upload, list, get and delete alias / registration_id files."""

import secrets
from typing import Any

from ...core.contract import ApiSpec, ErrorFamily
from . import (
    models,  # noqa: F401  (registers the tables)
    routes,
)
from .admin import router as admin_router
from .errors import JPushError
from .listing import LISTING
from .routes import router
from .service import JPushService
from .tenant import Tenant


def worker_tenant(record: dict[str, Any], tag: str) -> dict[str, Any]:
    """A copy of a tenant record with app key, dev key and secrets of its own (testing/server.py)."""
    t = {**record, "app_key": f"{record['app_key']}-{tag}", "master_secret": secrets.token_hex(12)}
    if t.get("dev_key"):
        t.update(dev_key=f"{t['dev_key']}-{tag}", dev_secret=secrets.token_hex(12))
    return t


API = ApiSpec(
    name="jpush",
    title="JPush file API",
    router=router,
    tenant_model=Tenant,
    worker_tenant=worker_tenant,
    service_factory=JPushService,
    admin_router=admin_router,
    objects=LISTING,
    endpoints=lambda base: {"jpush": base},
    errors=(ErrorFamily(JPushError, routes.render),),
)
