"""JPush (极光) file API: upload, list, get and delete alias / registration_id files."""

from ...core.apis import ApiSpec, ErrorFamily
from . import models  # noqa: F401  (registers the tables)
from . import routes
from .admin import router as admin_router
from .errors import JPushError
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
    errors=(ErrorFamily(JPushError, routes.render),),
)
