"""Antelope object storage (羚羊云 ADFS): token-signed uploads (upload2), event uploads
(upload3) and their feed (/v2/events), downloads and object queries."""

from ...core.apis import ApiSpec, ErrorFamily
from . import models  # noqa: F401  (registers the tables)
from . import routes
from .admin import router as admin_router
from .errors import AntelopeError
from .routes import router
from .service import AntelopeService
from .tenant import Tenant

API = ApiSpec(
    name="antelope",
    title="Antelope object storage (ADFS)",
    router=router,
    tenant_model=Tenant,
    service_factory=AntelopeService,
    admin_router=admin_router,
    endpoints=lambda base: {"antelope": base},
    errors=(ErrorFamily(AntelopeError, routes.render),),
)
