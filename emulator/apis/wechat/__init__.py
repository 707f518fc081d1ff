"""WeChat Cloud Base (微信云开发) storage: access token, upload links and the COS form POST
they lead to, download links, batch delete."""

from ...core.apis import ApiSpec, ErrorFamily
from . import models  # noqa: F401  (registers the tables)
from . import routes
from .admin import router as admin_router
from .errors import CosError, WeChatError
from .routes import router
from .service import WeChatService
from .tenant import Tenant

API = ApiSpec(
    name="wechat",
    title="WeChat Cloud Base storage",
    router=router,
    tenant_model=Tenant,
    service_factory=WeChatService,
    admin_router=admin_router,
    endpoints=lambda base: {"wechat": base},
    errors=(ErrorFamily(WeChatError, routes.render), ErrorFamily(CosError, routes.render_xml)),
)
