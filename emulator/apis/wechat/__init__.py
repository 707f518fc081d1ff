"""WeChat Cloud Base (微信云开发) storage: access token, upload links and the COS form POST
they lead to, download links, batch delete."""

import secrets
from typing import Any

from ...core.contract import ApiSpec, ErrorFamily
from . import (
    models,  # noqa: F401  (registers the tables)
    routes,
)
from .admin import router as admin_router
from .errors import CosError, WeChatError
from .listing import LISTING
from .routes import router
from .service import WeChatService
from .tenant import Tenant


def worker_tenant(record: dict[str, Any], tag: str) -> dict[str, Any]:
    """A copy of a tenant record with an appid and secret of its own (testing/server.py)."""
    return {**record, "appid": f"{record['appid']}{tag}".replace("-", ""), "secret": secrets.token_hex(16)}


API = ApiSpec(
    name="wechat",
    title="WeChat Cloud Base storage",
    router=router,
    tenant_model=Tenant,
    worker_tenant=worker_tenant,
    service_factory=WeChatService,
    admin_router=admin_router,
    objects=LISTING,
    endpoints=lambda base: {"wechat": base},
    errors=(ErrorFamily(WeChatError, routes.render), ErrorFamily(CosError, routes.render_xml)),
)
