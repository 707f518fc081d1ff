"""JPush (极光) file API: upload, list, get and delete alias / registration_id files."""

from ...core.apis import ApiSpec
from . import models  # noqa: F401  (registers the tables)
from .admin import router as admin_router
from .routes import router
from .service import JPushService
from .tenant import Tenant

API = ApiSpec(
    name="jpush",
    title="JPush file API",
    router=router,
    tenant_model=Tenant,
    service_factory=JPushService,
    admin_router=admin_router,
    endpoints=lambda base: {"jpush": base},
)
